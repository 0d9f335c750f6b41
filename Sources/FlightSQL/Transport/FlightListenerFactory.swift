import GRPCNIOTransportHTTP2
import NIOCore
import NIOPosix
import NIOSSL

/// Binds the Flight SQL port for grpc-swift's HTTP/2 transport and prepares every accepted
/// connection: TLS when configured, then `HTTP2PingResponder`, then grpc-swift's own HTTP/2 and
/// gRPC handlers; `ConnectionCloseObserver` reports the connection's end.
///
/// grpc-swift's ready-made Posix transport builds the same pipeline minus our two handlers;
/// this factory exists to slot them in (see their comments for why).
struct FlightListenerFactory: HTTP2ServerTransport.ListenerFactory {
    let host: String
    let port: Int
    let sslContext: NIOSSLContext?
    let eventLoopGroup: any EventLoopGroup
    let onConnectionClosed: @Sendable (String) -> Void

    init(
        host: String, port: Int, tls: FlightSQLServer.TLSFiles?, eventLoopGroup: any EventLoopGroup,
        onConnectionClosed: @escaping @Sendable (String) -> Void
    ) throws {
        self.host = host
        self.port = port
        self.eventLoopGroup = eventLoopGroup
        self.onConnectionClosed = onConnectionClosed
        self.sslContext = try tls.map { try NIOSSLContext(configuration: Self.tlsConfiguration($0)) }
    }

    static func tlsConfiguration(_ files: FlightSQLServer.TLSFiles) throws -> TLSConfiguration {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateChain).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKey, format: .pem)))
        // gRPC runs over HTTP/2; "grpc-exp" is what some gRPC clients offer first.
        config.applicationProtocols = ["grpc-exp", "h2"]
        return config
    }

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        let sslContext = self.sslContext
        let onConnectionClosed = self.onConnectionClosed
        let tls: HTTP2ServerTransport.ConnectionConfigurator.TLS =
            sslContext == nil ? .none : .configured(requireALPN: false)
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in listenerConfigurator.configure(channel: channel) }
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionCloseObserver(onClose: onConnectionClosed))
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(HTTP2PingResponder())
                }.flatMap {
                    connectionConfigurator.configure(channel: channel, tls: tls)
                }
            }
    }
}
