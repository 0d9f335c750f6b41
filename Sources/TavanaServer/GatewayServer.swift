import Foundation
import Logging
import NIOCore
import NIOPosix
import RemoteWorker
import Scheduler
import ServiceLifecycle

/// `tavana gateway`: both front doors, the Scheduler and the HTTP port, with the queries run
/// by remote workers (`tavana worker`) through the same seam `serve` uses in process.
public struct GatewayServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The workers named by the configuration.
    func workerAddresses() throws -> [WorkerAddress] {
        let cluster = configuration.cluster
        if cluster.workerDNS != nil {
            throw ServerConfiguration.ConfigurationError.invalid(
                "--worker-dns is not supported yet; list the workers with --workers host:port,... (TAVANA_WORKER_ADDRESSES)")
        }
        guard !cluster.workerAddresses.isEmpty else {
            throw ServerConfiguration.ConfigurationError.invalid(
                "a gateway needs its workers: --workers host:port,... (TAVANA_WORKER_ADDRESSES)")
        }
        return try cluster.workerAddresses.map { text in
            guard let address = WorkerAddress(parsing: text) else {
                throw ServerConfiguration.ConfigurationError.invalid("worker address \(text) is not host:port")
            }
            return address
        }
    }

    public func run() async throws {
        let config = configuration
        let addresses = try workerAddresses()
        let credentials = try config.credentials()
        let tls = try EmbeddedServer(configuration: config, logger: logger).makeTLSContext()
        // Stable across restarts (so workers drop a restarted gateway's leftovers), distinct
        // between gateways: the host (a pod name) and the PostgreSQL port.
        let gatewayID = config.cluster.gatewayID ?? "\(ProcessInfo.processInfo.hostName):\(config.postgres.port)"
        let name = GatewayName.starting(id: gatewayID)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let pool = try WorkerPool(addresses: addresses, gateway: name, eventLoopGroup: group, logger: logger)
        logger.info("gateway starting", metadata: [
            "gateway": "\(gatewayID)", "epoch": "\(name.epoch)", "workers": "\(addresses.map(\.description).joined(separator: ","))",
        ])
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await pool.run() }
                // The queue's width is what the workers can run: their slots, once they answer.
                let answered = await pool.waitForAWorker(timeout: .seconds(10))
                let slots = answered ? max(1, pool.slots) : max(1, config.admission.slots * addresses.count)
                if !answered {
                    logger.warning("no worker answered yet; the gateway starts and waits for them", metadata: ["slots": "\(slots)"])
                }
                logger.info("workers", metadata: ["healthy": "\(pool.health.healthy)", "slots": "\(slots)"])
                try await FrontDoors(configuration: config, logger: logger).run(
                    worker: pool, slots: slots, credentials: credentials, tls: tls, group: group,
                    workers: { pool.health },
                    dependency: { pool.health.healthy == 0 ? "no worker is reachable" : nil })
                pool.shutdown()
                tasks.cancelAll()
            }
        } catch {
            pool.shutdown()
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        logger.info("stopped")
    }
}
