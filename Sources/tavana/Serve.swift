import ArgumentParser
import Foundation
import Logging
import TavanaServer

/// `tavana serve`: the embedded default — gateway and DuckDB workers in one process.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway and in-process DuckDB workers (PostgreSQL wire protocol).",
        discussion: "Settings come from flags, then TAVANA_* environment variables, then --config FILE (JSON), then defaults.")

    @Option(help: "Address to listen on (TAVANA_HOST).") var host: String?
    @Option(name: .customLong("pg-port"), help: "PostgreSQL port, 0 for any free port (TAVANA_PG_PORT).") var pgPort: Int?
    @Option(name: .customLong("flight-port"), help: "Arrow Flight SQL port (TAVANA_FLIGHT_PORT).") var flightPort: Int?
    @Option(name: .customLong("http-port"), help: "HTTP port for health and metrics (TAVANA_HTTP_PORT).") var httpPort: Int?
    @Option(help: "DuckDB database file or :memory: (TAVANA_DATABASE).") var database: String?
    @Option(help: "Queries that run at once; more wait in FIFO order (TAVANA_WORKERS).") var workers: Int?
    @Option(help: "DuckDB threads per query (TAVANA_THREADS).") var threads: Int?
    @Option(name: .customLong("memory-limit"), help: "DuckDB memory limit, e.g. 4GB (TAVANA_MEMORY_LIMIT).") var memoryLimit: String?
    @Option(name: .customLong("max-queued"), help: "Queries allowed to wait for a slot (TAVANA_MAX_QUEUED).") var maxQueued: Int?
    @Option(name: .customLong("max-queue-wait"), help: "Seconds a query may wait for a slot, 0 for no limit (TAVANA_MAX_QUEUE_WAIT).") var maxQueueWait: Int?
    @Option(name: .customLong("auth-method"), help: "trust, password, md5 or scram-sha-256 (TAVANA_AUTH_METHOD).") var authMethod: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate for TLS (TAVANA_TLS_CERT).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for TLS (TAVANA_TLS_KEY).") var tlsKey: String?
    @Option(name: .customLong("flight-token-lifetime"), help: "Seconds a Flight bearer token stays valid (TAVANA_FLIGHT_TOKEN_LIFETIME).") var flightTokenLifetime: Int?
    @Option(name: .customLong("max-statement-bytes"), help: "Longest statement text accepted, in bytes (TAVANA_MAX_STATEMENT_BYTES).") var maxStatementBytes: Int?
    @Option(name: .customLong("max-message-size"), help: "Largest PostgreSQL message accepted, in bytes (TAVANA_MAX_MESSAGE_SIZE).") var maxMessageSize: Int?
    @Option(name: .customLong("max-connections"), help: "PostgreSQL sessions allowed at once (TAVANA_MAX_CONNECTIONS).") var maxConnections: Int?
    @Option(name: .customLong("authentication-timeout"), help: "Seconds a PostgreSQL client has to authenticate (TAVANA_AUTHENTICATION_TIMEOUT).") var authenticationTimeout: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (TAVANA_LOG_LEVEL).") var logLevel: String?
    @Option(help: "JSON config file (TAVANA_CONFIG).") var config: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        do {
            if let path = config ?? env["TAVANA_CONFIG"] { try configuration.apply(configFile: path) }
            try configuration.apply(environment: env)
            var flags: [String: String] = [:]
            flags["host"] = host
            flags["pgPort"] = pgPort.map(String.init)
            flags["flightPort"] = flightPort.map(String.init)
            flags["httpPort"] = httpPort.map(String.init)
            flags["database"] = database
            flags["workers"] = workers.map(String.init)
            flags["threads"] = threads.map(String.init)
            flags["memoryLimit"] = memoryLimit
            flags["maxQueued"] = maxQueued.map(String.init)
            flags["maxQueueWait"] = maxQueueWait.map(String.init)
            flags["authMethod"] = authMethod
            flags["tlsCertificate"] = tlsCert
            flags["tlsKey"] = tlsKey
            flags["logLevel"] = logLevel
            flags["maxStatementBytes"] = maxStatementBytes.map(String.init)
            flags["maxMessageSize"] = maxMessageSize.map(String.init)
            flags["maxConnections"] = maxConnections.map(String.init)
            flags["authenticationTimeout"] = authenticationTimeout.map(String.init)
            flags["flightTokenLifetime"] = flightTokenLifetime.map(String.init)
            try configuration.apply(flags)
        } catch let error as ServerConfiguration.ConfigurationError {
            throw ValidationError(error.description)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tavana")
        do {
            try await EmbeddedServer(configuration: configuration, logger: logger).run()
        } catch let error as ServerConfiguration.ConfigurationError {
            logger.critical("invalid configuration", metadata: ["error": "\(error.description)"])
            throw ExitCode(2)
        } catch {
            logger.critical("tavana stopped", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
