import Arrow
import DuckDB

// The seam between the front doors (through the Scheduler) and DuckDB. Everything that
// crosses it is a Sendable value that could travel over the network: SQL text, statement
// handles, parameter values, Arrow batches and IPC messages. Implementations: in process
// (`EmbeddedWorker`, embedded mode), remote over Arrow Flight (cluster mode), and a fake in
// `WorkerTesting` for front-door tests.

/// A worker: a DuckDB instance that opens sessions.
public protocol WorkerService: Sendable {
    /// Opens a session for `options.user`, running `options.setup` in it first.
    func openSession(_ options: SessionOptions) async throws -> any WorkerSession
    /// The engine's keywords, functions, types and casts (the same in every session).
    func vocabulary() async throws -> EngineVocabulary
}

extension WorkerSession {
    /// An in-process worker has no slots of its own: the Scheduler's are the only ones.
    public func executeCatalog(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        try await execute(statement, parameters: parameters)
    }
}

/// One client session's place on a worker: its connection, statements and transaction.
/// Calls of one session are served one at a time, in order.
public protocol WorkerSession: AnyObject, Sendable {
    var user: String { get }

    /// Prepares one statement of client SQL and describes it.
    func prepare(_ sql: String) async throws -> StatementHandle
    /// Starts a prepared statement with these parameters; rows follow through the stream.
    func execute(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream
    /// `execute` for a front door's own catalog answers (Flight SQL's metadata commands):
    /// they read only the catalog and take no query slot anywhere, so they never wait
    /// behind running queries. Workers that keep slots of their own skip them.
    func executeCatalog(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream
    /// Runs client SQL without rows (one or more statements); the last changed-row count.
    func run(_ sql: String) async throws -> Int?
    /// Frees a prepared statement. Statements are never freed implicitly while the session
    /// lives: the handle may sit in another process.
    func closeStatement(_ statement: StatementHandle) async

    func beginTransaction() async throws
    func commit() async throws
    func rollback() async throws

    /// Appends Arrow batches to a table (created or replaced as the request says).
    func loadArrow(_ request: ArrowLoadRequest) async throws -> any ArrowLoad
    /// Loads CSV bytes into a table; the bytes are spooled where DuckDB runs.
    func loadCSV(_ request: CSVLoadRequest) async throws -> any CSVLoad

    /// What ties the session to this worker now.
    var pins: SessionPins { get }
    /// Interrupts whatever the session runs now, from any thread.
    func interrupt()
    /// Ends the session: frees its statements, rolls back an open transaction.
    func close() async
}

/// The rows of one statement, pulled one batch at a time: the worker produces the next
/// batch only when it is asked for (backpressure).
public protocol ResultStream: AnyObject, Sendable {
    var columns: [ColumnDescription] { get }
    var statementType: StatementType { get }
    /// Rows inserted, updated or deleted; nil for statements that return rows.
    var rowsChanged: Int? { get }
    /// The result's Arrow schema, as DuckDB's own conversion produces it.
    func schema() async throws -> Schema
    /// The next batch; nil at the end.
    func next() async throws -> RecordBatch?
    /// The next batch as encoded IPC messages (dictionary batches first), for a front door
    /// that forwards them as they are; nil at the end.
    func nextMessages() async throws -> [IPCMessage]?
    /// True when the batches arrive already encoded (and joined) from another process, so
    /// that a front door sending IPC forwards `nextMessages()` as they are rather than
    /// decoding and encoding every batch again.
    var arrivesEncoded: Bool { get }
    /// Stops the result early; the rest is never produced.
    func close()
}

extension ResultStream {
    public var arrivesEncoded: Bool { false }
}

/// An Arrow bulk load in progress.
public protocol ArrowLoad: AnyObject, Sendable {
    func append(_ batch: RecordBatch) async throws
    /// Writes what is buffered; returns the rows loaded.
    func finish() async throws -> Int
    /// Drops the load (and, if it began a transaction of its own, rolls it back).
    func abort() async
}

/// A CSV bulk load in progress: bytes in any split, then `finish`.
public protocol CSVLoad: AnyObject, Sendable {
    func write(_ bytes: [UInt8]) async throws
    func finish() async throws -> Int
    func abort() async
}

// MARK: - Values

public struct SessionOptions: Sendable, Equatable {
    /// The authenticated user; the worker counts its parse threads per user.
    public var user: String
    /// Statements run once when the session opens (a front door's compatibility macros).
    public var setup: [String]

    public init(user: String, setup: [String] = []) {
        self.user = user
        self.setup = setup
    }
}

/// What a prepared statement is.
public struct StatementDescription: Sendable, Equatable {
    public var statementType: StatementType
    /// DuckDB's inferred types (`.invalid` where it could not infer one).
    public var parameterTypes: [LogicalType]
    public var columns: [ColumnDescription]
    /// Known before execution unless a column's type depends on a parameter.
    public var arrowSchema: Schema?

    public init(statementType: StatementType, parameterTypes: [LogicalType], columns: [ColumnDescription], arrowSchema: Schema?) {
        self.statementType = statementType
        self.parameterTypes = parameterTypes
        self.columns = columns
        self.arrowSchema = arrowSchema
    }
}

/// A prepared statement on a worker, named by a number its session gave it.
public struct StatementHandle: Sendable, Hashable {
    public let id: UInt64
    public let description: StatementDescription

    public init(id: UInt64, description: StatementDescription) {
        self.id = id
        self.description = description
    }

    public static func == (a: StatementHandle, b: StatementHandle) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// State that lives in one worker's session, so that the session cannot move elsewhere.
public struct SessionPins: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let transaction = SessionPins(rawValue: 1)
    public static let temporaryObjects = SessionPins(rawValue: 2)
    public static let settings = SessionPins(rawValue: 4)
    public static let preparedStatements = SessionPins(rawValue: 8)

    public var description: String {
        let names: [(SessionPins, String)] = [
            (.transaction, "transaction"), (.temporaryObjects, "temporary objects"), (.settings, "settings"),
            (.preparedStatements, "prepared statements"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: ", ")
    }
}

public struct ArrowLoadRequest: Sendable, Equatable {
    public enum IfExists: Sendable, Equatable { case fail, append, replace }
    public enum IfMissing: Sendable, Equatable { case create, fail }

    /// nil: the session's current catalog and schema (a temporary table's are "temp" and
    /// "main").
    public var catalog: String?
    public var schema: String?
    public var table: String
    public var temporary: Bool
    public var ifExists: IfExists
    public var ifMissing: IfMissing
    public var arrowSchema: Schema

    public init(catalog: String?, schema: String?, table: String, temporary: Bool, ifExists: IfExists,
                ifMissing: IfMissing, arrowSchema: Schema) {
        self.catalog = catalog
        self.schema = schema
        self.table = table
        self.temporary = temporary
        self.ifExists = ifExists
        self.ifMissing = ifMissing
        self.arrowSchema = arrowSchema
    }

    /// The table's name for SQL, each part quoted.
    public var qualifiedName: String {
        [catalog, schema, table].compactMap { $0 }.map(SQLText.identifier).joined(separator: ".")
    }
}

public struct CSVLoadRequest: Sendable, Equatable {
    /// The target table as the client wrote it (quoted parts stay quoted).
    public var table: String
    /// Column names as the client wrote them; empty for all.
    public var columns: [String]
    public var header: Bool
    public var delimiter: UInt8
    public var quote: UInt8
    public var escape: UInt8
    public var null: String

    public init(table: String, columns: [String], header: Bool, delimiter: UInt8, quote: UInt8, escape: UInt8, null: String) {
        self.table = table
        self.columns = columns
        self.header = header
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.null = null
    }
}

/// A remote worker that cannot serve a call: it is gone, draining, or no longer has the
/// session. The session's state on that worker is lost; front doors say so (08006 /
/// UNAVAILABLE) rather than wait.
public struct WorkerUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
