import Arrow
import DuckDB
import Foundation
import GRPCCore
import Scheduler

/// The Arrow IPC stream of a DoPut (an ingest's rows, a prepared statement's parameters),
/// read one message at a time as it arrives.
struct UploadStream {
    private var decoder = IPCMessageDecoder()
    private var first: FlightData?

    init(first: FlightData) { self.first = first }

    /// Reads until the schema message has arrived; nil if the stream ends first.
    mutating func schema(from rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator) async throws -> Schema? {
        while decoder.schema == nil {
            guard let message = try await nextMessage(&rest) else { return nil }
            if case .recordBatch? = try decode(message) {
                throw RPCError(code: .invalidArgument, message: "a record batch arrived before the Arrow schema")
            }
        }
        return decoder.schema
    }

    /// The next record batch (dictionary batches are applied on the way), nil at the end.
    mutating func nextBatch(from rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator) async throws -> RecordBatch? {
        while let message = try await nextMessage(&rest) {
            if case .recordBatch(let batch)? = try decode(message) { return batch }
        }
        return nil
    }

    /// The rest of the stream as rows of values (prepared-statement parameters: a few rows).
    mutating func parameterRows(from rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator) async throws -> [[DuckDBValue]] {
        var rows: [[DuckDBValue]] = []
        while let batch = try await nextBatch(from: &rest) {
            rows += try ArrowParameters.rows(of: batch)
        }
        return rows
    }

    private mutating func nextMessage(
        _ rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator
    ) async throws -> FlightData? {
        if let message = first {
            first = nil
            return message
        }
        return try await rest.next()
    }

    private mutating func decode(_ message: FlightData) throws -> IPCMessageDecoder.Decoded? {
        guard !message.dataHeader.isEmpty else { return nil }
        return try decoder.decode(metadata: Buffer(copying: message.dataHeader), body: Buffer(copying: message.dataBody))
    }
}

/// Where an ingest writes: `temporary` tables live in DuckDB's `temp.main`.
struct IngestTarget {
    let catalog: String?
    let schema: String?
    let table: String
    let temporary: Bool

    init(_ command: Arrow_Flight_Protocol_Sql_CommandStatementIngest) {
        temporary = command.temporary
        catalog = command.temporary ? "temp" : (command.hasCatalog ? command.catalog : nil)
        schema = command.hasSchema ? command.schema : (command.temporary ? "main" : nil)
        table = command.table
    }

    var qualifiedName: String {
        ([catalog, schema].compactMap { $0 } + [table]).map(SQLText.identifier).joined(separator: ".")
    }
}

/// Bulk ingestion (`CommandStatementIngest`, ADBC's adbc_ingest): creates, replaces or
/// appends to a table, then streams the uploaded batches into it through DuckDB's Arrow
/// reader and appender, one batch at a time (nothing is materialised; no per-row work).
/// Outside a client transaction the whole ingest is one transaction of its own.
enum Ingest {
    static func run(
        _ command: Arrow_Flight_Protocol_Sql_CommandStatementIngest, first: FlightData,
        rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator, scheduler: Scheduler,
        transaction: Session? = nil
    ) async throws -> Int64 {
        guard !command.table.isEmpty else { throw RPCError(code: .invalidArgument, message: "ingest without a table name") }
        var upload = UploadStream(first: first)
        guard let schema = try await upload.schema(from: &rest) else {
            throw RPCError(code: .invalidArgument, message: "ingest without an Arrow schema")
        }
        let target = IngestTarget(command)
        let create = "CREATE \(target.temporary ? "TEMP " : "")TABLE \(target.qualifiedName) (\(try columnDefinitions(schema)))"
        let options = command.tableDefinitionOptions

        // Inside a client's transaction the rows join it; otherwise they get one of their own.
        let session: Session
        if let transaction { session = transaction } else { session = try await scheduler.openSession(user: FlightCaller.user ?? "") }
        let ownTransaction = transaction == nil
        defer { if ownTransaction { session.close() } }
        // An ingest is a query as far as admission goes: it holds a slot while it runs.
        return try await session.withSlot {
            try await session.run { conn in
                if ownTransaction { _ = try conn.execute("BEGIN TRANSACTION") }
                do {
                    try prepareTable(conn, target: target, create: create, options: options)
                } catch {
                    if ownTransaction { _ = try? conn.execute("ROLLBACK") }
                    throw error
                }
            }
            do {
                let appender = try await session.run { conn in
                    try ArrowAppender(connection: conn, catalog: target.catalog, schema: target.schema,
                                      table: target.table, arrowSchema: schema)
                }
                while let batch = try await upload.nextBatch(from: &rest) {
                    try await session.run { _ in try appender.append(batch) }
                }
                try await session.run { conn in
                    try appender.close()
                    if ownTransaction { _ = try conn.execute("COMMIT") }
                }
                return Int64(appender.rowsAppended)
            } catch {
                if ownTransaction { _ = try? await session.run { conn in try conn.execute("ROLLBACK") } }
                throw error
            }
        }
    }

    /// Creates, replaces or checks the target table as the ingest's options say.
    static func prepareTable(
        _ conn: Connection, target: IngestTarget, create: String,
        options: Arrow_Flight_Protocol_Sql_CommandStatementIngest.TableDefinitionOptions
    ) throws {
        let exists = try conn.query(
            """
            SELECT count(*)::BIGINT FROM duckdb_tables()
            WHERE database_name = coalesce(?::VARCHAR, current_database())
              AND schema_name = coalesce(?::VARCHAR, current_schema()) AND table_name = ?::VARCHAR
            """,
            [target.catalog.map { .varchar($0) } ?? .null, target.schema.map { .varchar($0) } ?? .null,
             .varchar(target.table)]
        ).nextArrowBatch().map { $0.columns[0].value(0, as: Int64.self) > 0 } ?? false
        if exists {
            switch options.ifExists {
            case .append: break
            case .replace:
                _ = try conn.execute("DROP TABLE \(target.qualifiedName)")
                _ = try conn.execute(create)
            default:
                throw RPCError(code: .alreadyExists, message: "table \(target.qualifiedName) already exists")
            }
        } else {
            switch options.ifNotExist {
            case .fail: throw RPCError(code: .notFound, message: "table \(target.qualifiedName) does not exist")
            default: _ = try conn.execute(create)
            }
        }
    }

    /// `"name" TYPE, ...` for a CREATE TABLE from an Arrow schema.
    static func columnDefinitions(_ schema: Schema) throws -> String {
        try schema.fields.map { f -> String in
            guard let type = duckDBType(f.type) else {
                throw ParameterError.unsupported("column '\(f.name)' has Arrow type \(f.type), which Tavana cannot ingest")
            }
            return "\(SQLText.identifier(f.name)) \(type)"
        }.joined(separator: ", ")
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
        case .timestamp(_, .some): return "TIMESTAMPTZ"
        case .timestamp(.second, nil): return "TIMESTAMP_S"
        case .timestamp(.millisecond, nil): return "TIMESTAMP_MS"
        case .timestamp(.nanosecond, nil): return "TIMESTAMP_NS"
        case .timestamp(_, nil): return "TIMESTAMP"
        // DuckDB's own limits, checked here because its appender does not: an Arrow decimal
        // whose scale exceeds its precision, appended to an existing DECIMAL column, made
        // DuckDB 1.5.5 divide by zero and take the process down.
        case .decimal(let p, let s, 128) where p >= 1 && p <= 38 && s >= 0 && s <= p: return "DECIMAL(\(p),\(s))"
        case .interval(.monthDayNano): return "INTERVAL"
        case .list(let item), .largeList(let item):
            return duckDBType(item.type).map { "\($0)[]" }
        case .fixedSizeList(let item, let size) where size >= 1:
            return duckDBType(item.type).map { "\($0)[\(size)]" }
        case .struct(let fields):
            let members = fields.map { f in duckDBType(f.type).map { "\(SQLText.identifier(f.name)) \($0)" } }
            guard !fields.isEmpty, !members.contains(nil) else { return nil }
            return "STRUCT(\(members.compactMap { $0 }.joined(separator: ", ")))"
        case .map(let entries, _):
            guard case .struct(let kv) = entries.type, kv.count == 2,
                  let key = duckDBType(kv[0].type), let value = duckDBType(kv[1].type) else { return nil }
            return "MAP(\(key), \(value))"
        default: return nil
        }
    }
}
