import DuckDB
import Logging
import NIOPosix

/// A worker that runs DuckDB in this process: one database, many sessions. DuckDB's C calls
/// block, so they run on a thread pool of their own and never on Swift's cooperative
/// threads or NIO's event loops.
public final class EmbeddedWorker: Sendable {
    public let database: Database
    let threadPool: NIOThreadPool
    let logger: Logger

    public init(configuration: DatabaseConfiguration, blockingThreads: Int, logger: Logger) throws {
        database = try Database(configuration)
        threadPool = NIOThreadPool(numberOfThreads: max(blockingThreads, 2))
        threadPool.start()
        self.logger = logger
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
    }

    /// Opens a session: a DuckDB connection with Tavana's per-session settings.
    public func openSession() async throws -> WorkerSession {
        let database = self.database
        let connection = try await threadPool.runIfActive { () throws -> Connection in
            let c = try database.connect()
            // Clients get timestamps with time zone in UTC unless they ask otherwise;
            // ParameterStatus reports the same zone.
            try c.execute("SET TimeZone = 'UTC'")
            return c
        }
        return WorkerSession(connection: connection, threadPool: threadPool)
    }

    public func shutdown() async throws {
        try await threadPool.shutdownGracefully()
    }
}

/// One client session's DuckDB connection. Blocking calls go through `run`.
public final class WorkerSession: Sendable {
    public let connection: Connection
    let threadPool: NIOThreadPool

    init(connection: Connection, threadPool: NIOThreadPool) {
        self.connection = connection
        self.threadPool = threadPool
    }

    /// Runs `body` on the worker's blocking thread pool.
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let connection = self.connection
        return try await threadPool.runIfActive { try body(connection) }
    }

    /// Interrupts whatever this session runs now; safe from any thread.
    public func interrupt() { connection.interrupt() }
}
