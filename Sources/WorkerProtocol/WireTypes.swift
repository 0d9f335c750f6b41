import Arrow
import DuckDB
import Foundation
import Worker

// The seam's values on the wire and back. Decoding never traps: every narrowing is checked
// (a worker port is reachable from the network, so its input is treated like any client's)
// and fails with a WireError. swift-protobuf bounds the nesting of recursive messages.

public typealias WireLogicalType = Tavana_Worker_V1_LogicalType
public typealias WireValue = Tavana_Worker_V1_Value
public typealias WireColumn = Tavana_Worker_V1_Column
public typealias WireStatementDescription = Tavana_Worker_V1_StatementDescription
public typealias GatewayIdentity = Tavana_Worker_V1_GatewayIdentity

/// Input that does not decode into a seam value.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Types

extension WireLogicalType {
    private static let simple: [(String, LogicalType)] = [
        ("invalid", .invalid), ("boolean", .boolean), ("tinyint", .tinyint), ("smallint", .smallint),
        ("integer", .integer), ("bigint", .bigint), ("utinyint", .utinyint), ("usmallint", .usmallint),
        ("uinteger", .uinteger), ("ubigint", .ubigint), ("hugeint", .hugeint), ("uhugeint", .uhugeint),
        ("float", .float), ("double", .double), ("varchar", .varchar), ("blob", .blob), ("bit", .bit),
        ("bignum", .bignum), ("date", .date), ("time", .time), ("timeNS", .timeNS), ("timeTZ", .timeTZ),
        ("timestamp", .timestamp), ("timestampS", .timestampS), ("timestampMS", .timestampMS),
        ("timestampNS", .timestampNS), ("timestampTZ", .timestampTZ), ("interval", .interval), ("uuid", .uuid),
        ("sqlNull", .sqlNull),
    ]
    private static let simpleByName: [String: LogicalType] = Dictionary(uniqueKeysWithValues: simple)

    public init(_ type: LogicalType) {
        self.init()
        switch type {
        case .decimal(let width, let scale):
            kind = "decimal"
            // DuckDB's widths and scales are at most 38; clamp rather than trap on anything else.
            self.width = Int32(clamping: width)
            self.scale = Int32(clamping: scale)
        case .enum(let values):
            kind = "enum"
            enumValues = values
        case .list(let element):
            kind = "list"
            children = [Self.named("", element)]
        case .array(let element, let size):
            kind = "array"
            children = [Self.named("", element)]
            self.size = Int64(size)
        case .struct(let fields):
            kind = "struct"
            children = fields.map { Self.named($0.name, $0.type) }
        case .union(let fields):
            kind = "union"
            children = fields.map { Self.named($0.name, $0.type) }
        case .map(let key, let value):
            kind = "map"
            children = [Self.named("key", key), Self.named("value", value)]
        case .other(let id):
            kind = "other"
            typeID = id
        default:
            kind = Self.simple.first { $0.1 == type }?.0 ?? "invalid"
        }
    }

    private static func named(_ name: String, _ type: LogicalType) -> Tavana_Worker_V1_NamedType {
        var n = Tavana_Worker_V1_NamedType()
        n.name = name
        n.type = WireLogicalType(type)
        return n
    }

    public func decoded() throws -> LogicalType {
        if let simple = Self.simpleByName[kind] { return simple }
        func child(_ i: Int) throws -> LogicalType {
            guard i < children.count else { throw WireError("type \(kind) lacks child \(i)") }
            return try children[i].type.decoded()
        }
        switch kind {
        case "decimal":
            guard (1...38).contains(width), (0...width).contains(scale) else {
                throw WireError("decimal width \(width) and scale \(scale) are out of range")
            }
            return .decimal(width: Int(width), scale: Int(scale))
        case "enum": return .enum(enumValues)
        case "list": return .list(try child(0))
        case "array":
            guard size >= 0, let n = Int(exactly: size) else { throw WireError("array size \(size) is out of range") }
            return .array(try child(0), size: n)
        case "struct": return .struct(try children.map { ($0.name, try $0.type.decoded()) })
        case "union": return .union(try children.map { ($0.name, try $0.type.decoded()) })
        case "map": return .map(key: try child(0), value: try child(1))
        case "other": return .other(typeID)
        default: throw WireError("unknown type kind '\(kind)'")
        }
    }
}

extension WireColumn {
    public init(_ column: ColumnDescription) {
        self.init()
        name = column.name
        type = WireLogicalType(column.type)
        if let alias = column.alias { self.alias = alias }
    }

    public func decoded() throws -> ColumnDescription {
        ColumnDescription(name: name, type: try type.decoded(), alias: hasAlias ? alias : nil)
    }
}

// MARK: - Schemas

public enum WireSchema {
    /// A schema as an IPC schema message's flatbuffer.
    public static func encode(_ schema: Schema) -> Data {
        Data(IPCStreamWriter(schema: schema).schemaMessage().metadata)
    }

    public static func decode(_ bytes: Data) throws -> Schema {
        var decoder = IPCMessageDecoder()
        guard case .schema(let schema) = try decoder.decode(metadata: [UInt8](bytes), body: []) else {
            throw WireError("the schema bytes hold another IPC message")
        }
        return schema
    }
}

extension WireStatementDescription {
    public init(_ d: StatementDescription) {
        self.init()
        statementType = d.statementType.rawValue
        parameterTypes = d.parameterTypes.map(WireLogicalType.init)
        columns = d.columns.map(WireColumn.init)
        if let schema = d.arrowSchema { arrowSchema = WireSchema.encode(schema) }
    }

    public func decoded() throws -> StatementDescription {
        StatementDescription(
            statementType: StatementType(rawValue: statementType) ?? .invalid,
            parameterTypes: try parameterTypes.map { try $0.decoded() },
            columns: try columns.map { try $0.decoded() },
            arrowSchema: arrowSchema.isEmpty ? nil : try WireSchema.decode(arrowSchema))
    }
}

// MARK: - Values

extension WireValue.Wide {
    init(bits high: UInt64, _ low: UInt64) {
        self.init()
        self.high = high
        self.low = low
    }

    init(_ v: Int128) { self.init(bits: UInt64(truncatingIfNeeded: v >> 64), UInt64(truncatingIfNeeded: v)) }
    init(_ v: UInt128) { self.init(bits: UInt64(truncatingIfNeeded: v >> 64), UInt64(truncatingIfNeeded: v)) }

    var signed: Int128 { Int128(Int64(bitPattern: high)) << 64 | Int128(low) }
    var unsigned: UInt128 { UInt128(high) << 64 | UInt128(low) }
}

extension WireValue {
    public init(_ value: DuckDBValue) {
        self.init()
        switch value {
        case .null: kind = .null(true)
        case .bool(let v): kind = .bool(v)
        case .int8(let v): kind = .int8(Int32(v))
        case .int16(let v): kind = .int16(Int32(v))
        case .int32(let v): kind = .int32(v)
        case .int64(let v): kind = .int64(v)
        case .uint8(let v): kind = .uint8(UInt32(v))
        case .uint16(let v): kind = .uint16(UInt32(v))
        case .uint32(let v): kind = .uint32(v)
        case .uint64(let v): kind = .uint64(v)
        case .hugeint(let v): kind = .hugeint(Wide(v))
        case .uhugeint(let v): kind = .uhugeint(Wide(v))
        case .float(let v): kind = .float(v)
        case .double(let v): kind = .double(v)
        case .decimal(let unscaled, let width, let scale):
            var d = Decimal()
            let wide = Wide(unscaled)
            d.high = wide.high
            d.low = wide.low
            d.width = UInt32(width)
            d.scale = UInt32(scale)
            kind = .decimal(d)
        case .varchar(let v): kind = .varchar(v)
        case .blob(let v): kind = .blob(Data(v))
        case .date(let v): kind = .date(v)
        case .time(let v): kind = .time(v)
        case .timestamp(let v): kind = .timestamp(v)
        case .timestampTZ(let v): kind = .timestampTz(v)
        case .interval(let months, let days, let micros):
            var i = Interval()
            i.months = months
            i.days = days
            i.micros = micros
            kind = .interval(i)
        case .uuid(let v): kind = .uuid(Wide(v))
        case .list(let values, let element):
            var l = List()
            l.values = values.map(WireValue.init)
            l.element = WireLogicalType(element)
            kind = .list(l)
        case .typedNull(let type): kind = .typedNull(WireLogicalType(type))
        }
    }

    public func decoded() throws -> DuckDBValue {
        func narrow<T: FixedWidthInteger>(_ v: some BinaryInteger, _: T.Type) throws -> T {
            guard let n = T(exactly: v) else { throw WireError("\(v) does not fit \(T.self)") }
            return n
        }
        switch kind {
        case .none, .null: return .null
        case .bool(let v): return .bool(v)
        case .int8(let v): return .int8(try narrow(v, Int8.self))
        case .int16(let v): return .int16(try narrow(v, Int16.self))
        case .int32(let v): return .int32(v)
        case .int64(let v): return .int64(v)
        case .uint8(let v): return .uint8(try narrow(v, UInt8.self))
        case .uint16(let v): return .uint16(try narrow(v, UInt16.self))
        case .uint32(let v): return .uint32(v)
        case .uint64(let v): return .uint64(v)
        case .hugeint(let w): return .hugeint(w.signed)
        case .uhugeint(let w): return .uhugeint(w.unsigned)
        case .float(let v): return .float(v)
        case .double(let v): return .double(v)
        case .decimal(let d):
            guard (1...38).contains(d.width), d.scale <= d.width else {
                throw WireError("decimal width \(d.width) and scale \(d.scale) are out of range")
            }
            return .decimal(unscaled: Wide(bits: d.high, d.low).signed, width: UInt8(d.width), scale: UInt8(d.scale))
        case .varchar(let v): return .varchar(v)
        case .blob(let v): return .blob([UInt8](v))
        case .date(let v): return .date(v)
        case .time(let v): return .time(v)
        case .timestamp(let v): return .timestamp(v)
        case .timestampTz(let v): return .timestampTZ(v)
        case .interval(let i): return .interval(months: i.months, days: i.days, micros: i.micros)
        case .uuid(let w): return .uuid(w.unsigned)
        case .list(let l): return .list(try l.values.map { try $0.decoded() }, element: try l.element.decoded())
        case .typedNull(let t): return .typedNull(try t.decoded())
        }
    }
}

// MARK: - Batches

public typealias WireBatch = Tavana_Worker_V1_ResultBatch

extension WireBatch {
    public init(_ messages: [IPCMessage]) {
        self.init()
        self.messages = messages.map { m in
            var w = Tavana_Worker_V1_IPCMessage()
            w.metadata = Data(m.metadata)
            // One copy, from DuckDB's buffers straight into the message.
            var body = Data(count: m.bodyLength)
            body.withUnsafeMutableBytes { m.copyBody(into: $0) }
            w.body = body
            return w
        }
    }

    /// The messages as the seam's IPC messages (one copy of each body).
    public var ipcMessages: [IPCMessage] {
        messages.map { IPCMessage(metadata: [UInt8]($0.metadata), bodyParts: [Buffer(copying: $0.body)]) }
    }
}

// MARK: - Vocabulary

extension Tavana_Worker_V1_VocabularyReply {
    public init(_ v: EngineVocabulary) {
        self.init()
        keywords = v.keywords
        numericFunctions = v.numericFunctions
        stringFunctions = v.stringFunctions
        systemFunctions = v.systemFunctions
        datetimeFunctions = v.datetimeFunctions
        typeNames = v.typeNames.sorted()
        casts = v.casts.mapValues { targets in
            var c = Casts()
            c.targets = targets.sorted()
            return c
        }
    }

    public var decoded: EngineVocabulary {
        var v = EngineVocabulary()
        v.keywords = keywords
        v.numericFunctions = numericFunctions
        v.stringFunctions = stringFunctions
        v.systemFunctions = systemFunctions
        v.datetimeFunctions = datetimeFunctions
        v.typeNames = Set(typeNames)
        v.casts = casts.mapValues { Set($0.targets) }
        return v
    }
}
