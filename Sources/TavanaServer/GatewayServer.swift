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

    /// Where the workers come from: a DNS name (re-resolved every few seconds) or a list.
    func discovery() throws -> WorkerPool.Discovery {
        let cluster = configuration.cluster
        if let dns = cluster.workerDNS {
            guard cluster.workerAddresses.isEmpty else {
                throw ServerConfiguration.ConfigurationError.invalid("give the workers by --workers or by --worker-dns, not both")
            }
            guard let target = WorkerAddress(parsing: dns) else {
                throw ServerConfiguration.ConfigurationError.invalid("--worker-dns \(dns) is not NAME:PORT")
            }
            return .dns(host: target.host, port: target.port, every: .seconds(5))
        }
        guard !cluster.workerAddresses.isEmpty else {
            throw ServerConfiguration.ConfigurationError.invalid(
                "a gateway needs its workers: --workers host:port,... (TAVANA_WORKER_ADDRESSES) or --worker-dns NAME:PORT (TAVANA_WORKER_DNS)")
        }
        return .addresses(try cluster.workerAddresses.map { text in
            guard let address = WorkerAddress(parsing: text) else {
                throw ServerConfiguration.ConfigurationError.invalid("worker address \(text) is not host:port")
            }
            return address
        })
    }

    public func run() async throws {
        let config = configuration
        let discovery = try discovery()
        let credentials = try config.credentials()
        let tls = try EmbeddedServer(configuration: config, logger: logger).makeTLSContext()
        // Stable across restarts (so workers drop a restarted gateway's leftovers), distinct
        // between gateways: the host (a pod name) and the PostgreSQL port.
        let gatewayID = config.cluster.gatewayID ?? "\(ProcessInfo.processInfo.hostName):\(config.postgres.port)"
        let name = GatewayName.starting(id: gatewayID)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        // The worker connections run on NIO's process-wide group, never shut down: a closing
        // HTTP/2 connection still schedules work on its loop after `runConnections` returns,
        // and on the front doors' group (shut down once they stop) that is SwiftNIO's
        // "already shut down" error, soon a crash.
        let pool = try WorkerPool(discovery: discovery, gateway: name, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let source: String = switch discovery {
        case .addresses(let list): list.map(\.description).joined(separator: ",")
        case .dns(let host, let port, _): "dns \(host):\(port)"
        }
        logger.info("gateway starting", metadata: ["gateway": "\(gatewayID)", "epoch": "\(name.epoch)", "workers": "\(source)"])
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await pool.run() }
                // The queue's width is what the workers can run: their slots, once they answer.
                let answered = await pool.waitForAWorker(timeout: .seconds(10))
                let slots = answered ? max(1, pool.slots) : max(1, config.admission.slots * max(1, pool.workers.count))
                if !answered {
                    logger.warning("no worker answered yet; the gateway starts and waits for them", metadata: ["slots": "\(slots)"])
                }
                logger.info("workers", metadata: ["healthy": "\(pool.health.healthy)", "slots": "\(slots)"])
                try await FrontDoors(configuration: config, logger: logger).run(
                    worker: pool, slots: slots, credentials: credentials, tls: tls, group: group,
                    workers: { pool.health },
                    dependency: { pool.health.healthy == 0 ? "no worker is reachable" : nil },
                    slotsNow: { pool.slots })
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
