import Arrow
import DuckDB

/// Which PostgreSQL type presents which DuckDB type, and back.
public enum PostgresTypeMapping {
    /// How a DuckDB result column is presented (RowDescription OID/typlen/typmod).
    ///
    /// Depends on the DuckDB type (and alias) only, so that it can be answered before the
    /// first Arrow batch exists; `ColumnValueEncoder` encodes values to match it.
    public static func postgresType(for column: ColumnDescription) -> PostgresType {
        postgresType(for: column.type, alias: column.alias)
    }

    public static func postgresType(for type: LogicalType, alias: String? = nil) -> PostgresType {
        if let scalar = scalarType(type, alias: alias) { return scalar }
        switch type {
        case .list(let child), .array(let child, _):
            guard !isNested(child) else { return .text }
            return (scalarType(child, alias: nil) ?? .text).arrayType ?? .text
        default:
            return .text
        }
    }

    /// The PostgreSQL type of a DuckDB type that has one of its own; nil for nested types and
    /// for types shown as DuckDB's text (BIT, TIME WITH TIME ZONE, ...).
    static func scalarType(_ type: LogicalType, alias: String?) -> PostgresType? {
        switch type {
        case .boolean: return .bool
        case .tinyint, .smallint, .utinyint: return .int2
        case .integer, .usmallint: return .int4
        case .bigint, .uinteger: return .int8
        case .ubigint, .hugeint, .uhugeint, .bignum: return .numeric
        case .float: return .float4
        case .double: return .float8
        case .decimal(let width, let scale): return .numeric(precision: width, scale: scale)
        case .varchar: return alias?.uppercased() == "JSON" ? .json : .text
        case .blob: return .bytea
        case .date: return .date
        case .time, .timeNS: return .time
        case .timestamp, .timestampS, .timestampMS, .timestampNS: return .timestamp
        case .timestampTZ: return .timestamptz
        case .interval: return .interval
        case .uuid: return .uuid
        case .enum: return .text
        default: return nil
        }
    }

    static func isNested(_ type: LogicalType) -> Bool {
        switch type {
        case .list, .array, .struct, .map, .union: return true
        default: return false
        }
    }

    /// The DuckDB type a parameter declared by the client with this OID binds as (nil for
    /// 0/unknown and for OIDs Tavana does not know).
    ///
    /// numeric binds as DECIMAL(38,10) nominally; `ParameterDecoder` keeps such values exact
    /// with their own scale when it decodes them for an unknown target.
    public static func duckDBType(forParameterOID oid: UInt32) -> LogicalType? {
        switch oid {
        case PostgresType.boolOID: return .boolean
        case PostgresType.byteaOID: return .blob
        case PostgresType.charOID, PostgresType.nameOID, PostgresType.textOID, PostgresType.bpcharOID,
             PostgresType.varcharOID, PostgresType.jsonOID, PostgresType.jsonbOID, PostgresType.xmlOID:
            return .varchar
        case PostgresType.int8OID: return .bigint
        case PostgresType.int2OID: return .smallint
        case PostgresType.int4OID: return .integer
        case PostgresType.oidOID: return .uinteger
        case PostgresType.float4OID: return .float
        case PostgresType.float8OID: return .double
        case PostgresType.dateOID: return .date
        case PostgresType.timeOID: return .time
        case PostgresType.timestampOID: return .timestamp
        case PostgresType.timestamptzOID: return .timestampTZ
        case PostgresType.intervalOID: return .interval
        case PostgresType.timetzOID: return .timeTZ
        case PostgresType.bitOID, PostgresType.varbitOID: return .bit
        case PostgresType.numericOID: return .decimal(width: 38, scale: 10)
        case PostgresType.uuidOID: return .uuid
        default:
            if let element = PostgresType.known(oid: oid)?.elementType,
               let inner = duckDBType(forParameterOID: element.oid) {
                return .list(inner)
            }
            return nil
        }
    }

    // MARK: - Plans

    /// How the values of a column are encoded; throws if the Arrow data does not have the
    /// layout DuckDB's Arrow export uses for the column's type.
    static func plan(for column: ColumnDescription, field: Field) throws -> ValuePlan {
        let name = column.name
        if let p = try PlanBuilder.scalarPlan(column.type, alias: column.alias, field: field, name: name) {
            return p
        }
        switch column.type {
        case .list(let child), .array(let child, _):
            guard !isNested(child) else { break }
            let childField: Field
            switch field.type {
            case .list(let f), .largeList(let f), .fixedSizeList(let f, _): childField = f
            default: throw PlanBuilder.unsupported(name, column.type, field.type)
            }
            let elementPlan = try PlanBuilder.scalarPlan(child, alias: nil, field: childField, name: name)
                ?? .duckdb(.leaf(try PlanBuilder.duckLeaf(child, alias: nil, field: childField, name: name)))
            let elementType = scalarType(child, alias: nil) ?? .text
            return .array(element: elementPlan, elementType: elementType)
        default:
            break
        }
        return .duckdb(try PlanBuilder.duckNode(column.type, alias: column.alias, field: field, name: name))
    }

    // MARK: - Documentation

    /// One row of the type table in the documentation.
    public struct TableRow: Sendable, Equatable {
        public var duckDB: String
        public var arrow: String
        public var postgres: String
        public var oid: String
        public var notes: String
    }

    /// Every DuckDB type and how the PostgreSQL front door presents it (docs/types.md).
    public static let documentationTable: [TableRow] = [
        TableRow(duckDB: "BOOLEAN", arrow: "bool", postgres: "bool", oid: "16", notes: "text `t`/`f`"),
        TableRow(duckDB: "TINYINT", arrow: "int8", postgres: "int2", oid: "21", notes: ""),
        TableRow(duckDB: "SMALLINT", arrow: "int16", postgres: "int2", oid: "21", notes: ""),
        TableRow(duckDB: "INTEGER", arrow: "int32", postgres: "int4", oid: "23", notes: ""),
        TableRow(duckDB: "BIGINT", arrow: "int64", postgres: "int8", oid: "20", notes: ""),
        TableRow(duckDB: "UTINYINT", arrow: "uint8", postgres: "int2", oid: "21", notes: "widened"),
        TableRow(duckDB: "USMALLINT", arrow: "uint16", postgres: "int4", oid: "23", notes: "widened"),
        TableRow(duckDB: "UINTEGER", arrow: "uint32", postgres: "int8", oid: "20", notes: "widened"),
        TableRow(duckDB: "UBIGINT", arrow: "uint64", postgres: "numeric", oid: "1700", notes: "scale 0"),
        TableRow(duckDB: "HUGEINT", arrow: "decimal128(38,0)", postgres: "numeric", oid: "1700", notes: "all 39 digits kept"),
        TableRow(duckDB: "UHUGEINT", arrow: "decimal128(38,0)", postgres: "numeric", oid: "1700", notes: "bits read unsigned, so values above 2^127 are right"),
        TableRow(duckDB: "BIGNUM", arrow: "binary (arrow.opaque)", postgres: "numeric", oid: "1700", notes: "any number of digits"),
        TableRow(duckDB: "FLOAT", arrow: "float", postgres: "float4", oid: "700", notes: "shortest round-trip text, `NaN`, `Infinity`"),
        TableRow(duckDB: "DOUBLE", arrow: "double", postgres: "float8", oid: "701", notes: "shortest round-trip text"),
        TableRow(duckDB: "DECIMAL(p,s)", arrow: "decimal128(p,s)", postgres: "numeric(p,s)", oid: "1700", notes: "typmod `(p << 16) + s + 4`; text keeps the scale"),
        TableRow(duckDB: "VARCHAR", arrow: "utf8", postgres: "text", oid: "25", notes: "text rather than varchar: DuckDB strings have no length limit"),
        TableRow(duckDB: "JSON", arrow: "utf8 (alias JSON)", postgres: "json", oid: "114", notes: ""),
        TableRow(duckDB: "BLOB", arrow: "binary", postgres: "bytea", oid: "17", notes: "text `\\x…` (bytea_output hex)"),
        TableRow(duckDB: "DATE", arrow: "date32", postgres: "date", oid: "1082", notes: "`infinity`, BC years as `0044-03-15 BC`"),
        TableRow(duckDB: "TIME", arrow: "time64[us]", postgres: "time", oid: "1083", notes: ""),
        TableRow(duckDB: "TIME_NS", arrow: "time64[ns]", postgres: "time", oid: "1083", notes: "rounded to µs like DuckDB's cast to TIME"),
        TableRow(duckDB: "TIMESTAMP", arrow: "timestamp[us]", postgres: "timestamp", oid: "1114", notes: ""),
        TableRow(duckDB: "TIMESTAMP_S / _MS", arrow: "timestamp[s] / [ms]", postgres: "timestamp", oid: "1114", notes: "converted to µs"),
        TableRow(duckDB: "TIMESTAMP_NS", arrow: "timestamp[ns]", postgres: "timestamp", oid: "1114", notes: "truncated to µs like DuckDB's cast to TIMESTAMP"),
        TableRow(duckDB: "TIMESTAMPTZ", arrow: "timestamp[us, UTC]", postgres: "timestamptz", oid: "1184", notes: "shown in UTC (`+00`)"),
        TableRow(duckDB: "INTERVAL", arrow: "month_day_nano", postgres: "interval", oid: "1186", notes: "nanoseconds truncated to µs"),
        TableRow(duckDB: "UUID", arrow: "utf8 (or arrow.uuid)", postgres: "uuid", oid: "2950", notes: ""),
        TableRow(duckDB: "ENUM", arrow: "dictionary<utf8>", postgres: "text", oid: "25", notes: ""),
        TableRow(duckDB: "T[] / T[n] (T scalar)", arrow: "list / fixed_size_list", postgres: "the array type of T", oid: "e.g. 1007 `_int4`", notes: "one dimension, lower bound 1"),
        TableRow(duckDB: "JSON[]", arrow: "list<utf8>", postgres: "_text", oid: "1009", notes: "the JSON alias of list elements is not visible"),
        TableRow(duckDB: "lists of nested types", arrow: "list<…>", postgres: "text", oid: "25", notes: "DuckDB's VARCHAR rendering, e.g. `[[1, 2], [3]]`"),
        TableRow(duckDB: "STRUCT", arrow: "struct", postgres: "text", oid: "25", notes: "`{'x': 1, 'y': z}`"),
        TableRow(duckDB: "MAP", arrow: "map", postgres: "text", oid: "25", notes: "`{k=7}`"),
        TableRow(duckDB: "UNION", arrow: "sparse union", postgres: "text", oid: "25", notes: "the value of the active member"),
        TableRow(duckDB: "BIT", arrow: "binary", postgres: "text", oid: "25", notes: "`101`"),
        TableRow(duckDB: "TIME WITH TIME ZONE", arrow: "time64[us]", postgres: "text", oid: "25", notes: "DuckDB's default Arrow export drops the offset: the local time only; with arrow_lossless_conversion `01:02:03+05`"),
        TableRow(duckDB: "GEOMETRY", arrow: "binary (geoarrow.wkb)", postgres: "text", oid: "25", notes: "DuckDB's WKT, e.g. `POINT (1 2)`"),
        TableRow(duckDB: "\"NULL\"", arrow: "null", postgres: "text", oid: "25", notes: "always NULL"),
        TableRow(duckDB: "anything else", arrow: "…", postgres: "text", oid: "25", notes: "rendered from the Arrow data"),
    ]

    /// The table as Markdown.
    public static var documentationMarkdown: String {
        var s = "| DuckDB | Arrow (from DuckDB) | PostgreSQL | OID | Notes |\n|---|---|---|---|---|\n"
        for r in documentationTable {
            s += "| \(r.duckDB) | \(r.arrow) | \(r.postgres) | \(r.oid) | \(r.notes) |\n"
        }
        return s
    }
}
