import NIOCore
import NIOSSL

/// Answers SSLRequest and GSSENCRequest before anything else sees the connection: 'S' and
/// a TLS handshake when a certificate is configured, 'N' otherwise. Runs on the event loop,
/// so the TLS handler is in place before the client's ClientHello can arrive.
final class StartupNegotiationHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = FrontendMessage
    typealias InboundOut = FrontendMessage
    typealias OutboundOut = ByteBuffer

    private let tls: NIOSSLContext?
    private var negotiatedTLS = false

    init(tls: NIOSSLContext?) {
        self.tls = tls
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        switch message {
        case .sslRequest:
            if let tls, !negotiatedTLS {
                negotiatedTLS = true
                var reply = context.channel.allocator.buffer(capacity: 1)
                reply.writeInteger(UInt8(ascii: "S"))
                context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
                do {
                    try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
                } catch {
                    context.close(promise: nil)
                }
            } else {
                reply(context, "N")
            }
        case .gssEncRequest:
            reply(context, "N")
        default:
            // Startup or cancel: negotiation is over.
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
    }

    private func reply(_ context: ChannelHandlerContext, _ byte: Character) {
        var reply = context.channel.allocator.buffer(capacity: 1)
        reply.writeInteger(byte.asciiValue!)
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
    }
}
