import DuckDB
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import Synchronization
import Worker
import WorkerProtocol

/// Where a worker listens.
public struct WorkerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, `[v6]:port`.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]),
              (1...65535).contains(port)
        else { return nil }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The gateway's identity on every call: its id, and an epoch new at each start, so workers
/// tell a restarted gateway's leftovers from its current sessions.
public struct GatewayName: Sendable, Equatable {
    public var id: String
    public var epoch: UInt64

    public init(id: String, epoch: UInt64) {
        self.id = id
        self.epoch = epoch
    }

    /// An epoch from the wall clock in milliseconds: larger after every restart, across hosts.
    public static func starting(id: String) -> GatewayName {
        GatewayName(id: id, epoch: UInt64(max(0, Date().timeIntervalSince1970 * 1000)))
    }

    var wire: GatewayIdentity {
        var w = GatewayIdentity()
        w.gatewayID = id
        w.epoch = epoch
        return w
    }
}

/// What a worker last said about itself.
public struct WorkerLoad: Sendable, Equatable {
    public var workerID: String = ""
    public var slots: Int = 0
    public var slotsUsed: Int = 0
    public var sessions: Int = 0
    public var memoryLimitBytes: UInt64 = 0
    public var draining = false
    public var sessionTTL: Duration = .seconds(30)
    /// The slots this gateway holds there until its next heartbeat (`SlotLeases`).
    public var leasedSlots: Int = 0
}

/// One worker over the network: a single HTTP/2 connection (one gRPC client), the worker
/// seam's calls over it, and a heartbeat that keeps this gateway's sessions alive there and
/// tells whether the worker is healthy.
public final class RemoteWorker: WorkerService {
    public typealias Stub = Tavana_Worker_V1_Worker.Client<HTTP2ClientTransport.Posix>

    public let address: WorkerAddress
    let gateway: GatewayName
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    let stub: Stub
    let logger: Logger

    private struct Health {
        var load: WorkerLoad?
        /// Until the first good reply a worker gets no sessions.
        var healthy = false
        var failures = 0
        /// Sessions this gateway opened there and has not closed.
        var openSessions = 0
        /// Slots this gateway would like there, sent with each heartbeat.
        var wanted = 0
    }

    private let health = Mutex(Health())

    /// `trustRoots`: a PEM file of CA certificates; when given the connection is TLS and the
    /// worker's certificate must chain to one of them. Its host name is not checked: workers
    /// are reached by pod address, which certificates do not name.
    public init(address: WorkerAddress, gateway: GatewayName, eventLoopGroup: any EventLoopGroup, logger: Logger,
                trustRoots: String? = nil) throws {
        self.address = address
        self.gateway = gateway
        var config = HTTP2ClientTransport.Posix.Config.defaults
        // A dead peer behind a silent network is noticed within seconds, not at TCP's pace.
        config.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5), allowWithoutCalls: true)
        config.http2.targetWindowSize = 16 << 20
        config.http2.maxFrameSize = 1 << 20
        config.backoff = .init(initial: .milliseconds(200), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
        // Address literals as addresses: a name target would also send the literal as the TLS
        // server name (SNI), which TLS forbids for IP addresses.
        let target: any ResolvableTarget = if address.host.contains(":") {
            .ipv6(address: address.host, port: address.port)
        } else if Self.isIPv4Literal(address.host) {
            .ipv4(address: address.host, port: address.port)
        } else {
            .dns(host: address.host, port: address.port)
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: target,
            transportSecurity: trustRoots.map { file in
                .tls { tls in
                    tls.trustRoots = .certificates([.file(path: file, format: .pem)])
                    tls.serverCertificateVerification = .noHostnameVerification
                }
            } ?? .plaintext,
            config: config, eventLoopGroup: eventLoopGroup)
        client = GRPCClient(transport: transport)
        stub = Stub(wrapping: client)
        var metadata = logger
        metadata[metadataKey: "worker"] = "\(address)"
        self.logger = metadata
    }

    static func isIPv4Literal(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) && Int(part).map { $0 <= 255 } == true
        }
    }

    /// Runs the connection and the heartbeat until the task is cancelled or `shutdown()`.
    public func run(heartbeat interval: Duration = .seconds(2)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.client.runConnections() }
            group.addTask {
                while !Task.isCancelled {
                    await self.hello()
                    try? await Task.sleep(for: interval)
                }
            }
            // The connection ends at shutdown; the heartbeat with it.
            try await group.next()
            group.cancelAll()
        }
    }

    public func shutdown() {
        client.beginGracefulShutdown()
    }

    // MARK: Health

    public var isHealthy: Bool { health.withLock { $0.healthy && !($0.load?.draining ?? false) } }
    public var load: WorkerLoad? { health.withLock { $0.load } }
    public var openSessions: Int { health.withLock { $0.openSessions } }

    /// Sets the slots this gateway asks for at its next heartbeat.
    public func want(_ slots: Int) { health.withLock { $0.wanted = max(0, slots) } }

    /// One heartbeat: refreshes this gateway's sessions on the worker and its load.
    @discardableResult
    public func hello() async -> Bool {
        var request = Tavana_Worker_V1_HelloRequest()
        request.gateway = gateway.wire
        request.wantedSlots = UInt32(clamping: health.withLock { $0.wanted })
        do {
            let reply = try await stub.hello(request, options: Self.control)
            var load = WorkerLoad()
            load.workerID = reply.workerID
            load.slots = Int(reply.slots)
            load.slotsUsed = Int(reply.slotsUsed)
            load.sessions = Int(reply.sessions)
            load.memoryLimitBytes = reply.memoryLimitBytes
            load.draining = reply.draining
            load.sessionTTL = .seconds(Int64(reply.sessionTtlSeconds))
            load.leasedSlots = Int(reply.leasedSlots)
            let usable = reply.invalidated.isEmpty
            let wasHealthy = health.withLock { h -> Bool in
                defer {
                    h.load = load
                    h.healthy = usable
                    h.failures = 0
                }
                return h.healthy
            }
            if !wasHealthy && usable {
                logger.info("worker healthy", metadata: ["workerID": "\(load.workerID)", "slots": "\(load.slots)"])
            } else if !usable {
                logger.error("worker's database is invalidated", metadata: ["reason": "\(reply.invalidated)"])
            }
            return usable
        } catch {
            let (wasHealthy, failures) = health.withLock { h -> (Bool, Int) in
                defer {
                    h.healthy = false
                    h.failures += 1
                }
                return (h.healthy, h.failures + 1)
            }
            if wasHealthy || failures == 1 {
                logger.warning("worker unreachable", metadata: ["error": "\(Self.reason(error))"])
            }
            return false
        }
    }

    /// Control calls fail fast when the worker is unreachable and never wait forever.
    static let control: CallOptions = {
        var o = CallOptions.defaults
        o.waitForReady = false
        o.timeout = .seconds(30)
        return o
    }()

    /// Statements may run for as long as their client lets them.
    static let statement: CallOptions = {
        var o = CallOptions.defaults
        o.waitForReady = false
        return o
    }()

    static func reason(_ error: any Error) -> String {
        if let e = error as? RPCError { return "\(e.code): \(e.message)" }
        return "\(error)"
    }

    func sessionOpened() { health.withLock { $0.openSessions += 1 } }
    func sessionClosed() { health.withLock { $0.openSessions = max(0, $0.openSessions - 1) } }

    /// A failed call as the seam's error: the worker's own refusal or a lost connection
    /// both mean this session is gone there.
    func unavailable(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        if let e = error as? RPCError {
            switch e.code {
            case .cancelled: return CancellationError()
            case .notFound: return WorkerUnavailable("worker \(address) no longer has this session (it restarted or closed it): \(e.message)")
            case .failedPrecondition: return WorkerUnavailable("worker \(address) refused the call: \(e.message)")
            case .unavailable, .deadlineExceeded: break
            default:
                // A status the worker chose to send (an aborted load, a handler's error): it
                // is alive, and one client's call must not take it away from everyone.
                return WorkerUnavailable("worker \(address) ended the call: \(e.code): \(e.message)")
            }
        }
        health.withLock { $0.healthy = false }
        return WorkerUnavailable("worker \(address) is unreachable (\(Self.reason(error)))")
    }

    // MARK: WorkerService

    public func openSession(_ options: SessionOptions) async throws -> any WorkerSession {
        try await openRemote(options)
    }

    func openRemote(_ options: SessionOptions) async throws -> RemoteSession {
        var request = Tavana_Worker_V1_OpenSessionRequest()
        request.gateway = gateway.wire
        request.user = options.user
        request.setup = options.setup
        let reply: Tavana_Worker_V1_OpenSessionReply
        do {
            reply = try await stub.openSession(request, options: Self.control)
        } catch {
            throw unavailable(error)
        }
        if reply.hasFailure { throw reply.failure.error }
        sessionOpened()
        return RemoteSession(id: reply.sessionID, user: options.user, worker: self)
    }

    public func vocabulary() async throws -> EngineVocabulary {
        var request = Tavana_Worker_V1_VocabularyRequest()
        request.gateway = gateway.wire
        let reply: Tavana_Worker_V1_VocabularyReply
        do {
            reply = try await stub.vocabulary(request, options: Self.control)
        } catch {
            throw unavailable(error)
        }
        if reply.hasFailure { throw reply.failure.error }
        return reply.decoded
    }
}
