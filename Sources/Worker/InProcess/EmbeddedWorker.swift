import DuckDB
import Foundation
import Logging
import NIOPosix
import Synchronization

/// How an in-process worker runs DuckDB's blocking calls.
public struct WorkerConfiguration: Sendable, Equatable {
    public var database: DatabaseConfiguration
    /// Threads that execute statements and fetch their results.
    public var executionThreads: Int
    /// Threads that parse, bind and plan (work DuckDB cannot interrupt), apart from the
    /// execution threads so that slow parsing never delays running queries.
    public var parseThreads: Int
    /// At most this many of the parse threads serve one user at a time.
    public var parseThreadsPerUser: Int
    /// Longest statement text DuckDB is given, in bytes.
    public var maxStatementBytes: Int
    /// Where COPY FROM STDIN data is spooled before DuckDB reads it; nil: DuckDB's
    /// temp_directory if one is set, else the system's temporary folder.
    public var spoolDirectory: String?
    /// Object storage the worker signs in to: DuckDB secrets made before `startup` runs (a
    /// shared catalog's data may live there).
    public var objectStorage = ObjectStorageConfiguration()
    /// Statements run once when the database opens, before the sandbox locks it: attaching
    /// the shared catalog, the operator's read-only databases, the operator's start-up SQL.
    public var startup: [String]
    /// Statements run at the start of every session, before the front door's own (making the
    /// shared catalog the default database).
    public var sessionSetup: [String]
    /// Set on a cluster worker without a shared catalog: why CREATE of a table, view, schema
    /// or macro is refused (it would exist on this worker only). Temporary objects stay allowed.
    public var localCreateRefusal: String?
    /// What users' SQL may reach (docs/security.md); nil: everything the process may (a
    /// trusted single-user `serve`).
    public var sandbox: Sandbox?

    public init(
        database: DatabaseConfiguration, executionThreads: Int, parseThreads: Int, parseThreadsPerUser: Int,
        maxStatementBytes: Int, spoolDirectory: String? = nil, objectStorage: ObjectStorageConfiguration = ObjectStorageConfiguration(),
        startup: [String] = [], sessionSetup: [String] = [], sandbox: Sandbox? = nil
    ) {
        self.sandbox = sandbox
        self.objectStorage = objectStorage
        self.database = database
        self.executionThreads = executionThreads
        self.parseThreads = parseThreads
        self.parseThreadsPerUser = parseThreadsPerUser
        self.maxStatementBytes = maxStatementBytes
        self.spoolDirectory = spoolDirectory
        self.startup = startup
        self.sessionSetup = sessionSetup
    }
}

/// A worker that runs DuckDB in this process: one database, many sessions. DuckDB's C calls
/// block, so they run on thread pools of their own and never on Swift's cooperative
/// threads or NIO's event loops.
public final class EmbeddedWorker: WorkerService {
    public let database: Database
    let threadPool: NIOThreadPool
    let parsePool: NIOThreadPool
    public let parseGate: ParseGate
    public let screen: StatementScreen
    let spoolDirectory: String
    let logger: Logger
    /// Set once DuckDB has invalidated the database (after an internal error): from then on
    /// every statement of every session fails, and only a restart helps.
    private let invalidation = Mutex<String?>(nil)
    /// Read on first use and kept: it is built into DuckDB.
    private let knownVocabulary = Mutex<EngineVocabulary?>(nil)

    /// Run at the start of every session.
    let sessionSetup: [String]
    /// What the secrets were made from; replaced with temporary keys when they are refreshed.
    private let objectStorage: Mutex<ObjectStorageConfiguration>
    let localCreateRefusal: String?
    public let sandbox: Sandbox?

    public init(configuration: WorkerConfiguration, logger: Logger) throws {
        database = try Database(configuration.database)
        objectStorage = Mutex(configuration.objectStorage)
        if configuration.database.extensions.contains("azure") {
            // The azure extension's default transport looks for CA certificates only where
            // its build machine kept them (/etc/pki/tls/certs/ca-bundle.crt) and so fails on
            // Debian-based images; its curl transport finds the system's bundle (or CURL_CA_INFO).
            // GLOBAL: a plain SET would hold for this one connection only.
            _ = try database.connect().execute("SET GLOBAL azure_transport_option_type = 'curl'")
        }
        let secrets = configuration.objectStorage.secretStatements()
        if !secrets.isEmpty {
            let connection = try database.connect()
            for statement in secrets {
                try Self.makeSecret(statement, on: connection, redactingWith: configuration.objectStorage)
            }
            logger.info("object storage configured", metadata: [
                "endpoint": "\(configuration.objectStorage.endpoint ?? "the cloud's own")",
                "region": "\(configuration.objectStorage.region)",
                "credentials": "\(configuration.objectStorage.credentials)",
                "scoped": "\(configuration.objectStorage.scoped.map(\.description).joined(separator: ", "))",
            ])
        }
        if !configuration.startup.isEmpty {
            let connection = try database.connect()
            for (index, statement) in configuration.startup.enumerated() {
                do {
                    try Self.runAtStartup(statement, on: connection, logger: logger)
                } catch let error as DuckDBError {
                    // The worker does not start half set up: say which statement failed.
                    throw DuckDBError(error.type, "start-up statement \(index + 1) of \(configuration.startup.count) failed: "
                        + configuration.objectStorage.redact(error.message))
                }
            }
            logger.info("start-up statements run", metadata: ["count": "\(configuration.startup.count)"])
        }
        let spoolBase = configuration.spoolDirectory ?? configuration.database.tempDirectory
            ?? FileManager.default.temporaryDirectory.path
        if let sandbox = configuration.sandbox {
            // COPY FROM STDIN spools into a folder of this process's own that DuckDB may read,
            // with an unguessable name and no read permission on the folder: sessions can read
            // a spool file only by its name, which they never learn (and cannot list; a root
            // process ignores the missing permission, so a sandboxed worker should not run as root).
            let folder = (spoolBase as NSString).appendingPathComponent("tavana-spool-\(UUID().uuidString.lowercased())")
            // The base first, with ordinary permissions: created with the spool folder's own,
            // a missing base (DuckDB's temp directory) would be one DuckDB cannot list.
            try FileManager.default.createDirectory(atPath: spoolBase, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o300])
            spoolDirectory = folder
            let connection = try database.connect()
            for statement in sandbox.databaseStatements(alsoAllowing: [folder]) {
                _ = try connection.execute(statement)
            }
            logger.info("sandbox on", metadata: [
                "allowedDirectories": "\(sandbox.allowedDirectories.joined(separator: ","))",
                "objectStorageWrites": "\(sandbox.allowsObjectStorageWrites)",
            ])
        } else {
            spoolDirectory = spoolBase
            logger.warning("sandbox off: every session may read and write the worker's files and change its settings")
        }
        self.sandbox = configuration.sandbox
        sessionSetup = configuration.sessionSetup
        localCreateRefusal = configuration.localCreateRefusal
        threadPool = NIOThreadPool(numberOfThreads: max(configuration.executionThreads, 2))
        threadPool.start()
        parsePool = NIOThreadPool(numberOfThreads: max(configuration.parseThreads, 1))
        parsePool.start()
        parseGate = ParseGate(total: configuration.parseThreads, perUser: configuration.parseThreadsPerUser)
        screen = StatementScreen(maxBytes: configuration.maxStatementBytes)
        self.logger = logger
    }

    /// The secrets Tavana remakes when it has refreshed their credentials.
    public enum RefreshedSecret: String, Sendable {
        case s3 = "tavana_s3", gcs = "tavana_gcs", azure = "tavana_azure"
    }

    /// Changes the credentials and makes `secret` again from them (temporary keys or tokens
    /// Tavana refreshed). Sessions' next reads use them; a read already running keeps what it
    /// started with.
    public func replaceCredentials(_ secret: RefreshedSecret, _ change: (inout ObjectStorageCredentials) -> Void) throws {
        let replaced = objectStorage.withLock { storage -> ObjectStorageConfiguration in
            change(&storage.credentials)
            return storage
        }
        let statement: String?
        switch secret {
        case .s3: statement = replaced.s3SecretStatement()
        case .gcs: statement = replaced.gcsSecretStatement()
        case .azure: statement = replaced.azureSecretStatement()
        }
        guard let statement else { return }
        try Self.makeSecret(statement, on: try database.connect(), redactingWith: replaced)
    }

    /// Runs one CREATE SECRET statement. Whatever DuckDB says about it may quote it, so its
    /// message has the secret values replaced.
    static func makeSecret(_ statement: String, on connection: Connection, redactingWith storage: ObjectStorageConfiguration) throws {
        do {
            _ = try connection.execute(statement)
        } catch let error as DuckDBError {
            throw DuckDBError(error.type, "object storage: " + storage.redact(error.message))
        }
    }

    /// Runs one start-up statement, retrying a few times: workers that start together race to
    /// create a new shared catalog's tables, and the losers succeed once the winner is done.
    static func runAtStartup(_ statement: String, on connection: Connection, logger: Logger) throws {
        var attempt = 1
        while true {
            do {
                _ = try connection.execute(statement)
                return
            } catch let error as DuckDBError where attempt < 5 {
                logger.warning("start-up statement failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error.message)"])
                Thread.sleep(forTimeInterval: 0.3 * Double(attempt) + Double.random(in: 0..<0.3))
                attempt += 1
            }
        }
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
        parsePool.shutdownGracefully { _ in }
    }

    public func openSession(_ options: SessionOptions) async throws -> any WorkerSession {
        try await openEmbeddedSession(options)
    }

    public func vocabulary() async throws -> EngineVocabulary {
        if let known = knownVocabulary.withLock({ $0 }) { return known }
        let database = self.database
        let loaded = try await threadPool.runIfActive { () throws -> EngineVocabulary in
            let connection = try database.connect()
            return try VocabularyLoader.load(connection)
        }
        // Two first callers may both read it; they read the same catalog, so either may win.
        knownVocabulary.withLock { $0 = loaded }
        return loaded
    }

    /// Opens a session: a DuckDB connection with Tavana's per-session settings, then the
    /// caller's setup statements.
    public func openEmbeddedSession(_ options: SessionOptions) async throws -> EmbeddedSession {
        let database = self.database
        let setup = sessionSetup + options.setup
        let connection = try await threadPool.runIfActive { () throws -> Connection in
            let c = try database.connect()
            // Clients get timestamps with time zone in UTC unless they ask otherwise;
            // the front doors report the same zone.
            try c.execute("SET TimeZone = 'UTC'")
            for statement in setup { try c.execute(statement) }
            return c
        }
        return EmbeddedSession(connection: connection, user: options.user, worker: self)
    }

    /// Refuses what the sandbox does not allow, then what this worker may not run (see
    /// `localCreateRefusal`). `text` is the screened statement text. Called within `parse`,
    /// which observes (and so logs) a refusal.
    func check(_ text: String) throws -> SessionEffect {
        try sandbox?.check(text)
        let effect = SessionEffect(of: text)
        try check(effect)
        return effect
    }

    /// Refuses what this worker may not run (see `localCreateRefusal`).
    func check(_ effect: SessionEffect) throws {
        if effect == .createsPersistentObject, let reason = localCreateRefusal {
            throw StatementScreen.Rejection.unsupported(reason)
        }
    }

    /// Why the database is unusable, if DuckDB has invalidated it; health checks report it.
    public var invalidatedReason: String? { invalidation.withLock { $0 } }

    /// Notes an error from DuckDB: an internal or fatal one invalidates the database for
    /// everyone, which is logged once, loudly, with the statement's error.
    func observe(_ error: any Error, user: String = "") {
        if let e = error as? DuckDBError, e.type == .permission {
            // The sandbox at work (Tavana's check or DuckDB's own settings): worth a line, since
            // it may be a user probing the worker, or an operator's allowed list too short.
            // One line: DuckDB's message may carry the statement's text over several.
            let message = e.message.split(whereSeparator: \.isNewline).joined(separator: " ")
            logger.notice("sandbox refused a statement", metadata: ["user": "\(user)", "error": "\(message)"])
            return
        }
        guard let e = error as? DuckDBError,
              e.type == .fatal || e.type == .internalError || e.message.contains("database has been invalidated") else { return }
        let first = invalidation.withLock { reason -> Bool in
            guard reason == nil else { return false }
            reason = e.message
            return true
        }
        if first {
            logger.critical("DuckDB invalidated the database; every statement will fail until Tavana restarts",
                            metadata: ["error": "\(e.message)"])
        }
    }

    public func shutdown() async throws {
        try await threadPool.shutdownGracefully()
        try await parsePool.shutdownGracefully()
        if sandbox != nil { try? FileManager.default.removeItem(atPath: spoolDirectory) }
    }
}

/// Runs a blocking call on a thread pool; a caller whose task is cancelled stops waiting at
/// once while the call goes on, and `done` runs when the call itself has ended.
enum AbandonableJob {
    private enum State<T: Sendable> {
        case idle
        case waiting(CheckedContinuation<T, any Error>)
        case finished
    }

    static func run<T: Sendable>(
        on pool: NIOThreadPool, done: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        let state = Mutex<State<T>>(.idle)
        @Sendable func finish(_ result: Result<T, any Error>) {
            let continuation = state.withLock { s -> CheckedContinuation<T, any Error>? in
                defer { s = .finished }
                if case .waiting(let c) = s { return c }
                return nil
            }
            continuation?.resume(with: result)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let alreadyCancelled = state.withLock { s -> Bool in
                    if case .finished = s { return true }
                    s = .waiting(continuation)
                    return false
                }
                if alreadyCancelled {
                    // Never submitted: nothing runs, so `done` runs now.
                    done()
                    continuation.resume(throwing: CancellationError())
                    return
                }
                pool.submit { workState in
                    let result: Result<T, any Error>
                    if case .active = workState {
                        result = Result { try body() }
                    } else {
                        result = .failure(NIOThreadPoolError.ThreadPoolInactive())
                    }
                    done()
                    finish(result)
                }
            }
        } onCancel: {
            finish(.failure(CancellationError()))
        }
    }
}
