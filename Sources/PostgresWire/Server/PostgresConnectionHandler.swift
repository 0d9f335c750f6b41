import Arrow
import DuckDB
import Logging
import NIOCore
import Scheduler
import Worker

/// One client connection, from StartupMessage to Terminate. Each message goes to the
/// protocol state machine (`ConnectionStateMachine`); this class only performs the actions
/// it returns (sending, opening the session, running statements through the executor) and
/// feeds their outcomes back to it.
final class PostgresConnectionHandler {
    typealias Inbound = NIOAsyncChannelInboundStream<FrontendMessage>
    typealias Outbound = NIOAsyncChannelOutboundWriter<ByteBuffer>

    let context: PostgresServerContext
    let channel: any Channel
    var logger: Logger
    var machine: ConnectionStateMachine
    var session: Session?
    var executor: StatementExecutor?
    /// Built once per connection: it is consulted for every statement.
    let compatibility: Compatibility
    /// Whether this connection holds one of the server's session places.
    var countedSession = false
    /// Closes the connection unless it authenticates in time (cancelled when it does).
    var authenticationDeadline: Task<Void, any Error>?

    init(context: PostgresServerContext, channel: any Channel) {
        self.context = context
        self.channel = channel
        self.logger = context.logger
        let compatibility = Compatibility(serverVersion: context.serverVersion, tavanaVersion: TavanaBuild.version)
        self.compatibility = compatibility
        let serverVersion = context.serverVersion
        machine = ConnectionStateMachine(credentials: context.authentication) { startup in
            let application = startup.parameters.first { $0.0 == "application_name" }?.1 ?? ""
            return [
                ("server_version", serverVersion), ("server_encoding", "UTF8"), ("client_encoding", "UTF8"),
                ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"), ("integer_datetimes", "on"),
                ("standard_conforming_strings", "on"), ("IntervalStyle", "postgres"),
                ("application_name", application), ("is_superuser", "off"),
                ("session_authorization", startup.user ?? ""),
            ]
        }
        logger[metadataKey: "peer"] = "\(channel.remoteAddress.map { "\($0)" } ?? "?")"
    }

    func run(inbound stream: Inbound, outbound: Outbound) async {
        var onWrite: (@Sendable (Int) -> Void)?
        if let observer = context.scheduler.observer { onWrite = { observer.sent(door: .postgres, bytes: $0) } }
        let writer = MessageWriter(
            outbound: outbound, allocator: channel.allocator, flushThreshold: context.flushThreshold, onWrite: onWrite)
        // A client that has not authenticated within the timeout is disconnected: until then
        // it holds buffers and a place among the connections without being anyone.
        let channel = self.channel
        let timeout = context.authenticationTimeout
        let logger = self.logger
        authenticationDeadline = Task {
            try await Task.sleep(for: timeout)
            logger.info("closing connection: authentication timeout", metadata: ["timeout": "\(timeout)"])
            channel.close(promise: nil)
        }
        let drain = context.drain
        let drainID = drain.register(channel)
        defer { drain.unregister(drainID) }
        var drained = drain.isDraining
        do {
            if !drained {
                for try await message in stream {
                    _ = drain.setIdle(drainID, false)
                    guard try await perform(machine.handle(.message(message)), writer) else { break }
                    // Between statements (ReadyForQuery sent): a drain ends the connection
                    // here; otherwise it waits for the client, and a drain that begins
                    // meanwhile stops its reading.
                    if machine.state == .idle, drain.setIdle(drainID, true) {
                        drained = true
                        break
                    }
                }
            }
        } catch let violation as ProtocolViolation {
            // The decoder could not make a message of the bytes: PostgreSQL answers FATAL and closes.
            logger.info("closing connection after protocol violation", metadata: ["error": "\(violation.message)"])
            writer.send(.error(ErrorFields(severity: "FATAL", sqlState: violation.sqlState, message: violation.message)))
            try? await writer.flush()
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
        // Ended by a drain (here, or by the drain closing its input while it waited): the
        // client is told why, as PostgreSQL tells it.
        if drained || drain.isDraining, channel.isActive {
            logger.info("closing connection: server shutting down")
            writer.send(.error(ErrorFields(
                severity: "FATAL", sqlState: SQLState.adminShutdown, message: "terminating connection due to administrator command")))
            try? await writer.flush()
        }
        authenticationDeadline?.cancel()
        await finish()
    }

    /// Performs actions (and those the outcomes lead to) in order; false once the
    /// connection is to close.
    private func perform(_ first: [ConnectionStateMachine.Action], _ writer: MessageWriter) async throws -> Bool {
        var actions = first[...]
        while let action = actions.popFirst() {
            if channel.isActive == false { return false }
            switch action {
            case .send(let message):
                if case .error(let fields) = message, fields.severity == "FATAL" {
                    logger.info("closing connection", metadata: ["sqlstate": "\(fields.sqlState)", "error": "\(fields.message)"])
                }
                writer.send(message)
            case .flush:
                try await writer.flush()
            case .close:
                try? await writer.flush()
                return false
            case .cancel(let pid, let key, let forwarded):
                let matched = context.scheduler.sessions.cancel(processID: pid, secretKey: key)
                logger.info("cancel request", metadata: ["pid": "\(pid)", "matched": "\(matched)", "forwarded": "\(forwarded)"])
                // Behind a load balancer the cancel connection may reach another replica than
                // the one holding the session: pass it on (once; the owner does not forward).
                if !matched, !forwarded, let forwarder = context.cancelForwarder {
                    await forwarder.forward(processID: pid, secretKey: key)
                }
            case .openSession(let startup):
                actions += machine.handle(await openSession(startup, writer))
            default:
                guard let executor else { return false }
                if let event = await perform(action, on: executor) {
                    actions += machine.handle(event)
                }
            }
            try await writer.flushIfFull()
        }
        return true
    }

    /// A statement action, performed by the executor.
    private func perform(_ action: ConnectionStateMachine.Action, on executor: StatementExecutor) async -> ConnectionStateMachine.Event? {
        switch action {
        case .run(let statement): return await executor.runSimple(statement)
        case .beginImplicitTransaction: return await executor.beginImplicitTransaction()
        case .endImplicitTransaction(let commit): return await executor.endImplicitTransaction(commit: commit)
        case .rollbackFailedTransaction: return await executor.rollbackFailedTransaction()
        case .parse(let parse): return await executor.parse(parse)
        case .bind(let bind): return await executor.bind(bind)
        case .describe(let target, let name): return await executor.describe(target, name)
        case .execute(let portal, let maxRows): return await executor.execute(portal: portal, maxRows: maxRows)
        case .closeStatement(let name): return await executor.closeStatement(name)
        case .closePortal(let name): return await executor.closePortal(name)
        case .copyData(let data): return await executor.copyData(data)
        case .copyDone: return await executor.copyDone()
        case .copyFail(let reason): return await executor.copyFail(reason)
        case .endOfSequence:
            await executor.endOfSequence()
            return nil
        case .send, .flush, .close, .cancel, .openSession:
            return nil
        }
    }

    // MARK: - Session

    private func openSession(_ startup: FrontendMessage.StartupMessage, _ writer: MessageWriter) async -> ConnectionStateMachine.Event {
        guard context.sessions.enter(limit: context.maxConnections) else {
            logger.warning("refusing connection: too many clients", metadata: ["limit": "\(context.maxConnections)"])
            return .sessionFailed(ErrorFields(severity: "FATAL", sqlState: SQLState.tooManyConnections, message: "sorry, too many clients already"))
        }
        countedSession = true
        let user = startup.user ?? ""
        logger[metadataKey: "user"] = "\(user)"
        let session: Session
        do {
            session = try await context.scheduler.openSession(user: user, setup: compatibility.sessionSetup, door: .postgres)
        } catch let error as WorkerUnavailable {
            logger.warning("could not open a session", metadata: ["error": "\(error.message)"])
            return .sessionFailed(ErrorFields(severity: "FATAL", sqlState: SQLState.cannotConnectNow, message: "could not open a session: \(error.message)"))
        } catch {
            return .sessionFailed(ErrorFields(severity: "FATAL", sqlState: SQLState.tooManyConnections, message: "could not open a session: \(error)"))
        }
        self.session = session
        authenticationDeadline?.cancel()
        channel.closeFuture.whenComplete { _ in session.cancel() }
        executor = StatementExecutor(session: session, compatibility: compatibility, writer: writer, maxLineBytes: context.maxMessageSize)
        logger[metadataKey: "pid"] = "\(session.processID)"
        logger.info("session started", metadata: ["database": "\(startup.database ?? "")"])
        return .sessionOpened(processID: session.processID, secretKey: session.secretKey, status: .idle)
    }

    private func finish() async {
        await executor?.closeAll()
        executor = nil
        session?.close()
        session = nil
        if countedSession {
            countedSession = false
            context.sessions.leave()
        }
    }
}
