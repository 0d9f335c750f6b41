import CDuckDB

/// A typed value for binding prepared-statement parameters.
public enum DuckDBValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int8(Int8), int16(Int16), int32(Int32), int64(Int64)
    case uint8(UInt8), uint16(UInt16), uint32(UInt32), uint64(UInt64)
    case hugeint(Int128), uhugeint(UInt128)
    case float(Float), double(Double)
    /// An exact decimal: `unscaled / 10^scale`, with `width` digits in all.
    case decimal(unscaled: Int128, width: UInt8, scale: UInt8)
    case varchar(String)
    case blob([UInt8])
    /// Days since 1970-01-01.
    case date(Int32)
    /// Microseconds since midnight.
    case time(Int64)
    /// Microseconds since the epoch.
    case timestamp(Int64), timestampTZ(Int64)
    case interval(months: Int32, days: Int32, micros: Int64)
    case uuid(UInt128)
    /// A list of values of one element type (given so that empty and all-NULL lists type-check).
    case list([DuckDBValue], element: LogicalType)
    /// A NULL of a known type (one the client typed, as a NULL in a VARCHAR parameter
    /// column): DuckDB infers an untyped parameter's type from the value bound, and an
    /// untyped NULL would make it INTEGER.
    case typedNull(LogicalType)

    /// Creates the DuckDB value; the caller destroys it.
    func makeHandle() throws -> duckdb_value {
        let v: duckdb_value?
        switch self {
        case .null: v = duckdb_create_null_value()
        case .bool(let x): v = duckdb_create_bool(x)
        case .int8(let x): v = duckdb_create_int8(x)
        case .int16(let x): v = duckdb_create_int16(x)
        case .int32(let x): v = duckdb_create_int32(x)
        case .int64(let x): v = duckdb_create_int64(x)
        case .uint8(let x): v = duckdb_create_uint8(x)
        case .uint16(let x): v = duckdb_create_uint16(x)
        case .uint32(let x): v = duckdb_create_uint32(x)
        case .uint64(let x): v = duckdb_create_uint64(x)
        case .hugeint(let x): v = duckdb_create_hugeint(Self.huge(x))
        case .uhugeint(let x): v = duckdb_create_uhugeint(duckdb_uhugeint(lower: UInt64(truncatingIfNeeded: x), upper: UInt64(truncatingIfNeeded: x >> 64)))
        case .float(let x): v = duckdb_create_float(x)
        case .double(let x): v = duckdb_create_double(x)
        case .decimal(let unscaled, let width, let scale):
            guard width >= 1, width <= 38, scale <= width else {
                throw DuckDBError(.invalidInput, "invalid DECIMAL(\(width),\(scale))")
            }
            v = duckdb_create_decimal(duckdb_decimal(width: width, scale: scale, value: Self.huge(unscaled)))
        case .varchar(let s):
            var s = s
            v = s.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { duckdb_create_varchar_length($0.baseAddress, idx_t($0.count)) }
            }
        case .blob(let bytes): v = bytes.withUnsafeBufferPointer { duckdb_create_blob($0.baseAddress, idx_t($0.count)) }
        case .date(let d): v = duckdb_create_date(duckdb_date(days: d))
        case .time(let t): v = duckdb_create_time(duckdb_time(micros: t))
        case .timestamp(let t): v = duckdb_create_timestamp(duckdb_timestamp(micros: t))
        case .timestampTZ(let t): v = duckdb_create_timestamp_tz(duckdb_timestamp(micros: t))
        case .interval(let m, let d, let us): v = duckdb_create_interval(duckdb_interval(months: m, days: d, micros: us))
        case .uuid(let u):
            // DuckDB's C API takes the UUID's 128 bits as an unsigned integer in natural order.
            v = duckdb_create_uuid(duckdb_uhugeint(lower: UInt64(truncatingIfNeeded: u), upper: UInt64(truncatingIfNeeded: u >> 64)))
        case .list(let elements, let element):
            var type = try element.makeHandle()
            defer { duckdb_destroy_logical_type(&type) }
            var handles: [duckdb_value?] = []
            defer { for i in handles.indices { duckdb_destroy_value(&handles[i]) } }
            for e in elements { handles.append(try e.makeHandle()) }
            v = handles.withUnsafeMutableBufferPointer { duckdb_create_list_value(type, $0.baseAddress, idx_t($0.count)) }
        case .typedNull(let type):
            // The C API makes only untyped NULLs; a one-element list of the type casts its
            // NULL element to it, and the element comes back out typed.
            var handle = try type.makeHandle()
            defer { duckdb_destroy_logical_type(&handle) }
            var element: duckdb_value? = duckdb_create_null_value()
            defer { duckdb_destroy_value(&element) }
            var list: duckdb_value? = withUnsafeMutablePointer(to: &element) { duckdb_create_list_value(handle, $0, 1) }
            defer { duckdb_destroy_value(&list) }
            v = list.flatMap { duckdb_get_list_child($0, 0) }
        }
        guard let v else { throw DuckDBError(.conversion, "could not create a DuckDB value from \(self)") }
        return v
    }

    private static func huge(_ x: Int128) -> duckdb_hugeint {
        duckdb_hugeint(lower: UInt64(truncatingIfNeeded: x), upper: Int64(truncatingIfNeeded: x >> 64))
    }
}

extension LogicalType {
    /// A DuckDB handle for simple types (used to type list parameters); the caller destroys it.
    func makeHandle() throws -> duckdb_logical_type? {
        let id: duckdb_type
        switch self {
        case .boolean: id = DUCKDB_TYPE_BOOLEAN
        case .tinyint: id = DUCKDB_TYPE_TINYINT
        case .smallint: id = DUCKDB_TYPE_SMALLINT
        case .integer: id = DUCKDB_TYPE_INTEGER
        case .bigint: id = DUCKDB_TYPE_BIGINT
        case .utinyint: id = DUCKDB_TYPE_UTINYINT
        case .usmallint: id = DUCKDB_TYPE_USMALLINT
        case .uinteger: id = DUCKDB_TYPE_UINTEGER
        case .ubigint: id = DUCKDB_TYPE_UBIGINT
        case .hugeint: id = DUCKDB_TYPE_HUGEINT
        case .uhugeint: id = DUCKDB_TYPE_UHUGEINT
        case .float: id = DUCKDB_TYPE_FLOAT
        case .double: id = DUCKDB_TYPE_DOUBLE
        case .varchar: id = DUCKDB_TYPE_VARCHAR
        case .blob: id = DUCKDB_TYPE_BLOB
        case .date: id = DUCKDB_TYPE_DATE
        case .time: id = DUCKDB_TYPE_TIME
        case .timestamp: id = DUCKDB_TYPE_TIMESTAMP
        case .timestampTZ: id = DUCKDB_TYPE_TIMESTAMP_TZ
        case .interval: id = DUCKDB_TYPE_INTERVAL
        case .uuid: id = DUCKDB_TYPE_UUID
        case .sqlNull: id = DUCKDB_TYPE_SQLNULL
        case .list(let element):
            var inner = try element.makeHandle()
            defer { duckdb_destroy_logical_type(&inner) }
            return duckdb_create_list_type(inner)
        default: throw DuckDBError(.notImplemented, "list parameters of type \(self) are not supported")
        }
        return duckdb_create_logical_type(id)
    }
}
