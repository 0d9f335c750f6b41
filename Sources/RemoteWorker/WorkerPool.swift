import DuckDB
import Logging
import NIOCore
import Synchronization
import Worker

/// The gateway's workers behind one `WorkerService`: it opens each session on a healthy
/// worker chosen by the power of two choices (the less loaded of two picked at random, by
/// this gateway's sessions there plus the slots the worker reports busy), and the session
/// stays there. A worker gets sessions only after its first good heartbeat; one that stops
/// answering gets none until it answers again (heartbeats go on, with the transport's
/// reconnect backoff).
///
/// The workers are a fixed list, or the addresses a DNS name resolves to (a Kubernetes
/// headless Service lists its ready pods), looked up again every few seconds: a new address
/// becomes a worker (which gets sessions after its first good heartbeat); an address that is
/// gone gets no new sessions, and its connection closes once this gateway has no session
/// left there.
public final class WorkerPool: WorkerService {
    /// Where the workers come from.
    public enum Discovery: Sendable, Equatable {
        case addresses([WorkerAddress])
        case dns(host: String, port: Int, every: Duration)
    }

    private struct Member {
        let worker: RemoteWorker
        var task: Task<Void, Never>?
        /// No longer listed: gets no sessions; closed when its last session ends.
        var retired = false
    }

    let discovery: Discovery
    let gateway: GatewayName
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let heartbeat: Duration
    /// PEM CA certificates for TLS to the workers; nil: plaintext.
    let trustRoots: String?
    private let members = Mutex<[WorkerAddress: Member]>([:])
    private let vocabularyCache = Mutex<EngineVocabulary?>(nil)
    private let random = Mutex(SystemRandomNumberGenerator())

    public convenience init(addresses: [WorkerAddress], gateway: GatewayName, eventLoopGroup: any EventLoopGroup, logger: Logger) throws {
        try self.init(discovery: .addresses(addresses), gateway: gateway, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    public init(discovery: Discovery, gateway: GatewayName, eventLoopGroup: any EventLoopGroup, logger: Logger,
                heartbeat: Duration = .seconds(2), trustRoots: String? = nil) throws {
        self.trustRoots = trustRoots
        self.discovery = discovery
        self.gateway = gateway
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.heartbeat = heartbeat
        if case .addresses(let list) = discovery {
            var initial: [WorkerAddress: Member] = [:]
            for address in list {
                initial[address] = Member(worker: try RemoteWorker(address: address, gateway: gateway, eventLoopGroup: eventLoopGroup, logger: logger, trustRoots: trustRoots))
            }
            members.withLock { $0 = initial }
        }
    }

    /// The workers that may get new sessions, in address order.
    public var workers: [RemoteWorker] {
        members.withLock { m in m.values.filter { !$0.retired }.map(\.worker) }
            .sorted { $0.address.description < $1.address.description }
    }

    /// Runs the workers' connections and heartbeats (and the DNS lookups) until cancelled.
    public func run() async throws {
        let heartbeat = self.heartbeat
        members.withLock { m in
            for (address, member) in m where member.task == nil {
                let worker = member.worker
                m[address]?.task = Task { try? await worker.run(heartbeat: heartbeat) }
            }
        }
        defer { stopAll() }
        switch discovery {
        case .addresses:
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        case .dns(let host, let port, let every):
            while !Task.isCancelled {
                do {
                    let found = try await DNSLookup.addresses(of: host).map { WorkerAddress(host: $0, port: port) }
                    try reconcile(Set(found))
                } catch {
                    logger.warning("worker DNS lookup failed; keeping the workers known", metadata: [
                        "name": "\(host)", "error": "\(error)",
                    ])
                }
                try? await Task.sleep(for: every)
            }
        }
    }

    /// Adds the addresses newly listed, retires those no longer listed, and closes retired
    /// workers this gateway has no session on.
    func reconcile(_ listed: Set<WorkerAddress>) throws {
        var added: [WorkerAddress] = []
        var retired: [WorkerAddress] = []
        var closed: [RemoteWorker] = []
        let heartbeat = self.heartbeat
        try members.withLock { m in
            for address in listed {
                if m[address] != nil {
                    if m[address]!.retired { m[address]!.retired = false }
                    continue
                }
                let worker = try RemoteWorker(address: address, gateway: gateway, eventLoopGroup: eventLoopGroup, logger: logger, trustRoots: trustRoots)
                m[address] = Member(worker: worker, task: Task { try? await worker.run(heartbeat: heartbeat) })
                added.append(address)
            }
            for (address, member) in m where !listed.contains(address) {
                if !member.retired {
                    m[address]!.retired = true
                    retired.append(address)
                }
                if member.worker.openSessions == 0 {
                    member.worker.shutdown()
                    member.task?.cancel()
                    closed.append(member.worker)
                    m[address] = nil
                }
            }
        }
        for address in added { logger.info("worker discovered", metadata: ["worker": "\(address)"]) }
        for address in retired { logger.info("worker no longer listed; it gets no new sessions", metadata: ["worker": "\(address)"]) }
        for worker in closed { logger.info("worker connection closed", metadata: ["worker": "\(worker.address)"]) }
    }

    private func stopAll() {
        let all = members.withLock { m in m.values.map { ($0.worker, $0.task) } }
        for (worker, task) in all {
            worker.shutdown()
            task?.cancel()
        }
    }

    public func shutdown() {
        for worker in members.withLock({ $0.values.map(\.worker) }) { worker.shutdown() }
    }

    public var health: (healthy: Int, unhealthy: Int) {
        let all = workers
        let healthy = all.filter(\.isHealthy).count
        return (healthy, all.count - healthy)
    }

    /// Query slots of the healthy workers.
    public var slots: Int { workers.filter(\.isHealthy).reduce(0) { $0 + ($1.load?.slots ?? 0) } }

    /// The slots this gateway holds on the healthy workers (their leases): how many of its
    /// statements run at once.
    public var leasedSlots: Int { workers.filter(\.isHealthy).reduce(0) { $0 + ($1.load?.leasedSlots ?? 0) } }

    /// Asks the workers, at their next heartbeats, for slots for `demand` statements (running
    /// plus waiting here), spread evenly over the healthy ones.
    public func want(_ demand: Int) {
        let healthy = workers.filter(\.isHealthy)
        guard !healthy.isEmpty else { return }
        let each = demand <= 0 ? 0 : (demand - 1) / healthy.count + 1
        for worker in workers { worker.want(each) }
    }

    /// Waits until at least one worker has answered, or `timeout` passes.
    public func waitForAWorker(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if workers.contains(where: \.isHealthy) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return workers.contains(where: \.isHealthy)
    }

    /// The worker a new session goes to, or nil when none is healthy.
    func choose(excluding tried: Set<WorkerAddress> = []) -> RemoteWorker? {
        let candidates = workers.filter { $0.isHealthy && !tried.contains($0.address) }
        guard !candidates.isEmpty else { return nil }
        guard candidates.count > 1 else { return candidates[0] }
        let (a, b) = random.withLock { r -> (Int, Int) in
            let a = Int.random(in: 0..<candidates.count, using: &r)
            var b = Int.random(in: 0..<(candidates.count - 1), using: &r)
            if b >= a { b += 1 }
            return (a, b)
        }
        return Self.score(candidates[a]) <= Self.score(candidates[b]) ? candidates[a] : candidates[b]
    }

    static func score(_ worker: RemoteWorker) -> Int {
        worker.openSessions + (worker.load?.slotsUsed ?? 0)
    }

    /// Where a stateless session on `current` should go for its next statement: the power
    /// of two choices among the other healthy workers, if moving there makes the busier
    /// side less busy. The session counts on `current` and would count on the other, so
    /// the move helps only when the other's score is at least 2 lower; with that margin two
    /// workers never trade a session back and forth, and as sessions move the scores meet
    /// (this gateway's session counts change at once, before the next load report).
    func better(than current: RemoteWorker) -> RemoteWorker? {
        guard let other = choose(excluding: [current.address]) else { return nil }
        return Self.score(other) + 2 <= Self.score(current) ? other : nil
    }

    public func openSession(_ options: SessionOptions) async throws -> any WorkerSession {
        guard let first = try await openRemote(options) else {
            throw WorkerUnavailable("no worker is reachable (\(workers.map(\.address.description).joined(separator: ", ")))")
        }
        return PooledSession(pool: self, options: options, first: first)
    }

    /// A session on a healthy worker (other than `avoiding` when another is healthy); nil
    /// when no worker is healthy.
    func openRemote(_ options: SessionOptions, avoiding: WorkerAddress? = nil) async throws -> RemoteSession? {
        var tried: Set<WorkerAddress> = avoiding.map { [$0] } ?? []
        var lastError: (any Error)?
        // Opening a session changes nothing anywhere, so a worker that fails it is simply
        // passed over for another.
        while let worker = choose(excluding: tried) {
            tried.insert(worker.address)
            do {
                return try await worker.openRemote(options)
            } catch let error as WorkerUnavailable {
                logger.warning("could not open a session on a worker; trying another", metadata: [
                    "worker": "\(worker.address)", "error": "\(error.message)",
                ])
                lastError = error
            }
        }
        if let lastError { throw lastError }
        return nil
    }

    public func vocabulary() async throws -> EngineVocabulary {
        if let known = vocabularyCache.withLock({ $0 }) { return known }
        guard let worker = choose() else {
            throw WorkerUnavailable("no worker is reachable to describe the engine")
        }
        let loaded = try await worker.vocabulary()
        vocabularyCache.withLock { $0 = loaded }
        return loaded
    }
}

/// A client session in cluster mode: its place on one worker, which it leaves only while it
/// holds nothing there that cannot be rebuilt elsewhere.
///
/// - A session without state (no transaction, temporary objects or changed settings) whose
///   worker has become unreachable moves to another worker before its next statement.
/// - Its prepared statements do not tie it down: the gateway keeps their SQL and hands out
///   handles of its own, and prepares a statement again on the session's new worker when it
///   is next executed (preparing changes nothing).
/// - A read-only statement (a SELECT) of such a session whose worker is lost before it sent
///   its result header, so before any row reached the client, runs once more on another worker.
/// - A session with state on a lost worker fails with WorkerUnavailable: that state is gone,
///   and saying so beats a silent reset.
final class PooledSession: WorkerSession {
    /// A prepared statement as the client knows it, and where it is prepared now.
    private struct Placed {
        let sql: String
        var remote: RemoteSession
        var handle: StatementHandle
    }

    private struct State {
        var current: RemoteSession
        /// Sessions this one left for another worker while calls of theirs still ran.
        var retired: [RemoteSession] = []
        var statements: [UInt64: Placed] = [:]
        var nextStatement: UInt64 = 1
    }

    /// What a session cannot take to another worker.
    static let binding: SessionPins = [.transaction, .temporaryObjects, .settings]

    let pool: WorkerPool
    let options: SessionOptions
    private let state: Mutex<State>

    init(pool: WorkerPool, options: SessionOptions, first: RemoteSession) {
        self.pool = pool
        self.options = options
        self.state = Mutex(State(current: first))
    }

    var user: String { options.user }
    var session: RemoteSession { state.withLock { $0.current } }
    var pins: SessionPins { session.pins }

    private static func free(_ session: RemoteSession) -> Bool { session.pins.isDisjoint(with: binding) }

    /// The session to use now. It stays where it is while it holds state there; otherwise it
    /// moves before this statement if its worker is unreachable, or if the power of two
    /// choices finds one less loaded by a margin (`WorkerPool.better(than:)`): autocommit
    /// statements of a stateless session go where the load is least, and a worker added
    /// under load gets statements of sessions already open.
    private func placed() async throws -> RemoteSession {
        closeIdleRetired()
        let now = session
        guard Self.free(now) else { return now }
        if !now.worker.isHealthy { return try await move(from: now) }
        guard let target = pool.better(than: now.worker) else { return now }
        return await move(from: now, to: target)
    }

    /// Moves a stateless session to `target`; stays if the session cannot open there.
    private func move(from old: RemoteSession, to target: RemoteWorker) async -> RemoteSession {
        do {
            let fresh = try await target.openRemote(options)
            return adopt(fresh, leaving: old, why: "less loaded")
        } catch {
            pool.logger.debug("could not move a session to a less loaded worker", metadata: [
                "to": "\(target.address)", "error": "\(error)",
            ])
            return session
        }
    }

    private func move(from old: RemoteSession) async throws -> RemoteSession {
        let now = session
        // Another call of this session moved it already.
        if now !== old { return now }
        guard let fresh = try await pool.openRemote(options, avoiding: old.worker.address) else { return old }
        return adopt(fresh, leaving: old, why: "worker unreachable")
    }

    /// Makes `fresh` the current session. The one left behind is closed at once when nothing
    /// of it runs, or once its running calls end (a Flight client may read one result while
    /// it starts the next statement).
    private func adopt(_ fresh: RemoteSession, leaving old: RemoteSession, why: String) -> RemoteSession {
        let won = state.withLock { s -> Bool in
            // Another call of this session moved it meanwhile: keep that move.
            guard s.current === old else { return false }
            s.current = fresh
            s.retired.append(old)
            return true
        }
        guard won else {
            Task { await fresh.close() }
            return session
        }
        pool.logger.info("session moved to another worker", metadata: [
            "from": "\(old.worker.address)", "to": "\(fresh.worker.address)", "user": "\(options.user)", "why": "\(why)",
        ])
        closeIdleRetired()
        return fresh
    }

    private func closeIdleRetired() {
        let idle = state.withLock { s -> [RemoteSession] in
            let (done, running) = (s.retired.filter { $0.runningCalls == 0 }, s.retired.filter { $0.runningCalls > 0 })
            s.retired = running
            return done
        }
        for old in idle { Task { await old.close() } }
    }

    func prepare(_ sql: String) async throws -> StatementHandle {
        var target = try await placed()
        let remote: StatementHandle
        do {
            remote = try await target.prepare(sql)
        } catch let error as WorkerUnavailable where Self.free(target) {
            let other = try await move(from: target)
            guard other !== target else { throw error }
            target = other
            remote = try await other.prepare(sql)
        }
        let id = state.withLock { s -> UInt64 in
            let id = s.nextStatement
            s.nextStatement &+= 1
            s.statements[id] = Placed(sql: sql, remote: target, handle: remote)
            return id
        }
        return StatementHandle(id: id, description: remote.description)
    }

    /// Prepares a statement again on `session` (the session moved since it was prepared).
    private func prepare(_ id: UInt64, _ placed: Placed, on session: RemoteSession) async throws -> Placed {
        var moved = placed
        moved.handle = try await session.prepare(placed.sql)
        moved.remote = session
        let stale = state.withLock { s -> Placed? in
            let old = s.statements[id]
            if old != nil { s.statements[id] = moved }
            return old
        }
        if let stale, stale.remote.worker.isHealthy { await stale.remote.closeStatement(stale.handle) }
        return moved
    }

    func execute(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        try await execute(statement, parameters: parameters, catalog: false)
    }

    func executeCatalog(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        try await execute(statement, parameters: parameters, catalog: true)
    }

    private func execute(_ statement: StatementHandle, parameters: [DuckDBValue], catalog: Bool) async throws -> any ResultStream {
        guard var placed = state.withLock({ $0.statements[statement.id] }) else {
            throw WorkerUnavailable("prepared statement \(statement.id) is not open in this session")
        }
        let now = try await self.placed()
        if placed.remote !== now { placed = try await prepare(statement.id, placed, on: now) }
        do {
            return try await placed.remote.execute(placed.handle, parameters: parameters, catalog: catalog)
        } catch let error as WorkerUnavailable where placed.handle.description.statementType == .select && Self.free(placed.remote) {
            // Lost before the result header: the client has seen nothing of this statement,
            // and reading again elsewhere changes nothing.
            let other = try await move(from: placed.remote)
            guard other !== placed.remote else { throw error }
            pool.logger.warning("worker lost before a read-only statement's first rows; running it once more on another worker", metadata: [
                "from": "\(placed.remote.worker.address)", "to": "\(other.worker.address)", "error": "\(error.message)",
            ])
            placed = try await prepare(statement.id, placed, on: other)
            return try await placed.remote.execute(placed.handle, parameters: parameters, catalog: catalog)
        }
    }

    func run(_ sql: String) async throws -> Int? { try await placed().run(sql) }

    func closeStatement(_ statement: StatementHandle) async {
        guard let placed = state.withLock({ $0.statements.removeValue(forKey: statement.id) }) else { return }
        await placed.remote.closeStatement(placed.handle)
    }

    func beginTransaction() async throws { try await placed().beginTransaction() }
    func commit() async throws { try await session.commit() }
    func rollback() async throws { try await session.rollback() }
    func loadArrow(_ request: ArrowLoadRequest) async throws -> any ArrowLoad { try await placed().loadArrow(request) }
    func loadCSV(_ request: CSVLoadRequest) async throws -> any CSVLoad { try await placed().loadCSV(request) }
    func interrupt() {
        let all = state.withLock { [$0.current] + $0.retired }
        for remote in all { remote.interrupt() }
    }

    func close() async {
        let all = state.withLock { s -> [RemoteSession] in
            defer { s.retired = [] }
            return [s.current] + s.retired
        }
        for remote in all { await remote.close() }
    }
}
