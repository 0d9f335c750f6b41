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

/// Tickets waiting for their DoGet, and those being streamed, with expiry. (Transactions
/// and prepared statements are sessions the Scheduler's `SessionLeases` hold.)
final class TicketRegistry: Sendable {
    private struct State {
        var pending: [String: PendingResult] = [:]
        /// Results a DoGet is streaming now, by ticket id (CancelFlightInfo reaches them here).
        var streaming: [String: PendingResult] = [:]
    }
    private let state = Mutex(State())
    let ticketTTL: Duration

    init(ticketTTL: Duration = .seconds(60)) {
        self.ticketTTL = ticketTTL
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

    /// Drops tickets nobody fetched in time.
    func expire(now: ContinuousClock.Instant = .now) {
        let old: [PendingResult] = state.withLock { s in
            let t = s.pending.filter { $0.value.expires <= now }
            for k in t.keys { s.pending[k] = nil }
            return Array(t.values)
        }
        for t in old { t.release() }
    }

    /// Releases every ticket (server shutdown).
    func closeAll() {
        let t: [PendingResult] = state.withLock { s in
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        for r in t { r.release() }
    }
}
