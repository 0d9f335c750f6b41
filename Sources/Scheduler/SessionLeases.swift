import DuckDB
import Foundation
import Synchronization
import Worker

/// Who holds a lease: the client connection it came over and the user who took it. A front
/// door without sessions of its own (Flight: every call stands alone) names its client this
/// way; a lease is found only by its owner.
public struct LeaseOwner: Sendable, Hashable {
    /// The transport's name for the client connection (a gRPC peer).
    public var peer: String
    public var user: String

    public init(peer: String, user: String) {
        self.peer = peer
        self.user = user
    }
}

/// A prepared statement a client holds by id. It owns its session until it is closed or
/// idles too long, unless it was prepared inside a transaction, whose session it borrows.
public final class StatementLease: Sendable {
    public let id: String
    public let session: Session
    public let statement: StatementHandle
    public let query: String
    public let owner: LeaseOwner
    let ownsSession: Bool
    private struct State {
        var parameterRows: [[DuckDBValue]] = []
        var lastUsed: ContinuousClock.Instant
    }
    private let state: Mutex<State>

    init(id: String, session: Session, statement: StatementHandle, query: String, owner: LeaseOwner, ownsSession: Bool,
         now: ContinuousClock.Instant) {
        self.id = id
        self.session = session
        self.statement = statement
        self.query = query
        self.owner = owner
        self.ownsSession = ownsSession
        self.state = Mutex(State(lastUsed: now))
    }

    /// Parameter rows bound for the next executions (Flight binds them by DoPut before the
    /// query's GetFlightInfo runs it once per row).
    public var parameterRows: [[DuckDBValue]] {
        get { state.withLock { $0.parameterRows } }
        set { state.withLock { $0.parameterRows = newValue } }
    }

    var lastUsed: ContinuousClock.Instant { state.withLock { $0.lastUsed } }
    func touch(_ now: ContinuousClock.Instant) { state.withLock { $0.lastUsed = now } }

    /// Frees the statement, and the session when the lease owns it.
    func release() {
        if ownsSession {
            session.close()
        } else {
            let session = self.session, statement = self.statement
            Task { await session.close(statement) }
        }
    }
}

/// The sessions clients hold by id rather than by connection: open transactions and
/// prepared statements. This is where the rule for which session a call runs in lives, so
/// that every front door (and the cluster's gateway, which pins these sessions to a worker)
/// follows the same one:
/// - a call naming a transaction runs in that transaction's session;
/// - a call naming a prepared statement runs in the statement's session;
/// - any other call gets a fresh session of its own, closed when its result is done.
/// A transaction ends with commit or rollback, or is rolled back when its owner's
/// connection goes; a statement ends when it is closed or has been idle for
/// `statementIdleLifetime`. Ids are random (122 bits) and checked against the caller, so
/// one user cannot reach another's session by guessing or replaying an id.
public final class SessionLeases: Sendable {
    private struct Transaction {
        let session: Session
        let owner: LeaseOwner
        /// False when it runs in a client's session (ClientSessions), which outlives it.
        var ownsSession = true
    }
    private struct State {
        var transactions: [String: Transaction] = [:]
        var statements: [String: StatementLease] = [:]
    }
    private let state = Mutex(State())
    private let scheduler: Scheduler
    /// The front door whose clients hold these leases (for metrics).
    let door: FrontDoor
    public let statementIdleLifetime: Duration

    public init(scheduler: Scheduler, statementIdleLifetime: Duration, door: FrontDoor = .flight) {
        self.scheduler = scheduler
        self.statementIdleLifetime = statementIdleLifetime
        self.door = door
    }

    static func newID() -> String { UUID().uuidString.lowercased() }

    static let unknownTransaction = QueryError(.unknownHandle, "unknown or finished transaction")
    static let unknownStatement = QueryError(.unknownHandle, "unknown or closed prepared statement handle")

    // MARK: Transactions

    /// Begins a transaction in the client's session `borrowed`, or in a new session the
    /// transaction owns; returns the transaction's id.
    public func beginTransaction(owner: LeaseOwner, in borrowed: Session? = nil) async throws -> String {
        let session: Session
        if let borrowed { session = borrowed } else { session = try await scheduler.openSession(user: owner.user, door: door) }
        do {
            try await session.beginTransaction()
        } catch {
            if borrowed == nil { session.close() }
            throw error
        }
        let id = Self.newID()
        state.withLock { $0.transactions[id] = Transaction(session: session, owner: owner, ownsSession: borrowed == nil) }
        return id
    }

    /// The session of the caller's open transaction `id`.
    public func transactionSession(_ id: String, owner: LeaseOwner) throws -> Session {
        guard let t = state.withLock({ $0.transactions[id] }), t.owner.user == owner.user else {
            throw Self.unknownTransaction
        }
        return t.session
    }

    /// Commits or rolls back the caller's transaction `id` and closes its session.
    public func endTransaction(_ id: String, commit: Bool, owner: LeaseOwner) async throws {
        let taken = state.withLock { s -> Transaction? in
            guard let t = s.transactions[id], t.owner.user == owner.user else { return nil }
            s.transactions[id] = nil
            return t
        }
        guard let taken else { throw Self.unknownTransaction }
        let session = taken.session
        defer { if taken.ownsSession { session.close() } }
        if commit { try await session.commit() } else { try await session.rollback() }
    }

    /// The id of the transaction the caller has open over its connection, when it has
    /// exactly one (for clients that do not say which: an ingest inside a transaction).
    public func soleTransaction(of owner: LeaseOwner) -> String? {
        state.withLock { s in
            let ids = s.transactions.filter { $0.value.owner == owner }.map(\.key)
            return ids.count == 1 ? ids[0] : nil
        }
    }

    /// A client connection closed: the transactions begun over it are rolled back, as a
    /// PostgreSQL server does when a client goes away mid-transaction. Returns how many.
    @discardableResult
    public func connectionClosed(peer: String) -> Int {
        let orphans = state.withLock { s -> [Transaction] in
            let gone = s.transactions.filter { $0.value.owner.peer == peer }
            for id in gone.keys { s.transactions[id] = nil }
            return Array(gone.values)
        }
        for orphan in orphans {
            Task {
                defer { if orphan.ownsSession { orphan.session.close() } }
                try? await orphan.session.rollback()
            }
        }
        return orphans.count
    }

    // MARK: Prepared statements

    /// Prepares `sql` in the caller's transaction `transaction`, else in the client's session
    /// `clientSession`, else in a new session the statement owns, and leases it to the caller.
    public func prepare(_ sql: String, inTransaction transaction: String?, owner: LeaseOwner,
                        clientSession: Session? = nil, now: ContinuousClock.Instant = .now) async throws -> StatementLease {
        let borrowed = try transaction.map { try transactionSession($0, owner: owner) } ?? clientSession
        let session: Session
        if let borrowed { session = borrowed } else { session = try await scheduler.openSession(user: owner.user, door: door) }
        do {
            let statement = try await session.prepare(sql)
            let lease = StatementLease(id: Self.newID(), session: session, statement: statement, query: sql, owner: owner,
                                       ownsSession: borrowed == nil, now: now)
            state.withLock { $0.statements[lease.id] = lease }
            return lease
        } catch {
            if borrowed == nil { session.close() }
            throw error
        }
    }

    /// The caller's prepared statement `id`; using it keeps it from idling out.
    public func statement(_ id: String, owner: LeaseOwner, now: ContinuousClock.Instant = .now) throws -> StatementLease {
        guard let lease = state.withLock({ $0.statements[id] }), lease.owner.user == owner.user else {
            throw Self.unknownStatement
        }
        lease.touch(now)
        return lease
    }

    /// Frees the caller's prepared statement `id`. Closing an unknown id does nothing (a
    /// client may close what already idled out).
    public func closeStatement(_ id: String, owner: LeaseOwner) {
        let lease = state.withLock { s -> StatementLease? in
            guard let lease = s.statements[id], lease.owner.user == owner.user else { return nil }
            s.statements[id] = nil
            return lease
        }
        lease?.release()
    }

    // MARK: Housekeeping

    /// Frees statements idle for longer than `statementIdleLifetime`; returns how many.
    @discardableResult
    public func expire(now: ContinuousClock.Instant = .now) -> Int {
        let idle = statementIdleLifetime
        let old = state.withLock { s -> [StatementLease] in
            let old = s.statements.values.filter { $0.lastUsed + idle <= now }
            for lease in old { s.statements[lease.id] = nil }
            return old
        }
        for lease in old { lease.release() }
        return old.count
    }

    /// Releases everything (server shutdown): statements freed, transactions rolled back
    /// as their sessions close.
    public func closeAll() {
        let (statements, transactions) = state.withLock { s in
            defer { s.statements = [:]; s.transactions = [:] }
            return (Array(s.statements.values), s.transactions.values.filter(\.ownsSession).map(\.session))
        }
        for lease in statements { lease.release() }
        for session in transactions { session.close() }
    }

    public var counts: (transactions: Int, statements: Int) {
        state.withLock { ($0.transactions.count, $0.statements.count) }
    }
}
