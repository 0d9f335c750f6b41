import Hummingbird
import Logging
import NIOCore
import Scheduler
import ServiceLifecycle
import Synchronization

/// Whether the process should get traffic: the front doors are listening and it is not
/// draining. Kubernetes' readiness probe reads it through `/readyz`.
public final class Readiness: Sendable {
    private struct State {
        var listening: Set<String> = []
        var draining = false
    }
    private let state = Mutex(State())
    /// The listeners that must be up (e.g. "postgres", "flight").
    let required: Set<String>
    /// What else must hold (a gateway needs a reachable worker): nil when it does, else why not.
    let dependency: @Sendable () -> String?

    public init(required: Set<String>, dependency: @escaping @Sendable () -> String? = { nil }) {
        self.required = required
        self.dependency = dependency
    }

    public func listening(_ name: String) { state.withLock { _ = $0.listening.insert(name) } }
    public func draining() { state.withLock { $0.draining = true } }

    /// nil when ready, else why not.
    public var notReadyReason: String? {
        state.withLock { s in
            if s.draining { return "draining" }
            let missing = required.subtracting(s.listening)
            return missing.isEmpty ? nil : "not listening yet: \(missing.sorted().joined(separator: ", "))"
        } ?? dependency()
    }
}

/// The HTTP port: `/healthz` (the process answers), `/readyz` (it should get traffic) and
/// `/metrics` (Prometheus text format), served by Hummingbird on the servers' event loops.
public struct HTTPEndpoint: Service {
    let application: Application<RouterResponder<BasicRequestContext>>
    let host: String
    let port: Int

    /// The port could not be served (most often: another process has it).
    public struct ListenError: Error, CustomStringConvertible {
        public let host: String
        public let port: Int
        public let underlying: any Error
        public var description: String {
            "cannot serve HTTP (health and metrics) on \(host):\(port): \(underlying); choose another with --http-port / TAVANA_HTTP_PORT (0 picks a free one)"
        }
    }

    /// A gateway's (or `serve`'s) endpoint: the scheduler's metrics, with the workers' health
    /// (embedded mode: one worker in process, healthy while the process runs).
    public init(
        host: String, port: Int, metrics: TavanaMetrics, scheduler: Scheduler, readiness: Readiness,
        workers: @escaping @Sendable () -> (healthy: Int, unhealthy: Int) = { (1, 0) },
        eventLoopGroup: any EventLoopGroup, logger: Logger, onListening: @escaping @Sendable (Int) -> Void
    ) {
        self.init(
            host: host, port: port, readiness: readiness,
            exposition: { metrics.exposition(scheduler: scheduler, workers: workers()) },
            eventLoopGroup: eventLoopGroup, logger: logger, onListening: onListening)
    }

    /// An endpoint whose `/metrics` text comes from `exposition` (a worker's own metrics).
    public init(
        host: String, port: Int, readiness: Readiness, exposition: @escaping @Sendable () -> [UInt8],
        eventLoopGroup: any EventLoopGroup, logger: Logger, onListening: @escaping @Sendable (Int) -> Void
    ) {
        self.host = host
        self.port = port
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            if let reason = readiness.notReadyReason {
                return Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: reason + "\n")))
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ready\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            let text = exposition()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
        application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "tavana"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger)
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch let error as IOError {
            throw ListenError(host: host, port: port, underlying: error)
        }
    }
}
