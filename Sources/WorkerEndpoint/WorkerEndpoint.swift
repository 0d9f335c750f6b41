import Arrow
import DuckDB
import Foundation
import GRPCCore
import GRPCProtobuf
import Logging
import Scheduler
import Synchronization
import Worker
import WorkerProtocol

/// The worker side of the gateway↔worker protocol: serves any `WorkerService` (in
/// `tavana worker`, the in-process `EmbeddedWorker`) to gateways, call for call. It owns what
/// only the worker can know: which gateway owns each session, the worker's query slots, and
/// whether it is draining.
public final class WorkerEndpoint: Tavana_Worker_V1_Worker.SimpleServiceProtocol {
    /// What the worker reports about itself in every Hello.
    public struct Status: Sendable {
        public var workerID: String
        public var memoryLimitBytes: UInt64
        public var invalidated: @Sendable () -> String?
        public init(workerID: String, memoryLimitBytes: UInt64, invalidated: @escaping @Sendable () -> String? = { nil }) {
            self.workerID = workerID
            self.memoryLimitBytes = memoryLimitBytes
            self.invalidated = invalidated
        }
    }

    /// One open session and the statements it prepared, by the ids the worker gave them.
    final class Record: Sendable {
        let session: any WorkerSession
        let statements = Mutex<[UInt64: StatementHandle]>([:])
        /// Counts the gateway's interrupts. A call notes it when it arrives and does not start
        /// its statement once it has moved: DuckDB forgets an interrupt that comes before its
        /// query begins, so a call still waiting for a slot or its turn would otherwise run
        /// (for hours, holding the slot) after the gateway gave up on it.
        let interrupts = Atomic<UInt64>(0)
        init(session: any WorkerSession) { self.session = session }

        var interruptCount: UInt64 { interrupts.load(ordering: .sequentiallyConsistent) }

        func interrupt() {
            interrupts.add(1, ordering: .sequentiallyConsistent)
            session.interrupt()
        }

        /// Throws DuckDB's interrupt error if an interrupt came after `count` was read, or the
        /// call itself was cancelled.
        func checkNotInterrupted(since count: UInt64, call: RunningFlag) throws {
            if interruptCount != count || call.cancelled { throw DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!") }
        }
    }

    let worker: any WorkerService
    let status: Status
    /// At most `slots` statements run at once, whichever gateways send them: a worker is never
    /// overbooked, however many gateways share it.
    public let slots: AdmissionController
    let table: Mutex<SessionTable<Record>>
    /// The share of the slots each gateway holds (`SlotLeases`), renewed by its Hellos.
    let leases: Mutex<SlotLeases>
    private let drainingFlag = Atomic<Bool>(false)
    let logger: Logger

    /// `leaseTTL`: how long a gateway's slot lease lasts without a Hello (gateways send one
    /// every 2 s); after it the gateway's share goes to the others.
    public init(worker: any WorkerService, slots: Int, sessionTTL: Duration, status: Status, logger: Logger,
                leaseTTL: Duration = .seconds(10)) {
        self.worker = worker
        self.status = status
        self.leases = Mutex(SlotLeases(slots: max(slots, 1), ttl: leaseTTL, worker: status.workerID))
        // Statements beyond the slots wait here in turn; gateways queue ahead of this.
        self.slots = AdmissionController(limits: AdmissionQueue.Limits(slots: max(slots, 1), queued: 1 << 20))
        self.table = Mutex(SessionTable(ttl: sessionTTL))
        self.logger = logger
    }

    public var sessionCount: Int { table.withLock { $0.count } }
    public var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }

    /// Stops opening sessions; running statements go on.
    public func beginDrain() {
        drainingFlag.store(true, ordering: .relaxed)
    }

    /// Closes the sessions of gateways that went silent; run every few seconds.
    public func expireOrphans(now: ContinuousClock.Instant = .now) async {
        let orphans = table.withLock { $0.expire(now: now) }
        guard !orphans.isEmpty else { return }
        logger.notice("closing sessions of a gateway that stopped sending heartbeats", metadata: ["sessions": "\(orphans.count)"])
        await close(orphans)
    }

    /// Closes every session (the worker is stopping).
    public func closeAll() async {
        await close(table.withLock { $0.removeAll() })
    }

    private func close(_ records: [Record]) async {
        for record in records {
            record.session.interrupt()
            await record.session.close()
        }
    }

    // MARK: Identity

    private func owner(_ identity: GatewayIdentity) -> SessionTable<Record>.Owner {
        .init(gatewayID: identity.gatewayID, epoch: identity.epoch)
    }

    /// Admits a call of `identity` (closing a restarted gateway's leftovers) or refuses it.
    private func admit(_ identity: GatewayIdentity) async throws {
        let leftovers: [Record]
        do {
            leftovers = try table.withLock { try $0.admit(owner(identity), now: .now) }
        } catch let refusal as SessionTable<Record>.Refusal {
            throw Self.rpcError(refusal)
        }
        if !leftovers.isEmpty {
            logger.notice("closing sessions of a gateway's earlier run", metadata: [
                "gateway": "\(identity.gatewayID)", "epoch": "\(identity.epoch)", "sessions": "\(leftovers.count)",
            ])
            await close(leftovers)
        }
    }

    private func record(_ identity: GatewayIdentity, _ id: UInt64) async throws -> Record {
        try await admit(identity)
        do {
            return try table.withLock { try $0.session(id, owner: owner(identity)) }
        } catch let refusal as SessionTable<Record>.Refusal {
            throw Self.rpcError(refusal)
        }
    }

    static func rpcError(_ refusal: SessionTable<Record>.Refusal) -> RPCError {
        switch refusal {
        case .staleEpoch(let newest):
            return RPCError(code: .failedPrecondition, message: "stale gateway epoch: this gateway has restarted since (epoch \(newest))")
        case .unknownSession(let id):
            return RPCError(code: .notFound, message: "no session \(id) of this gateway on this worker")
        case .missingGateway:
            return RPCError(code: .invalidArgument, message: "the call names no gateway")
        }
    }

    /// Runs `body` in one of the worker's slots (or at once, `unless` exempt).
    private func inSlot<T: Sendable>(user: String, unless exempt: Bool = false, _ body: () async throws -> T) async throws -> T {
        if exempt { return try await body() }
        let lease = try await slots.acquire(AdmissionTicket(user: user))
        defer { lease.release() }
        return try await body()
    }

    // MARK: Health

    public func hello(request: Tavana_Worker_V1_HelloRequest, context: ServerContext) async throws -> Tavana_Worker_V1_HelloReply {
        var leased = 0
        if request.hasGateway {
            try await admit(request.gateway)
            let draining = isDraining
            // The session table has refused an older epoch already; a lease refusal can only
            // follow from the same rule.
            leased = (try? leases.withLock { l in
                try l.renew(gateway: request.gateway.gatewayID, epoch: request.gateway.epoch,
                            wanted: Int(request.wantedSlots), now: .now, draining: draining)
            }) ?? 0
        }
        let snapshot = slots.snapshot
        var reply = Tavana_Worker_V1_HelloReply()
        reply.leasedSlots = UInt32(clamping: leased)
        reply.workerID = status.workerID
        reply.slots = UInt32(clamping: snapshot.slots)
        reply.slotsUsed = UInt32(clamping: snapshot.running)
        reply.sessions = UInt32(clamping: sessionCount)
        reply.memoryLimitBytes = status.memoryLimitBytes
        reply.draining = isDraining
        reply.invalidated = status.invalidated() ?? ""
        reply.sessionTtlSeconds = UInt32(clamping: table.withLock { $0.ttl }.components.seconds)
        reply.version = TavanaBuild.version
        return reply
    }

    // MARK: Sessions

    public func openSession(request: Tavana_Worker_V1_OpenSessionRequest, context: ServerContext) async throws -> Tavana_Worker_V1_OpenSessionReply {
        try await admit(request.gateway)
        var reply = Tavana_Worker_V1_OpenSessionReply()
        guard !isDraining else {
            reply.failure = WireFailure(WorkerUnavailable("the worker is draining and opens no new sessions"))
            return reply
        }
        do {
            let session = try await worker.openSession(SessionOptions(user: request.user, setup: request.setup))
            reply.sessionID = table.withLock { $0.add(Record(session: session), owner: owner(request.gateway)) }
        } catch {
            reply.failure = WireFailure(error)
        }
        return reply
    }

    public func closeSession(request: Tavana_Worker_V1_SessionRequest, context: ServerContext) async throws -> Tavana_Worker_V1_SessionReply {
        try await admit(request.gateway)
        if let record = table.withLock({ $0.remove(request.sessionID, owner: owner(request.gateway)) }) {
            await record.session.close()
        }
        return Tavana_Worker_V1_SessionReply()
    }

    public func interrupt(request: Tavana_Worker_V1_SessionRequest, context: ServerContext) async throws -> Tavana_Worker_V1_SessionReply {
        let record = try await record(request.gateway, request.sessionID)
        record.interrupt()
        return Self.sessionReply(record, nil)
    }

    static func sessionReply(_ record: Record, _ error: (any Error)?) -> Tavana_Worker_V1_SessionReply {
        var reply = Tavana_Worker_V1_SessionReply()
        reply.pins = UInt32(record.session.pins.rawValue)
        if let error { reply.failure = WireFailure(error) }
        return reply
    }

    // MARK: Statements

    public func prepare(request: Tavana_Worker_V1_PrepareRequest, context: ServerContext) async throws -> Tavana_Worker_V1_PrepareReply {
        let record = try await record(request.gateway, request.sessionID)
        for id in request.closeFirst {
            if let handle = record.statements.withLock({ $0.removeValue(forKey: id) }) {
                await record.session.closeStatement(handle)
            }
        }
        var reply = Tavana_Worker_V1_PrepareReply()
        do {
            let handle = try await record.session.prepare(request.sql)
            record.statements.withLock { $0[handle.id] = handle }
            reply.statementID = handle.id
            reply.description_p = WireStatementDescription(handle.description)
        } catch {
            reply.failure = WireFailure(error)
        }
        reply.pins = UInt32(record.session.pins.rawValue)
        return reply
    }

    public func closeStatement(request: Tavana_Worker_V1_StatementRequest, context: ServerContext) async throws -> Tavana_Worker_V1_SessionReply {
        let record = try await record(request.gateway, request.sessionID)
        if let handle = record.statements.withLock({ $0.removeValue(forKey: request.statementID) }) {
            await record.session.closeStatement(handle)
        }
        return Self.sessionReply(record, nil)
    }

    /// The generated service's `Execute`, for peers that read the generated messages; the
    /// worker's port serves `execute(request:frames:context:)` instead (`WorkerEndpointService`).
    public func execute(
        request: Tavana_Worker_V1_ExecuteRequest, response: RPCWriter<Tavana_Worker_V1_ExecuteReply>, context: ServerContext
    ) async throws {
        try await execute(request: request, frames: RPCWriter(wrapping: ReplyWriter(base: response)), context: context)
    }

    /// Runs a prepared statement: its header, then one frame per batch, each written only
    /// when the transport takes it (HTTP/2 flow control holds DuckDB back), or a failure.
    public func execute(
        request: Tavana_Worker_V1_ExecuteRequest, frames response: RPCWriter<ExecuteFrame>, context: ServerContext
    ) async throws {
        let record = try await record(request.gateway, request.sessionID)
        let interruptsAtArrival = record.interruptCount
        // A gateway that goes away (its client disconnected or cancelled) cancels this call
        // (grpc-swift signals that through the RPC's cancellation handler, not the task's);
        // DuckDB is interrupted rather than left running for nobody.
        let running = RunningFlag()
        func fail(_ error: any Error) async throws {
            // The statement is over: the gateway's cancel once it has read the failure must
            // not interrupt the session's next statement.
            running.set(false)
            var reply = Tavana_Worker_V1_ExecuteReply()
            reply.failure = WireFailure(error)
            try await response.write(.reply(reply))
        }
        guard let handle = record.statements.withLock({ $0[request.statementID] }) else {
            return try await fail(WorkerUnavailable("prepared statement \(request.statementID) is not open on this worker"))
        }
        let parameters: [DuckDBValue]
        do {
            parameters = try request.parameters.map { try $0.decoded() }
        } catch {
            return try await fail(error)
        }
        let session = record.session
        try await withRPCCancellationHandler {
            running.set(true)
            defer { running.set(false) }
            // A gateway's catalog query takes no slot (it must not wait behind queries), and
            // neither does what the gateway admits without one (`AdmissionRule`: transaction
            // control, settings): otherwise a BEGIN would queue here behind running queries
            // that the gateway's own admission lets it pass.
            let exempt = request.catalog || !AdmissionRule.needsSlot(handle.description.statementType)
            try await inSlot(user: session.user, unless: exempt) {
                let stream: any ResultStream
                do {
                    try record.checkNotInterrupted(since: interruptsAtArrival, call: running)
                    stream = try await session.execute(handle, parameters: parameters)
                } catch {
                    return try await fail(error)
                }
                defer { stream.close() }
                // A query's work happens as its rows are fetched: one interrupted while it was
                // starting ends here rather than running unseen.
                if handle.description.statementType == .select {
                    do {
                        try record.checkNotInterrupted(since: interruptsAtArrival, call: running)
                    } catch {
                        return try await fail(error)
                    }
                }
                var header = Tavana_Worker_V1_ResultHeader()
                header.columns = stream.columns.map(WireColumn.init)
                header.statementType = stream.statementType.rawValue
                if let changed = stream.rowsChanged {
                    header.hasRowsChanged_p = true
                    header.rowsChanged = Int64(changed)
                }
                let schema: Schema
                do {
                    schema = try await stream.schema()
                } catch {
                    return try await fail(error)
                }
                header.arrowSchema = WireSchema.encode(schema)
                header.pins = UInt32(session.pins.rawValue)
                var first = Tavana_Worker_V1_ExecuteReply()
                first.header = header
                try await response.write(.reply(first))
                // Batches are joined as for a Flight client (`BatchCoalescer`) and encoded
                // here, so that the gateway forwards them to Flight clients as they are.
                // While one is written the next is pulled (DuckDB and the network overlap);
                // nothing further until that write is done.
                let batches = BatchCoalescer { try await stream.next() }
                var writer = IPCStreamWriter(schema: schema)
                func pull() async -> Result<[RecordBatch], any Error> {
                    do { return .success(try await batches.next()) } catch { return .failure(error) }
                }
                var current = await pull()
                while true {
                    let parts: [RecordBatch]
                    switch current {
                    case .success(let p): parts = p
                    case .failure(let error): return try await fail(error)
                    }
                    guard !parts.isEmpty else { return }
                    var messages: [IPCMessage] = []
                    do {
                        for part in parts { messages += try writer.messages(for: part) }
                    } catch {
                        return try await fail(error)
                    }
                    async let following = pull()
                    try await response.write(.batch(messages))
                    withExtendedLifetime(parts) {}
                    current = await following
                }
            }
        } onCancelRPC: {
            // Only while this call's statement runs: a cancel that arrives after it ended
            // (the gateway dropped a stream it had read enough of) must not interrupt the
            // session's next statement.
            running.cancel()
            if running.value { session.interrupt() }
        }
    }

    public func run(request: Tavana_Worker_V1_RunRequest, context: ServerContext) async throws -> Tavana_Worker_V1_RunReply {
        let record = try await record(request.gateway, request.sessionID)
        let session = record.session
        let interruptsAtArrival = record.interruptCount
        var reply = Tavana_Worker_V1_RunReply()
        do {
            let running = RunningFlag()
            let changed = try await withRPCCancellationHandler {
                running.set(true)
                defer { running.set(false) }
                return try await inSlot(user: session.user) {
                    try record.checkNotInterrupted(since: interruptsAtArrival, call: running)
                    return try await session.run(request.sql)
                }
            } onCancelRPC: {
                running.cancel()
                if running.value { session.interrupt() }
            }
            if let changed {
                reply.hasRowsChanged_p = true
                reply.rowsChanged = Int64(changed)
            }
        } catch {
            reply.failure = WireFailure(error)
        }
        reply.pins = UInt32(session.pins.rawValue)
        return reply
    }

    public func transaction(request: Tavana_Worker_V1_TransactionRequest, context: ServerContext) async throws -> Tavana_Worker_V1_SessionReply {
        let record = try await record(request.gateway, request.sessionID)
        do {
            switch request.step {
            case .begin: try await record.session.beginTransaction()
            case .commit: try await record.session.commit()
            case .rollback, .UNRECOGNIZED: try await record.session.rollback()
            }
            return Self.sessionReply(record, nil)
        } catch {
            return Self.sessionReply(record, error)
        }
    }

    // MARK: Loads

    /// What a load does after its first message: append what arrives, then finish.
    private func serveLoad(
        _ record: Record, start: () async throws -> Void, body: () async throws -> Int, abort: () async -> Void,
        response: RPCWriter<Tavana_Worker_V1_LoadReply>
    ) async throws {
        var reply = Tavana_Worker_V1_LoadReply()
        do {
            try await start()
        } catch {
            reply.failure = WireFailure(error)
            reply.pins = UInt32(record.session.pins.rawValue)
            return try await response.write(reply)
        }
        var started = Tavana_Worker_V1_LoadReply()
        started.started = true
        started.pins = UInt32(record.session.pins.rawValue)
        do {
            try await response.write(started)
            reply.rows = Int64(try await body())
        } catch let error as RPCError {
            await abort()
            throw error
        } catch is CancellationError {
            await abort()
            throw CancellationError()
        } catch {
            await abort()
            reply.failure = WireFailure(error)
        }
        reply.pins = UInt32(record.session.pins.rawValue)
        try await response.write(reply)
    }

    public func loadArrow(
        request: RPCAsyncSequence<Tavana_Worker_V1_LoadArrowRequest, any Error>,
        response: RPCWriter<Tavana_Worker_V1_LoadReply>, context: ServerContext
    ) async throws {
        var parts = request.makeAsyncIterator()
        guard let first = try await parts.next(), case .target(let target) = first.part else {
            throw RPCError(code: .invalidArgument, message: "a load starts with its target")
        }
        let record = try await record(target.gateway, target.sessionID)
        let load = Mutex<(any ArrowLoad)?>(nil)
        let decoder = Mutex<IPCMessageDecoder?>(nil)
        try await serveLoad(record, start: {
            let schema = try WireSchema.decode(target.arrowSchema)
            let d = try IPCMessageDecoder(schema: schema)
            decoder.withLock { $0 = d }
            let opened = try await record.session.loadArrow(ArrowLoadRequest(
                catalog: target.hasCatalog ? target.catalog : nil, schema: target.hasSchema ? target.schema : nil,
                table: target.table, temporary: target.temporary,
                ifExists: [.fail, .append, .replace][Int(clamping: min(max(target.ifExists, 0), 2))],
                ifMissing: target.ifMissing == 1 ? .fail : .create, arrowSchema: schema))
            load.withLock { $0 = opened }
        }, body: {
            guard let opened = load.withLock({ $0 }) else { throw WireError("the load has not begun") }
            while true {
                guard let part = try await parts.next() else {
                    throw CancellationError()  // ended without `finish`: aborted
                }
                if case .finish = part.part { break }
                guard case .batch(let batch) = part.part else {
                    throw WireError("a load sends its target once, then batches")
                }
                for message in batch.messages {
                    let decoded = try decoder.withLock { d -> IPCMessageDecoder.Decoded in
                        guard d != nil else { throw WireError("the load has not begun") }
                        return try d!.decode(metadata: [UInt8](message.metadata), body: [UInt8](message.body))
                    }
                    if case .recordBatch(let b) = decoded { try await opened.append(b) }
                }
            }
            return try await opened.finish()
        }, abort: {
            await load.withLock { $0 }?.abort()
        }, response: response)
    }

    public func loadCSV(
        request: RPCAsyncSequence<Tavana_Worker_V1_LoadCSVRequest, any Error>,
        response: RPCWriter<Tavana_Worker_V1_LoadReply>, context: ServerContext
    ) async throws {
        var parts = request.makeAsyncIterator()
        guard let first = try await parts.next(), case .target(let target) = first.part else {
            throw RPCError(code: .invalidArgument, message: "a load starts with its target")
        }
        let record = try await record(target.gateway, target.sessionID)
        let load = Mutex<(any CSVLoad)?>(nil)
        try await serveLoad(record, start: {
            guard let delimiter = UInt8(exactly: target.delimiter), let quote = UInt8(exactly: target.quote),
                  let escape = UInt8(exactly: target.escape)
            else { throw WireError("CSV delimiter, quote and escape are single bytes") }
            let opened = try await record.session.loadCSV(CSVLoadRequest(
                table: target.table, columns: target.columns, header: target.header, delimiter: delimiter,
                quote: quote, escape: escape, null: target.null))
            load.withLock { $0 = opened }
        }, body: {
            guard let opened = load.withLock({ $0 }) else { throw WireError("the load has not begun") }
            while true {
                guard let part = try await parts.next() else {
                    throw CancellationError()  // ended without `finish`: aborted
                }
                if case .finish = part.part { break }
                guard case .data(let data) = part.part else { throw WireError("a load sends its target once, then data") }
                try await opened.write([UInt8](data))
            }
            return try await opened.finish()
        }, abort: {
            await load.withLock { $0 }?.abort()
        }, response: response)
    }

    // MARK: Vocabulary

    public func vocabulary(request: Tavana_Worker_V1_VocabularyRequest, context: ServerContext) async throws -> Tavana_Worker_V1_VocabularyReply {
        do {
            return Tavana_Worker_V1_VocabularyReply(try await worker.vocabulary())
        } catch {
            var reply = Tavana_Worker_V1_VocabularyReply()
            reply.failure = WireFailure(error)
            return reply
        }
    }
}

/// Writes frames as generated replies, for the generated service's `Execute`.
struct ReplyWriter: RPCWriterProtocol {
    let base: RPCWriter<Tavana_Worker_V1_ExecuteReply>

    func write(_ frame: ExecuteFrame) async throws {
        switch frame {
        case .reply(let reply):
            try await base.write(reply)
        case .batch(let messages):
            var reply = Tavana_Worker_V1_ExecuteReply()
            reply.batch = WireBatch(messages)
            try await base.write(reply)
        }
    }

    func write(contentsOf frames: some Sequence<ExecuteFrame>) async throws {
        for frame in frames { try await write(frame) }
    }
}

/// The worker's gRPC service: the generated methods, with `Execute` served through the
/// frame codec (`ExecuteFrameSerializer`), whose bytes are the generated message's.
public struct WorkerEndpointService: RegistrableRPCService {
    public let endpoint: WorkerEndpoint

    public init(_ endpoint: WorkerEndpoint) { self.endpoint = endpoint }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        endpoint.registerMethods(with: &router)
        let endpoint = self.endpoint
        router.registerHandler(
            forMethod: Tavana_Worker_V1_Worker.Method.Execute.descriptor,
            deserializer: ProtobufDeserializer<Tavana_Worker_V1_ExecuteRequest>(),
            serializer: ExecuteFrameSerializer(),
            handler: { request, context in
                let message = try await ServerRequest(stream: request).message
                return StreamingServerResponse(metadata: [:]) { frames in
                    try await endpoint.execute(request: message, frames: frames, context: context)
                    return [:]
                }
            })
    }
}

/// Whether a call's statement is still running, for its cancellation handler.
final class RunningFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    private let cancelledFlag = Atomic<Bool>(false)
    func set(_ value: Bool) { flag.store(value, ordering: .sequentiallyConsistent) }
    var value: Bool { flag.load(ordering: .sequentiallyConsistent) }
    /// Set when the gateway cancelled this call: a statement it has not started yet (still
    /// waiting for a slot) is not started at all.
    func cancel() { cancelledFlag.store(true, ordering: .sequentiallyConsistent) }
    var cancelled: Bool { cancelledFlag.load(ordering: .sequentiallyConsistent) }
}
