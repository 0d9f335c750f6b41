import Logging
import NIOCore
import NIOPosix

/// Passes a CancelRequest this gateway could not match to the other gateway replicas.
///
/// Behind a load balancer a client's cancel connection is a new TCP connection, and it may
/// land on any replica. The one holding the session cancels; the others, given the request
/// marked as forwarded, only look it up and never pass it on, so a cancel travels at most
/// one hop and cannot loop. The request carries the same key, so a forwarded cancel can do
/// nothing a client's own could not. Each peer gets it at once; one that does not answer
/// within the connect timeout is skipped (a cancel is best effort, as in PostgreSQL).
public final class CancelForwarder: Sendable {
    /// A replica's PostgreSQL address.
    public typealias Peer = (host: String, port: Int)

    let peers: @Sendable () async -> [Peer]
    let group: any EventLoopGroup
    let connectTimeout: TimeAmount
    let logger: Logger

    /// `peers` is asked at each cancel (a DNS name's addresses change as replicas come and go);
    /// it may include this gateway itself, which then only finds no session.
    public init(peers: @escaping @Sendable () async -> [Peer], group: any EventLoopGroup,
                connectTimeout: TimeAmount = .seconds(2), logger: Logger) {
        self.peers = peers
        self.group = group
        self.connectTimeout = connectTimeout
        self.logger = logger
    }

    /// The request bytes: length 16, the forwarded-cancel code, the key.
    static func request(processID: Int32, secretKey: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for value in [Int32(16), FrontendMessageDecoder.forwardedCancelRequestCode, processID, secretKey] {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// Sends the request to every peer; returns how many took it.
    @discardableResult
    public func forward(processID: Int32, secretKey: Int32) async -> Int {
        let targets = await peers()
        guard !targets.isEmpty else { return 0 }
        let bytes = Self.request(processID: processID, secretKey: secretKey)
        let delivered = await withTaskGroup(of: Bool.self) { tasks in
            for peer in targets {
                tasks.addTask { await self.send(bytes, to: peer) }
            }
            var n = 0
            for await ok in tasks where ok { n += 1 }
            return n
        }
        logger.info("cancel request forwarded", metadata: [
            "pid": "\(processID)", "peers": "\(targets.map(Self.describe).joined(separator: ","))", "delivered": "\(delivered)",
        ])
        return delivered
    }

    static func describe(_ peer: Peer) -> String {
        peer.host.contains(":") ? "[\(peer.host)]:\(peer.port)" : "\(peer.host):\(peer.port)"
    }

    private func send(_ bytes: [UInt8], to peer: Peer) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                // A TCP-level option: at the socket level, option 1 is SO_DEBUG, which a process
                // that is not root may not set (the connection, and the server with it, failed).
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: peer.host, port: peer.port).get()
            defer { channel.close(promise: nil) }
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            try await channel.writeAndFlush(buffer).get()
            // The peer closes once it has acted on the request; waiting for that keeps the
            // client's cancel from returning before the query is interrupted. A peer that
            // keeps the connection open is left after the connect timeout.
            let giveUp = channel.eventLoop.scheduleTask(in: connectTimeout) { channel.close(promise: nil) }
            try await channel.closeFuture.get()
            giveUp.cancel()
            return true
        } catch {
            logger.warning("cancel request not forwarded", metadata: ["peer": "\(Self.describe(peer))", "error": "\(error)"])
            return false
        }
    }
}
