import Logging
import Scheduler

/// Everything a PostgreSQL connection needs from the server, fixed at start-up.
public struct PostgresServerContext: Sendable {
    public var scheduler: Scheduler
    public var authentication: AuthenticationConfiguration
    /// Largest frontend message accepted (Bind parameters, long queries).
    public var maxMessageSize: Int
    /// Value of the server_version parameter: a PostgreSQL version that clients parse.
    public var serverVersion: String
    public var logger: Logger

    public init(
        scheduler: Scheduler, authentication: AuthenticationConfiguration,
        maxMessageSize: Int = 64 << 20, serverVersion: String = "15.0", logger: Logger
    ) {
        self.scheduler = scheduler
        self.authentication = authentication
        self.maxMessageSize = maxMessageSize
        self.serverVersion = serverVersion
        self.logger = logger
    }
}
