import Crypto
import DuckDB
import FlightSQL
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
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
        let authentication = try config.authentication()
        let tls = try makeTLSContext()
        let workerConfig = config.workerConfiguration()
        let dbConfig = workerConfig.database
        logger.info("opening database", metadata: [
            "database": "\(config.database)", "extensions": "\(dbConfig.extensions.joined(separator: ","))",
            "workers": "\(config.workers)", "threads": "\(config.threads.map(String.init) ?? "all")",
            "parseThreads": "\(workerConfig.parseThreads)", "parseThreadsPerUser": "\(workerConfig.parseThreadsPerUser)",
        ])
        let worker = try EmbeddedWorker(configuration: workerConfig, logger: logger)
        let scheduler = Scheduler(worker: worker, slots: config.workers, maxQueued: config.maxQueued, logger: logger)
        let context = PostgresServerContext(
            scheduler: scheduler, authentication: authentication, maxMessageSize: config.maxMessageSize,
            serverVersion: "15.0 (Tavana \(TavanaBuild.version), DuckDB \(DuckDBLibrary.loadedVersion))",
            maxConnections: config.maxConnections, authenticationTimeout: .seconds(config.authenticationTimeout),
            logger: logger)
        let group = MultiThreadedEventLoopGroup.singleton
        let pg = PostgresServer(host: config.host, port: config.pgPort, tls: tls, context: context, group: group)
        let bound = try await pg.bind()
        logger.info("postgres listening", metadata: [
            "host": "\(config.host)", "port": "\(bound.port ?? config.pgPort)",
            "auth": "\(authentication.method.rawValue)", "tls": "\(tls != nil)",
        ])
        let flight = try FlightSQLServer(
            host: config.host, port: config.flightPort, scheduler: scheduler,
            serverVersion: "Tavana \(TavanaBuild.version), DuckDB \(DuckDBLibrary.loadedVersion)",
            authenticator: flightAuthenticator(authentication, tokenLifetime: TimeInterval(config.flightTokenLifetime)),
            tls: tls == nil ? nil : config.tlsCertificate.flatMap { cert in
                config.tlsKey.map { FlightSQLServer.TLSFiles(certificateChain: cert, privateKey: $0) }
            },
            logger: logger)
        let services = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: PostgresService(bound: bound)),
                    .init(service: FlightService(server: flight, logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await services.run()
        try await worker.shutdown()
        logger.info("stopped")
    }

    /// Flight checks the same users as PostgreSQL (basic credentials, then bearer tokens);
    /// trust needs none.
    func flightAuthenticator(_ authentication: AuthenticationConfiguration, tokenLifetime: TimeInterval) -> FlightAuthenticator? {
        guard authentication.method != .trust else { return nil }
        let users = authentication.users
        return FlightAuthenticator(tokenLifetime: tokenLifetime) { user, password in
            guard let secret = users[user] else { return false }
            switch secret {
            case .plain(let expected):
                return expected == password
            case .md5(let expected):
                let digest = Insecure.MD5.hash(data: Array((password + user).utf8))
                return expected == "md5" + digest.map { String(format: "%02x", $0) }.joined()
            case .scram(let verifier):
                let candidate = SCRAMVerifier(password: password, salt: verifier.salt, iterations: verifier.iterations)
                return candidate.storedKey == verifier.storedKey && candidate.serverKey == verifier.serverKey
            }
        }
    }

    func makeTLSContext() throws -> NIOSSLContext? {
        guard let cert = configuration.tlsCertificate, let key = configuration.tlsKey else {
            if configuration.tlsCertificate != nil || configuration.tlsKey != nil {
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

    func run() async throws {
        let server = self.server
        let logger = self.logger
        try await withGracefulShutdownHandler {
            try await server.run { port in
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

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await bound.serve()
            }
        } catch is CancellationError {
            // Graceful shutdown (SIGTERM/SIGINT) ends the accept loop this way: a clean stop.
        }
    }
}
