import Crypto
import DuckDB
import FlightSQL
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Observability
import PostgresWire
import Scheduler
import ServiceLifecycle
import Worker

/// `tavana serve`: gateway and in-process workers in one process.
public struct EmbeddedServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let config = configuration
        let credentials = try config.credentials()
        let tls = try makeTLSContext()
        let limits = ContainerLimits.read(root: config.engine.cgroupRoot)
        let sizing = config.sizing(limits)
        var workerConfig = config.workerConfiguration(sizing: sizing, defaultAllowedDirectories: ServerConfiguration.sampleDataDirectories())
        let refresh = try await CredentialRefresh.start(config, storage: &workerConfig.objectStorage, logger: logger)
        let dbConfig = workerConfig.database
        if limits != ContainerLimits() {
            logger.info("container limits", metadata: [
                "memoryBytes": "\(limits.memoryBytes.map(String.init) ?? "unlimited")",
                "cpus": "\(limits.cpus.map { String($0) } ?? "unlimited")",
                "memoryLimit": "\(dbConfig.memoryLimit ?? "DuckDB's default")",
                "threads": "\(dbConfig.threads.map(String.init) ?? "DuckDB's default")",
            ])
        }
        logger.info("opening database", metadata: [
            "database": "\(config.engine.database)", "extensions": "\(dbConfig.extensions.joined(separator: ","))",
            "workers": "\(config.admission.slots)", "threads": "\(config.engine.threads.map(String.init) ?? "all")",
            "parseThreads": "\(workerConfig.parseThreads)", "parseThreadsPerUser": "\(workerConfig.parseThreadsPerUser)",
        ])
        if config.security.scramSaltKey == nil && credentials.method != .trust {
            logger.notice("scramSaltKey is not set: SCRAM salts of plain-text users differ between restarts and replicas")
        }
        let worker = try EmbeddedWorker(configuration: workerConfig, logger: logger)
        // One event-loop group for both front doors, owned here and shut down last: only
        // after `serve` has returned, so that the servers and their channels (released as
        // it returns) are closed on a group that still runs.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            try await CredentialRefresh.keepingFresh(refresh, worker: worker) {
                try await serve(worker: worker, credentials: credentials, tls: tls, group: group)
            }
        } catch {
            try? await worker.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        try await worker.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// Both front doors over one in-process worker, until a signal stops them.
    func serve(worker: EmbeddedWorker, credentials: CredentialStore, tls: NIOSSLContext?, group: MultiThreadedEventLoopGroup) async throws {
        try await FrontDoors(configuration: configuration, logger: logger).run(
            worker: worker, slots: configuration.admission.slots, credentials: credentials, tls: tls, group: group)
    }

    /// Flight checks the same users as PostgreSQL, with the same constant-time check (basic
    /// credentials, then bearer tokens); trust needs none.
    static func flightAuthenticator(_ credentials: CredentialStore, tokenLifetime: TimeInterval) -> FlightAuthenticator? {
        guard credentials.method != .trust else { return nil }
        return FlightAuthenticator(tokenLifetime: tokenLifetime) { user, password in
            credentials.verifyPassword(user: user, password: password)
        }
    }

    func makeTLSContext() throws -> NIOSSLContext? {
        guard let cert = configuration.security.tlsCertificate, let key = configuration.security.tlsKey else {
            if configuration.security.tlsCertificate != nil || configuration.security.tlsKey != nil {
                throw ServerConfiguration.ConfigurationError.invalid("TLS needs both a certificate and a key")
            }
            return nil
        }
        let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
        // PEM whatever the file is called (server.key is PostgreSQL's usual name).
        let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        let tlsConfig = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        return try NIOSSLContext(configuration: tlsConfig)
    }
}

/// Runs the Arrow Flight SQL server until graceful shutdown.
struct FlightService: Service {
    let server: FlightSQLServer
    let logger: Logger
    let readiness: Readiness

    func run() async throws {
        let server = self.server
        let logger = self.logger
        let readiness = self.readiness
        try await withGracefulShutdownHandler {
            try await server.run { port in
                readiness.listening("flight")
                logger.info("flight listening", metadata: [
                    "host": "\(server.host)", "port": "\(port)", "tls": "\(server.tls)",
                ])
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

/// Runs the PostgreSQL accept loop until graceful shutdown.
struct PostgresService: Service {
    let bound: BoundPostgresServer
    let logger: Logger
    let listening: Logger.Metadata
    let readiness: Readiness
    /// How long running statements may take to finish once a shutdown begins.
    let grace: Duration

    func run() async throws {
        readiness.listening("postgres")
        logger.info("postgres listening", metadata: listening)
        let bound = self.bound, grace = self.grace, logger = self.logger
        try await withGracefulShutdownHandler {
            try await bound.serve()
        } onGracefulShutdown: {
            logger.info("postgres draining", metadata: ["grace": "\(grace)"])
            bound.beginGracefulShutdown(grace: grace)
        }
    }
}

/// Turns readiness false as soon as a graceful shutdown begins (it is stopped first), so
/// that a load balancer stops sending new clients while running queries drain.
struct DrainSignal: Service {
    let readiness: Readiness

    func run() async throws {
        try? await gracefulShutdown()
        readiness.draining()
    }
}
