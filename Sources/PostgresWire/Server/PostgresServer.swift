import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The PostgreSQL front door: accepts connections and runs each in a task of its own.
public final class PostgresServer: Sendable {
    public let context: PostgresServerContext
    let host: String
    let port: Int
    let tls: NIOSSLContext?
    let group: any EventLoopGroup

    public init(host: String, port: Int, tls: NIOSSLContext?, context: PostgresServerContext, group: any EventLoopGroup) {
        self.host = host
        self.port = port
        self.tls = tls
        self.context = context
        self.group = group
    }

    /// Binds and returns the listening channel; `serve` then accepts until cancelled.
    public func bind() async throws -> BoundPostgresServer {
        let context = self.context
        let tls = self.tls
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A TCP-level option: at the socket level, option 1 is SO_DEBUG, which a process
            // that is not root may not set (the connection, and the server with it, failed).
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrontendMessageDecoder(maxMessageSize: context.maxMessageSize)))
                    try channel.pipeline.syncOperations.addHandler(StartupNegotiationHandler(tls: tls))
                    return try NIOAsyncChannel<FrontendMessage, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return BoundPostgresServer(server: server, context: context)
    }
}

public struct BoundPostgresServer: Sendable {
    let server: NIOAsyncChannel<NIOAsyncChannel<FrontendMessage, ByteBuffer>, Never>
    let context: PostgresServerContext

    public var port: Int? { server.channel.localAddress?.port }

    /// Stops accepting connections and drains the open ones (`ConnectionDrain`): `serve`
    /// returns once the last has ended, or `grace` after this call, when the rest are closed.
    public func beginGracefulShutdown(grace: Duration) {
        server.channel.close(promise: nil)
        let drain = context.drain
        drain.begin()
        Task {
            try await Task.sleep(for: grace)
            if drain.open > 0 { drain.closeAll() }
        }
    }

    /// Accepts connections until the surrounding task is cancelled or a graceful shutdown
    /// has drained them.
    public func serve() async throws {
        let context = self.context
        try await withTaskCancellationHandler {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask {
                            await Self.handle(connection, context)
                        }
                    }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    static func handle(_ connection: NIOAsyncChannel<FrontendMessage, ByteBuffer>, _ context: PostgresServerContext) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                let handler = PostgresConnectionHandler(context: context, channel: connection.channel)
                await handler.run(inbound: inbound, outbound: outbound)
            }
        } catch {
            context.logger.debug("connection closed with error", metadata: ["error": "\(error)"])
        }
    }
}
