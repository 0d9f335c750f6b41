import Logging
import Scheduler
import Synchronization

/// Everything a PostgreSQL connection needs from the server, fixed at start-up.
public struct PostgresServerContext: Sendable {
    public var scheduler: Scheduler
    public var authentication: CredentialStore
    /// Largest frontend message accepted (Bind parameters, long queries).
    public var maxMessageSize: Int
    /// Value of the server_version parameter: a PostgreSQL version that clients parse.
    public var serverVersion: String
    public var logger: Logger
    /// Sessions allowed at once; one more is refused with 53300, as PostgreSQL's
    /// max_connections does (a CancelRequest is always served).
    public var maxConnections: Int
    /// Time a client has from connecting to being authenticated (PostgreSQL's
    /// authentication_timeout); a connection that dawdles is closed.
    public var authenticationTimeout: Duration
    let sessions: ConnectionCounter
    /// The graceful shutdown of every connection of this server.
    let drain: ConnectionDrain
    /// Bytes of results collected before they are written without waiting for a Flush.
    public var flushThreshold: Int
    /// Where a CancelRequest for a session this server does not hold goes (the other gateway
    /// replicas of cluster mode); nil: nowhere.
    public var cancelForwarder: CancelForwarder?

    public init(
        scheduler: Scheduler, authentication: CredentialStore,
        maxMessageSize: Int = 64 << 20, serverVersion: String = "15.0", maxConnections: Int = 1000,
        authenticationTimeout: Duration = .seconds(60), flushThreshold: Int = 256 << 10, logger: Logger
    ) {
        self.flushThreshold = flushThreshold
        self.scheduler = scheduler
        self.authentication = authentication
        self.maxMessageSize = maxMessageSize
        self.serverVersion = serverVersion
        self.maxConnections = maxConnections
        self.authenticationTimeout = authenticationTimeout
        self.sessions = ConnectionCounter()
        self.drain = ConnectionDrain()
        self.logger = logger
    }
}

/// How many PostgreSQL sessions are open.
final class ConnectionCounter: Sendable {
    private let count = Mutex(0)

    /// Takes a place if fewer than `limit` are taken.
    func enter(limit: Int) -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func leave() { count.withLock { $0 -= 1 } }

    var current: Int { count.withLock { $0 } }
}
