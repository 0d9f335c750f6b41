import Arrow
import DuckDB
import Foundation
import GRPCCore
import Scheduler

/// An Arrow IPC stream carried by DoPut's FlightData messages, decoded into rows of values.
struct UploadedRows {
    var schema: Schema?
    var rows: [[DuckDBValue]] = []

    static func read(
        first: FlightData, rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator
    ) async throws -> UploadedRows {
        var decoder = IPCMessageDecoder()
        var out = UploadedRows()
        func take(_ message: FlightData) throws {
            guard !message.dataHeader.isEmpty else { return }
            switch try decoder.decode(metadata: [UInt8](message.dataHeader), body: [UInt8](message.dataBody)) {
            case .schema(let schema):
                out.schema = schema
            case .recordBatch(let batch):
                out.rows += try ArrowParameters.rows(of: batch)
            default:
                break
            }
        }
        try take(first)
        while let message = try await rest.next() { try take(message) }
        if out.schema == nil { out.schema = decoder.schema }
        return out
    }
}

/// Bulk ingestion (`CommandStatementIngest`, ADBC's adbc_ingest): creates, replaces or
/// appends to a table, then inserts the uploaded rows in one transaction.
enum Ingest {
    static func run(
        _ command: Arrow_Flight_Protocol_Sql_CommandStatementIngest, first: FlightData,
        rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator, scheduler: Scheduler,
        transaction: Session? = nil
    ) async throws -> Int64 {
        guard !command.table.isEmpty else { throw RPCError(code: .invalidArgument, message: "ingest without a table name") }
        let upload = try await UploadedRows.read(first: first, rest: &rest)
        guard let schema = upload.schema else { throw RPCError(code: .invalidArgument, message: "ingest without an Arrow schema") }
        let columns = try schema.fields.map { f -> String in
            guard let type = duckDBType(f.type) else {
                throw ParameterError.unsupported("column '\(f.name)' has Arrow type \(f.type), which Tavana cannot ingest")
            }
            return "\(SQLText.identifier(f.name)) \(type)"
        }
        let catalog: String? = command.temporary ? "temp" : (command.hasCatalog ? command.catalog : nil)
        let schemaName: String? = command.hasSchema ? command.schema : (command.temporary ? "main" : nil)
        let name = ([catalog, schemaName].compactMap { $0 } + [command.table]).map(SQLText.identifier).joined(separator: ".")
        let options = command.tableDefinitionOptions
        let rows = upload.rows
        let placeholders = schema.fields.map { _ in "?" }.joined(separator: ", ")
        let temporary = command.temporary

        // Inside a client's transaction the rows join it; otherwise they get one of their own.
        let session: Session
        if let transaction { session = transaction } else { session = try await scheduler.openSession() }
        let ownTransaction = transaction == nil
        defer { if ownTransaction { session.close() } }
        let cursor = try await session.startQuery { conn in
            let exists = try conn.query(
                """
                SELECT count(*)::BIGINT FROM duckdb_tables()
                WHERE database_name = coalesce(?::VARCHAR, current_database())
                  AND schema_name = coalesce(?::VARCHAR, current_schema()) AND table_name = ?::VARCHAR
                """,
                [catalog.map { .varchar($0) } ?? .null, schemaName.map { .varchar($0) } ?? .null, .varchar(command.table)]
            ).nextArrowBatch().map { $0.columns[0].value(0, as: Int64.self) > 0 } ?? false
            if ownTransaction { _ = try conn.execute("BEGIN TRANSACTION") }
            do {
                let create = "CREATE \(temporary ? "TEMP " : "")TABLE \(name) (\(columns.joined(separator: ", ")))"
                if exists {
                    switch options.ifExists {
                    case .append: break
                    case .replace:
                        _ = try conn.execute("DROP TABLE \(name)")
                        _ = try conn.execute(create)
                    default:
                        throw RPCError(code: .alreadyExists, message: "table \(name) already exists")
                    }
                } else {
                    switch options.ifNotExist {
                    case .fail: throw RPCError(code: .notFound, message: "table \(name) does not exist")
                    default: _ = try conn.execute(create)
                    }
                }
                if !rows.isEmpty {
                    let insert = try conn.prepare("INSERT INTO \(name) VALUES (\(placeholders))")
                    for row in rows {
                        try insert.bind(row)
                        _ = try insert.execute()
                    }
                }
                if ownTransaction { _ = try conn.execute("COMMIT") }
            } catch {
                if ownTransaction { _ = try? conn.execute("ROLLBACK") }
                throw error
            }
            return try conn.query("SELECT 1")
        }
        cursor.close()
        return Int64(rows.count)
    }

    static func duckDBType(_ t: ArrowType) -> String? {
        switch t {
        case .null: return "INTEGER"
        case .bool: return "BOOLEAN"
        case .int(8, true): return "TINYINT"
        case .int(16, true): return "SMALLINT"
        case .int(32, true): return "INTEGER"
        case .int(64, true): return "BIGINT"
        case .int(8, false): return "UTINYINT"
        case .int(16, false): return "USMALLINT"
        case .int(32, false): return "UINTEGER"
        case .int(64, false): return "UBIGINT"
        case .float32: return "FLOAT"
        case .float64: return "DOUBLE"
        case .utf8, .largeUtf8: return "VARCHAR"
        case .binary, .largeBinary, .fixedSizeBinary: return "BLOB"
        case .date32, .date64: return "DATE"
        case .time32, .time64: return "TIME"
        case .timestamp(_, let tz): return tz == nil ? "TIMESTAMP" : "TIMESTAMPTZ"
        case .decimal(let p, let s, _) where p <= 38: return "DECIMAL(\(p),\(s))"
        case .interval(.monthDayNano): return "INTERVAL"
        default: return nil
        }
    }
}
