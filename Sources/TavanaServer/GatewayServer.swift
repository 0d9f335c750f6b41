import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresWire
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

    /// The other gateway replicas, for CancelRequests this one holds no session for: a list,
    /// or a DNS name looked up at each cancel; nil when neither is given.
    func cancelPeers() throws -> (@Sendable () async -> [CancelForwarder.Peer])? {
        let cluster = configuration.cluster
        let logger = self.logger
        if let dns = cluster.gatewayPeerDNS {
            guard let target = WorkerAddress(parsing: dns) else {
                throw ServerConfiguration.ConfigurationError.invalid("--gateway-peer-dns \(dns) is not NAME:PORT")
            }
            return {
                do {
                    return try await DNSLookup.addresses(of: target.host).map { (host: $0, port: target.port) }
                } catch {
                    logger.warning("gateway peers not found", metadata: ["name": "\(target.host)", "error": "\(error)"])
                    return []
                }
            }
        }
        guard !cluster.gatewayPeers.isEmpty else { return nil }
        let peers = try cluster.gatewayPeers.map { text in
            guard let address = WorkerAddress(parsing: text) else {
                throw ServerConfiguration.ConfigurationError.invalid("gateway peer \(text) is not host:port")
            }
            return (host: address.host, port: address.port)
        }
        return { peers }
    }

    public func run() async throws {
        let config = configuration
        let discovery = try discovery()
        let peers = try cancelPeers()
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
        if let ca = config.cluster.workerTLSCA {
            // Checked here, so a wrong file fails at start rather than as unhealthy workers.
            do {
                _ = try NIOSSLCertificate.fromPEMFile(ca)
            } catch {
                throw ServerConfiguration.ConfigurationError.invalid("--worker-tls-ca \(ca): \(error)")
            }
        }
        let pool = try WorkerPool(discovery: discovery, gateway: name, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                                  logger: logger, trustRoots: config.cluster.workerTLSCA)
        let source: String = switch discovery {
        case .addresses(let list): list.map(\.description).joined(separator: ",")
        case .dns(let host, let port, _): "dns \(host):\(port)"
        }
        logger.info("gateway starting", metadata: [
            "gateway": "\(gatewayID)", "epoch": "\(name.epoch)", "workers": "\(source)", "workerTLS": "\(config.cluster.workerTLSCA != nil)",
        ])
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await pool.run() }
                // The queue's width is what this gateway holds of the workers' slots, once they answer.
                let answered = await pool.waitForAWorker(timeout: .seconds(10))
                let slots = answered ? max(1, pool.leasedSlots) : max(1, config.admission.slots * max(1, pool.workers.count))
                if !answered {
                    logger.warning("no worker answered yet; the gateway starts and waits for them", metadata: ["slots": "\(slots)"])
                }
                logger.info("workers", metadata: ["healthy": "\(pool.health.healthy)", "slots": "\(slots)"])
                try await FrontDoors(configuration: config, logger: logger).run(
                    worker: pool, slots: slots, credentials: credentials, tls: tls, group: group,
                    workers: { pool.health },
                    dependency: { pool.health.healthy == 0 ? "no worker is reachable" : nil },
                    slotsNow: { demand in
                        pool.want(demand)
                        // Held by leases; never below one, so an idle gateway's first statement
                        // starts at once (it waits on the worker if the worker is full).
                        let held = pool.leasedSlots
                        return pool.health.healthy == 0 ? 0 : max(1, held)
                    }, cancelPeers: peers)
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
