import Arrow
import DuckDB
import Foundation
import Synchronization

/// An Arrow bulk load into this process's DuckDB, through DuckDB's appender. Outside a
/// client transaction it runs in one of its own, so that a failed load leaves nothing.
final class EmbeddedArrowLoad: ArrowLoad {
    let session: EmbeddedSession
    let appender: ArrowAppender
    let atomic: Bool

    init(session: EmbeddedSession, appender: ArrowAppender, atomic: Bool) {
        self.session = session
        self.appender = appender
        self.atomic = atomic
    }

    func append(_ batch: RecordBatch) async throws {
        let appender = self.appender
        try await session.perform { _ in try appender.append(batch) }
    }

    func finish() async throws -> Int {
        let appender = self.appender
        let atomic = self.atomic
        return try await session.perform { connection in
            try appender.close()
            if atomic { try connection.execute("COMMIT") }
            return appender.rowsAppended
        }
    }

    /// Drops the buffered rows (in process, on the session's turn, so that no later flush
    /// adds them to whatever runs next), then undoes what was written, if the load ran in a
    /// transaction of its own. Inside a client's transaction, rows already flushed stay in
    /// it, as any statement's would; the client's ROLLBACK removes them.
    func abort() async {
        let appender = self.appender
        let atomic = self.atomic
        _ = try? await session.perform { connection in
            appender.discard()
            if atomic { try connection.execute("ROLLBACK") }
        }
    }
}

/// A CSV load: bytes are written to a spool file next to DuckDB (the worker's spool folder,
/// which is DuckDB's temp_directory by default), then DuckDB's CSV reader loads the file.
final class EmbeddedCSVLoad: CSVLoad {
    let session: EmbeddedSession
    let request: CSVLoadRequest
    let path: String
    private let file: Mutex<FileHandle?>

    init(session: EmbeddedSession, request: CSVLoadRequest, folder: String) throws {
        self.session = session
        self.request = request
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        path = (folder as NSString).appendingPathComponent("tavana-copy-\(UUID().uuidString).csv")
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw DuckDBError(.io, "IO Error: could not create a spool file for COPY in \(folder)")
        }
        file = Mutex(handle)
    }

    deinit { removeFile() }

    func write(_ bytes: [UInt8]) async throws {
        try file.withLock { handle in
            guard let handle else { throw DuckDBError(.invalid, "the COPY load is finished") }
            try handle.write(contentsOf: bytes)
        }
    }

    func finish() async throws -> Int {
        try file.withLock { handle in
            try handle?.synchronize()
            try handle?.close()
            handle = nil
        }
        defer { removeFile() }
        let r = request
        let columns = r.columns.isEmpty ? "" : "(" + r.columns.joined(separator: ", ") + ")"
        let options = "FORMAT csv, HEADER \(r.header), DELIMITER \(SQLText.literal(Self.text(r.delimiter))), "
            + "QUOTE \(SQLText.literal(Self.text(r.quote))), ESCAPE \(SQLText.literal(Self.text(r.escape))), "
            + "NULL \(SQLText.literal(r.null))"
        let sql = "COPY \(r.table) \(columns) FROM \(SQLText.literal(path)) (\(options))"
        do {
            return try await session.run(sql) ?? 0
        } catch let e as DuckDBError {
            // DuckDB names the spool file in its messages; the client never saw that file.
            throw DuckDBError(e.type, e.message.replacingOccurrences(of: path, with: "STDIN"))
        }
    }

    func abort() async {
        file.withLock { handle in
            try? handle?.close()
            handle = nil
        }
        removeFile()
    }

    private func removeFile() { try? FileManager.default.removeItem(atPath: path) }

    /// An option byte as SQL text (options are single ASCII bytes, checked by the front door).
    static func text(_ byte: UInt8) -> String { String(Unicode.Scalar(byte)) }
}

/// Creating, replacing or checking the target table of an Arrow load, and the DuckDB
/// column types for an Arrow schema.
enum ArrowLoadPlan {
    static func prepareTable(_ conn: Connection, request: ArrowLoadRequest, create: String) throws {
        let catalog = request.catalog
        let schema = request.schema
        let exists = try conn.query(
            """
            SELECT count(*)::BIGINT FROM duckdb_tables()
            WHERE database_name = coalesce(?::VARCHAR, current_database())
              AND schema_name = coalesce(?::VARCHAR, current_schema()) AND table_name = ?::VARCHAR
            """,
            [catalog.map { .varchar($0) } ?? .null, schema.map { .varchar($0) } ?? .null, .varchar(request.table)]
        ).nextArrowBatch().map { $0.columns[0].value(0, as: Int64.self) > 0 } ?? false
        if exists {
            switch request.ifExists {
            case .append: break
            case .replace:
                _ = try conn.execute("DROP TABLE \(request.qualifiedName)")
                _ = try conn.execute(create)
            case .fail:
                throw LoadError.tableExists(request.qualifiedName)
            }
        } else {
            switch request.ifMissing {
            case .fail: throw LoadError.tableMissing(request.qualifiedName)
            case .create: _ = try conn.execute(create)
            }
        }
    }

    /// `"name" TYPE, ...` for a CREATE TABLE from an Arrow schema.
    static func columnDefinitions(_ schema: Schema) throws -> String {
        try schema.fields.map { f -> String in
            guard let type = duckDBType(f.type) else {
                throw LoadError.unsupportedType(column: f.name, type: "\(f.type)")
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

/// Why a bulk load cannot start. Front doors render these (gRPC ALREADY_EXISTS, NOT_FOUND,
/// INVALID_ARGUMENT).
public enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
    case tableExists(String)
    case tableMissing(String)
    case unsupportedType(column: String, type: String)

    public var description: String {
        switch self {
        case .tableExists(let t): return "table \(t) already exists"
        case .tableMissing(let t): return "table \(t) does not exist"
        case .unsupportedType(let c, let t): return "column '\(c)' has Arrow type \(t), which Tavana cannot ingest"
        }
    }
}
