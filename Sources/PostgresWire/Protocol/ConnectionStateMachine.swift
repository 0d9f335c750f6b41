import NIOCore
import Scheduler

/// The PostgreSQL protocol rules of one connection, as a value: it takes events (a message
/// from the client, the outcome of work it asked for) and returns the actions to perform
/// (messages to send, statements to run, the connection to close). It does no I/O and knows
/// no DuckDB, so every rule is tested with plain values (`ConnectionStateMachineTests`).
///
/// Rules it owns: startup and authentication order; one Query at a time, its statements in
/// turn, several in one implicit transaction; an error in an extended-query sequence skips
/// everything up to Sync; a failed transaction block refuses all but its end (25P02), and
/// its COMMIT reports ROLLBACK; the COPY FROM STDIN sub-protocol; when ReadyForQuery goes
/// out and with which status (the session's, as last reported).
struct ConnectionStateMachine {
    typealias TransactionStatus = BackendMessage.TransactionStatus

    enum State: Equatable {
        case awaitingStartup
        case authenticating(AuthenticationStateMachine, FrontendMessage.StartupMessage)
        case openingSession(FrontendMessage.StartupMessage)
        /// Between messages, outside any sequence.
        case idle
        case simpleQuery(SimpleQuery)
        /// Inside an extended-query sequence, until Sync.
        case extended
        /// An extended-query message failed: the rest up to Sync is skipped.
        case skippingUntilSync
        /// Receiving COPY FROM STDIN data; `query` is the simple query to go on with after.
        case copyIn(query: SimpleQuery?)
        /// CopyDone or CopyFail arrived; waiting for the load to end.
        case copyEnding(query: SimpleQuery?)
        case closed
    }

    /// A Query message's statements and where it is in them.
    struct SimpleQuery: Equatable {
        enum Phase: Equatable { case beginning, running, ending }
        var remaining: [String]
        /// Several statements run in one transaction the server begins and ends itself.
        var implicitTransaction: Bool
        var phase: Phase
        /// The statement that failed, if one did (the rest are not run).
        var failed = false
    }

    enum Action: Equatable {
        case send(BackendMessage)
        case flush
        /// Open the session for this startup (authentication is over).
        case openSession(FrontendMessage.StartupMessage)
        /// Cancel the session with this key, then close (a CancelRequest connection).
        /// `forwarded`: it came from another gateway replica, so it is not passed on again.
        case cancel(processID: Int32, secretKey: Int32, forwarded: Bool = false)
        /// One statement of a simple query: prepare, describe, execute, send its rows.
        case run(String)
        case beginImplicitTransaction
        case endImplicitTransaction(commit: Bool)
        /// End a failed transaction block (the statement was COMMIT or ROLLBACK).
        case rollbackFailedTransaction
        case parse(FrontendMessage.Parse)
        case bind(FrontendMessage.Bind)
        case describe(FrontendMessage.DescribeTarget, name: String)
        case execute(portal: String, maxRows: Int32)
        case closeStatement(String)
        case closePortal(String)
        case copyData(ByteBuffer)
        case copyDone
        case copyFail(String)
        /// Sync or the end of a Query: the unnamed portal goes, and outside a transaction
        /// the portals that do not outlive one.
        case endOfSequence
        case close
    }

    enum Event: Equatable {
        case message(FrontendMessage)
        case sessionOpened(processID: Int32, secretKey: Int32, status: TransactionStatus)
        case sessionFailed(ErrorFields)
        /// The last action's work ended normally; `status` is the session's now.
        case stepCompleted(status: TransactionStatus)
        /// It failed with `error` (not yet sent); `status` is the session's now.
        case stepFailed(ErrorFields, status: TransactionStatus)
        /// A COPY FROM STDIN began (CopyInResponse was sent): data messages come next.
        case copyInStarted
    }

    private(set) var state: State = .awaitingStartup
    private(set) var transaction: TransactionStatus = .idle
    /// What each named statement and portal does to the transaction, from its SQL: Execute
    /// needs it for the failed-block rule, and the executor never tells.
    private var statementEffects: [String: StatementClassifier.TransactionEffect] = [:]
    private var portalEffects: [String: StatementClassifier.TransactionEffect] = [:]
    let credentials: CredentialStore
    /// ParameterStatus values sent after authentication, in order.
    let startupParameters: (FrontendMessage.StartupMessage) -> [(String, String)]

    init(credentials: CredentialStore, startupParameters: @escaping (FrontendMessage.StartupMessage) -> [(String, String)]) {
        self.credentials = credentials
        self.startupParameters = startupParameters
    }

    mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .message(let message): return received(message)
        case .sessionOpened(let pid, let key, let status): return sessionOpened(pid, key, status)
        case .sessionFailed(let fields): return fatal(fields)
        case .stepCompleted(let status):
            transaction = status
            return stepCompleted()
        case .stepFailed(let error, let status):
            transaction = status
            return stepFailed(error)
        case .copyInStarted:
            switch state {
            case .simpleQuery(let query): state = .copyIn(query: query)
            case .extended: state = .copyIn(query: nil)
            default: return violation("COPY started outside a statement")
            }
            return [.flush]
        }
    }

    // MARK: - Messages

    private mutating func received(_ message: FrontendMessage) -> [Action] {
        switch state {
        case .awaitingStartup: return startup(message)
        case .authenticating(let auth, let startup): return authenticating(message, auth, startup)
        case .openingSession, .closed: return []
        case .copyIn(let query): return copyIn(message, query)
        case .copyEnding, .simpleQuery:
            // The connection performs each action before reading on; nothing arrives here.
            return violation("message while a statement runs")
        case .idle, .extended, .skippingUntilSync:
            return betweenStatements(message)
        }
    }

    private mutating func startup(_ message: FrontendMessage) -> [Action] {
        switch message {
        case .cancelRequest(let pid, let key, let forwarded):
            state = .closed
            return [.cancel(processID: pid, secretKey: key, forwarded: forwarded), .close]
        case .startup(let startup):
            guard let user = startup.user, !user.isEmpty else {
                return fatal(ErrorFields(severity: "FATAL", sqlState: SQLState.invalidAuthorizationSpecification,
                                         message: "no PostgreSQL user name specified in startup packet"))
            }
            var actions: [Action] = []
            // Newer clients ask for 3.x or send protocol options ("_pq_."): say what we speak.
            let unrecognized = startup.parameters.map(\.0).filter { $0.hasPrefix("_pq_.") }
            if startup.protocolVersion & 0xFFFF > 0 || !unrecognized.isEmpty {
                // PostgreSQL sends the full version code here (3.0 = 196608).
                actions.append(.send(.negotiateProtocolVersion(newestMinor: FrontendMessageDecoder.protocolVersion3, unrecognized: unrecognized)))
            }
            var auth = AuthenticationStateMachine(configuration: credentials, user: user)
            return actions + authenticationStep(auth.start(), &auth, startup)
        default:
            return violation("expected a startup message")
        }
    }

    private mutating func authenticating(
        _ message: FrontendMessage, _ machine: AuthenticationStateMachine, _ startup: FrontendMessage.StartupMessage
    ) -> [Action] {
        guard case .password(let body) = message else {
            return violation("expected a password message during authentication")
        }
        var auth = machine
        return authenticationStep(auth.receive(body), &auth, startup)
    }

    private mutating func authenticationStep(
        _ action: AuthenticationStateMachine.Action, _ auth: inout AuthenticationStateMachine, _ startup: FrontendMessage.StartupMessage
    ) -> [Action] {
        switch action {
        case .succeed:
            state = .openingSession(startup)
            return [.openSession(startup)]
        case .fail(let fields):
            return fatal(fields)
        case .send(let kind):
            if case .saslFinal = kind {
                state = .openingSession(startup)
                return [.send(kind.message), .openSession(startup)]
            }
            state = .authenticating(auth, startup)
            return [.send(kind.message), .flush]
        }
    }

    private mutating func sessionOpened(_ pid: Int32, _ key: Int32, _ status: TransactionStatus) -> [Action] {
        guard case .openingSession(let startup) = state else { return violation("session opened twice") }
        state = .idle
        transaction = status
        return [.send(.authenticationOK)]
            + startupParameters(startup).map { .send(.parameterStatus($0.0, $0.1)) }
            + [.send(.backendKeyData(processID: pid, secretKey: key)), .send(.readyForQuery(transaction)), .flush]
    }

    private mutating func betweenStatements(_ message: FrontendMessage) -> [Action] {
        if state == .skippingUntilSync {
            switch message {
            case .sync: break
            case .terminate: return terminate()
            // A simple Query ends the skipping, as PostgreSQL does.
            case .query: state = .idle
            default: return []
            }
        }
        switch message {
        case .query(let sql):
            guard state == .idle else {
                // A Query in the middle of an extended sequence ends it (PostgreSQL discards
                // the unsynced messages' effects the same way).
                state = .idle
                return received(message)
            }
            return simpleQuery(sql)
        case .parse(let parse):
            state = .extended
            statementEffects[parse.name] = StatementClassifier.transactionEffect(parse.query)
            return [.parse(parse)]
        case .bind(let bind):
            state = .extended
            portalEffects[bind.portal] = statementEffects[bind.statement] ?? StatementClassifier.TransactionEffect.none
            return [.bind(bind)]
        case .describe(let target, let name):
            state = .extended
            return [.describe(target, name: name)]
        case .execute(let portal, let maxRows):
            state = .extended
            if transaction == .failed {
                switch portalEffects[portal] ?? .none {
                case .commit, .rollback: return [.rollbackFailedTransaction]
                default: return stepFailed(Self.inFailedTransaction)
                }
            }
            return [.execute(portal: portal, maxRows: maxRows)]
        case .close(let target, let name):
            state = .extended
            if target == .statement { statementEffects[name] = nil } else { portalEffects[name] = nil }
            return [target == .statement ? .closeStatement(name) : .closePortal(name)]
        case .sync:
            state = .idle
            portalEffects[""] = nil
            return [.endOfSequence, .send(.readyForQuery(transaction)), .flush]
        case .flush:
            return [.flush]
        case .terminate:
            return terminate()
        case .functionCall:
            return [.send(.error(ErrorFields(sqlState: SQLState.featureNotSupported, message: "the function call protocol is not supported"))),
                    .send(.readyForQuery(transaction)), .flush]
        case .copyDataBytes, .copyDone, .copyFail:
            // No COPY FROM STDIN is running: stray COPY messages are ignored, as PostgreSQL does.
            return []
        case .password:
            return violation("unexpected password message")
        case .startup, .sslRequest, .gssEncRequest, .cancelRequest:
            return violation("unexpected startup packet after startup")
        }
    }

    // MARK: - Simple query

    private mutating func simpleQuery(_ sql: String) -> [Action] {
        let statements = SQLSplitter.split(sql)
        guard !statements.isEmpty else {
            return [.endOfSequence, .send(.emptyQueryResponse), .send(.readyForQuery(transaction)), .flush]
        }
        // Several statements in one string run in one implicit transaction, as in
        // PostgreSQL, unless they manage transactions themselves.
        let implicit = statements.count > 1 && transaction == .idle
            && statements.allSatisfy { StatementClassifier.transactionEffect($0) == .none && !StatementClassifier.isSavepointCommand($0) }
        var query = SimpleQuery(remaining: statements, implicitTransaction: implicit, phase: implicit ? .beginning : .running)
        if implicit {
            state = .simpleQuery(query)
            return [.endOfSequence, .beginImplicitTransaction]
        }
        let first = query.remaining.removeFirst()
        state = .simpleQuery(query)
        return [.endOfSequence] + runOrRefuse(first)
    }

    /// In a failed block only its end runs: COMMIT and ROLLBACK end it (as ROLLBACK).
    private mutating func runOrRefuse(_ statement: String) -> [Action] {
        guard transaction == .failed else { return [.run(statement)] }
        switch StatementClassifier.transactionEffect(statement) {
        case .commit, .rollback: return [.rollbackFailedTransaction]
        default: return stepFailed(Self.inFailedTransaction)
        }
    }

    static let inFailedTransaction = ErrorFields(
        sqlState: SQLState.inFailedSQLTransaction,
        message: "current transaction is aborted, commands ignored until end of transaction block")

    private mutating func stepCompleted() -> [Action] {
        switch state {
        case .simpleQuery(var query):
            switch query.phase {
            case .beginning, .running:
                if query.remaining.isEmpty || query.failed {
                    if query.implicitTransaction && !query.failed {
                        query.phase = .ending
                        state = .simpleQuery(query)
                        return [.endImplicitTransaction(commit: true)]
                    }
                    return endOfQuery()
                }
                query.phase = .running
                let next = query.remaining.removeFirst()
                state = .simpleQuery(query)
                return runOrRefuse(next)
            case .ending:
                return endOfQuery()
            }
        case .copyEnding(let query):
            if let query {
                state = .simpleQuery(query)
                return stepCompleted()
            }
            state = .extended
            return []
        case .extended, .idle:
            return []
        default:
            return []
        }
    }

    private mutating func stepFailed(_ error: ErrorFields) -> [Action] {
        let report: [Action] = [.send(.error(error))]
        switch state {
        case .simpleQuery(var query):
            switch query.phase {
            case .beginning, .running:
                query.failed = true
                query.remaining = []
                if query.implicitTransaction {
                    query.phase = .ending
                    state = .simpleQuery(query)
                    return report + [.endImplicitTransaction(commit: false)]
                }
                state = .simpleQuery(query)
                return report + endOfQuery()
            case .ending:
                return report + endOfQuery()
            }
        case .copyIn(let query), .copyEnding(let query):
            if var query {
                query.failed = true
                query.remaining = []
                state = .simpleQuery(query)
                if query.implicitTransaction {
                    query.phase = .ending
                    state = .simpleQuery(query)
                    return report + [.endImplicitTransaction(commit: false)]
                }
                return report + endOfQuery()
            }
            state = .skippingUntilSync
            return report
        case .extended, .idle, .skippingUntilSync:
            state = .skippingUntilSync
            return report
        default:
            return report
        }
    }

    private mutating func endOfQuery() -> [Action] {
        state = .idle
        return [.endOfSequence, .send(.readyForQuery(transaction)), .flush]
    }

    // MARK: - COPY FROM STDIN

    private mutating func copyIn(_ message: FrontendMessage, _ query: SimpleQuery?) -> [Action] {
        switch message {
        case .copyDataBytes(let data): return [.copyData(data)]
        case .copyDone:
            state = .copyEnding(query: query)
            return [.copyDone]
        case .copyFail(let reason):
            state = .copyEnding(query: query)
            return [.copyFail(reason)]
        // Flush and Sync are allowed (and ignored) while COPY data flows.
        case .flush, .sync: return []
        case .terminate: return terminate()
        default: return violation("unexpected message during COPY FROM STDIN")
        }
    }

    // MARK: - Ending

    private mutating func terminate() -> [Action] {
        state = .closed
        return [.close]
    }

    private mutating func fatal(_ fields: ErrorFields) -> [Action] {
        state = .closed
        return [.send(.error(fields)), .flush, .close]
    }

    private mutating func violation(_ message: String) -> [Action] {
        fatal(ErrorFields(severity: "FATAL", sqlState: SQLState.protocolViolation, message: message))
    }
}
