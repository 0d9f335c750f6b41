import Arrow
import DuckDB
import Logging
import NIOCore
import Scheduler

/// One client connection, from StartupMessage to Terminate. Messages are handled one at a
/// time, in order; replies are collected in `out` and written when the protocol says the
/// client is waiting (ReadyForQuery, Flush, a full buffer). Writes suspend while the socket
/// is full, and the next batch is only pulled from DuckDB after that: backpressure.
final class PostgresConnection {
    typealias Inbound = NIOAsyncChannelInboundStream<FrontendMessage>
    typealias Outbound = NIOAsyncChannelOutboundWriter<ByteBuffer>

    let context: PostgresServerContext
    let channel: any Channel
    var logger: Logger
    var out: ByteBuffer
    var session: Session?
    var extended = ExtendedQueryState()
    var transaction: BackendMessage.TransactionStatus = .idle
    /// After an error in an extended-query sequence, messages are skipped until Sync.
    var skippingUntilSync = false
    /// statement_timeout in milliseconds; 0 is none.
    var statementTimeout = 0
    let flushThreshold = 256 << 10
    /// Built once per connection: it is consulted for every statement.
    let compatibility: Compatibility

    init(context: PostgresServerContext, channel: any Channel) {
        self.context = context
        self.channel = channel
        self.logger = context.logger
        self.compatibility = Compatibility(serverVersion: context.serverVersion, tavanaVersion: TavanaBuild.version)
        self.out = channel.allocator.buffer(capacity: 4096)
        logger[metadataKey: "peer"] = "\(channel.remoteAddress.map { "\($0)" } ?? "?")"
    }

    /// The inbound message stream; COPY FROM STDIN reads its data from here mid-statement.
    var inbound: Inbound.AsyncIterator?

    func nextMessage() async throws -> FrontendMessage? {
        try await inbound?.next()
    }

    /// Whether this connection holds one of the server's session places.
    var countedSession = false

    func run(inbound stream: Inbound, outbound: Outbound) async {
        inbound = stream.makeAsyncIterator()
        // A client that has not authenticated within the timeout is disconnected: until then
        // it holds buffers and a place among the connections without being anyone.
        let channel = self.channel
        let timeout = context.authenticationTimeout
        let logger = self.logger
        let deadline = Task {
            try await Task.sleep(for: timeout)
            logger.info("closing connection: authentication timeout", metadata: ["timeout": "\(timeout)"])
            channel.close(promise: nil)
        }
        do {
            guard var iterator = inbound else { return }
            let started = try await startup(&iterator, outbound)
            deadline.cancel()
            inbound = iterator
            guard started else { finish(); return }
            while let message = try await nextMessage() {
                if try await handle(message, outbound) == false { break }
            }
        } catch let violation as ProtocolViolation {
            logger.info("closing connection after protocol violation", metadata: ["error": "\(violation.message)"])
            out.writeBackendMessage(.error(ErrorFields(severity: "FATAL", sqlState: violation.sqlState, message: violation.message)))
            try? await flush(outbound)
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
        deadline.cancel()
        finish()
    }

    func finish() {
        extended.closeAll()
        session?.close()
        session = nil
        if countedSession {
            countedSession = false
            context.sessions.leave()
        }
    }

    // MARK: - Startup and authentication

    private func startup(_ iterator: inout Inbound.AsyncIterator, _ outbound: Outbound) async throws -> Bool {
        guard let first = try await iterator.next() else { return false }
        switch first {
        case .cancelRequest(let pid, let key):
            let matched = context.scheduler.sessions.cancel(processID: pid, secretKey: key)
            logger.info("cancel request", metadata: ["pid": "\(pid)", "matched": "\(matched)"])
            return false
        case .startup(let startup):
            guard context.sessions.enter(limit: context.maxConnections) else {
                logger.warning("refusing connection: too many clients", metadata: ["limit": "\(context.maxConnections)"])
                try await fatal(outbound, SQLState.tooManyConnections, "sorry, too many clients already")
                return false
            }
            countedSession = true
            guard let user = startup.user, !user.isEmpty else {
                try await fatal(outbound, SQLState.invalidAuthorizationSpecification, "no PostgreSQL user name specified in startup packet")
                return false
            }
            logger[metadataKey: "user"] = "\(user)"
            // Newer clients ask for 3.x or send protocol options ("_pq_."): say what we speak.
            let unrecognized = startup.parameters.map(\.0).filter { $0.hasPrefix("_pq_.") }
            if startup.protocolVersion & 0xFFFF > 0 || !unrecognized.isEmpty {
                // PostgreSQL sends the full version code here (3.0 = 196608), whatever the docs' wording.
                out.writeBackendMessage(.negotiateProtocolVersion(newestMinor: FrontendMessageDecoder.protocolVersion3, unrecognized: unrecognized))
            }
            var auth = AuthenticationStateMachine(configuration: context.authentication, user: user)
            var action = auth.start()
            while true {
                switch action {
                case .succeed:
                    return try await completeStartup(startup, outbound)
                case .fail(let fields):
                    logger.info("authentication failed")
                    out.writeBackendMessage(.error(fields))
                    try await flush(outbound)
                    return false
                case .send(let kind):
                    out.writeBackendMessage(kind.message)
                    try await flush(outbound)
                    if case .saslFinal = kind {
                        action = .succeed
                        continue
                    }
                    guard let next = try await iterator.next() else { return false }
                    guard case .password(let body) = next else {
                        throw ProtocolViolation("expected a password message during authentication")
                    }
                    action = auth.receive(body)
                }
            }
        default:
            throw ProtocolViolation("expected a startup message")
        }
    }

    private func completeStartup(_ startup: FrontendMessage.StartupMessage, _ outbound: Outbound) async throws -> Bool {
        let session: Session
        do {
            session = try await context.scheduler.openSession(user: startup.user ?? "")
        } catch {
            try await fatal(outbound, SQLState.tooManyConnections, "could not open a session: \(error)")
            return false
        }
        self.session = session
        channel.closeFuture.whenComplete { _ in session.cancel() }
        let setup = compatibility.sessionSetup
        try await session.run { connection in
            for statement in setup { try connection.execute(statement) }
        }
        out.writeBackendMessage(.authenticationOK)
        let application = startup.parameters.first { $0.0 == "application_name" }?.1 ?? ""
        for (k, v) in [
            ("server_version", context.serverVersion), ("server_encoding", "UTF8"), ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"), ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"), ("IntervalStyle", "postgres"),
            ("application_name", application), ("is_superuser", "off"),
            ("session_authorization", startup.user ?? ""),
        ] {
            out.writeBackendMessage(.parameterStatus(k, v))
        }
        out.writeBackendMessage(.backendKeyData(processID: session.processID, secretKey: session.secretKey))
        out.writeBackendMessage(.readyForQuery(.idle))
        try await flush(outbound)
        logger[metadataKey: "pid"] = "\(session.processID)"
        logger.info("session started", metadata: ["database": "\(startup.database ?? "")"])
        return true
    }

    private func fatal(_ outbound: Outbound, _ state: String, _ message: String) async throws {
        out.writeBackendMessage(.error(ErrorFields(severity: "FATAL", sqlState: state, message: message)))
        try await flush(outbound)
    }

    // MARK: - Messages

    /// Returns false when the connection should close.
    private func handle(_ message: FrontendMessage, _ outbound: Outbound) async throws -> Bool {
        if skippingUntilSync {
            switch message {
            case .sync:
                skippingUntilSync = false
            case .terminate:
                return false
            case .query:
                skippingUntilSync = false
            default:
                return true
            }
        }
        switch message {
        case .query(let sql):
            extended.closeUnnamedPortal()
            await simpleQuery(sql, outbound)
            if transaction == .idle { extended.closeTransactionPortals() }
            out.writeBackendMessage(.readyForQuery(transaction))
            try await flush(outbound)
        case .parse(let parse):
            await extendedStep(outbound) { try await self.parse(parse) }
        case .bind(let bind):
            await extendedStep(outbound) { try await self.bind(bind) }
        case .describe(let target, let name):
            await extendedStep(outbound) { try await self.describe(target, name) }
        case .execute(let portal, let maxRows):
            await extendedStep(outbound) { try await self.execute(portal: portal, maxRows: Int(maxRows), outbound) }
        case .close(let target, let name):
            if target == .statement { extended.closeStatement(name) } else { extended.closePortal(name) }
            out.writeBackendMessage(.closeComplete)
        case .sync:
            extended.closeUnnamedPortal()
            if transaction == .idle { extended.closeTransactionPortals() }
            out.writeBackendMessage(.readyForQuery(transaction))
            try await flush(outbound)
        case .flush:
            try await flush(outbound)
        case .terminate:
            return false
        case .password:
            throw ProtocolViolation("unexpected password message")
        case .startup, .sslRequest, .gssEncRequest, .cancelRequest:
            throw ProtocolViolation("unexpected startup packet after startup")
        case .copyDataBytes, .copyDone, .copyFail:
            // COPY FROM STDIN is never started, so stray COPY messages are ignored, as PostgreSQL does.
            return true
        case .functionCall:
            out.writeBackendMessage(.error(ErrorFields(sqlState: SQLState.featureNotSupported, message: "the function call protocol is not supported")))
            out.writeBackendMessage(.readyForQuery(transaction))
            try await flush(outbound)
        }
        if out.readableBytes >= flushThreshold { try await flush(outbound) }
        return true
    }

    /// Runs one extended-query step; an error is reported once and the rest of the
    /// sequence up to Sync is skipped, as the protocol requires.
    private func extendedStep(_ outbound: Outbound, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            if error is CancellationError || channel.isActive == false { return }
            report(error, sql: nil)
            skippingUntilSync = true
        }
    }

    func report(_ error: any Error, sql: String?) {
        let fields = ErrorTranslation.fields(for: error, sql: sql)
        if fields.sqlState != SQLState.queryCanceled {
            logger.debug("statement failed", metadata: ["sqlstate": "\(fields.sqlState)", "message": "\(fields.message)"])
        }
        out.writeBackendMessage(.error(fields))
        if transaction == .inTransaction { transaction = .failed }
    }

    func flush(_ outbound: Outbound) async throws {
        guard out.readableBytes > 0 else { return }
        let buffer = out
        out = channel.allocator.buffer(capacity: 4096)
        try await outbound.write(buffer)
    }
}
