import Arrow
import DuckDB
import Foundation

/// Minimal array builders for the answers Tavana assembles itself (SqlInfo, GetTables with
/// schemas). Every builder produces an `ArrayData` in the standard Arrow layout.
enum Build {
    static func bitmap(_ valid: [Bool]) -> (Buffer, Int) {
        let nulls = valid.lazy.filter { !$0 }.count
        guard nulls > 0 else { return (.empty, 0) }
        var bytes = [UInt8](repeating: 0, count: (valid.count + 7) / 8)
        for (i, v) in valid.enumerated() where v { bytes[i >> 3] |= 1 << UInt8(i & 7) }
        return (Buffer(copying: bytes), nulls)
    }

    static func bytes<T>(_ values: [T]) -> Buffer {
        values.withUnsafeBytes { Buffer(copying: Array($0)) }
    }

    /// utf8 (or binary) column; nil is NULL.
    static func strings(_ values: [String?], binary: Bool = false) -> ArrayData {
        blobs(values.map { $0.map { Array($0.utf8) } }, type: binary ? .binary : .utf8)
    }

    static func blobs(_ values: [[UInt8]?], type: ArrowType = .binary) -> ArrayData {
        var offsets: [Int32] = [0]
        var data: [UInt8] = []
        for v in values {
            if let v { data += v }
            offsets.append(Int32(data.count))
        }
        let (validity, nulls) = bitmap(values.map { $0 != nil })
        return ArrayData(type: type, length: values.count, nullCount: nulls,
                         buffers: [validity, bytes(offsets), Buffer(copying: data)])
    }

    static func fixed<T: FixedWidthInteger>(_ values: [T?], type: ArrowType) -> ArrayData {
        let (validity, nulls) = bitmap(values.map { $0 != nil })
        return ArrayData(type: type, length: values.count, nullCount: nulls,
                         buffers: [validity, bytes(values.map { $0 ?? 0 })])
    }

    static func bools(_ values: [Bool?]) -> ArrayData {
        let (validity, nulls) = bitmap(values.map { $0 != nil })
        var bits = [UInt8](repeating: 0, count: (values.count + 7) / 8)
        for (i, v) in values.enumerated() where v == true { bits[i >> 3] |= 1 << UInt8(i & 7) }
        return ArrayData(type: .bool, length: values.count, nullCount: nulls, buffers: [validity, Buffer(copying: bits)])
    }

    /// list<…> column whose rows take consecutive runs of `child` (`counts[i]` values for
    /// row i; nil: a NULL row). `type` is the list (or map) type.
    static func list(_ counts: [Int?], child: ArrayData, type: ArrowType) -> ArrayData {
        var offsets: [Int32] = [0]
        for n in counts { offsets.append(offsets[offsets.count - 1] + Int32(n ?? 0)) }
        let (validity, nulls) = bitmap(counts.map { $0 != nil })
        return ArrayData(type: type, length: counts.count, nullCount: nulls,
                         buffers: [validity, bytes(offsets)], children: [child])
    }

    /// list<utf8> column; nil is NULL.
    static func stringLists(_ values: [[String]?], type: ArrowType) -> ArrayData {
        list(values.map { $0?.count }, child: strings(values.flatMap { $0 ?? [] }.map { Optional($0) }), type: type)
    }

    /// map<int32, list<int32>> column (`type` is that map type); nil is NULL. Keys are
    /// written in ascending order.
    static func int32ListMaps(_ values: [[Int32: [Int32]]?], type: ArrowType) -> ArrayData {
        guard case .map(let entries, _) = type, case .struct(let fields) = entries.type, fields.count == 2 else {
            preconditionFailure("int32ListMaps needs a map<int32, list<int32>> type")
        }
        let sorted = values.map { $0?.sorted { $0.key < $1.key } }
        let pairs = sorted.flatMap { $0 ?? [] }
        let int32 = ArrowType.int(bitWidth: 32, signed: true)
        let keys = fixed(pairs.map { Optional($0.key) }, type: int32)
        let lists = list(pairs.map { $0.value.count },
                         child: fixed(pairs.flatMap { $0.value }.map { Optional($0) }, type: int32),
                         type: fields[1].type)
        let structs = ArrayData(type: entries.type, length: pairs.count, nullCount: 0,
                                buffers: [.empty], children: [keys, lists])
        return list(sorted.map { $0?.count }, child: structs, type: type)
    }

    /// An empty array of any type (children built recursively).
    static func empty(_ type: ArrowType) -> ArrayData {
        let zeroOffset = bytes([Int32(0)])
        switch type {
        case .null: return ArrayData(type: type, length: 0, nullCount: 0, buffers: [])
        case .utf8, .binary: return ArrayData(type: type, length: 0, nullCount: 0, buffers: [.empty, zeroOffset, .empty])
        case .list(let f), .map(let f, _):
            return ArrayData(type: type, length: 0, nullCount: 0, buffers: [.empty, zeroOffset], children: [empty(f.type)])
        case .struct(let fields):
            return ArrayData(type: type, length: 0, nullCount: 0, buffers: [.empty], children: fields.map { empty($0.type) })
        case .union(.dense, _, let children):
            return ArrayData(type: type, length: 0, nullCount: 0, buffers: [.empty, .empty], children: children.map { empty($0.type) })
        case .union(.sparse, _, let children):
            return ArrayData(type: type, length: 0, nullCount: 0, buffers: [.empty], children: children.map { empty($0.type) })
        default: return ArrayData(type: type, length: 0, nullCount: 0, buffers: [.empty, .empty])
        }
    }
}

enum ParameterError: Error, CustomStringConvertible {
    case unsupported(String)
    var description: String {
        switch self { case .unsupported(let s): return s }
    }
}

/// Floored division: the day of a negative millisecond count is the one before.
private func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
    let (q, r) = a.quotientAndRemainder(dividingBy: b)
    return r < 0 ? (q - 1, r + b) : (q, r)
}

/// Converts Arrow parameter values (from `DoPut`) into values DuckDB can bind.
enum ArrowParameters {
    /// Parameter rows one DoPut may bind: each runs the statement once, and each is held
    /// as values until then. (A batch's row count is the client's word: with no columns,
    /// no buffer bounds it. Bulk loads go through ingest.)
    static let maxRows = 1_000_000

    static func checkRowCount(_ count: Int) throws {
        guard count <= maxRows else {
            throw ParameterError.unsupported(
                "\(count) parameter rows: at most \(maxRows) are bound per DoPut (bulk loads: use ingest)")
        }
    }

    static func rows(of batch: RecordBatch, before: Int = 0) throws -> [[DuckDBValue]] {
        let (total, overflow) = before.addingReportingOverflow(batch.length)
        try checkRowCount(overflow ? Int.max : total)
        var rows = [[DuckDBValue]](repeating: [], count: batch.length)
        for (c, column) in batch.columns.enumerated() {
            let field = batch.schema.fields[c]
            for r in 0..<batch.length {
                rows[r].append(try value(column, r, field: field))
            }
        }
        return rows
    }

    /// Microseconds of a time or timestamp value; values the client sent beyond what
    /// microseconds in an Int64 hold are refused (they would otherwise wrap).
    static func micros(_ v: Int64, _ unit: ArrowType.TimeUnit, field: Field) throws -> Int64 {
        let (result, overflow): (Int64, Bool)
        switch unit {
        case .second: (result, overflow) = v.multipliedReportingOverflow(by: 1_000_000)
        case .millisecond: (result, overflow) = v.multipliedReportingOverflow(by: 1000)
        case .microsecond: (result, overflow) = (v, false)
        case .nanosecond: (result, overflow) = (v / 1000, false)
        }
        guard !overflow else { throw ParameterError.unsupported("parameter '\(field.name)': \(v) \(unit)s is out of range") }
        return result
    }

    static func value(_ a: ArrayData, _ i: Int, field: Field) throws -> DuckDBValue {
        // A NULL keeps its column's type: bound untyped, it would make DuckDB type an
        // untyped parameter INTEGER (and a multi-row query change type mid-stream).
        if a.isNull(i) { return logicalType(of: a.type).map(DuckDBValue.typedNull) ?? .null }
        if let dict = a.dictionary, field.dictionary != nil {
            let index = a.dictionaryIndex(i)
            return try value(dict.values, index, field: Field(field.name, dict.valueType, nullable: true))
        }
        switch a.type {
        case .null: return .null
        case .bool: return .bool(a.bool(i))
        case .int(8, true): return .int8(a.value(i))
        case .int(16, true): return .int16(a.value(i))
        case .int(32, true): return .int32(a.value(i))
        case .int(64, true): return .int64(a.value(i))
        case .int(8, false): return .uint8(a.value(i))
        case .int(16, false): return .uint16(a.value(i))
        case .int(32, false): return .uint32(a.value(i))
        case .int(64, false): return .uint64(a.value(i))
        case .float32: return .float(a.float32(i))
        case .float64: return .double(a.float64(i))
        case .utf8, .largeUtf8: return .varchar(a.string(i))
        case .binary, .largeBinary: return .blob(Array(a.bytes(i)))
        case .fixedSizeBinary: return .blob(Array(a.fixedBytes(i)))
        case .date32: return .date(a.value(i))
        case .date64:
            let ms = a.value(i, as: Int64.self)
            guard let days = Int32(exactly: floorDivMod(ms, 86_400_000).0) else {
                throw ParameterError.unsupported("parameter '\(field.name)': date64 \(ms) is out of range")
            }
            return .date(days)
        case .time32(let unit): return .time(try micros(Int64(a.value(i, as: Int32.self)), unit, field: field))
        case .time64(let unit): return .time(try micros(a.value(i, as: Int64.self), unit, field: field))
        case .timestamp(let unit, let tz):
            let us = try micros(a.value(i, as: Int64.self), unit, field: field)
            return tz == nil ? .timestamp(us) : .timestampTZ(us)
        case .decimal(let precision, let scale, 128) where precision <= 38 && scale >= 0 && scale <= precision:
            return .decimal(unscaled: a.value(i, as: Int128.self), width: UInt8(precision), scale: UInt8(scale))
        case .decimal(let precision, let scale, 64) where precision <= 18 && scale >= 0 && scale <= precision:
            return .decimal(unscaled: Int128(a.value(i, as: Int64.self)), width: UInt8(precision), scale: UInt8(scale))
        case .list(let child), .largeList(let child):
            guard let element = logicalType(of: child.type) else {
                throw ParameterError.unsupported("parameter '\(field.name)': lists of \(child.type) cannot be bound")
            }
            let width = a.type == .list(child) ? 4 : 8
            let slot = a.offset + i
            let start = width == 4 ? Int(a.buffers[1].load(at: slot * 4, as: Int32.self)) : Int(a.buffers[1].load(at: slot * 8, as: Int64.self))
            let end = width == 4 ? Int(a.buffers[1].load(at: (slot + 1) * 4, as: Int32.self)) : Int(a.buffers[1].load(at: (slot + 1) * 8, as: Int64.self))
            guard start >= 0, start <= end, end <= a.children[0].length else {
                throw ParameterError.unsupported("parameter '\(field.name)': list offsets \(start)..<\(end) are outside its values")
            }
            return .list(try (start..<end).map { try value(a.children[0], $0, field: child) }, element: element)
        case .union(let mode, let typeIds, let children):
            // Clients that type nothing send each parameter as a one-row union of int64,
            // float64, utf8, binary and bool children: the value is the chosen child's.
            let slot = a.offset + i
            let id = Int32(a.buffers[0].load(at: slot, as: Int8.self))
            guard let index = typeIds.firstIndex(of: id), index < a.children.count, index < children.count else {
                throw ParameterError.unsupported("parameter '\(field.name)': union type id \(id) names no child")
            }
            let child = a.children[index]
            let at = mode == .dense ? Int(a.buffers[1].load(at: slot * 4, as: Int32.self)) : slot
            guard at >= 0, at < child.length else {
                throw ParameterError.unsupported("parameter '\(field.name)': union offset \(at) is outside its child")
            }
            return try value(child, at, field: Field(field.name, children[index].type, nullable: true))
        case .interval(.monthDayNano):
            let b = a.fixedBytes(i)
            let months = b.loadUnaligned(fromByteOffset: 0, as: Int32.self)
            let days = b.loadUnaligned(fromByteOffset: 4, as: Int32.self)
            let nanos = b.loadUnaligned(fromByteOffset: 8, as: Int64.self)
            return .interval(months: months, days: days, micros: nanos / 1000)
        default:
            throw ParameterError.unsupported("parameter '\(field.name)' has Arrow type \(a.type), which Tavana cannot bind")
        }
    }

    /// The DuckDB type an Arrow parameter column binds as, for its NULLs; nil: bound untyped.
    static func logicalType(of type: ArrowType) -> LogicalType? {
        switch type {
        case .bool: return .boolean
        case .int(8, true): return .tinyint
        case .int(16, true): return .smallint
        case .int(32, true): return .integer
        case .int(64, true): return .bigint
        case .int(8, false): return .utinyint
        case .int(16, false): return .usmallint
        case .int(32, false): return .uinteger
        case .int(64, false): return .ubigint
        case .float32: return .float
        case .float64: return .double
        case .utf8, .largeUtf8: return .varchar
        case .binary, .largeBinary, .fixedSizeBinary: return .blob
        case .date32, .date64: return .date
        case .time32, .time64: return .time
        case .timestamp(_, let tz): return tz == nil ? .timestamp : .timestampTZ
        case .interval(.monthDayNano): return .interval
        case .list(let child), .largeList(let child): return logicalType(of: child.type).map(LogicalType.list)
        default: return nil
        }
    }

    /// A parameter schema for the statement's parameters, as far as their types are known.
    static func schema(for types: [LogicalType]) -> Schema {
        Schema(types.enumerated().map { i, t in
            Field("$\(i + 1)", arrowType(t) ?? .null, nullable: true)
        })
    }

    static func arrowType(_ t: LogicalType) -> ArrowType? {
        switch t {
        case .boolean: return .bool
        case .tinyint: return .int(bitWidth: 8, signed: true)
        case .smallint: return .int(bitWidth: 16, signed: true)
        case .integer: return .int(bitWidth: 32, signed: true)
        case .bigint: return .int(bitWidth: 64, signed: true)
        case .utinyint: return .int(bitWidth: 8, signed: false)
        case .usmallint: return .int(bitWidth: 16, signed: false)
        case .uinteger: return .int(bitWidth: 32, signed: false)
        case .ubigint: return .int(bitWidth: 64, signed: false)
        case .float: return .float32
        case .double: return .float64
        case .decimal(let w, let s): return .decimal(precision: w, scale: s, bitWidth: 128)
        case .varchar: return .utf8
        case .blob: return .binary
        case .date: return .date32
        case .time: return .time64(.microsecond)
        case .timestamp: return .timestamp(.microsecond, timezone: nil)
        case .timestampTZ: return .timestamp(.microsecond, timezone: "UTC")
        default: return nil
        }
    }
}
