import Arrow
import DuckDB
import Foundation
import Synchronization
import Worker

/// A client session as both front doors use it: its place on a worker, its prepared
/// statements, its transaction and status, its statement timeout, admission of what it runs,
/// and the cancel key that names it. Session behaviour lives here once; the front doors only
/// speak their protocols around it.
public final class Session: Sendable {
    public let processID: Int32
    public let secretKey: Int32
    let worker: any WorkerSession
    let admission: AdmissionController
    weak let registry: SessionRegistry?
    public let door: FrontDoor
    let observer: (any SchedulerObserver)?

    /// Where the session stands with respect to transactions, as PostgreSQL's
    /// ReadyForQuery status reports it.
    public enum TransactionStatus: Sendable, Equatable {
        case idle
        case inTransaction
        /// An error happened inside the transaction block; only its end is accepted.
        case failed
    }

    private struct State {
        var ticket: AdmissionTicket?
        var closed = false
        var failed = false
        var statements: Set<StatementHandle> = []
        /// statement_timeout, nil for none.
        var timeout: Duration?
        var timedOut = false
    }

    private let state = Mutex(State())

    init(worker: any WorkerSession, admission: AdmissionController, registry: SessionRegistry, door: FrontDoor,
         observer: (any SchedulerObserver)?) {
        self.worker = worker
        self.door = door
        self.observer = observer
        self.admission = admission
        self.registry = registry
        self.processID = registry.nextProcessID()
        self.secretKey = Int32.random(in: Int32.min...Int32.max)
    }

    public var user: String { worker.user }

    // MARK: Transaction status

    /// From the worker's own knowledge of an open transaction, plus errors seen inside it.
    public var transactionStatus: TransactionStatus {
        guard worker.pins.contains(.transaction) else { return .idle }
        return state.withLock { $0.failed } ? .failed : .inTransaction
    }

    /// What ties the session to its worker now.
    public var pins: SessionPins { worker.pins }

    /// An error happened in this session: inside a transaction block it fails the block, as
    /// in PostgreSQL (the front door calls this for errors of its own, such as a parameter
    /// it could not decode).
    public func noteError() {
        guard worker.pins.contains(.transaction) else { return }
        state.withLock { $0.failed = true }
    }

    private func transactionEnded() {
        state.withLock { $0.failed = false }
    }

    // MARK: Statements

    /// Prepares one statement of client SQL.
    public func prepare(_ sql: String) async throws -> StatementHandle {
        let start = ContinuousClock.now
        do {
            let handle = try await failing { try await self.worker.prepare(sql) }
            state.withLock { _ = $0.statements.insert(handle) }
            return handle
        } catch {
            // A statement that never got to run still ended, as far as its client knows.
            ended(error, since: start, rows: 0)
            throw error
        }
    }

    /// Tells the observer a statement ended.
    func ended(_ error: (any Error)?, since start: ContinuousClock.Instant, rows: Int) {
        guard let observer else { return }
        let query = error.map { QueryError.from($0) ?? QueryError(.invalidInput, "\($0)") }
        observer.statementEnded(door: door, error: query, duration: ContinuousClock.now - start, rows: rows)
    }

    /// Frees a prepared statement on the worker.
    public func close(_ statement: StatementHandle) async {
        let known = state.withLock { $0.statements.remove(statement) != nil }
        if known { await worker.closeStatement(statement) }
    }

    /// Starts a prepared statement: admitted first (waiting in the queue while every slot is
    /// busy) unless `AdmissionRule` exempts it. The result holds the slot until it ends or
    /// is closed.
    /// `catalog`: a front door's own catalog query (Flight SQL metadata), which takes no slot.
    public func execute(_ statement: StatementHandle, parameters: [DuckDBValue] = [], catalog: Bool = false) async throws -> QueryResult {
        let start = ContinuousClock.now
        do {
            let needsSlot = !catalog && AdmissionRule.needsSlot(statement.description.statementType)
            let lease = needsSlot ? try await admit() : nil
            do {
                let stream = try await failing {
                    catalog ? try await self.worker.executeCatalog(statement, parameters: parameters)
                        : try await self.worker.execute(statement, parameters: parameters)
                }
                afterStatement()
                return QueryResult(stream: stream, lease: lease, session: self, started: start, needsSlot: needsSlot)
            } catch {
                lease?.release()
                throw error
            }
        } catch {
            ended(error, since: start, rows: 0)
            throw error
        }
    }

    /// All batches of one query (metadata answers: a few rows), its statement freed after.
    public func collect(_ sql: String, parameters: [DuckDBValue] = [], catalog: Bool = false) async throws -> [RecordBatch] {
        let statement = try await prepare(sql)
        do {
            let result = try await execute(statement, parameters: parameters, catalog: catalog)
            defer { result.close() }
            var batches: [RecordBatch] = []
            while let batch = try await result.next() { batches.append(batch) }
            await close(statement)
            return batches
        } catch {
            await close(statement)
            throw error
        }
    }

    /// The Arrow schema of a query's result, without reading its rows.
    public func resultSchema(_ sql: String) async throws -> Schema {
        let statement = try await prepare(sql)
        do {
            let schema: Schema
            if let known = statement.description.arrowSchema {
                schema = known
            } else {
                let result = try await execute(statement)
                defer { result.close() }
                schema = try await result.schema()
            }
            await close(statement)
            return schema
        } catch {
            await close(statement)
            throw error
        }
    }

    /// Runs client SQL without rows (one or more statements), holding a slot.
    @discardableResult
    public func run(_ sql: String) async throws -> Int? {
        let lease = try await admit()
        defer { lease.release() }
        let changed = try await failing { try await self.worker.run(sql) }
        afterStatement()
        return changed
    }

    /// Transaction control needs no slot: a COMMIT that waited behind running queries would
    /// only hold its locks longer (`AdmissionRule`).
    public func beginTransaction() async throws {
        try await failing { try await self.worker.beginTransaction() }
        transactionEnded()
    }

    public func commit() async throws {
        defer { transactionEnded() }
        try await worker.commit()
    }

    public func rollback() async throws {
        defer { transactionEnded() }
        try await worker.rollback()
    }

    /// A statement ran: if it ended the transaction (COMMIT or ROLLBACK as SQL), the failed
    /// mark goes with it.
    private func afterStatement() {
        if !worker.pins.contains(.transaction) { transactionEnded() }
    }

    // MARK: Bulk loads

    /// A query slot for work that spans several calls (COPY FROM STDIN: its start, the data,
    /// its end). Release it exactly once.
    public func admitForLoad() async throws -> SlotLease { try await admit() }

    /// Runs `body` holding a query slot (waiting in the queue like a query): a bulk load is
    /// a query as far as admission goes.
    public func withSlot<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let lease = try await admit()
        defer { lease.release() }
        return try await failing(body)
    }

    public func loadArrow(_ request: ArrowLoadRequest) async throws -> any ArrowLoad {
        try await failing { try await self.worker.loadArrow(request) }
    }

    public func loadCSV(_ request: CSVLoadRequest) async throws -> any CSVLoad {
        try await failing { try await self.worker.loadCSV(request) }
    }

    // MARK: Statement timeout

    /// PostgreSQL's statement_timeout for this session; nil or zero is none.
    public var statementTimeout: Duration? {
        get { state.withLock { $0.timeout } }
        set { state.withLock { $0.timeout = newValue == .zero ? nil : newValue } }
    }

    /// Runs `body` under the statement timeout: when it expires the session's work is
    /// interrupted and `body` fails with `QueryError.statementTimeout`.
    public func withStatementTimeout<T>(_ body: () async throws -> T) async throws -> T {
        guard let timeout = statementTimeout else { return try await body() }
        state.withLock { $0.timedOut = false }
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.state.withLock { $0.timedOut = true }
            self?.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await body()
        } catch {
            if state.withLock({ $0.timedOut }) { throw QueryError.statementTimeout }
            throw error
        }
    }

    // MARK: Admission, cancel, close

    func admit() async throws -> SlotLease {
        let ticket = AdmissionTicket(user: worker.user)
        state.withLock { $0.ticket = ticket }
        defer { state.withLock { $0.ticket = nil } }
        return try await admission.acquire(ticket)
    }

    /// Gives a suspended result a slot again (waiting in the queue like a new query).
    public func resume(_ result: QueryResult) async throws {
        guard result.isSuspended else { return }
        result.attach(try await admit())
    }

    /// Cancels the session's current work: takes it out of the queue, or interrupts it.
    public func cancel() {
        let ticket = state.withLock { $0.ticket }
        ticket?.cancel()
        worker.interrupt()
    }

    /// Ends the session: interrupts anything running, frees its statements, rolls back an
    /// open transaction and forgets the cancel key. Idempotent.
    public func close() {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        guard first else { return }
        cancel()
        registry?.unregister(self)
        let worker = self.worker
        Task { await worker.close() }
    }

    /// Runs `body`; an error inside a transaction block fails the block.
    private func failing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            noteError()
            throw error
        }
    }
}

/// What needs a query slot. Everything that runs SQL is admitted, except statements that
/// read no data and must not wait behind queries that do.
public enum AdmissionRule {
    public static func needsSlot(_ type: StatementType) -> Bool {
        switch type {
        // Transaction control: a COMMIT or ROLLBACK that queued behind running queries would
        // keep its transaction's locks (and a failed block) longer, and with every slot taken
        // by the session's own suspended results it would never run.
        case .transaction: return false
        // Session settings and SQL-level PREPARE / DEALLOCATE touch the session only.
        case .set, .variableSet, .prepare: return false
        default: return true
        }
    }
}

/// A running statement's result, holding its admission slot until it is read to the end
/// or closed. `suspend()` gives the slot back while nobody reads (a Flight ticket waiting
/// for its DoGet); `Session.resume` takes one again.
public final class QueryResult: Sendable {
    let stream: any ResultStream
    private let lease: Mutex<SlotLease?>
    public let queueWait: Duration
    weak let session: Session?
    private struct Progress {
        var rows = 0
        var ended = false
    }
    private let progress = Mutex(Progress())
    let started: ContinuousClock.Instant

    /// False for a result that never holds a slot (transaction control, settings, catalog
    /// answers): it is never suspended, so nothing admits it again.
    let needsSlot: Bool

    init(stream: any ResultStream, lease: SlotLease?, session: Session, started: ContinuousClock.Instant = .now,
         needsSlot: Bool = true) {
        self.needsSlot = needsSlot
        self.stream = stream
        self.lease = Mutex(lease)
        self.queueWait = lease?.waited ?? .zero
        self.session = session
        self.started = started
    }

    /// The statement ended (read to its end, failed, or closed early): told once.
    private func end(_ error: (any Error)?) {
        let rows = progress.withLock { p -> Int? in
            guard !p.ended else { return nil }
            p.ended = true
            return p.rows
        }
        if let rows { session?.ended(error, since: started, rows: rows) }
    }

    public var columns: [ColumnDescription] { stream.columns }
    public var statementType: StatementType { stream.statementType }
    public var rowsChanged: Int? { stream.rowsChanged }
    public var arrivesEncoded: Bool { stream.arrivesEncoded }

    public func schema() async throws -> Schema { try await stream.schema() }

    /// The next batch; at the end the slot goes back.
    public func next() async throws -> RecordBatch? {
        do {
            let batch = try await stream.next()
            if let batch {
                progress.withLock { $0.rows += batch.length }
            } else {
                releaseSlot()
                end(nil)
            }
            return batch
        } catch {
            session?.noteError()
            releaseSlot()
            end(error)
            throw error
        }
    }

    /// The next batch as IPC messages (for a front door that forwards them unchanged).
    public func nextMessages() async throws -> [IPCMessage]? {
        do {
            let messages = try await stream.nextMessages()
            if messages == nil {
                releaseSlot()
                end(nil)
            }
            return messages
        } catch {
            session?.noteError()
            releaseSlot()
            end(error)
            throw error
        }
    }

    /// Reads to the end without keeping the rows (a statement whose result is a count).
    public func drain() async throws {
        while try await next() != nil {}
    }

    public func suspend() { releaseSlot() }

    public var isSuspended: Bool { needsSlot && lease.withLock { $0 == nil } }

    func attach(_ newLease: SlotLease) {
        let old = lease.withLock { l -> SlotLease? in
            defer { l = newLease }
            return l
        }
        old?.release()
    }

    private func releaseSlot() {
        let l = lease.withLock { l -> SlotLease? in
            defer { l = nil }
            return l
        }
        l?.release()
    }

    /// Stops the result and gives the slot back (idempotent).
    public func close() {
        stream.close()
        releaseSlot()
        // Closed before its end: the client had what it wanted (a portal, a LIMIT, a
        // cursor closed early); that is a success.
        end(nil)
    }
}
