import DuckDB
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOPosix
import Observability
import Scheduler
import ServiceLifecycle
import Worker
import WorkerEndpoint

/// `tavana worker`: DuckDB behind the gateway↔worker protocol, plus the HTTP port. It sizes
/// itself from its container when not told otherwise (memory_limit = the container's limit
/// minus a reserve, threads and slots from the CPU limit).
public struct WorkerServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        var config = configuration
        let limits = ContainerLimits.read(root: config.engine.cgroupRoot)
        let sizing = config.sizing(limits)
        // One slot per core the container may use, unless told.
        let cores = limits.cpus.map { max(1, Int($0.rounded(.up))) } ?? System.coreCount
        let slots = config.cluster.workerSlots ?? max(1, cores)
        config.admission.slots = slots
        var workerConfig = config.workerConfiguration(sizing: sizing)
        if config.cluster.ducklakeMetadata == nil {
            workerConfig.localCreateRefusal =
                "without a shared catalog a table would exist on one worker only: set ducklakeMetadata (TAVANA_DUCKLAKE_METADATA) and ducklakeDataPath on every worker; temporary tables are allowed"
            logger.notice("no shared catalog: CREATE of tables, views and schemas is refused (temporary ones are allowed)")
        }
        let workerID = config.cluster.workerID ?? ProcessInfo.processInfo.hostName
        logger.info("opening database", metadata: [
            "worker": "\(workerID)", "database": "\(config.engine.database)", "slots": "\(slots)",
            "memoryLimit": "\(workerConfig.database.memoryLimit ?? "DuckDB's default")",
            "threads": "\(workerConfig.database.threads.map(String.init) ?? "DuckDB's default")",
            "extensions": "\(workerConfig.database.extensions.joined(separator: ","))",
        ])
        let refresh = try await CredentialRefresh.start(config, storage: &workerConfig.objectStorage, logger: logger)
        let worker = try EmbeddedWorker(configuration: workerConfig, logger: logger)
        let endpoint = WorkerEndpoint(
            worker: worker, slots: slots, sessionTTL: .seconds(config.cluster.sessionTTL),
            status: .init(workerID: workerID, memoryLimitBytes: sizing.memoryLimitBytes ?? 0,
                          invalidated: { worker.invalidatedReason }),
            logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            try await CredentialRefresh.keepingFresh(refresh, worker: worker) {
                try await serve(endpoint: endpoint, group: group, config: config)
            }
        } catch {
            await endpoint.closeAll()
            try? await worker.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        await endpoint.closeAll()
        try await worker.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    func serve(endpoint: WorkerEndpoint, group: MultiThreadedEventLoopGroup, config: ServerConfiguration) async throws {
        let readiness = Readiness(required: ["worker"], dependency: {
            endpoint.isDraining ? "draining" : nil
        })
        let metrics = WorkerMetrics {
            WorkerMetrics.Reading(slots: endpoint.slots.snapshot, sessions: endpoint.sessionCount, draining: endpoint.isDraining)
        }
        let host = config.host, logger = self.logger
        let http = HTTPEndpoint(
            host: host, port: config.http.port, readiness: readiness, exposition: { metrics.exposition() },
            eventLoopGroup: group, logger: logger,
            onListening: { port in logger.info("http listening", metadata: ["host": "\(host)", "port": "\(port)"]) })
        // Checked here, so a wrong file fails at start with a clear message.
        let tls = try EmbeddedServer(configuration: config, logger: logger).makeTLSContext() == nil
            ? nil : config.security.tlsCertificate.flatMap { cert in config.security.tlsKey.map { (cert, $0) } }
        let rpc = WorkerRPCService(
            endpoint: endpoint, host: host, port: config.cluster.workerPort, tls: tls, group: group, readiness: readiness,
            grace: .seconds(config.cluster.drainGracePeriod), logger: logger)
        let services = ServiceGroup(
            configuration: .init(
                services: [.init(service: http), .init(service: rpc), .init(service: DrainSignal(readiness: readiness))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await services.run()
    }
}

/// The worker's gRPC port. On graceful shutdown (SIGTERM) it drains: no new sessions,
/// running statements get the grace period to finish, then the server stops.
struct WorkerRPCService: Service {
    let endpoint: WorkerEndpoint
    let host: String
    let port: Int
    /// PEM certificate and key files; nil: plaintext.
    let tls: (certificate: String, key: String)?
    let group: MultiThreadedEventLoopGroup
    let readiness: Readiness
    let grace: Duration
    let logger: Logger

    func run() async throws {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = 256 * 1024 * 1024
        config.http2.targetWindowSize = 16 << 20
        config.http2.maxFrameSize = 1 << 20
        // Gateways ping idle connections to notice a dead worker; allow it.
        config.connection.keepalive.clientBehavior.allowWithoutCalls = true
        config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(5)
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: host, port: port),
            transportSecurity: tls.map { files in
                .tls(certificateChain: [.file(path: files.certificate, format: .pem)], privateKey: .file(path: files.key, format: .pem))
            } ?? .plaintext,
            config: config, eventLoopGroup: group)
        let server = GRPCServer(transport: transport, services: [WorkerEndpointService(endpoint)])
        let endpoint = self.endpoint, logger = self.logger, readiness = self.readiness, grace = self.grace
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await server.serve() }
            tasks.addTask {
                let address = try await transport.listeningAddress
                readiness.listening("worker")
                logger.info("worker listening", metadata: [
                    "host": "\(host)", "port": "\(address.ipv4?.port ?? address.ipv6?.port ?? port)",
                    "slots": "\(endpoint.slots.slots)", "tls": "\(self.tls != nil)",
                ])
            }
            // Orphans: sessions of gateways that stopped sending heartbeats.
            tasks.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await endpoint.expireOrphans()
                }
            }
            try await withGracefulShutdownHandler {
                try await tasks.next()
                try await tasks.next()
            } onGracefulShutdown: {
                endpoint.beginDrain()
                logger.info("worker draining", metadata: ["grace": "\(grace)", "running": "\(endpoint.slots.snapshot.running)"])
                Task {
                    let deadline = ContinuousClock.now + grace
                    while endpoint.slots.snapshot.running > 0 && ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    let left = endpoint.slots.snapshot.running
                    if left > 0 {
                        logger.warning("grace period over; interrupting running statements", metadata: ["running": "\(left)"])
                    }
                    await endpoint.closeAll()
                    server.beginGracefulShutdown()
                }
            }
            tasks.cancelAll()
        }
    }
}
