import FlightProtocol
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
        case .primaryKeys(let c):
            return primaryKeysQuery(KeyTable(c.hasCatalog ? c.catalog : nil, c.hasDbSchema ? c.dbSchema : nil, c.table))
        case .importedKeys(let c):
            let table = KeyTable(c.hasCatalog ? c.catalog : nil, c.hasDbSchema ? c.dbSchema : nil, c.table)
            return foreignKeysQuery(pk: nil, fk: table, orderBy: importedKeysOrder)
        case .exportedKeys(let c):
            let table = KeyTable(c.hasCatalog ? c.catalog : nil, c.hasDbSchema ? c.dbSchema : nil, c.table)
            return foreignKeysQuery(pk: table, fk: nil, orderBy: exportedKeysOrder)
        case .crossReference(let c):
            let pk = KeyTable(c.hasPkCatalog ? c.pkCatalog : nil, c.hasPkDbSchema ? c.pkDbSchema : nil, c.pkTable)
            let fk = KeyTable(c.hasFkCatalog ? c.fkCatalog : nil, c.hasFkDbSchema ? c.fkDbSchema : nil, c.fkTable)
            return foreignKeysQuery(pk: pk, fk: fk, orderBy: importedKeysOrder)
        default:
            throw RPCError(code: .invalidArgument, message: "not a metadata command")
        }
    }

    static func opt(_ has: Bool, _ value: String) -> DuckDBValue { has ? .varchar(value) : .null }

    /// Every row of a query whose columns are all VARCHAR.
    static func rows(_ session: Session, _ sql: String, _ params: [DuckDBValue] = []) async throws -> [[String?]] {
        var out: [[String?]] = []
        // Catalog answers take no query slot: they never wait behind running queries.
        for batch in try await session.collect(sql, parameters: params, catalog: true) {
            // Text columns only: reading another type as text would misread its buffers.
            guard batch.columns.allSatisfy({ $0.type == .utf8 || $0.type == .largeUtf8 }) else {
                throw QueryError(.invalidInput, "internal: a metadata query returned a column that is not text")
            }
            for r in 0..<batch.length {
                out.append(batch.columns.map { $0.isNull(r) ? nil : $0.string(r) })
            }
        }
        return out
    }

    // MARK: - Keys

    /// The table a key command names. Catalog and schema are optional (unset: any); "" names
    /// objects without one, of which DuckDB has none. The table name matches exactly.
    struct KeyTable {
        var catalog: String?
        var schema: String?
        var table: String

        init(_ catalog: String?, _ schema: String?, _ table: String) {
            self.catalog = catalog
            self.schema = schema
            self.table = table
        }
    }

    /// A WHERE condition that restricts the given columns to `table`, and its parameters.
    static func condition(_ table: KeyTable, catalog: String, schema: String, name: String) -> (String, [DuckDBValue]) {
        let sql = """
            (?::VARCHAR IS NULL OR \(catalog) = ?::VARCHAR)
              AND (?::VARCHAR IS NULL OR \(schema) = ?::VARCHAR)
              AND \(name) = ?::VARCHAR
            """
        let c = table.catalog.map(DuckDBValue.varchar) ?? .null
        let s = table.schema.map(DuckDBValue.varchar) ?? .null
        return (sql, [c, c, s, s, .varchar(table.table)])
    }

    /// One row per column of each PRIMARY KEY constraint, numbered from 1 in key order.
    static func primaryKeysQuery(_ table: KeyTable) -> (String, [DuckDBValue]) {
        let (filter, params) = condition(table, catalog: "catalog_name", schema: "db_schema_name", name: "table_name")
        let sql = """
            SELECT catalog_name::VARCHAR AS catalog_name, db_schema_name::VARCHAR AS db_schema_name,
                   table_name::VARCHAR AS table_name, column_name::VARCHAR AS column_name,
                   key_name::VARCHAR AS key_name, key_sequence::INTEGER AS key_sequence
            FROM (
                SELECT database_name AS catalog_name, schema_name AS db_schema_name, table_name,
                       constraint_name AS key_name,
                       unnest(constraint_column_names) AS column_name,
                       generate_subscripts(constraint_column_names, 1) AS key_sequence
                FROM duckdb_constraints()
                WHERE constraint_type = 'PRIMARY KEY'
            )
            WHERE \(filter)
            ORDER BY catalog_name, db_schema_name, table_name, key_name, key_sequence
            """
        return (sql, params)
    }

    static let importedKeysOrder = "pk_catalog_name, pk_db_schema_name, pk_table_name, pk_key_name, key_sequence"
    static let exportedKeysOrder = "fk_catalog_name, fk_db_schema_name, fk_table_name, fk_key_name, key_sequence"

    /// Every FOREIGN KEY column pair, in the shared schema of GetImportedKeys, GetExportedKeys
    /// and GetCrossReference.
    ///
    /// DuckDB keeps a foreign key's referenced table and columns as they were written (so in
    /// any letter case) and only in the referencing table's schema (it refuses keys across
    /// schemas or catalogs). The referenced side is therefore matched case-insensitively to
    /// the PRIMARY KEY or UNIQUE constraint it must point at, which gives the stored table and
    /// column names and pk_key_name; a primary key wins over a UNIQUE on the same columns.
    /// DuckDB has no ON UPDATE / ON DELETE actions: both rules are NO_ACTION (3).
    static let foreignKeysSQL = """
        WITH referenced_keys AS (
            SELECT database_name, schema_name, table_name, constraint_name, constraint_column_names AS columns
            FROM duckdb_constraints()
            WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE')
            QUALIFY row_number() OVER (
                PARTITION BY database_name, schema_name, lower(table_name),
                             list_transform(constraint_column_names, lambda c: lower(c))
                ORDER BY constraint_type = 'PRIMARY KEY' DESC) = 1
        ),
        foreign_key_columns AS (
            SELECT database_name, schema_name, table_name, constraint_name,
                   referenced_table, referenced_column_names,
                   unnest(constraint_column_names) AS fk_column,
                   generate_subscripts(constraint_column_names, 1) AS key_sequence
            FROM duckdb_constraints()
            WHERE constraint_type = 'FOREIGN KEY'
        )
        SELECT f.database_name::VARCHAR AS pk_catalog_name,
               f.schema_name::VARCHAR AS pk_db_schema_name,
               coalesce(r.table_name, f.referenced_table)::VARCHAR AS pk_table_name,
               coalesce(r.columns[f.key_sequence], f.referenced_column_names[f.key_sequence])::VARCHAR AS pk_column_name,
               f.database_name::VARCHAR AS fk_catalog_name,
               f.schema_name::VARCHAR AS fk_db_schema_name,
               f.table_name::VARCHAR AS fk_table_name,
               f.fk_column::VARCHAR AS fk_column_name,
               f.key_sequence::INTEGER AS key_sequence,
               f.constraint_name::VARCHAR AS fk_key_name,
               r.constraint_name::VARCHAR AS pk_key_name,
               3::UTINYINT AS update_rule,
               3::UTINYINT AS delete_rule
        FROM foreign_key_columns f
        LEFT JOIN referenced_keys r
          ON r.database_name = f.database_name AND r.schema_name = f.schema_name
         AND lower(r.table_name) = lower(f.referenced_table)
         AND list_transform(r.columns, lambda c: lower(c))
             = list_transform(f.referenced_column_names, lambda c: lower(c))
        """

    /// Foreign keys whose referenced (pk) table and/or referencing (fk) table is the given one.
    static func foreignKeysQuery(pk: KeyTable?, fk: KeyTable?, orderBy: String) -> (String, [DuckDBValue]) {
        var conditions: [String] = []
        var params: [DuckDBValue] = []
        if let pk {
            let (sql, values) = condition(pk, catalog: "pk_catalog_name", schema: "pk_db_schema_name", name: "pk_table_name")
            conditions.append(sql)
            params += values
        }
        if let fk {
            let (sql, values) = condition(fk, catalog: "fk_catalog_name", schema: "fk_db_schema_name", name: "fk_table_name")
            conditions.append(sql)
            params += values
        }
        let filter = conditions.isEmpty ? "true" : conditions.joined(separator: "\n  AND ")
        return ("SELECT * FROM (\n\(foreignKeysSQL)\n) keys\nWHERE \(filter)\nORDER BY \(orderBy)", params)
    }

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


    /// Flight SQL's column metadata keys (FlightSql.proto, "ColumnMetadata"), which clients
    /// read for the SQL type of a column (SQLAlchemy reflection through ADBC, JDBC's
    /// ResultSetMetaData) where the Arrow type alone says too little.
    enum ColumnKey {
        static let catalog = "ARROW:FLIGHT:SQL:CATALOG_NAME"
        static let schema = "ARROW:FLIGHT:SQL:SCHEMA_NAME"
        static let table = "ARROW:FLIGHT:SQL:TABLE_NAME"
        static let typeName = "ARROW:FLIGHT:SQL:TYPE_NAME"
        static let precision = "ARROW:FLIGHT:SQL:PRECISION"
        static let scale = "ARROW:FLIGHT:SQL:SCALE"
        static let autoIncrement = "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT"
        static let caseSensitive = "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"
        static let readOnly = "ARROW:FLIGHT:SQL:IS_READ_ONLY"
        static let searchable = "ARROW:FLIGHT:SQL:IS_SEARCHABLE"
    }

    /// The table's columns as the catalog describes them: each field gets the column
    /// metadata keys and the column's nullability. Fields and columns pair by position
    /// (`SELECT *` keeps the table's order).
    static func describeColumns(
        _ schema: Schema, catalog: String?, schema db: String?, table: String?, session: Session
    ) async throws -> Schema {
        let sql = """
            SELECT column_name, data_type, is_nullable, numeric_precision::VARCHAR, numeric_scale::VARCHAR,
                   character_maximum_length::VARCHAR
            FROM information_schema.columns
            WHERE table_catalog = ? AND table_schema = ? AND table_name = ?
            ORDER BY ordinal_position
            """
        let columns = try await rows(session, sql, [catalog, db, table].map { $0.map(DuckDBValue.varchar) ?? .null })
        guard columns.count == schema.fields.count else { return schema }
        var out = schema
        for (i, column) in columns.enumerated() where column[0] == out.fields[i].name {
            let typeName = column[1] ?? ""
            var keys = [
                KeyValue(ColumnKey.catalog, catalog ?? ""), KeyValue(ColumnKey.schema, db ?? ""),
                KeyValue(ColumnKey.table, table ?? ""), KeyValue(ColumnKey.typeName, typeName),
            ]
            if let precision = column[3] ?? column[5] { keys.append(KeyValue(ColumnKey.precision, precision)) }
            if let scale = column[4] { keys.append(KeyValue(ColumnKey.scale, scale)) }
            let text = typeName.hasPrefix("VARCHAR") || typeName.hasPrefix("TEXT")
            keys += [
                KeyValue(ColumnKey.autoIncrement, "0"), KeyValue(ColumnKey.caseSensitive, text ? "1" : "0"),
                KeyValue(ColumnKey.readOnly, "0"), KeyValue(ColumnKey.searchable, "1"),
            ]
            out.fields[i].metadata = keys
            out.fields[i].nullable = column[2] != "NO"
        }
        return out
    }

    /// GetTables with `include_schema`: each table's Arrow schema as an IPC message, its
    /// fields carrying the column metadata keys.
    static func tablesWithSchemas(_ c: Arrow_Flight_Protocol_Sql_CommandGetTables, session: Session) async throws -> RecordBatch {
        let (sql, params) = tablesQuery(c)
        let ordered = "SELECT * FROM (\(sql)) ORDER BY 4, 1, 2, 3"
        let rows = try await Metadata.rows(session, ordered, params)
        var schemas: [[UInt8]?] = []
        for row in rows {
            let name = [row[0], row[1], row[2]].compactMap { $0 }.map(SQLText.identifier).joined(separator: ".")
            var schema = try await session.resultSchema("SELECT * FROM \(name) LIMIT 0")
            schema = try await describeColumns(schema, catalog: row[0], schema: row[1], table: row[2], session: session)
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
}
