import CDuckDB

/// A DuckDB column or parameter type, read out of DuckDB into plain Swift values so it can
/// be kept, compared and sent between tasks without holding C handles.
public indirect enum LogicalType: Hashable, Sendable, CustomStringConvertible {
    case invalid, boolean, tinyint, smallint, integer, bigint, utinyint, usmallint, uinteger, ubigint
    case hugeint, uhugeint, float, double
    case decimal(width: Int, scale: Int)
    case varchar, blob, bit, bignum
    case date, time, timeNS, timeTZ, timestamp, timestampS, timestampMS, timestampNS, timestampTZ
    case interval, uuid, sqlNull
    case `enum`([String])
    case list(LogicalType)
    case array(LogicalType, size: Int)
    case `struct`([(name: String, type: LogicalType)])
    case map(key: LogicalType, value: LogicalType)
    case union([(name: String, type: LogicalType)])
    /// Anything this wrapper has no name for (ANY, GEOMETRY, VARIANT, ...), by DuckDB type id.
    case other(Int32)

    /// The alias DuckDB keeps for types such as JSON (a VARCHAR named "JSON"), if any.
    /// Stored beside the type because it changes how front doors present the column.
    public static func == (a: LogicalType, b: LogicalType) -> Bool { a.description == b.description }
    public func hash(into h: inout Hasher) { h.combine(description) }

    init(borrowing t: duckdb_logical_type) {
        let id = duckdb_get_type_id(t)
        switch id {
        case DUCKDB_TYPE_BOOLEAN: self = .boolean
        case DUCKDB_TYPE_TINYINT: self = .tinyint
        case DUCKDB_TYPE_SMALLINT: self = .smallint
        case DUCKDB_TYPE_INTEGER: self = .integer
        case DUCKDB_TYPE_BIGINT: self = .bigint
        case DUCKDB_TYPE_UTINYINT: self = .utinyint
        case DUCKDB_TYPE_USMALLINT: self = .usmallint
        case DUCKDB_TYPE_UINTEGER: self = .uinteger
        case DUCKDB_TYPE_UBIGINT: self = .ubigint
        case DUCKDB_TYPE_HUGEINT: self = .hugeint
        case DUCKDB_TYPE_UHUGEINT: self = .uhugeint
        case DUCKDB_TYPE_FLOAT: self = .float
        case DUCKDB_TYPE_DOUBLE: self = .double
        case DUCKDB_TYPE_DECIMAL: self = .decimal(width: Int(duckdb_decimal_width(t)), scale: Int(duckdb_decimal_scale(t)))
        case DUCKDB_TYPE_VARCHAR: self = .varchar
        case DUCKDB_TYPE_BLOB: self = .blob
        case DUCKDB_TYPE_BIT: self = .bit
        case DUCKDB_TYPE_BIGNUM: self = .bignum
        case DUCKDB_TYPE_DATE: self = .date
        case DUCKDB_TYPE_TIME: self = .time
        case DUCKDB_TYPE_TIME_NS: self = .timeNS
        case DUCKDB_TYPE_TIME_TZ: self = .timeTZ
        case DUCKDB_TYPE_TIMESTAMP: self = .timestamp
        case DUCKDB_TYPE_TIMESTAMP_S: self = .timestampS
        case DUCKDB_TYPE_TIMESTAMP_MS: self = .timestampMS
        case DUCKDB_TYPE_TIMESTAMP_NS: self = .timestampNS
        case DUCKDB_TYPE_TIMESTAMP_TZ: self = .timestampTZ
        case DUCKDB_TYPE_INTERVAL: self = .interval
        case DUCKDB_TYPE_UUID: self = .uuid
        case DUCKDB_TYPE_SQLNULL: self = .sqlNull
        case DUCKDB_TYPE_ENUM:
            let n = duckdb_enum_dictionary_size(t)
            self = .enum((0..<n).map { takeString(duckdb_enum_dictionary_value(t, idx_t($0))) })
        case DUCKDB_TYPE_LIST:
            self = .list(withChild(duckdb_list_type_child_type(t)))
        case DUCKDB_TYPE_ARRAY:
            self = .array(withChild(duckdb_array_type_child_type(t)), size: Int(duckdb_array_type_array_size(t)))
        case DUCKDB_TYPE_MAP:
            self = .map(key: withChild(duckdb_map_type_key_type(t)), value: withChild(duckdb_map_type_value_type(t)))
        case DUCKDB_TYPE_STRUCT:
            let n = duckdb_struct_type_child_count(t)
            self = .struct((0..<n).map { i in
                (takeString(duckdb_struct_type_child_name(t, i)), withChild(duckdb_struct_type_child_type(t, i)))
            })
        case DUCKDB_TYPE_UNION:
            let n = duckdb_union_type_member_count(t)
            self = .union((0..<n).map { i in
                (takeString(duckdb_union_type_member_name(t, i)), withChild(duckdb_union_type_member_type(t, i)))
            })
        case DUCKDB_TYPE_INVALID: self = .invalid
        default: self = .other(Int32(bitPattern: id.rawValue))
        }
    }

    /// DuckDB's SQL spelling of the type.
    public var description: String {
        switch self {
        case .invalid: return "INVALID"
        case .boolean: return "BOOLEAN"
        case .tinyint: return "TINYINT"
        case .smallint: return "SMALLINT"
        case .integer: return "INTEGER"
        case .bigint: return "BIGINT"
        case .utinyint: return "UTINYINT"
        case .usmallint: return "USMALLINT"
        case .uinteger: return "UINTEGER"
        case .ubigint: return "UBIGINT"
        case .hugeint: return "HUGEINT"
        case .uhugeint: return "UHUGEINT"
        case .float: return "FLOAT"
        case .double: return "DOUBLE"
        case .decimal(let w, let s): return "DECIMAL(\(w),\(s))"
        case .varchar: return "VARCHAR"
        case .blob: return "BLOB"
        case .bit: return "BIT"
        case .bignum: return "BIGNUM"
        case .date: return "DATE"
        case .time: return "TIME"
        case .timeNS: return "TIME_NS"
        case .timeTZ: return "TIME WITH TIME ZONE"
        case .timestamp: return "TIMESTAMP"
        case .timestampS: return "TIMESTAMP_S"
        case .timestampMS: return "TIMESTAMP_MS"
        case .timestampNS: return "TIMESTAMP_NS"
        case .timestampTZ: return "TIMESTAMP WITH TIME ZONE"
        case .interval: return "INTERVAL"
        case .uuid: return "UUID"
        case .sqlNull: return "\"NULL\""
        case .enum(let values): return "ENUM(" + values.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" }.joined(separator: ", ") + ")"
        case .list(let c): return "\(c)[]"
        case .array(let c, let n): return "\(c)[\(n)]"
        case .map(let k, let v): return "MAP(\(k), \(v))"
        case .struct(let fields): return "STRUCT(" + fields.map { "\(SQLText.identifier($0.name)) \($0.type)" }.joined(separator: ", ") + ")"
        case .union(let fields): return "UNION(" + fields.map { "\(SQLText.identifier($0.name)) \($0.type)" }.joined(separator: ", ") + ")"
        case .other(let id): return "TYPE#\(id)"
        }
    }
}

/// A column or parameter: its type and, where DuckDB has one, the type's alias ("JSON").
public struct ColumnDescription: Hashable, Sendable {
    public var name: String
    public var type: LogicalType
    public var alias: String?

    public init(name: String, type: LogicalType, alias: String? = nil) {
        self.name = name
        self.type = type
        self.alias = alias
    }

    init(name: String, borrowing t: duckdb_logical_type) {
        self.name = name
        self.type = LogicalType(borrowing: t)
        self.alias = duckdb_logical_type_get_alias(t).map { takeString($0) }
    }
}


/// Copies and frees a string DuckDB allocated for us.
func takeString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    defer { duckdb_free(p) }
    return String(cString: p)
}

private func withChild(_ child: duckdb_logical_type?) -> LogicalType {
    guard let child else { return .invalid }
    var owned: duckdb_logical_type? = child
    defer { duckdb_destroy_logical_type(&owned) }
    return LogicalType(borrowing: child)
}
