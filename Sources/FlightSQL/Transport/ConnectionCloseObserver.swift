import NIOCore

/// Tells the Flight service when a client connection closes, naming it the way grpc-swift
/// names the peer in every call's `ServerContext.remotePeer` ("ipv4:127.0.0.1:50123"), so
/// that state a connection owns (its open transactions) can be released with it.
final class ConnectionCloseObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let onClose: @Sendable (String) -> Void
    private var peer: String?

    init(onClose: @escaping @Sendable (String) -> Void) {
        self.onClose = onClose
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { peer = Self.peerName(context.channel.remoteAddress) }
    }

    func channelActive(context: ChannelHandlerContext) {
        peer = Self.peerName(context.channel.remoteAddress)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let peer { onClose(peer) }
        peer = nil
        context.fireChannelInactive()
    }

    /// grpc-swift's peer format (checked end to end by the client test that disconnects in
    /// the middle of a transaction).
    static func peerName(_ address: SocketAddress?) -> String? {
        switch address {
        case .v4(let v4)?: return "ipv4:\(v4.host):\(address!.port!)"
        case .v6(let v6)?: return "ipv6:[\(v6.host)]:\(address!.port!)"
        case .unixDomainSocket?: return address!.pathname.map { "unix:\($0)" }
        case nil: return nil
        }
    }
}
