import Arrow
import DuckDB
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOPosix
import Scheduler

/// The Arrow Flight SQL front door: a gRPC server whose only service is Flight.
public final class FlightSQLServer: Sendable {
    public let host: String
    public let port: Int
    /// Whether the port speaks TLS (`grpc+tls://`).
    public let tls: Bool
    let service: FlightSQLService
    let transport: HTTP2ServerTransport.Custom<FlightListenerFactory>
    let server: GRPCServer<HTTP2ServerTransport.Custom<FlightListenerFactory>>
    let logger: Logger

    /// PEM files for TLS (`grpc+tls://`); nil serves plaintext.
    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String
        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    /// `authenticator` nil means trust (no credentials needed). Throws when the TLS files
    /// cannot be read.
    public init(
        host: String, port: Int, scheduler: Scheduler, serverVersion: String,
        authenticator: FlightAuthenticator? = nil, tls: TLSFiles? = nil, eventLoopGroup: any EventLoopGroup,
        ticketLifetime: Duration = .seconds(60), preparedStatementIdleLifetime: Duration = .seconds(30 * 60), logger: Logger
    ) throws {
        self.host = host
        self.port = port
        self.tls = tls != nil
        self.logger = logger
        self.service = FlightSQLService(
            scheduler: scheduler, tickets: TicketRegistry(ticketTTL: ticketLifetime), polls: PollRegistry(lifetime: ticketLifetime),
            leases: SessionLeases(scheduler: scheduler, statementIdleLifetime: preparedStatementIdleLifetime),
            clientSessions: ClientSessions(scheduler: scheduler, idleLifetime: preparedStatementIdleLifetime),
            serverVersion: serverVersion, logger: logger)
        var config = HTTP2ServerTransport.Custom<FlightListenerFactory>.Config.defaults
        config.rpc.maxRequestPayloadSize = 256 * 1024 * 1024
        // Large Arrow batches: HTTP/2's default 64 KiB window and 16 KiB frames would make
        // every batch wait for many window updates.
        config.http2.targetWindowSize = 16 << 20
        config.http2.maxFrameSize = 1 << 20
        // Keepalive pings from clients without calls are fine; pings during a stream are
        // answered by HTTP2PingResponder (grpc-go sends hundreds while a large result flows).
        config.connection.keepalive.clientBehavior.allowWithoutCalls = true
        config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .zero
        let factory = try FlightListenerFactory(
            host: host, port: port, tls: tls, eventLoopGroup: eventLoopGroup,
            onConnectionClosed: { [service] peer in service.connectionClosed(peer: peer) })
        self.transport = HTTP2ServerTransport.Custom(listenerFactory: factory, config: config)
        self.server = GRPCServer(
            transport: transport,
            services: [service, FlightDoGetFastPath(service: service)],
            // Authentication first: the cookie's session belongs to the authenticated user.
            interceptors: (authenticator.map { [FlightAuthInterceptor(authenticator: $0)] } ?? []) + [FlightSessionCookieInterceptor()])
    }

    /// Serves until `beginGracefulShutdown()` (or cancellation). `onListening` gets the
    /// bound port once the listener is up.
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.server.serve() }
            group.addTask {
                let address = await self.transport.listeningAddress
                onListening(address?.ipv4?.port ?? address?.ipv6?.port ?? self.port)
            }
            group.addTask {
                // Tickets nobody fetched and idle prepared statements.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    self.service.tickets.expire()
                    self.service.polls.expire()
                    self.service.leases.expire()
                    self.service.clientSessions.expire()
                }
            }
            defer {
                self.service.tickets.closeAll()
                self.service.polls.cancelAll()
                self.service.leases.closeAll()
                self.service.clientSessions.closeAll()
            }
            // The server ends first (graceful shutdown); then stop the janitor.
            try await group.next()
            try await group.next()
            group.cancelAll()
        }
    }

    public func beginGracefulShutdown() {
        server.beginGracefulShutdown()
    }
}
