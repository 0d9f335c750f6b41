import Arrow
import DuckDB
import Foundation
import Logging
import Worker

/// Routes sessions to workers and queries through admission control. In embedded mode
/// there is one in-process worker whose database every session shares.
public final class Scheduler: Sendable {
    public let admission: AdmissionController
    let worker: EmbeddedWorker
    public let sessions: SessionRegistry
    let logger: Logger

    public init(worker: EmbeddedWorker, slots: Int, maxQueued: Int, logger: Logger) {
        self.worker = worker
        self.admission = AdmissionController(slots: slots, maxQueued: maxQueued)
        self.sessions = SessionRegistry()
        self.logger = logger
    }

    /// Opens a session for `user` (who it counts against in the parse gate); it is
    /// registered for cancellation until `close()`.
    public func openSession(user: String) async throws -> Session {
        let workerSession = try await worker.openSession(user: user)
        let session = Session(worker: workerSession, admission: admission, registry: sessions)
        sessions.register(session)
        return session
    }
}

/// A client session: its own DuckDB connection (for temp tables, settings, transactions,
/// prepared statements) and the cancel key that names it.
public final class Session: @unchecked Sendable {
    public let processID: Int32
    public let secretKey: Int32
    public let worker: WorkerSession
    let admission: AdmissionController
    weak var registry: SessionRegistry?
    private let lock = NSLock()
    private var currentTicket: AdmissionTicket?
    private var closed = false

    init(worker: WorkerSession, admission: AdmissionController, registry: SessionRegistry) {
        self.worker = worker
        self.admission = admission
        self.registry = registry
        self.processID = registry.nextProcessID()
        self.secretKey = Int32.random(in: Int32.min...Int32.max)
    }

    /// Runs blocking work that needs no slot (describe, bind, transaction control).
    @discardableResult
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await worker.run(body)
    }

    /// Prepares client SQL (screened, parsed under the parse gate; a cancel ends the wait).
    public func prepare(_ sql: String) async throws -> PreparedStatement {
        try await worker.prepare(sql)
    }

    /// Runs client SQL without rows (screened and parsed as `prepare` does).
    @discardableResult
    public func execute(_ sql: String) async throws -> Int? {
        try await worker.execute(sql)
    }

    /// Admits a query (waiting in the queue if all slots are busy), then runs `start`,
    /// which begins execution. The returned cursor holds the slot until it is closed.
    public func startQuery(_ start: @escaping @Sendable (Connection) throws -> StreamingResult) async throws -> QueryCursor {
        let ticket = AdmissionTicket()
        lock.withLock { currentTicket = ticket }
        defer { lock.withLock { currentTicket = nil } }
        let lease = try await admission.acquire(ticket)
        do {
            let result = try await worker.run(start)
            return QueryCursor(result: result, lease: lease, worker: worker)
        } catch {
            lease.release()
            throw error
        }
    }

    /// Runs `body` holding a query slot (waiting in the queue like a query), for work that is
    /// a query as far as admission goes but not one streaming result (a bulk ingest).
    public func withSlot<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let ticket = AdmissionTicket()
        lock.withLock { currentTicket = ticket }
        let lease: SlotLease
        do {
            lease = try await admission.acquire(ticket)
        } catch {
            lock.withLock { currentTicket = nil }
            throw error
        }
        lock.withLock { currentTicket = nil }
        defer { lease.release() }
        return try await body()
    }

    /// Gives a suspended cursor a slot again (waiting in the queue like a new query).
    public func resume(_ cursor: QueryCursor) async throws {
        guard cursor.isSuspended else { return }
        let ticket = AdmissionTicket()
        lock.withLock { currentTicket = ticket }
        defer { lock.withLock { currentTicket = nil } }
        cursor.attach(try await admission.acquire(ticket))
    }

    /// Cancels the session's current query: takes it out of the queue, or interrupts it.
    public func cancel() {
        lock.lock()
        let ticket = currentTicket
        lock.unlock()
        ticket?.cancel()
        worker.interrupt()
    }

    /// Ends the session: interrupts anything running and forgets the cancel key.
    public func close() {
        lock.lock()
        let wasClosed = closed
        closed = true
        lock.unlock()
        guard !wasClosed else { return }
        cancel()
        registry?.unregister(self)
    }
}

/// A running query's result. Each `next()` pulls one batch from DuckDB on the worker's
/// thread pool, so a consumer that stops asking stops DuckDB (backpressure).
public final class QueryCursor: @unchecked Sendable {
    public let result: StreamingResult
    private let lock = NSLock()
    private var lease: SlotLease?
    let worker: WorkerSession
    public let queueWait: Duration

    init(result: StreamingResult, lease: SlotLease, worker: WorkerSession) {
        self.result = result
        self.lease = lease
        self.worker = worker
        self.queueWait = lease.waited
    }

    /// Gives the slot back while nobody reads the result (a Flight ticket waiting for its
    /// DoGet): an idle result is not a running query. `Session.resume` takes a slot again.
    public func suspend() {
        let l = lock.withLock { () -> SlotLease? in
            defer { lease = nil }
            return lease
        }
        l?.release()
    }

    public var isSuspended: Bool { lock.withLock { lease == nil } }

    func attach(_ newLease: SlotLease) {
        let old = lock.withLock { () -> SlotLease? in
            defer { lease = newLease }
            return lease
        }
        old?.release()
    }

    public func next() async throws -> RecordBatch? {
        let result = self.result
        let batch = try await worker.run { _ in try result.nextArrowBatch() }
        if batch == nil { close() }
        return batch
    }

    public func arrowSchema() async throws -> Schema {
        let result = self.result
        return try await worker.run { _ in try result.arrowSchema() }
    }

    /// Gives the slot back (idempotent).
    public func close() { suspend() }
}

/// Live sessions by cancel key (process id and secret).
public final class SessionRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [Int32: Session] = [:]
    private var lastProcessID: Int32 = 1000

    func nextProcessID() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        repeat {
            lastProcessID = lastProcessID == Int32.max ? 1001 : lastProcessID + 1
        } while sessions[lastProcessID] != nil
        return lastProcessID
    }

    func register(_ s: Session) {
        lock.lock()
        sessions[s.processID] = s
        lock.unlock()
    }

    func unregister(_ s: Session) {
        lock.lock()
        if sessions[s.processID] === s { sessions[s.processID] = nil }
        lock.unlock()
    }

    /// Cancels the session's query if the key matches; a wrong key does nothing.
    @discardableResult
    public func cancel(processID: Int32, secretKey: Int32) -> Bool {
        lock.lock()
        let s = sessions[processID]
        lock.unlock()
        guard let s, s.secretKey == secretKey else { return false }
        s.cancel()
        return true
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return sessions.count
    }
}
