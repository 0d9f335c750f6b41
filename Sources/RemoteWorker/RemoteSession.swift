import DuckDB
import GRPCCore
import Synchronization
import Worker
import WorkerProtocol

/// A session on a remote worker: each seam call is one call to the worker, which runs it in
/// its session of that id. The session's pins are what the worker reported last.
public final class RemoteSession: WorkerSession {
    public let id: UInt64
    public let user: String
    let worker: RemoteWorker
    private let state = Mutex<(pins: SessionPins, closed: Bool, calls: Int, closeLater: [UInt64], open: Int)>(([], false, 0, [], 0))

    /// Closes deferred to the next prepare before one travels on its own.
    static let maxDeferredCloses = 32

    init(id: UInt64, user: String, worker: RemoteWorker) {
        self.id = id
        self.user = user
        self.worker = worker
    }

    /// What the worker reported last, less prepared statements once every one this session
    /// prepared is closed here (their closes may still wait for the next prepare).
    public var pins: SessionPins {
        state.withLock { s in s.open == 0 ? s.pins.subtracting(.preparedStatements) : s.pins }
    }

    /// Result streams and loads whose calls are still running on the worker: a session
    /// that moved elsewhere is closed only once this is 0, so no statement is cut short.
    var runningCalls: Int { state.withLock { $0.calls } }
    func callStarted() { state.withLock { $0.calls += 1 } }
    func callEnded() { state.withLock { $0.calls -= 1 } }
    public var address: WorkerAddress { worker.address }

    func noted(_ pins: UInt32) {
        state.withLock { $0.pins = SessionPins(rawValue: UInt8(truncatingIfNeeded: pins)) }
    }

    var gateway: GatewayIdentity { worker.gateway.wire }

    /// One control call; a transport failure is the seam's WorkerUnavailable.
    func call<Reply: Sendable>(_ body: (RemoteWorker.Stub) async throws -> Reply) async throws -> Reply {
        do {
            return try await body(worker.stub)
        } catch {
            throw worker.unavailable(error)
        }
    }

    func session() -> Tavana_Worker_V1_SessionRequest {
        var r = Tavana_Worker_V1_SessionRequest()
        r.gateway = gateway
        r.sessionID = id
        return r
    }

    func check(_ reply: Tavana_Worker_V1_SessionReply) throws {
        noted(reply.pins)
        if reply.hasFailure { throw reply.failure.error }
    }

    // MARK: Statements

    public func prepare(_ sql: String) async throws -> StatementHandle {
        var request = Tavana_Worker_V1_PrepareRequest()
        request.gateway = gateway
        request.sessionID = id
        request.sql = sql
        request.closeFirst = state.withLock { s in
            defer { s.closeLater = [] }
            return s.closeLater
        }
        let reply = try await call { try await $0.prepare(request, options: RemoteWorker.statement) }
        noted(reply.pins)
        if reply.hasFailure { throw reply.failure.error }
        state.withLock { $0.open += 1 }
        return StatementHandle(id: reply.statementID, description: try reply.description_p.decoded())
    }

    public func execute(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        try await execute(statement, parameters: parameters, catalog: false)
    }

    public func executeCatalog(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        try await execute(statement, parameters: parameters, catalog: true)
    }

    func execute(_ statement: StatementHandle, parameters: [DuckDBValue], catalog: Bool) async throws -> any ResultStream {
        var request = Tavana_Worker_V1_ExecuteRequest()
        request.gateway = gateway
        request.sessionID = id
        request.statementID = statement.id
        request.parameters = parameters.map(WireValue.init)
        request.catalog = catalog
        return try await RemoteResultStream.start(request, session: self)
    }

    public func run(_ sql: String) async throws -> Int? {
        var request = Tavana_Worker_V1_RunRequest()
        request.gateway = gateway
        request.sessionID = id
        request.sql = sql
        let reply = try await call { try await $0.run(request, options: RemoteWorker.statement) }
        noted(reply.pins)
        if reply.hasFailure { throw reply.failure.error }
        return reply.hasRowsChanged_p ? Int(clamping: reply.rowsChanged) : nil
    }

    /// Deferred to the session's next prepare (a one-shot statement then costs two calls,
    /// not three), unless many are waiting already.
    public func closeStatement(_ statement: StatementHandle) async {
        let deferred = state.withLock { s -> Bool in
            s.open = max(0, s.open - 1)
            guard s.closeLater.count < Self.maxDeferredCloses else { return false }
            s.closeLater.append(statement.id)
            return true
        }
        if deferred { return }
        var request = Tavana_Worker_V1_StatementRequest()
        request.gateway = gateway
        request.sessionID = id
        request.statementID = statement.id
        // A worker that is gone has freed it already.
        if let reply = try? await call({ try await $0.closeStatement(request, options: RemoteWorker.control) }) {
            noted(reply.pins)
        }
    }

    private func transaction(_ step: Tavana_Worker_V1_TransactionRequest.Step) async throws {
        var request = Tavana_Worker_V1_TransactionRequest()
        request.gateway = gateway
        request.sessionID = id
        request.step = step
        try check(try await call { try await $0.transaction(request, options: RemoteWorker.statement) })
    }

    public func beginTransaction() async throws { try await transaction(.begin) }
    public func commit() async throws { try await transaction(.commit) }
    public func rollback() async throws { try await transaction(.rollback) }

    // MARK: Loads

    public func loadArrow(_ request: ArrowLoadRequest) async throws -> any ArrowLoad {
        var target = Tavana_Worker_V1_LoadArrowRequest.Target()
        target.gateway = gateway
        target.sessionID = id
        if let catalog = request.catalog { target.catalog = catalog }
        if let schema = request.schema { target.schema = schema }
        target.table = request.table
        target.temporary = request.temporary
        target.ifExists = switch request.ifExists { case .fail: 0; case .append: 1; case .replace: 2 }
        target.ifMissing = request.ifMissing == .fail ? 1 : 0
        target.arrowSchema = WireSchema.encode(request.arrowSchema)
        var first = Tavana_Worker_V1_LoadArrowRequest()
        first.target = target
        return try await RemoteArrowLoad.start(first, schema: request.arrowSchema, session: self)
    }

    public func loadCSV(_ request: CSVLoadRequest) async throws -> any CSVLoad {
        var target = Tavana_Worker_V1_LoadCSVRequest.Target()
        target.gateway = gateway
        target.sessionID = id
        target.table = request.table
        target.columns = request.columns
        target.header = request.header
        target.delimiter = UInt32(request.delimiter)
        target.quote = UInt32(request.quote)
        target.escape = UInt32(request.escape)
        target.null = request.null
        var first = Tavana_Worker_V1_LoadCSVRequest()
        first.target = target
        return try await RemoteCSVLoad.start(first, session: self)
    }

    // MARK: Life

    public func interrupt() {
        let request = session()
        let worker = self.worker
        // From any thread, without waiting: the worker interrupts DuckDB when it arrives.
        Task { _ = try? await worker.stub.interrupt(request, options: RemoteWorker.control) }
    }

    public func close() async {
        let already = state.withLock { s -> Bool in
            defer { s.closed = true }
            return s.closed
        }
        guard !already else { return }
        let request = session()
        _ = try? await worker.stub.closeSession(request, options: RemoteWorker.control)
        worker.sessionClosed()
    }
}
