import Arrow
import DuckDB
import Foundation
import GRPCCore
import Scheduler

/// Flight SQL metadata commands. Most are DuckDB SQL over its catalog functions, cast so the
/// columns have the names and Arrow types FlightSql.proto lists; SqlInfo (a dense union) and
/// GetTables with schemas are assembled in Swift.
enum Metadata {
    /// Columns FlightSql.proto declares NOT NULL (clients such as ADBC check the schema exactly).
    static func nonNullable(_ command: Command) -> Set<String> {
        switch command {
        case .catalogs: return ["catalog_name"]
        case .dbSchemas: return ["db_schema_name"]
        case .tables: return ["table_name", "table_type", "table_schema"]
        case .tableTypes: return ["table_type"]
        case .primaryKeys: return ["table_name", "column_name", "key_sequence"]
        case .importedKeys, .exportedKeys, .crossReference:
            return ["pk_table_name", "pk_column_name", "fk_table_name", "fk_column_name", "key_sequence", "update_rule", "delete_rule"]
        case .xdbcTypeInfo: return ["type_name", "data_type", "nullable", "case_sensitive", "searchable", "sql_data_type"]
        default: return []
        }
    }

    static func query(for command: Command) throws -> (String, [DuckDBValue]) {
        switch command {
        case .catalogs:
            return ("SELECT database_name::VARCHAR AS catalog_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1", [])
        case .dbSchemas(let c):
            return (
                """
                SELECT s.database_name::VARCHAR AS catalog_name, s.schema_name::VARCHAR AS db_schema_name
                FROM duckdb_schemas() s JOIN duckdb_databases() d ON d.database_name = s.database_name
                WHERE NOT d.internal AND s.schema_name <> 'pg_catalog' AND s.schema_name <> 'information_schema'
                  AND (?::VARCHAR IS NULL OR s.database_name = ?::VARCHAR)
                  AND (?::VARCHAR IS NULL OR s.schema_name LIKE ?::VARCHAR ESCAPE '\\')
                ORDER BY 1, 2
                """,
                [opt(c.hasCatalog, c.catalog), opt(c.hasCatalog, c.catalog),
                 opt(c.hasDbSchemaFilterPattern, c.dbSchemaFilterPattern), opt(c.hasDbSchemaFilterPattern, c.dbSchemaFilterPattern)])
        case .tables(let c):
            let (sql, params) = tablesQuery(c)
            return ("SELECT catalog_name, db_schema_name, table_name, table_type FROM (\(sql)) ORDER BY 4, 1, 2, 3", params)
        case .tableTypes:
            return ("SELECT table_type::VARCHAR AS table_type FROM (VALUES ('BASE TABLE'), ('LOCAL TEMPORARY'), ('VIEW')) t(table_type) ORDER BY 1", [])
        case .primaryKeys:
            return ("""
                SELECT NULL::VARCHAR AS catalog_name, NULL::VARCHAR AS db_schema_name, NULL::VARCHAR AS table_name,
                       NULL::VARCHAR AS column_name, NULL::VARCHAR AS key_name, NULL::INTEGER AS key_sequence
                WHERE false
                """, [])
        case .importedKeys, .exportedKeys, .crossReference:
            return ("""
                SELECT NULL::VARCHAR AS pk_catalog_name, NULL::VARCHAR AS pk_db_schema_name, NULL::VARCHAR AS pk_table_name,
                       NULL::VARCHAR AS pk_column_name, NULL::VARCHAR AS fk_catalog_name, NULL::VARCHAR AS fk_db_schema_name,
                       NULL::VARCHAR AS fk_table_name, NULL::VARCHAR AS fk_column_name, NULL::INTEGER AS key_sequence,
                       NULL::VARCHAR AS fk_key_name, NULL::VARCHAR AS pk_key_name,
                       NULL::UTINYINT AS update_rule, NULL::UTINYINT AS delete_rule
                WHERE false
                """, [])
        case .xdbcTypeInfo:
            return ("""
                SELECT NULL::VARCHAR AS type_name, NULL::INTEGER AS data_type, NULL::INTEGER AS column_size,
                       NULL::VARCHAR AS literal_prefix, NULL::VARCHAR AS literal_suffix, NULL::VARCHAR[] AS create_params,
                       NULL::INTEGER AS nullable, NULL::BOOLEAN AS case_sensitive, NULL::INTEGER AS searchable,
                       NULL::BOOLEAN AS unsigned_attribute, NULL::BOOLEAN AS fixed_prec_scale, NULL::BOOLEAN AS auto_increment,
                       NULL::VARCHAR AS local_type_name, NULL::INTEGER AS minimum_scale, NULL::INTEGER AS maximum_scale,
                       NULL::INTEGER AS sql_data_type, NULL::INTEGER AS datetime_subcode, NULL::INTEGER AS num_prec_radix,
                       NULL::INTEGER AS interval_precision
                WHERE false
                """, [])
        default:
            throw RPCError(code: .invalidArgument, message: "not a metadata command")
        }
    }

    static func opt(_ has: Bool, _ value: String) -> DuckDBValue { has ? .varchar(value) : .null }

    static func tablesQuery(_ c: Arrow_Flight_Protocol_Sql_CommandGetTables) -> (String, [DuckDBValue]) {
        var sql = """
            SELECT table_catalog::VARCHAR AS catalog_name, table_schema::VARCHAR AS db_schema_name,
                   table_name::VARCHAR AS table_name, table_type::VARCHAR AS table_type
            FROM information_schema.tables
            WHERE (?::VARCHAR IS NULL OR table_catalog = ?::VARCHAR)
              AND (?::VARCHAR IS NULL OR table_schema LIKE ?::VARCHAR ESCAPE '\\')
              AND (?::VARCHAR IS NULL OR table_name LIKE ?::VARCHAR ESCAPE '\\')
            """
        var params: [DuckDBValue] = [
            opt(c.hasCatalog, c.catalog), opt(c.hasCatalog, c.catalog),
            opt(c.hasDbSchemaFilterPattern, c.dbSchemaFilterPattern), opt(c.hasDbSchemaFilterPattern, c.dbSchemaFilterPattern),
            opt(c.hasTableNameFilterPattern, c.tableNameFilterPattern), opt(c.hasTableNameFilterPattern, c.tableNameFilterPattern),
        ]
        if !c.tableTypes.isEmpty {
            sql += " AND table_type IN (" + c.tableTypes.map { _ in "?" }.joined(separator: ", ") + ")"
            params += c.tableTypes.map { .varchar($0) }
        }
        return (sql, params)
    }


    /// GetTables with `include_schema`: each table's Arrow schema as an IPC message.
    static func tablesWithSchemas(_ c: Arrow_Flight_Protocol_Sql_CommandGetTables, session: Session) async throws -> RecordBatch {
        let (sql, params) = tablesQuery(c)
        let ordered = "SELECT * FROM (\(sql)) ORDER BY 4, 1, 2, 3"
        let rows: [[String?]] = try await session.run { conn in
            let result = try conn.query(ordered, params)
            var out: [[String?]] = []
            while let batch = try result.nextArrowBatch() {
                for r in 0..<batch.length {
                    out.append(batch.columns.map { $0.isNull(r) ? nil : $0.string(r) })
                }
            }
            return out
        }
        var schemas: [[UInt8]?] = []
        for row in rows {
            let name = [row[0], row[1], row[2]].compactMap { $0 }.map(SQLText.identifier).joined(separator: ".")
            let schema: Schema = try await session.run { conn in
                let result = try conn.query("SELECT * FROM \(name) LIMIT 0")
                return try result.arrowSchema()
            }
            schemas.append(IPCStreamWriter(schema: schema).schemaMessage().encapsulated())
        }
        let schema = Schema([
            Field("catalog_name", .utf8, nullable: true),
            Field("db_schema_name", .utf8, nullable: true),
            Field("table_name", .utf8, nullable: false),
            Field("table_type", .utf8, nullable: false),
            Field("table_schema", .binary, nullable: false),
        ])
        let columns = (0..<4).map { i in Build.strings(rows.map { $0[i] }) } + [Build.blobs(schemas)]
        return RecordBatch(schema: schema, columns: columns, length: rows.count)
    }

    // MARK: - SqlInfo

    enum InfoValue {
        case string(String), bool(Bool), bigint(Int64), bitmask(Int32)
    }

    static func infoValues(serverVersion: String) -> [(UInt32, InfoValue)] {
        typealias Info = Arrow_Flight_Protocol_Sql_SqlInfo
        let values: [(Info, InfoValue)] = [
            (.flightSqlServerName, .string("Tavana")),
            (.flightSqlServerVersion, .string(serverVersion)),
            (.flightSqlServerArrowVersion, .string("1.5.0")),  // IPC format version
            (.flightSqlServerReadOnly, .bool(false)),
            (.flightSqlServerSql, .bool(true)),
            (.flightSqlServerSubstrait, .bool(false)),
            // SQL_SUPPORTED_TRANSACTION_TRANSACTION: BeginTransaction / EndTransaction, no savepoints.
            (.flightSqlServerTransaction, .bitmask(Int32(Arrow_Flight_Protocol_Sql_SqlSupportedTransaction.transaction.rawValue))),
            (.flightSqlServerCancel, .bool(true)),
            (.flightSqlServerBulkIngestion, .bool(true)),
            (.flightSqlServerIngestTransactionsSupported, .bool(true)),
            (.sqlDdlCatalog, .bool(true)),
            (.sqlDdlSchema, .bool(true)),
            (.sqlDdlTable, .bool(true)),
            (.sqlIdentifierCase, .bitmask(1)),  // case insensitive
            (.sqlIdentifierQuoteChar, .string("\"")),
            (.sqlQuotedIdentifierCase, .bitmask(1)),
            (.sqlAllTablesAreSelectable, .bool(true)),
            (.sqlNullOrdering, .bitmask(3)),  // NULLS sorted at the end (DuckDB's default)
            (.sqlTransactionsSupported, .bool(true)),
        ]
        return values.map { (UInt32($0.0.rawValue), $0.1) }
    }

    static var sqlInfoSchema: Schema {
        let union = ArrowType.union(mode: .dense, typeIds: [0, 1, 2, 3, 4, 5], children: [
            Field("string_value", .utf8, nullable: true),
            Field("bool_value", .bool, nullable: true),
            Field("bigint_value", .int(bitWidth: 64, signed: true), nullable: true),
            Field("int32_bitmask", .int(bitWidth: 32, signed: true), nullable: true),
            Field("string_list", .list(Field("item", .utf8, nullable: true)), nullable: true),
            Field("int32_to_int32_list_map", .map(
                entries: Field("entries", .struct([
                    Field("key", .int(bitWidth: 32, signed: true), nullable: false),
                    Field("value", .list(Field("item", .int(bitWidth: 32, signed: true), nullable: true)), nullable: true),
                ]), nullable: false),
                keysSorted: false), nullable: true),
        ])
        return Schema([
            Field("info_name", .int(bitWidth: 32, signed: false), nullable: false),
            Field("value", union, nullable: false),
        ])
    }

    static func sqlInfo(_ requested: [UInt32], serverVersion: String) throws -> RecordBatch {
        let all = infoValues(serverVersion: serverVersion)
        let wanted = requested.isEmpty ? all : all.filter { requested.contains($0.0) }
        var names: [UInt32?] = []
        var typeIds: [Int8] = []
        var offsets: [Int32] = []
        var strings: [String?] = [], bools: [Bool?] = [], bigints: [Int64?] = [], masks: [Int32?] = []
        for (id, value) in wanted {
            names.append(id)
            switch value {
            case .string(let s): typeIds.append(0); offsets.append(Int32(strings.count)); strings.append(s)
            case .bool(let b): typeIds.append(1); offsets.append(Int32(bools.count)); bools.append(b)
            case .bigint(let v): typeIds.append(2); offsets.append(Int32(bigints.count)); bigints.append(v)
            case .bitmask(let v): typeIds.append(3); offsets.append(Int32(masks.count)); masks.append(v)
            }
        }
        let schema = sqlInfoSchema
        guard case .union(_, _, let children) = schema.fields[1].type else { fatalError("unreachable") }
        let unionArray = ArrayData(
            type: schema.fields[1].type, length: wanted.count, nullCount: 0,
            buffers: [Build.bytes(typeIds), Build.bytes(offsets)],
            children: [
                Build.strings(strings), Build.bools(bools),
                Build.fixed(bigints, type: .int(bitWidth: 64, signed: true)),
                Build.fixed(masks, type: .int(bitWidth: 32, signed: true)),
                Build.empty(children[4].type), Build.empty(children[5].type),
            ])
        return RecordBatch(
            schema: schema,
            columns: [Build.fixed(names, type: .int(bitWidth: 32, signed: false)), unionArray],
            length: wanted.count)
    }
}

