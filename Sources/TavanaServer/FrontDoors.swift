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

/// Both front doors, the Scheduler and the HTTP port over one worker seam: `serve` gives
/// them its in-process worker, `gateway` its pool of remote workers. Nothing here knows which.
struct FrontDoors {
    let configuration: ServerConfiguration
    let logger: Logger

    /// Runs until a signal stops them. `slots` is how many queries run at once (the queue's
    /// width); `services` run beside the front doors and stop after them.
    func run(
        worker: any WorkerService, slots: Int, credentials: CredentialStore, tls: NIOSSLContext?,
        group: MultiThreadedEventLoopGroup, workers: @escaping @Sendable () -> (healthy: Int, unhealthy: Int) = { (1, 0) },
        dependency: @escaping @Sendable () -> String? = { nil },
        slotsNow: (@Sendable (_ demand: Int) -> Int)? = nil,
        cancelPeers: (@Sendable () async -> [CancelForwarder.Peer])? = nil
    ) async throws {
        let config = configuration
        let metrics = TavanaMetrics()
        let readiness = Readiness(required: ["postgres", "flight"], dependency: dependency)
        let limits = config.admission.limits.resized(slots: slots)
        let scheduler = Scheduler(worker: worker, admission: limits, observer: metrics, logger: logger)
        var context = PostgresServerContext(
            scheduler: scheduler, authentication: credentials, maxMessageSize: config.postgres.maxMessageSize,
            serverVersion: "15.0 (Tavana \(TavanaBuild.version), DuckDB \(DuckDBLibrary.loadedVersion))",
            maxConnections: config.postgres.maxConnections,
            authenticationTimeout: .seconds(config.postgres.authenticationTimeout),
            flushThreshold: config.postgres.flushThreshold, logger: logger)
        context.cancelForwarder = cancelPeers.map { CancelForwarder(peers: $0, group: group, logger: self.logger) }
        let pg = PostgresServer(host: config.host, port: config.postgres.port, tls: tls, context: context, group: group)
        let bound = try await pg.bind()
        // Logged once the service group runs (its signal handlers are in place by then): a
        // supervisor that sends SIGTERM as soon as it reads this line stops Tavana cleanly.
        let listening: Logger.Metadata = [
            "host": "\(config.host)", "port": "\(bound.port ?? config.postgres.port)",
            "auth": "\(credentials.method.rawValue)", "tls": "\(tls != nil)",
        ]
        let flight = try FlightSQLServer(
            host: config.host, port: config.flight.port, scheduler: scheduler,
            serverVersion: "Tavana \(TavanaBuild.version), DuckDB \(DuckDBLibrary.loadedVersion)",
            authenticator: EmbeddedServer.flightAuthenticator(credentials, tokenLifetime: TimeInterval(config.flight.tokenLifetime)),
            tls: tls == nil ? nil : config.security.tlsCertificate.flatMap { cert in
                config.security.tlsKey.map { FlightSQLServer.TLSFiles(certificateChain: cert, privateKey: $0) }
            },
            eventLoopGroup: group, ticketLifetime: .seconds(config.flight.ticketLifetime),
            preparedStatementIdleLifetime: .seconds(config.flight.preparedStatementIdleLifetime),
            logger: logger)
        let host = config.host, logger = self.logger
        let http = HTTPEndpoint(
            host: host, port: config.http.port, metrics: metrics, scheduler: scheduler, readiness: readiness,
            workers: workers, eventLoopGroup: group, logger: logger,
            onListening: { port in logger.info("http listening", metadata: ["host": "\(host)", "port": "\(port)"]) })
        // A graceful shutdown stops services in reverse order: readiness turns false first,
        // the HTTP port (health and metrics through the drain) goes last.
        let services = ServiceGroup(
            configuration: .init(
                services: (slotsNow.map { [.init(service: SlotsFollower(admission: scheduler.admission, slots: $0))] } ?? []) + [
                    .init(service: http),
                    .init(service: PostgresService(bound: bound, logger: logger, listening: listening, readiness: readiness,
                                                   grace: .seconds(config.postgres.shutdownGracePeriod))),
                    .init(service: FlightService(server: flight, logger: logger, readiness: readiness)),
                    .init(service: DrainSignal(readiness: readiness)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await services.run()
    }

}

/// Keeps the queue as wide as the slots this gateway holds (cluster mode: workers come and
/// go, and share their slots among the gateways). `slots` is given the demand (statements
/// running plus waiting) and returns the slots held; 0 leaves the width as it is (no worker
/// answers now: statements wait in the queue, not on a zero width).
struct SlotsFollower: Service {
    let admission: AdmissionController
    let slots: @Sendable (_ demand: Int) -> Int

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let snapshot = admission.snapshot
            let now = slots(snapshot.running + snapshot.queued)
            if now > 0 { admission.resize(slots: now) }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
