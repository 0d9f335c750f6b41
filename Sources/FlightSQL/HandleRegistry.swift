import Arrow
import DuckDB
import Foundation
import Scheduler
import Synchronization
import Worker

/// Where the rows of a ticket come from.
enum ResultSource: Sendable {
    /// A query that has started running; `DoGet` pulls it batch by batch.
    case cursor(QueryResult)
    /// Rows Tavana built itself (metadata answers).
    case batches([RecordBatch])
    /// A prepared query bound to several parameter rows: it runs once per row and the
    /// results follow one another. The first run has started; the others start in `DoGet`.
    case perParameterRow(first: QueryResult, rest: [[DuckDBValue]], statement: StatementHandle)

    /// The query that has started, if any.
    var startedCursor: QueryResult? {
        switch self {
        case .cursor(let cursor), .perParameterRow(let cursor, _, _): return cursor
        case .batches: return nil
        }
    }
}

/// A result waiting for its `DoGet`: made by `GetFlightInfo`, handed out once.
final class PendingResult: Sendable {
    let schema: Schema
    let source: ResultSource
    /// The session the result runs in, if the ticket owns it (closed after `DoGet`).
    let ownedSession: Session?
    /// The session to interrupt when the stream is cancelled.
    let session: Session?
    /// A statement the result made for itself, freed with it (when the session is not owned;
    /// an owned session frees its statements as it closes).
    let statement: StatementHandle?
    let expires: ContinuousClock.Instant

    init(schema: Schema, source: ResultSource, session: Session?, ownsSession: Bool, statement: StatementHandle? = nil, ttl: Duration) {
        self.schema = schema
        self.source = source
        self.session = session
        self.ownedSession = ownsSession ? session : nil
        self.statement = ownsSession ? nil : statement
        self.expires = .now + ttl
    }

    /// Gives back the admission slot, the statement and the session (if owned). Idempotent
    /// (a session frees a statement once).
    func release() {
        source.startedCursor?.close()
        if let statement, let session {
            Task { await session.close(statement) }
        }
        ownedSession?.close()
    }
}

/// A prepared statement a client holds a handle to. It owns its session (DuckDB connection)
/// until `ClosePreparedStatement` or until it has been idle for too long.
final class PreparedHandle: Sendable {
    let id: String
    let session: Session
    /// False when the statement was prepared inside a transaction, whose session it borrows.
    let ownsSession: Bool
    let statement: StatementHandle
    let query: String
    private struct State {
        var parameters: [[DuckDBValue]] = []
        var lastUsed: ContinuousClock.Instant = .now
    }
    private let state = Mutex(State())

    init(id: String, session: Session, ownsSession: Bool = true, statement: StatementHandle, query: String) {
        self.id = id
        self.session = session
        self.ownsSession = ownsSession
        self.statement = statement
        self.query = query
    }

    /// Parameter rows bound by the last `DoPut`.
    var parameters: [[DuckDBValue]] {
        get { state.withLock { $0.parameters } }
        set { state.withLock { $0.parameters = newValue } }
    }

    func touch() { state.withLock { $0.lastUsed = .now } }

    /// Frees the statement, and the session if the handle owns it.
    func close() {
        if ownsSession {
            session.close()
        } else {
            let session = self.session, statement = self.statement
            Task { await session.close(statement) }
        }
    }

    var lastUsed: ContinuousClock.Instant { state.withLock { $0.lastUsed } }
}

/// Tickets and prepared-statement handles, with expiry.
final class HandleRegistry: Sendable {
    private struct State {
        var pending: [String: PendingResult] = [:]
        var prepared: [String: PreparedHandle] = [:]
        /// Results a DoGet is streaming now, by ticket id (CancelFlightInfo reaches them here).
        var streaming: [String: PendingResult] = [:]
        /// Open transactions (BeginTransaction): each owns a session until EndTransaction, and
        /// remembers the connection (gRPC peer) and the user that began it.
        var transactions: [String: (session: Session, peer: String, user: String?)] = [:]
    }
    private let state = Mutex(State())
    let ticketTTL: Duration
    let preparedIdleTTL: Duration

    init(ticketTTL: Duration = .seconds(60), preparedIdleTTL: Duration = .seconds(30 * 60)) {
        self.ticketTTL = ticketTTL
        self.preparedIdleTTL = preparedIdleTTL
    }

    static func newID() -> String { UUID().uuidString.lowercased() }

    func addPending(_ result: PendingResult) -> String {
        let id = Self.newID()
        state.withLock { $0.pending[id] = result }
        return id
    }

    /// Returns a ticket taken by a `DoGet` that could not start (queue full).
    func putBack(_ id: String, _ result: PendingResult) {
        state.withLock { $0.pending[id] = result }
    }

    /// DoGet started (`result`) or finished (nil) streaming the ticket `id`.
    func setStreaming(_ id: String, _ result: PendingResult?) {
        state.withLock { $0.streaming[id] = result }
    }

    func streamingResult(_ id: String) -> PendingResult? { state.withLock { $0.streaming[id] } }

    /// Removes and returns the pending result; a ticket is good for one `DoGet`.
    func takePending(_ id: String) -> PendingResult? {
        state.withLock { $0.pending.removeValue(forKey: id) }
    }

    func addPrepared(_ handle: PreparedHandle) {
        state.withLock { $0.prepared[handle.id] = handle }
    }

    func prepared(_ id: String) -> PreparedHandle? {
        let h = state.withLock { $0.prepared[id] }
        h?.touch()
        return h
    }

    func removePrepared(_ id: String) -> PreparedHandle? {
        state.withLock { $0.prepared.removeValue(forKey: id) }
    }

    func addTransaction(_ session: Session, peer: String, user: String?) -> String {
        let id = Self.newID()
        state.withLock { $0.transactions[id] = (session, peer, user) }
        return id
    }

    func transaction(_ id: String) -> Session? { state.withLock { $0.transactions[id]?.session } }

    func removeTransaction(_ id: String) -> Session? { state.withLock { $0.transactions.removeValue(forKey: id)?.session } }

    /// The transaction `user` has open over connection `peer`, when there is exactly one.
    func soleTransaction(of peer: String, user: String?) -> String? {
        state.withLock { s in
            let ids = s.transactions.filter { $0.value.peer == peer && $0.value.user == user }.map(\.key)
            return ids.count == 1 ? ids[0] : nil
        }
    }

    /// Takes every transaction `peer` began (its connection is gone).
    func removeTransactions(of peer: String) -> [Session] {
        state.withLock { s in
            let gone = s.transactions.filter { $0.value.peer == peer }
            for id in gone.keys { s.transactions[id] = nil }
            return gone.values.map(\.session)
        }
    }

    /// Drops tickets nobody fetched and prepared statements nobody used for too long.
    func expire(now: ContinuousClock.Instant = .now) {
        let idle = preparedIdleTTL
        let (oldTickets, oldPrepared): ([PendingResult], [PreparedHandle]) = state.withLock { s in
            let t = s.pending.filter { $0.value.expires <= now }
            for k in t.keys { s.pending[k] = nil }
            let p = s.prepared.filter { $0.value.lastUsed + idle <= now }
            for k in p.keys { s.prepared[k] = nil }
            return (Array(t.values), Array(p.values))
        }
        for t in oldTickets { t.release() }
        for p in oldPrepared { p.close() }
    }

    /// Releases everything (server shutdown).
    func closeAll() {
        let (t, p, x): ([PendingResult], [PreparedHandle], [Session]) = state.withLock { s in
            defer { s.pending = [:]; s.prepared = [:]; s.transactions = [:] }
            return (Array(s.pending.values), Array(s.prepared.values), s.transactions.values.map(\.session))
        }
        for r in t { r.release() }
        for h in p { h.close() }
        for s in x { s.close() }
    }
}
