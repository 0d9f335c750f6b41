import Worker
import FlightProtocol
import Arrow

/// CommandGetXdbcTypeInfo: DuckDB's types as JDBC/ODBC clients see them.
///
/// The rows are Tavana's own table (DuckDB has no JDBC type codes), kept to the types the
/// running DuckDB knows (`duckdb_types()`: JSON, for one, exists only with its extension).
/// The batch is assembled here rather than in SQL because the specified schema has a
/// non-nullable list item (`create_params: list<utf8 not null>`), which DuckDB's Arrow
/// export cannot declare.
extension Metadata {
    /// One row of the answer. Unset optionals are NULL.
    struct XdbcType {
        var name: String
        /// JDBC `java.sql.Types` code (for ODBC the concise type).
        var dataType: Int32
        /// Digits for numbers, characters for text and date/time literals.
        var columnSize: Int32?
        var literalQuote: String? = nil
        var createParams: [String]? = nil
        var caseSensitive = false
        var searchable: Searchable = .basic
        /// Set for numbers only (ODBC: NULL where the attribute does not apply).
        var unsigned: Bool? = nil
        var minimumScale: Int32? = nil
        var maximumScale: Int32? = nil
        /// ODBC SQL_DATA_TYPE: the verbose type (9 for every date/time type); nil: `dataType`.
        var sqlDataType: Int32? = nil
        var datetimeSubcode: Int32? = nil

        /// The proto's `Searchable` values.
        enum Searchable: Int32 { case none = 0, char = 1, basic = 2, full = 3 }

        var isNumber: Bool { unsigned != nil }
    }

    /// JDBC codes the proto's XdbcDataType enum leaves out.
    enum JDBC {
        static let boolean: Int32 = 16
        static let other: Int32 = 1111
        static let `struct`: Int32 = 2002
        static let array: Int32 = 2003
        static let timeWithTimeZone: Int32 = 2013
        static let timestampWithTimeZone: Int32 = 2014
    }

    /// ODBC's verbose SQL_DATETIME / SQL_INTERVAL, and their sub-codes (XdbcDatetimeSubcode).
    enum ODBC {
        static let datetime: Int32 = 9
        static let interval: Int32 = 10
        static let date: Int32 = 1, time: Int32 = 2, timestamp: Int32 = 3
        static let timeWithTimeZone: Int32 = 4, timestampWithTimeZone: Int32 = 5
    }

    static func integer(_ name: String, _ code: Int32, digits: Int32, unsigned: Bool = false) -> XdbcType {
        XdbcType(name: name, dataType: code, columnSize: digits, unsigned: unsigned, minimumScale: 0, maximumScale: 0)
    }

    /// A date/time type: quoted literals ('2024-01-31'), `digits` characters long, with
    /// `fraction` fractional-second digits.
    static func temporal(_ name: String, _ code: Int32, digits: Int32, fraction: Int32?, subcode: Int32) -> XdbcType {
        XdbcType(name: name, dataType: code, columnSize: digits, literalQuote: "'",
                 minimumScale: fraction, maximumScale: fraction, sqlDataType: ODBC.datetime, datetimeSubcode: subcode)
    }

    /// Every type Tavana may describe; `xdbcTypes(known:)` keeps those DuckDB has.
    static let xdbcTypeTable: [XdbcType] = [
        XdbcType(name: "BOOLEAN", dataType: JDBC.boolean, columnSize: 1),
        integer("TINYINT", -6, digits: 3),
        integer("SMALLINT", 5, digits: 5),
        integer("INTEGER", 4, digits: 10),
        integer("BIGINT", -5, digits: 19),
        // Unsigned integers keep their width's code; the unsigned flag is what tells them apart.
        integer("UTINYINT", -6, digits: 3, unsigned: true),
        integer("USMALLINT", 5, digits: 5, unsigned: true),
        integer("UINTEGER", 4, digits: 10, unsigned: true),
        integer("UBIGINT", -5, digits: 20, unsigned: true),
        // 128-bit integers reach clients as decimal128(38, 0), so they present as DECIMAL(38, 0).
        integer("HUGEINT", 3, digits: 38),
        integer("UHUGEINT", 3, digits: 38, unsigned: true),
        XdbcType(name: "DECIMAL", dataType: 3, columnSize: 38, createParams: ["precision", "scale"],
                 unsigned: false, minimumScale: 0, maximumScale: 38),
        // Approximate numbers: decimal digits of precision (FLOAT is DuckDB's REAL).
        XdbcType(name: "FLOAT", dataType: 7, columnSize: 7, unsigned: false),
        XdbcType(name: "DOUBLE", dataType: 8, columnSize: 15, unsigned: false),
        // VARCHAR(n) parses but DuckDB ignores n, hence no create_params; no fixed length limit.
        XdbcType(name: "VARCHAR", dataType: 12, columnSize: Int32.max, literalQuote: "'", caseSensitive: true, searchable: .full),
        XdbcType(name: "JSON", dataType: JDBC.other, columnSize: Int32.max, literalQuote: "'", caseSensitive: true, searchable: .full),
        XdbcType(name: "BLOB", dataType: -3, columnSize: Int32.max, literalQuote: "'"),
        XdbcType(name: "UUID", dataType: JDBC.other, columnSize: 36, literalQuote: "'"),
        temporal("DATE", 91, digits: 10, fraction: nil, subcode: ODBC.date),
        temporal("TIME", 92, digits: 15, fraction: 6, subcode: ODBC.time),
        temporal("TIME WITH TIME ZONE", JDBC.timeWithTimeZone, digits: 21, fraction: 6, subcode: ODBC.timeWithTimeZone),
        temporal("TIMESTAMP", 93, digits: 26, fraction: 6, subcode: ODBC.timestamp),
        temporal("TIMESTAMP_S", 93, digits: 19, fraction: 0, subcode: ODBC.timestamp),
        temporal("TIMESTAMP_MS", 93, digits: 23, fraction: 3, subcode: ODBC.timestamp),
        temporal("TIMESTAMP_NS", 93, digits: 29, fraction: 9, subcode: ODBC.timestamp),
        temporal("TIMESTAMP WITH TIME ZONE", JDBC.timestampWithTimeZone, digits: 32, fraction: 6,
                 subcode: ODBC.timestampWithTimeZone),
        // DuckDB's INTERVAL mixes months, days and microseconds: no single ODBC interval kind.
        XdbcType(name: "INTERVAL", dataType: JDBC.other, columnSize: nil, literalQuote: "'", sqlDataType: ODBC.interval),
        XdbcType(name: "BIT", dataType: JDBC.other, columnSize: nil, literalQuote: "'"),
        // Nested types compare (=, <) but have no literal prefix to quote with.
        XdbcType(name: "LIST", dataType: JDBC.array, columnSize: nil),
        XdbcType(name: "ARRAY", dataType: JDBC.array, columnSize: nil),
        XdbcType(name: "STRUCT", dataType: JDBC.struct, columnSize: nil),
        XdbcType(name: "MAP", dataType: JDBC.other, columnSize: nil),
        XdbcType(name: "UNION", dataType: JDBC.other, columnSize: nil),
    ]

    /// The table's rows whose type DuckDB knows, for one `data_type` or all, ordered by
    /// data_type then type_name as the proto asks.
    static func xdbcTypes(known: Set<String>, dataType: Int32?) -> [XdbcType] {
        xdbcTypeTable
            .filter { known.contains($0.name) && (dataType == nil || $0.dataType == dataType) }
            .sorted { ($0.dataType, $0.name) < ($1.dataType, $1.name) }
    }

    static func xdbcTypeInfo(_ request: Arrow_Flight_Protocol_Sql_CommandGetXdbcTypeInfo, vocabulary: EngineVocabulary) -> RecordBatch {
        xdbcTypeInfo(xdbcTypes(known: vocabulary.typeNames, dataType: request.hasDataType ? request.dataType : nil))
    }

    static var xdbcTypeInfoSchema: Schema {
        let int32 = ArrowType.int(bitWidth: 32, signed: true)
        return Schema([
            Field("type_name", .utf8, nullable: false),
            Field("data_type", int32, nullable: false),
            Field("column_size", int32, nullable: true),
            Field("literal_prefix", .utf8, nullable: true),
            Field("literal_suffix", .utf8, nullable: true),
            Field("create_params", .list(Field("item", .utf8, nullable: false)), nullable: true),
            Field("nullable", int32, nullable: false),
            Field("case_sensitive", .bool, nullable: false),
            Field("searchable", int32, nullable: false),
            Field("unsigned_attribute", .bool, nullable: true),
            Field("fixed_prec_scale", .bool, nullable: false),
            Field("auto_increment", .bool, nullable: true),
            Field("local_type_name", .utf8, nullable: true),
            Field("minimum_scale", int32, nullable: true),
            Field("maximum_scale", int32, nullable: true),
            Field("sql_data_type", int32, nullable: false),
            Field("datetime_subcode", int32, nullable: true),
            Field("num_prec_radix", int32, nullable: true),
            Field("interval_precision", int32, nullable: true),
        ])
    }

    static func xdbcTypeInfo(_ types: [XdbcType]) -> RecordBatch {
        let int32 = ArrowType.int(bitWidth: 32, signed: true)
        func ints(_ f: (XdbcType) -> Int32?) -> ArrayData { Build.fixed(types.map(f), type: int32) }
        let schema = xdbcTypeInfoSchema
        let columns: [ArrayData] = [
            Build.strings(types.map(\.name)),
            ints { $0.dataType },
            ints { $0.columnSize },
            Build.strings(types.map(\.literalQuote)),
            Build.strings(types.map(\.literalQuote)),
            Build.stringLists(types.map(\.createParams), type: schema.fields[5].type),
            // Every DuckDB column may be NULL unless declared NOT NULL: NULLABILITY_NULLABLE.
            ints { _ in 1 },
            Build.bools(types.map(\.caseSensitive)),
            ints { $0.searchable.rawValue },
            Build.bools(types.map(\.unsigned)),
            // No money-like type with a fixed precision and scale.
            Build.bools(types.map { _ in false }),
            // DuckDB numbers auto-increment only through sequences (DEFAULT nextval), never by type.
            Build.bools(types.map { _ in false }),
            Build.strings(types.map { _ in nil }),
            ints { $0.minimumScale },
            ints { $0.maximumScale },
            ints { $0.sqlDataType ?? $0.dataType },
            ints { $0.datetimeSubcode },
            ints { $0.isNumber ? 10 : nil },
            ints { _ in nil },
        ]
        return RecordBatch(schema: schema, columns: columns, length: types.count)
    }
}
