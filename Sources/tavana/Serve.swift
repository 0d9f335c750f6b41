import ArgumentParser
import Foundation
import Logging
import TavanaServer

/// `tavana serve`: the embedded default — gateway and DuckDB workers in one process.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway and in-process DuckDB workers (PostgreSQL wire protocol and Arrow Flight SQL).",
        discussion: "Settings come from flags, then TAVANA_* environment variables, then --config FILE (JSON), then defaults.")

    @OptionGroup var frontDoors: FrontDoorOptions
    @OptionGroup var engine: EngineOptions
    @Option(help: "Queries that run at once; more wait in FIFO order (TAVANA_WORKERS).") var workers: Int?
    @OptionGroup var common: CommonOptions

    func run() async throws {
        var flags = frontDoors.flags.merging(engine.flags) { $1 }
        flags["workers"] = workers.map(String.init)
        let configuration = try common.configuration(flags: flags)
        try await common.run(configuration) { logger in
            try await EmbeddedServer(configuration: configuration, logger: logger).run()
        }
    }
}

/// `tavana gateway`: both front doors and the queue, with queries run by `tavana worker`s.
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway of cluster mode: the front doors and the queue, with queries run by remote workers.",
        discussion: "Settings come from flags, then TAVANA_* environment variables, then --config FILE (JSON), then defaults.")

    @OptionGroup var frontDoors: FrontDoorOptions
    @Option(help: "The workers, host:port,... (TAVANA_WORKER_ADDRESSES).") var workers: String?
    @Option(name: .customLong("worker-dns"), help: "A name whose addresses are the workers, NAME:PORT (TAVANA_WORKER_DNS).") var workerDNS: String?
    @Option(name: .customLong("gateway-id"), help: "This gateway's name on the workers; default the host name (TAVANA_GATEWAY_ID).") var gatewayID: String?
    @Option(name: .customLong("worker-tls-ca"), help: "PEM CA certificates: connect to the workers with TLS, verifying their certificates against these (TAVANA_WORKER_TLS_CA).") var workerTLSCA: String?
    @Option(name: .customLong("gateway-peers"), help: "The other gateway replicas' PostgreSQL addresses, host:port,...; a cancel for a session held elsewhere goes there (TAVANA_GATEWAY_PEERS).") var gatewayPeers: String?
    @Option(name: .customLong("gateway-peer-dns"), help: "A name whose addresses are the gateway replicas, NAME:PORT (TAVANA_GATEWAY_PEER_DNS).") var gatewayPeerDNS: String?
    @OptionGroup var common: CommonOptions

    func run() async throws {
        var flags = frontDoors.flags
        flags["workerAddresses"] = workers
        flags["workerDNS"] = workerDNS
        flags["gatewayID"] = gatewayID
        flags["gatewayPeers"] = gatewayPeers
        flags["workerTLSCA"] = workerTLSCA
        flags["gatewayPeerDNS"] = gatewayPeerDNS
        let configuration = try common.configuration(flags: flags)
        try await common.run(configuration) { logger in
            try await GatewayServer(configuration: configuration, logger: logger).run()
        }
    }
}

/// `tavana worker`: DuckDB for gateways to run queries on.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker of cluster mode: DuckDB behind the gateway↔worker protocol.",
        discussion: "Settings come from flags, then TAVANA_* environment variables, then --config FILE (JSON), then defaults.")

    @Option(help: "Address to listen on (TAVANA_HOST).") var host: String?
    @Option(help: "Port gateways call, 0 for any free port (TAVANA_WORKER_PORT).") var port: Int?
    @Option(name: .customLong("http-port"), help: "HTTP port for health and metrics (TAVANA_HTTP_PORT).") var httpPort: Int?
    @Option(help: "Statements that run at once; default one per core (TAVANA_WORKER_SLOTS).") var slots: Int?
    @Option(name: .customLong("worker-id"), help: "This worker's name; default the host name (TAVANA_WORKER_ID).") var workerID: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate: gateways then connect with TLS (TAVANA_TLS_CERT).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for TLS (TAVANA_TLS_KEY).") var tlsKey: String?
    @OptionGroup var engine: EngineOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        var flags = engine.flags
        flags["host"] = host
        flags["workerPort"] = port.map(String.init)
        flags["httpPort"] = httpPort.map(String.init)
        flags["workerSlots"] = slots.map(String.init)
        flags["workerID"] = workerID
        flags["tlsCertificate"] = tlsCert
        flags["tlsKey"] = tlsKey
        let configuration = try common.configuration(flags: flags)
        try await common.run(configuration) { logger in
            try await WorkerServer(configuration: configuration, logger: logger).run()
        }
    }
}

/// The PostgreSQL and Flight SQL front doors' flags (`serve` and `gateway`).
struct FrontDoorOptions: ParsableArguments {
    @Option(help: "Address to listen on (TAVANA_HOST).") var host: String?
    @Option(name: .customLong("pg-port"), help: "PostgreSQL port, 0 for any free port (TAVANA_PG_PORT).") var pgPort: Int?
    @Option(name: .customLong("flight-port"), help: "Arrow Flight SQL port (TAVANA_FLIGHT_PORT).") var flightPort: Int?
    @Option(name: .customLong("http-port"), help: "HTTP port for health and metrics (TAVANA_HTTP_PORT).") var httpPort: Int?
    @Option(name: .customLong("max-queued"), help: "Queries allowed to wait for a slot (TAVANA_MAX_QUEUED).") var maxQueued: Int?
    @Option(name: .customLong("max-queue-wait"), help: "Seconds a query may wait for a slot, 0 for no limit (TAVANA_MAX_QUEUE_WAIT).") var maxQueueWait: Int?
    @Option(name: .customLong("auth-method"), help: "trust, password, md5 or scram-sha-256 (TAVANA_AUTH_METHOD).") var authMethod: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate for TLS (TAVANA_TLS_CERT).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for TLS (TAVANA_TLS_KEY).") var tlsKey: String?
    @Option(name: .customLong("flight-token-lifetime"), help: "Seconds a Flight bearer token stays valid (TAVANA_FLIGHT_TOKEN_LIFETIME).") var flightTokenLifetime: Int?
    @Option(name: .customLong("max-message-size"), help: "Largest PostgreSQL message accepted, in bytes (TAVANA_MAX_MESSAGE_SIZE).") var maxMessageSize: Int?
    @Option(name: .customLong("max-connections"), help: "PostgreSQL sessions allowed at once (TAVANA_MAX_CONNECTIONS).") var maxConnections: Int?
    @Option(name: .customLong("authentication-timeout"), help: "Seconds a PostgreSQL client has to authenticate (TAVANA_AUTHENTICATION_TIMEOUT).") var authenticationTimeout: Int?

    var flags: [String: String] {
        var f: [String: String] = [:]
        f["host"] = host
        f["pgPort"] = pgPort.map(String.init)
        f["flightPort"] = flightPort.map(String.init)
        f["httpPort"] = httpPort.map(String.init)
        f["maxQueued"] = maxQueued.map(String.init)
        f["maxQueueWait"] = maxQueueWait.map(String.init)
        f["authMethod"] = authMethod
        f["tlsCertificate"] = tlsCert
        f["tlsKey"] = tlsKey
        f["maxMessageSize"] = maxMessageSize.map(String.init)
        f["maxConnections"] = maxConnections.map(String.init)
        f["authenticationTimeout"] = authenticationTimeout.map(String.init)
        f["flightTokenLifetime"] = flightTokenLifetime.map(String.init)
        return f
    }
}

/// DuckDB's flags (`serve` and `worker`).
struct EngineOptions: ParsableArguments {
    @Option(help: "DuckDB database file or :memory: (TAVANA_DATABASE).") var database: String?
    @Option(help: "DuckDB threads per query (TAVANA_THREADS).") var threads: Int?
    @Option(name: .customLong("memory-limit"), help: "DuckDB memory limit, e.g. 4GB (TAVANA_MEMORY_LIMIT).") var memoryLimit: String?
    @Option(name: .customLong("max-statement-bytes"), help: "Longest statement text accepted, in bytes (TAVANA_MAX_STATEMENT_BYTES).") var maxStatementBytes: Int?
    @Flag(inversion: .prefixedNo, help: "Confine users' SQL to object storage, the allowed directories and their own session; on by default, --no-sandbox only for a trusted single user (TAVANA_SANDBOX).") var sandbox: Bool?
    @Option(name: .customLong("allowed-directories"), help: "Folders users may read besides object storage, dir,...; default the sample data in serve, none on a worker (TAVANA_ALLOWED_DIRECTORIES).") var allowedDirectories: String?

    var flags: [String: String] {
        var f: [String: String] = [:]
        f["database"] = database
        f["threads"] = threads.map(String.init)
        f["memoryLimit"] = memoryLimit
        f["maxStatementBytes"] = maxStatementBytes.map(String.init)
        f["sandbox"] = sandbox.map { $0 ? "true" : "false" }
        f["allowedDirectories"] = allowedDirectories
        return f
    }
}

/// Logging and the config file; how every server command starts and stops.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (TAVANA_LOG_LEVEL).") var logLevel: String?
    @Option(help: "JSON config file (TAVANA_CONFIG).") var config: String?

    /// Defaults, then the config file, the environment and the flags.
    func configuration(flags: [String: String]) throws -> ServerConfiguration {
        let env = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        var flags = flags
        flags["logLevel"] = logLevel
        do {
            if let path = config ?? env["TAVANA_CONFIG"] { try configuration.apply(configFile: path) }
            try configuration.apply(environment: env)
            try configuration.apply(flags)
        } catch let error as ServerConfiguration.ConfigurationError {
            throw ValidationError(error.description)
        }
        return configuration
    }

    /// Runs a server with logging set up; a bad configuration exits 2, a failure 1.
    func run(_ configuration: ServerConfiguration, _ body: (Logger) async throws -> Void) async throws {
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tavana")
        do {
            try await body(logger)
        } catch let error as ServerConfiguration.ConfigurationError {
            logger.critical("invalid configuration", metadata: ["error": "\(error.description)"])
            throw ExitCode(2)
        } catch {
            logger.critical("tavana stopped", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
