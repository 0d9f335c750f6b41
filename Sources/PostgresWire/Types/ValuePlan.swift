import Arrow
import DuckDB

/// How integers are stored in an Arrow array.
enum IntSource: Sendable, Equatable {
    case i8, i16, i32, i64, u8, u16, u32, u64

    init?(_ type: ArrowType) {
        switch type {
        case .int(8, true): self = .i8
        case .int(16, true): self = .i16
        case .int(32, true): self = .i32
        case .int(64, true): self = .i64
        case .int(8, false): self = .u8
        case .int(16, false): self = .u16
        case .int(32, false): self = .u32
        case .int(64, false): self = .u64
        default: return nil
        }
    }
}

/// How an exact number is stored: a decimal's unscaled integer (32, 64 or 128 bits, or a
/// 128-bit integer that must be read unsigned), or an unsigned 64-bit integer.
enum DecimalSource: Sendable, Equatable {
    case bits32, bits64, bits128, unsigned128, unsigned64
}

/// The PostgreSQL integer a DuckDB integer is presented as.
enum IntTarget: Sendable, Equatable {
    case int2, int4, int8
}

/// How one value is read out of Arrow and written for PostgreSQL. Built once per column.
indirect enum ValuePlan: Sendable {
    case bool
    /// Booleans as one byte each (the arrow.bool8 extension of lossless Arrow exports).
    case bool8
    case int(IntSource, IntTarget)
    case float4
    case float8
    /// numeric from an exact source with `scale` fraction digits.
    case numeric(DecimalSource, scale: Int)
    /// numeric from DuckDB's BIGNUM blob.
    case bignum
    /// text, varchar, json: the UTF-8 bytes as they are.
    case string
    case bytea
    case date32
    case date64
    case time(ArrowType.TimeUnit)
    case timestamp(ArrowType.TimeUnit, zone: Bool)
    case interval(ArrowType.IntervalUnit)
    /// uuid delivered as its canonical text.
    case uuidText
    /// uuid delivered as 16 bytes.
    case uuidBytes
    /// A dictionary-encoded value: the plan applies to the dictionary's values.
    case dictionary(ValuePlan)
    /// A one-dimensional PostgreSQL array.
    case array(element: ValuePlan, elementType: PostgresType)
    /// Text rendered the way DuckDB casts the value to VARCHAR.
    case duckdb(DuckNode)

    /// Whether the text form may contain characters that PostgreSQL's array output quotes.
    var textMayNeedArrayQuotes: Bool {
        switch self {
        case .bool, .bool8, .int, .float4, .float8, .numeric, .bignum, .uuidText, .uuidBytes: return false
        case .dictionary(let inner): return inner.textMayNeedArrayQuotes
        default: return true
        }
    }
}

/// The shape of a value rendered as DuckDB renders it in VARCHAR casts.
indirect enum DuckNode: Sendable {
    case leaf(DuckLeaf)
    case list(DuckNode)
    case `struct`(names: [String], children: [DuckNode], unnamed: Bool)
    case map(key: DuckNode, value: DuckNode)
    /// `childForTypeId[typeId]` is the child position, -1 if unused.
    case union(childForTypeId: [Int], children: [DuckNode], dense: Bool)
    case dictionary(DuckNode)

    var isNested: Bool {
        switch self {
        case .leaf: return false
        case .dictionary(let inner): return inner.isNested
        default: return true
        }
    }
}

/// Scalars as DuckDB prints them.
enum DuckLeaf: Sendable {
    case null
    case bool
    case bool8
    case int(IntSource)
    case float32
    case float64
    case decimal(DecimalSource, scale: Int)
    case bignum
    /// Text as is; `escapable` is false for JSON, which DuckDB never quotes inside nested values.
    case string(escapable: Bool)
    case blob
    case bit
    case date32
    case date64
    case time(ArrowType.TimeUnit)
    /// TIME WITH TIME ZONE as DuckDB's raw 64-bit value (lossless Arrow export).
    case timeTZBits
    case timestamp(ArrowType.TimeUnit, zone: Bool)
    case interval(ArrowType.IntervalUnit)
    case uuidBytes
    /// GEOMETRY as WKB (geoarrow.wkb), shown as DuckDB's WKT.
    case wkb
    /// DuckDB never quotes numbers, booleans and UUIDs in nested values.
    var neverQuoted: Bool {
        switch self {
        case .null, .bool, .bool8, .int, .float32, .float64, .decimal, .bignum, .uuidBytes: return true
        case .string(let escapable): return !escapable
        default: return false
        }
    }
}

// MARK: - Building plans

enum PlanBuilder {
    static func unsupported(_ column: String, _ type: LogicalType, _ arrow: ArrowType) -> PostgresTypeError {
        PostgresTypeError(
            sqlState: PostgresTypeError.featureNotSupported,
            message: "column \"\(column)\": DuckDB type \(type) arrived as unexpected Arrow type \(arrow)")
    }

    static func extensionName(_ field: Field) -> String? {
        field.metadata.first { $0.key == "ARROW:extension:name" }?.value
    }

    /// The plan for a column (or list element) of a scalar DuckDB type, or nil if the
    /// DuckDB type is rendered as DuckDB text.
    static func scalarPlan(_ type: LogicalType, alias: String?, field: Field, name: String) throws -> ValuePlan? {
        let arrow = field.type
        func bad() -> PostgresTypeError { unsupported(name, type, arrow) }
        if field.dictionary != nil {
            switch type {
            case .enum, .varchar:
                guard arrow == .utf8 || arrow == .largeUtf8 else { throw bad() }
                return .dictionary(.string)
            default:
                throw bad()
            }
        }
        switch type {
        case .boolean:
            switch arrow {
            case .bool: return .bool
            case .int(8, _): return .bool8
            default: throw bad()
            }
        case .tinyint, .smallint, .integer, .bigint, .utinyint, .usmallint, .uinteger:
            guard let src = IntSource(arrow) else { throw bad() }
            let target: IntTarget
            switch type {
            case .tinyint, .smallint, .utinyint: target = .int2
            case .integer, .usmallint: target = .int4
            default: target = .int8
            }
            return .int(src, target)
        case .ubigint:
            guard IntSource(arrow) == .u64 else { throw bad() }
            return .numeric(.unsigned64, scale: 0)
        case .hugeint, .uhugeint:
            let unsigned = type == .uhugeint
            switch arrow {
            case .decimal(_, 0, 128), .fixedSizeBinary(16): return .numeric(unsigned ? .unsigned128 : .bits128, scale: 0)
            default: throw bad()
            }
        case .float:
            guard arrow == .float32 else { throw bad() }
            return .float4
        case .double:
            guard arrow == .float64 else { throw bad() }
            return .float8
        case .decimal(_, let scale):
            // DuckDB's decimals have scales 0...38; an Arrow field claiming another (Arrow
            // allows negative scales) would not fit the bounds the writers reserve.
            guard case .decimal(_, let s, let bits) = arrow, s == scale, (0...38).contains(scale) else { throw bad() }
            switch bits {
            case 32: return .numeric(.bits32, scale: scale)
            case 64: return .numeric(.bits64, scale: scale)
            case 128: return .numeric(.bits128, scale: scale)
            default: throw bad()
            }
        case .bignum:
            guard arrow == .binary || arrow == .largeBinary else { throw bad() }
            return .bignum
        case .varchar:
            guard arrow == .utf8 || arrow == .largeUtf8 else { throw bad() }
            return .string
        case .blob:
            guard arrow == .binary || arrow == .largeBinary else { throw bad() }
            return .bytea
        case .date:
            switch arrow {
            case .date32: return .date32
            case .date64: return .date64
            default: throw bad()
            }
        case .time, .timeNS:
            switch arrow {
            case .time32(let unit), .time64(let unit): return .time(unit)
            default: throw bad()
            }
        case .timestamp, .timestampS, .timestampMS, .timestampNS, .timestampTZ:
            guard case .timestamp(let unit, _) = arrow else { throw bad() }
            return .timestamp(unit, zone: type == .timestampTZ)
        case .interval:
            guard case .interval(let unit) = arrow else { throw bad() }
            return .interval(unit)
        case .uuid:
            switch arrow {
            case .utf8, .largeUtf8: return .uuidText
            case .fixedSizeBinary(16): return .uuidBytes
            default: throw bad()
            }
        default:
            return nil
        }
    }

    /// The DuckDB-text rendering of any type.
    static func duckNode(_ type: LogicalType, alias: String?, field: Field, name: String) throws -> DuckNode {
        let arrow = field.type
        func bad() -> PostgresTypeError { unsupported(name, type, arrow) }
        if field.dictionary != nil {
            return .dictionary(.leaf(.string(escapable: true)))
        }
        switch type {
        case .list(let child):
            switch arrow {
            case .list(let cf), .largeList(let cf):
                return .list(try duckNode(child, alias: nil, field: cf, name: name))
            default: throw bad()
            }
        case .array(let child, _):
            switch arrow {
            case .fixedSizeList(let cf, _), .list(let cf), .largeList(let cf):
                return .list(try duckNode(child, alias: nil, field: cf, name: name))
            default: throw bad()
            }
        case .struct(let members):
            guard case .struct(let fields) = arrow, fields.count == members.count else { throw bad() }
            var children: [DuckNode] = []
            for (m, f) in zip(members, fields) { children.append(try duckNode(m.type, alias: nil, field: f, name: name)) }
            let names = members.map(\.name)
            return .struct(names: names, children: children, unnamed: !names.isEmpty && names.allSatisfy(\.isEmpty))
        case .map(let k, let v):
            guard case .map(let entries, _) = arrow, case .struct(let kv) = entries.type, kv.count == 2 else { throw bad() }
            return .map(
                key: try duckNode(k, alias: nil, field: kv[0], name: name),
                value: try duckNode(v, alias: nil, field: kv[1], name: name))
        case .union(let members):
            guard case .union(let mode, let typeIds, let fields) = arrow, fields.count == members.count else { throw bad() }
            var children: [DuckNode] = []
            for (m, f) in zip(members, fields) { children.append(try duckNode(m.type, alias: nil, field: f, name: name)) }
            var table = [Int](repeating: -1, count: 128)
            for (pos, id) in typeIds.enumerated() where id >= 0 && id < 128 { table[Int(id)] = pos }
            if typeIds.isEmpty { for pos in 0..<min(children.count, 128) { table[pos] = pos } }
            return .union(childForTypeId: table, children: children, dense: mode == .dense)
        case .other, .invalid:
            return try genericNode(field, name: name, type: type)
        default:
            return .leaf(try duckLeaf(type, alias: alias, field: field, name: name))
        }
    }

    /// A rendering from the Arrow type alone, for DuckDB types this wrapper has no name for.
    static func genericNode(_ field: Field, name: String, type: LogicalType) throws -> DuckNode {
        if field.dictionary != nil { return .dictionary(.leaf(.string(escapable: true))) }
        switch field.type {
        case .list(let c), .largeList(let c), .fixedSizeList(let c, _):
            return .list(try genericNode(c, name: name, type: type))
        case .struct(let fields):
            let names = fields.map(\.name)
            return .struct(
                names: names, children: try fields.map { try genericNode($0, name: name, type: type) },
                unnamed: !names.isEmpty && names.allSatisfy(\.isEmpty))
        case .map(let entries, _):
            guard case .struct(let kv) = entries.type, kv.count == 2 else { throw unsupported(name, type, field.type) }
            return .map(key: try genericNode(kv[0], name: name, type: type), value: try genericNode(kv[1], name: name, type: type))
        case .union(let mode, let typeIds, let children):
            var table = [Int](repeating: -1, count: 128)
            for (pos, id) in typeIds.enumerated() where id >= 0 && id < 128 { table[Int(id)] = pos }
            return .union(childForTypeId: table, children: try children.map { try genericNode($0, name: name, type: type) }, dense: mode == .dense)
        default:
            if extensionName(field) == "geoarrow.wkb" { return .leaf(.wkb) }
            guard let leaf = try genericLeaf(field.type, zone: false) else { throw unsupported(name, type, field.type) }
            return .leaf(leaf)
        }
    }

    static func duckLeaf(_ type: LogicalType, alias: String?, field: Field, name: String) throws -> DuckLeaf {
        let arrow = field.type
        func bad() -> PostgresTypeError { unsupported(name, type, arrow) }
        if extensionName(field) == "geoarrow.wkb", arrow == .binary || arrow == .largeBinary {
            return .wkb
        }
        switch type {
        case .boolean where arrow == .int(bitWidth: 8, signed: true) || arrow == .int(bitWidth: 8, signed: false):
            return .bool8
        case .boolean, .tinyint, .smallint, .integer, .bigint, .utinyint, .usmallint, .uinteger, .ubigint,
             .float, .double, .date, .time, .timeNS, .timestamp, .timestampS, .timestampMS, .timestampNS,
             .timestampTZ, .interval:
            guard let leaf = try genericLeaf(arrow, zone: type == .timestampTZ) else { throw bad() }
            return leaf
        case .hugeint, .uhugeint:
            switch arrow {
            case .decimal(_, 0, 128), .fixedSizeBinary(16): return .decimal(type == .uhugeint ? .unsigned128 : .bits128, scale: 0)
            default: throw bad()
            }
        case .decimal:
            guard let leaf = try genericLeaf(arrow, zone: false) else { throw bad() }
            return leaf
        case .varchar:
            let isJSON = alias?.uppercased() == "JSON" || extensionName(field) == "arrow.json"
            guard arrow == .utf8 || arrow == .largeUtf8 else { throw bad() }
            return .string(escapable: !isJSON)
        case .uuid:
            switch arrow {
            case .utf8, .largeUtf8: return .string(escapable: true)
            case .fixedSizeBinary(16): return .uuidBytes
            default: throw bad()
            }
        case .blob:
            return .blob
        case .bit:
            guard arrow == .binary || arrow == .largeBinary else { throw bad() }
            return .bit
        case .bignum:
            guard arrow == .binary || arrow == .largeBinary else { throw bad() }
            return .bignum
        case .timeTZ:
            switch arrow {
            case .fixedSizeBinary(8): return .timeTZBits
            case .time32(let unit), .time64(let unit): return .time(unit)
            default: throw bad()
            }
        case .sqlNull:
            return .null
        default:
            // Types without a name here (GEOMETRY, VARIANT, ...): go by the Arrow type.
            guard let leaf = try genericLeaf(arrow, zone: false) else { throw bad() }
            return leaf
        }
    }

    /// A leaf for an Arrow type alone.
    static func genericLeaf(_ arrow: ArrowType, zone: Bool) throws -> DuckLeaf? {
        switch arrow {
        case .null: return .null
        case .bool: return .bool
        case .int: return IntSource(arrow).map { .int($0) }
        case .float32: return .float32
        case .float64: return .float64
        case .decimal(_, let scale, let bits):
            switch bits {
            case 32: return .decimal(.bits32, scale: scale)
            case 64: return .decimal(.bits64, scale: scale)
            case 128: return .decimal(.bits128, scale: scale)
            default: return nil
            }
        case .utf8, .largeUtf8: return .string(escapable: true)
        case .binary, .largeBinary, .fixedSizeBinary: return .blob
        case .date32: return .date32
        case .date64: return .date64
        case .time32(let unit), .time64(let unit): return .time(unit)
        case .timestamp(let unit, let tz): return .timestamp(unit, zone: zone || tz != nil)
        case .interval(let unit): return .interval(unit)
        default: return nil
        }
    }
}
