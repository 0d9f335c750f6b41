import DuckDB
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

    public init(
        database: DatabaseConfiguration, executionThreads: Int, parseThreads: Int, parseThreadsPerUser: Int,
        maxStatementBytes: Int
    ) {
        self.database = database
        self.executionThreads = executionThreads
        self.parseThreads = parseThreads
        self.parseThreadsPerUser = parseThreadsPerUser
        self.maxStatementBytes = maxStatementBytes
    }
}

/// A worker that runs DuckDB in this process: one database, many sessions. DuckDB's C calls
/// block, so they run on thread pools of their own and never on Swift's cooperative
/// threads or NIO's event loops.
public final class EmbeddedWorker: Sendable {
    public let database: Database
    let threadPool: NIOThreadPool
    let parsePool: NIOThreadPool
    public let parseGate: ParseGate
    public let screen: StatementScreen
    let logger: Logger
    /// Set once DuckDB has invalidated the database (after an internal error): from then on
    /// every statement of every session fails, and only a restart helps.
    private let invalidation = Mutex<String?>(nil)

    public init(configuration: WorkerConfiguration, logger: Logger) throws {
        database = try Database(configuration.database)
        threadPool = NIOThreadPool(numberOfThreads: max(configuration.executionThreads, 2))
        threadPool.start()
        parsePool = NIOThreadPool(numberOfThreads: max(configuration.parseThreads, 1))
        parsePool.start()
        parseGate = ParseGate(total: configuration.parseThreads, perUser: configuration.parseThreadsPerUser)
        screen = StatementScreen(maxBytes: configuration.maxStatementBytes)
        self.logger = logger
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
        parsePool.shutdownGracefully { _ in }
    }

    /// Opens a session for `user`: a DuckDB connection with Tavana's per-session settings.
    public func openSession(user: String) async throws -> WorkerSession {
        let database = self.database
        let connection = try await threadPool.runIfActive { () throws -> Connection in
            let c = try database.connect()
            // Clients get timestamps with time zone in UTC unless they ask otherwise;
            // ParameterStatus reports the same zone.
            try c.execute("SET TimeZone = 'UTC'")
            return c
        }
        return WorkerSession(connection: connection, user: user, worker: self)
    }

    /// Why the database is unusable, if DuckDB has invalidated it; health checks report it.
    public var invalidatedReason: String? { invalidation.withLock { $0 } }

    /// Notes an error from DuckDB: an internal or fatal one invalidates the database for
    /// everyone, which is logged once, loudly, with the statement's error.
    func observe(_ error: any Error) {
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
    }
}

/// One client session's DuckDB connection. Its calls take turns (`SessionLock`); client
/// SQL is screened and parsed under the parse gate; everything else runs through `run`.
public final class WorkerSession: Sendable {
    public let connection: Connection
    public let user: String
    let worker: EmbeddedWorker
    let turn = SessionLock()
    /// Waits that `interrupt()` ends: a parse cannot be stopped, but its caller can stop
    /// waiting for it (the session's turn stays taken until the parse is really over).
    private let interruptHooks = Mutex<(next: UInt64, hooks: [UInt64: @Sendable () -> Void])>((0, [:]))

    init(connection: Connection, user: String, worker: EmbeddedWorker) {
        self.connection = connection
        self.user = user
        self.worker = worker
    }

    /// Runs `body` on the worker's execution threads, in this session's turn.
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await turn.lock()
        defer { turn.unlock() }
        let connection = self.connection
        do {
            return try await worker.threadPool.runIfActive { try body(connection) }
        } catch {
            worker.observe(error)
            throw error
        }
    }

    /// Prepares client SQL: screened (size, comments), then parsed on the parse threads
    /// under the parse gate. `interrupt()` (a cancel, a statement timeout, a disconnect)
    /// ends the wait at once with an interrupt error, even though DuckDB finishes parsing.
    public func prepare(_ sql: String) async throws -> PreparedStatement {
        let text = try worker.screen.screen(sql)
        return try await parse { try $0.prepare(text) }
    }

    /// Runs client SQL that returns no rows (one or more statements): parsed as `prepare`
    /// parses, executed on the execution threads. Returns the last changed-row count.
    @discardableResult
    public func execute(_ sql: String) async throws -> Int? {
        let text = try worker.screen.screen(sql)
        let list = try await parse { try $0.statements(text) }
        var changed: Int?
        for index in 0..<list.count {
            let statement = try await parse { _ in try list.prepare(index) }
            changed = try await run { _ in
                let result = try statement.execute()
                while try result.nextChunk() != nil {}
                return result.rowsChanged
            }
        }
        return changed
    }

    /// Interrupts whatever this session runs now; safe from any thread.
    public func interrupt() {
        connection.interrupt()
        let hooks = interruptHooks.withLock { Array($0.hooks.values) }
        for hook in hooks { hook() }
    }

    /// One call of work DuckDB cannot interrupt: in this session's turn, holding a parse
    /// permit, on the parse threads. Turn and permit go back when the call really ends.
    private func parse<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let connection = self.connection
        let worker = self.worker
        let user = self.user
        let turn = self.turn
        let task = Task { () async throws -> T in
            try await turn.lock()
            let permit: ParseGate.Permit
            do {
                permit = try await worker.parseGate.acquire(user: user)
            } catch {
                turn.unlock()
                throw error
            }
            return try await AbandonableJob.run(on: worker.parsePool, done: {
                permit.release()
                turn.unlock()
            }) {
                try body(connection)
            }
        }
        let id = interruptHooks.withLock { state -> UInt64 in
            state.next &+= 1
            state.hooks[state.next] = { task.cancel() }
            return state.next
        }
        defer { _ = interruptHooks.withLock { $0.hooks.removeValue(forKey: id) } }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch is CancellationError {
            throw DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!")
        } catch {
            worker.observe(error)
            throw error
        }
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
