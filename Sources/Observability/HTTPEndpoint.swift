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

    public init(required: Set<String>) {
        self.required = required
    }

    public func listening(_ name: String) { state.withLock { _ = $0.listening.insert(name) } }
    public func draining() { state.withLock { $0.draining = true } }

    /// nil when ready, else why not.
    public var notReadyReason: String? {
        state.withLock { s in
            if s.draining { return "draining" }
            let missing = required.subtracting(s.listening)
            return missing.isEmpty ? nil : "not listening yet: \(missing.sorted().joined(separator: ", "))"
        }
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

    public init(
        host: String, port: Int, metrics: TavanaMetrics, scheduler: Scheduler, readiness: Readiness,
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
            // Embedded mode has one worker, in process: healthy while the process runs.
            let text = metrics.exposition(scheduler: scheduler, workers: (healthy: 1, unhealthy: 0))
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
