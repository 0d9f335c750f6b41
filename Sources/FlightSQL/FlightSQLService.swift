import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// Implements the Flight service with Flight SQL semantics over the scheduler.
///
/// Sessions: Flight has no connection identity, so state lives with handles. A statement
/// query (`CommandStatementQuery`, plain SQL, metadata commands) runs in a fresh session that
/// its ticket owns and that closes when `DoGet` ends (or the ticket expires). A prepared
/// statement handle owns its session until `ClosePreparedStatement` (or 30 idle minutes).
/// `GetFlightInfo` starts the query (through admission control) to learn the exact result
/// schema; `DoGet` streams it. Unfetched tickets give their slot back after 60 seconds.
struct FlightSQLService: Arrow_Flight_Protocol_FlightService.SimpleServiceProtocol {
    let scheduler: Scheduler
    let registry: HandleRegistry
    let serverVersion: String
    let vocabulary: VocabularyCache
    let logger: Logger

    // MARK: - Handshake and discovery

    func handshake(
        request: RPCAsyncSequence<Arrow_Flight_Protocol_HandshakeRequest, any Error>,
        response: RPCWriter<Arrow_Flight_Protocol_HandshakeResponse>,
        context: ServerContext
    ) async throws {
        for try await message in request {
            var reply = Arrow_Flight_Protocol_HandshakeResponse()
            reply.protocolVersion = message.protocolVersion
            try await response.write(reply)
        }
    }

    func listFlights(
        request: Arrow_Flight_Protocol_Criteria,
        response: RPCWriter<Arrow_Flight_Protocol_FlightInfo>,
        context: ServerContext
    ) async throws {}

    func listActions(
        request: Arrow_Flight_Protocol_Empty,
        response: RPCWriter<Arrow_Flight_Protocol_ActionType>,
        context: ServerContext
    ) async throws {
        let actions = [
            ("CreatePreparedStatement", "Prepares a SQL statement; returns a handle and its schemas"),
            ("ClosePreparedStatement", "Closes a prepared statement handle"),
        ]
        for (type, description) in actions {
            try await response.write(.with { $0.type = type; $0.description_p = description })
        }
    }

    func pollFlightInfo(
        request: Arrow_Flight_Protocol_FlightDescriptor,
        context: ServerContext
    ) async throws -> Arrow_Flight_Protocol_PollInfo {
        throw RPCError(code: .unimplemented, message: "PollFlightInfo is not supported; use GetFlightInfo")
    }

    func doExchange(
        request: RPCAsyncSequence<Arrow_Flight_Protocol_FlightData, any Error>,
        response: RPCWriter<Arrow_Flight_Protocol_FlightData>,
        context: ServerContext
    ) async throws {
        throw RPCError(code: .unimplemented, message: "DoExchange is not supported")
    }

    // MARK: - Queries

    func getFlightInfo(
        request: Arrow_Flight_Protocol_FlightDescriptor,
        context: ServerContext
    ) async throws -> Arrow_Flight_Protocol_FlightInfo {
        do {
            let command = try command(of: request)
            let pending = try await start(command)
            // The statement has run (DDL and DML are done now); until a DoGet reads the
            // rows, the result waits without holding a query slot.
            if case .cursor(let cursor) = pending.source { cursor.suspend() }
            let id = registry.addPending(pending)
            var ticket = Arrow_Flight_Protocol_Sql_TicketStatementQuery()
            ticket.statementHandle = Data(id.utf8)
            var info = Arrow_Flight_Protocol_FlightInfo()
            info.schema = Data(IPCStreamWriter(schema: pending.schema).schemaMessage().encapsulated())
            info.flightDescriptor = request
            info.totalRecords = -1
            info.totalBytes = -1
            var endpoint = Arrow_Flight_Protocol_FlightEndpoint()
            endpoint.ticket.ticket = try packAny(ticket)
            info.endpoint = [endpoint]
            return info
        } catch {
            throw logged(error, "GetFlightInfo")
        }
    }

    func getSchema(
        request: Arrow_Flight_Protocol_FlightDescriptor,
        context: ServerContext
    ) async throws -> Arrow_Flight_Protocol_SchemaResult {
        do {
            let pending = try await start(try command(of: request))
            pending.release()
            var result = Arrow_Flight_Protocol_SchemaResult()
            result.schema = Data(IPCStreamWriter(schema: pending.schema).schemaMessage().encapsulated())
            return result
        } catch {
            throw logged(error, "GetSchema")
        }
    }

    func doGet(
        request: Arrow_Flight_Protocol_Ticket,
        response: RPCWriter<Arrow_Flight_Protocol_FlightData>,
        context: ServerContext
    ) async throws {
        try await doGet(ticket: request, context: context) { message in
            try await response.write(flightData(message))
        }
    }

    /// Streams a ticket's result as Arrow IPC messages through `write` (the generated
    /// `FlightData` path above, or `FlightDoGetFastPath`).
    func doGet(
        ticket request: Arrow_Flight_Protocol_Ticket,
        context: ServerContext,
        write: @escaping @Sendable (IPCMessage) async throws -> Void
    ) async throws {
        let id = Self.ticketID(request.ticket)
        guard let pending = registry.takePending(id) else {
            throw RPCError(code: .notFound, message: "unknown or expired ticket (a ticket is good for one DoGet within \(registry.ticketTTL))")
        }
        // Take a query slot before anything is sent. If the queue is full the ticket stays
        // valid, so that the client can retry the DoGet.
        if let cursor = pending.source.startedCursor, let session = pending.session {
            do {
                try await session.resume(cursor)
            } catch {
                registry.putBack(id, pending)
                throw logged(error, "DoGet")
            }
        }
        registry.setStreaming(id, pending)
        defer {
            registry.setStreaming(id, nil)
            pending.release()
        }
        do {
            try await withTaskCancellationHandler {
                var writer = IPCStreamWriter(schema: pending.schema)
                try await write(writer.schemaMessage())
                switch pending.source {
                case .cursor(let cursor):
                    try await stream(cursor, with: &writer, to: write)
                case .batches(let batches):
                    for batch in batches {
                        for message in try writer.messages(for: batch) {
                            try await write(message)
                        }
                    }
                case .perParameterRow(let first, let rest, let statement):
                    try await stream(first, with: &writer, to: write)
                    // One run at a time: the finished run's slot goes back before the next
                    // queues for one (with one slot, holding it would deadlock).
                    first.close()
                    guard let session = pending.session else { break }
                    for row in rest {
                        let cursor = try await session.execute(statement, parameters: row)
                        defer { cursor.close() }
                        try await stream(cursor, with: &writer, to: write)
                    }
                }
            } onCancel: {
                pending.session?.cancel()
            }
        } catch {
            throw logged(error, "DoGet")
        }
    }

    /// Writes a running query's batches, joined by `BatchCoalescer`. While one batch is
    /// written the next is pulled and joined (DuckDB chunk → Arrow on the worker's threads),
    /// so the two overlap on separate cores; nothing further is pulled until that write is
    /// done (backpressure: two batches at most). A batch outlives its messages'
    /// serialization, which happens inside `write`.
    func stream(
        _ cursor: QueryResult, with writer: inout IPCStreamWriter,
        to write: @Sendable (IPCMessage) async throws -> Void
    ) async throws {
        let batches = BatchCoalescer(cursor)
        var current = try await batches.next()
        while !current.isEmpty {
            async let following = batches.next()
            for batch in current {
                for message in try writer.messages(for: batch) {
                    try await write(message)
                }
            }
            withExtendedLifetime(current) {}
            current = try await following
        }
    }

    /// The registry id a ticket names: our tickets are Any-packed `TicketStatementQuery`s;
    /// plain bytes are accepted as the id itself.
    static func ticketID(_ ticket: Data) -> String {
        if let any = try? Google_Protobuf_Any(serializedBytes: ticket),
           any.isA(Arrow_Flight_Protocol_Sql_TicketStatementQuery.self),
           let t = try? Arrow_Flight_Protocol_Sql_TicketStatementQuery(unpackingAny: any) {
            return String(decoding: t.statementHandle, as: UTF8.self)
        }
        return String(decoding: ticket, as: UTF8.self)
    }

    func flightData(_ message: IPCMessage) -> FlightData {
        var data = FlightData()
        data.dataHeader = Data(message.metadata)
        // One copy from the Arrow buffers (still in DuckDB's memory) into the protobuf field.
        var body = Data()
        body.reserveCapacity(message.bodyLength)
        message.appendBody(to: &body)
        data.dataBody = body
        return data
    }

    func command(of descriptor: Arrow_Flight_Protocol_FlightDescriptor) throws -> Command {
        guard descriptor.type == .cmd else {
            throw RPCError(code: .invalidArgument, message: "Tavana serves command descriptors only (path descriptors name nothing)")
        }
        return try Command.decode(descriptor.cmd)
    }

    /// Starts whatever a command asks for and returns the result a ticket will stream.
    func start(_ command: Command) async throws -> PendingResult {
        switch command {
        case .statementQuery(let sql, let transaction):
            return try await runInNewSession(sql: sql, transaction: transaction)
        case .preparedQuery(let id):
            let handle = try preparedHandle(id)
            // Several bound rows run the query once per row (see ResultSource.perParameterRow).
            let rows = handle.parameters
            let params = rows.first ?? []
            let statement = handle.statement
            let cursor = try await handle.session.execute(statement, parameters: params)
            do {
                let schema = try await cursor.schema()
                let source: ResultSource = rows.count > 1
                    ? .perParameterRow(first: cursor, rest: Array(rows.dropFirst()), statement: statement)
                    : .cursor(cursor)
                return PendingResult(schema: schema, source: source, session: handle.session,
                                     ownsSession: false, ttl: registry.ticketTTL)
            } catch {
                cursor.close()
                throw error
            }
        case .statementUpdate, .preparedUpdate, .ingest:
            throw RPCError(code: .invalidArgument, message: "updates go through DoPut, not GetFlightInfo")
        case .sqlInfo(let ids):
            let vocabulary = try await self.vocabulary.vocabulary(scheduler)
            let batch = Metadata.sqlInfo(ids, serverVersion: serverVersion, preparedTimeout: registry.preparedIdleTTL,
                                         vocabulary: vocabulary)
            return PendingResult(schema: batch.schema, source: .batches([batch]), session: nil, ownsSession: false,
                                 ttl: registry.ticketTTL)
        case .xdbcTypeInfo(let request):
            let batch = Metadata.xdbcTypeInfo(request, vocabulary: try await vocabulary.vocabulary(scheduler))
            return PendingResult(schema: batch.schema, source: .batches([batch]), session: nil, ownsSession: false,
                                 ttl: registry.ticketTTL)
        case .tables(let request) where request.includeSchema:
            let session = try await scheduler.openSession(user: FlightCaller.user ?? "")
            defer { session.close() }
            let batch = try await Metadata.tablesWithSchemas(request, session: session)
            return PendingResult(schema: batch.schema, source: .batches([batch]), session: nil, ownsSession: false,
                                 ttl: registry.ticketTTL)
        default:
            let (sql, params) = try Metadata.query(for: command)
            return try await runInNewSession(sql: sql, parameters: params, nonNullable: Metadata.nonNullable(command))
        }
    }

    func preparedHandle(_ id: String) throws -> PreparedHandle {
        guard let handle = registry.prepared(id) else {
            throw RPCError(code: .notFound, message: "unknown or closed prepared statement handle")
        }
        return handle
    }

    /// The transaction's session, or a new one (which the caller then owns).
    func session(for transaction: String?) async throws -> Session {
        if let transaction { return try transactionSession(transaction) }
        return try await scheduler.openSession(user: FlightCaller.user ?? "")
    }

    /// The session of an open transaction.
    func transactionSession(_ id: String) throws -> Session {
        guard let session = registry.transaction(id) else {
            throw RPCError(code: .notFound, message: "unknown or finished transaction")
        }
        return session
    }

    /// Prepares and starts `sql` in a session of its own, owned by the returned result, or
    /// in the session of the given transaction.
    func runInNewSession(
        sql: String, parameters: [DuckDBValue] = [], nonNullable: Set<String> = [], transaction: String? = nil
    ) async throws -> PendingResult {
        let owned = transaction == nil
        let session = try await session(for: transaction)
        do {
            let statement = try await session.prepare(sql)
            do {
                // A client that gives up on GetFlightInfo (deadline, cancel) stops the query.
                let cursor = try await withTaskCancellationHandler {
                    try await session.execute(statement, parameters: parameters)
                } onCancel: {
                    session.cancel()
                }
                do {
                    var schema = try await cursor.schema()
                    for i in schema.fields.indices where nonNullable.contains(schema.fields[i].name) {
                        schema.fields[i].nullable = false
                    }
                    return PendingResult(schema: schema, source: .cursor(cursor), session: session, ownsSession: owned,
                                         statement: statement, ttl: registry.ticketTTL)
                } catch {
                    cursor.close()
                    throw error
                }
            } catch {
                if !owned { await session.close(statement) }
                throw error
            }
        } catch {
            if owned { session.close() }
            throw error
        }
    }

    // MARK: - Updates and parameters

    func doPut(
        request: RPCAsyncSequence<Arrow_Flight_Protocol_FlightData, any Error>,
        response: RPCWriter<Arrow_Flight_Protocol_PutResult>,
        context: ServerContext
    ) async throws {
        do {
            var messages = request.makeAsyncIterator()
            guard let first = try await messages.next() else {
                throw RPCError(code: .invalidArgument, message: "DoPut without any message")
            }
            guard first.hasFlightDescriptor else {
                throw RPCError(code: .invalidArgument, message: "the first DoPut message carries no FlightDescriptor")
            }
            let command = try command(of: first.flightDescriptor)
            switch command {
            case .statementUpdate(let sql, let transaction):
                let count = try await executeUpdate(sql: sql, transaction: transaction)
                try await response.write(updateResult(count))
            case .preparedQuery(let id):
                let handle = try preparedHandle(id)
                handle.parameters = try await parameterRows(first: first, rest: &messages)
                var result = Arrow_Flight_Protocol_Sql_DoPutPreparedStatementResult()
                result.preparedStatementHandle = Data(id.utf8)
                var put = Arrow_Flight_Protocol_PutResult()
                put.appMetadata = try result.serializedData()
                try await response.write(put)
            case .preparedUpdate(let id):
                let handle = try preparedHandle(id)
                let rows = try await parameterRows(first: first, rest: &messages)
                let count = try await executePreparedUpdate(handle, rows: rows.isEmpty ? [handle.parameters.last ?? []] : rows)
                try await response.write(updateResult(count))
            case .ingest(let ingest):
                // ADBC's Flight SQL driver never sends a transaction id with an ingest, even
                // with autocommit off; an ingest without one joins the transaction the same
                // user has open over the same connection, if there is exactly one.
                let transaction = transactionID(ingest.hasTransactionID ? ingest.transactionID : nil)
                    ?? registry.soleTransaction(of: context.remotePeer, user: FlightCaller.user)
                logger.debug("ingest", metadata: [
                    "table": "\(ingest.table)", "temporary": "\(ingest.temporary)",
                    "transaction": "\(transaction ?? "none")",
                ])
                let session = try transaction.map(transactionSession)
                let count = try await Ingest.run(ingest, first: first, rest: &messages, scheduler: scheduler, transaction: session)
                try await response.write(updateResult(count))
            default:
                throw RPCError(code: .invalidArgument, message: "this command is not accepted by DoPut")
            }
        } catch {
            throw logged(error, "DoPut")
        }
    }

    func updateResult(_ count: Int64) throws -> Arrow_Flight_Protocol_PutResult {
        var result = Arrow_Flight_Protocol_Sql_DoPutUpdateResult()
        result.recordCount = count
        var put = Arrow_Flight_Protocol_PutResult()
        put.appMetadata = try result.serializedData()
        return put
    }

    /// Runs a statement that changes rows, in a session of its own; returns the row count
    /// (-1 when DuckDB reports none, e.g. DDL).
    func executeUpdate(sql: String, transaction: String? = nil) async throws -> Int64 {
        let owned = transaction == nil
        let session = try await session(for: transaction)
        defer { if owned { session.close() } }
        let statement = try await session.prepare(sql)
        do {
            let changed = try await withTaskCancellationHandler {
                let cursor = try await session.execute(statement)
                defer { cursor.close() }
                try await cursor.drain()
                return Int64(cursor.rowsChanged ?? -1)
            } onCancel: {
                session.cancel()
            }
            await session.close(statement)
            return changed
        } catch {
            await session.close(statement)
            throw error
        }
    }

    func executePreparedUpdate(_ handle: PreparedHandle, rows: [[DuckDBValue]]) async throws -> Int64 {
        var total: Int64 = 0
        var known = false
        let statement = handle.statement
        for row in rows {
            let cursor = try await handle.session.execute(statement, parameters: row)
            if let n = cursor.rowsChanged { total += Int64(n); known = true }
            try await cursor.drain()
            cursor.close()
        }
        return known ? total : -1
    }

    /// Decodes the parameter rows sent with a `DoPut`: an Arrow IPC stream spread over the
    /// FlightData messages (the first may already hold the schema).
    func parameterRows(
        first: FlightData, rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator
    ) async throws -> [[DuckDBValue]] {
        var upload = UploadStream(first: first)
        return try await upload.parameterRows(from: &rest)
    }

    // MARK: - Actions

    func doAction(
        request: Arrow_Flight_Protocol_Action,
        response: RPCWriter<Arrow_Flight_Protocol_Result>,
        context: ServerContext
    ) async throws {
        func reply(_ body: Data) async throws {
            var out = Arrow_Flight_Protocol_Result()
            out.body = body
            try await response.write(out)
        }
        do {
            switch try ActionRequest.decode(type: request.type, body: request.body) {
            case .createPreparedStatement(let req):
                let result = try await createPrepared(req.query, transaction: transactionID(req.hasTransactionID ? req.transactionID : nil))
                try await reply(try packAny(result))
            case .closePreparedStatement(let req):
                let id = String(decoding: req.preparedStatementHandle, as: UTF8.self)
                registry.removePrepared(id)?.close()
            case .beginTransaction:
                var result = Arrow_Flight_Protocol_Sql_ActionBeginTransactionResult()
                result.transactionID = Data(try await beginTransaction(peer: context.remotePeer).utf8)
                try await reply(try packAny(result))
            case .endTransaction(let req):
                try await endTransaction(String(decoding: req.transactionID, as: UTF8.self), req.action)
            case .cancelFlightInfo(let req):
                var result = Arrow_Flight_Protocol_CancelFlightInfoResult()
                result.status = cancel(req.info) ? .cancelled : .notCancellable
                try await reply(try result.serializedData())
            case .cancelQuery(let info):
                var result = Arrow_Flight_Protocol_Sql_ActionCancelQueryResult()
                result.result = cancel(info) ? .cancelled : .notCancellable
                try await reply(try packAny(result))
            }
        } catch {
            throw logged(error, "DoAction \(request.type)")
        }
    }

    // MARK: - Transactions and cancel

    /// Opens a session that holds a DuckDB transaction until EndTransaction, or until the
    /// connection that began it closes.
    func beginTransaction(peer: String) async throws -> String {
        let session = try await scheduler.openSession(user: FlightCaller.user ?? "")
        do {
            try await session.beginTransaction()
        } catch {
            session.close()
            throw error
        }
        return registry.addTransaction(session, peer: peer, user: FlightCaller.user)
    }

    /// A client connection closed: the transactions it left open are rolled back (as a
    /// PostgreSQL server does when a client goes away mid-transaction).
    func connectionClosed(peer: String) {
        let orphans = registry.removeTransactions(of: peer)
        guard !orphans.isEmpty else { return }
        logger.info("rolling back transactions of a closed connection", metadata: [
            "peer": "\(peer)", "transactions": "\(orphans.count)",
        ])
        for session in orphans {
            Task {
                defer { session.close() }
                try? await session.rollback()
            }
        }
    }

    func endTransaction(_ id: String, _ action: Arrow_Flight_Protocol_Sql_ActionEndTransactionRequest.EndTransaction) async throws {
        let commit: Bool
        switch action {
        case .commit: commit = true
        case .rollback: commit = false
        default: throw RPCError(code: .invalidArgument, message: "EndTransaction needs COMMIT or ROLLBACK")
        }
        guard let session = registry.removeTransaction(id) else {
            throw RPCError(code: .notFound, message: "unknown or finished transaction")
        }
        defer { session.close() }
        if commit { try await session.commit() } else { try await session.rollback() }
    }

    /// Cancels the query behind a FlightInfo's ticket: interrupts it and drops the ticket, or
    /// interrupts the DoGet streaming it. Returns false when the ticket is unknown (fetched
    /// to the end, or expired).
    func cancel(_ info: Arrow_Flight_Protocol_FlightInfo) -> Bool {
        guard let ticket = info.endpoint.first?.ticket.ticket else { return false }
        let id = Self.ticketID(ticket)
        if let pending = registry.takePending(id) {
            pending.session?.cancel()
            pending.release()
            return true
        }
        // Being streamed by a DoGet: interrupting the query ends that stream with CANCELLED.
        if let streaming = registry.streamingResult(id), let session = streaming.session {
            session.cancel()
            return true
        }
        return false
    }

    func createPrepared(_ query: String, transaction: String? = nil) async throws -> Arrow_Flight_Protocol_Sql_ActionCreatePreparedStatementResult {
        let owned = transaction == nil
        let session = try await session(for: transaction)
        do {
            let statement = try await session.prepare(query)
            let id = HandleRegistry.newID()
            let parameterTypes = statement.description.parameterTypes
            let datasetSchema = statement.description.arrowSchema
            registry.addPrepared(PreparedHandle(id: id, session: session, ownsSession: owned, statement: statement, query: query))
            var result = Arrow_Flight_Protocol_Sql_ActionCreatePreparedStatementResult()
            result.preparedStatementHandle = Data(id.utf8)
            let parameterSchema = ArrowParameters.schema(for: parameterTypes)
            result.parameterSchema = Data(IPCStreamWriter(schema: parameterSchema).schemaMessage().encapsulated())
            // The result schema when DuckDB knows it before execution (not when a column's
            // type depends on a parameter); clients then learn it from the query's FlightInfo.
            if let datasetSchema {
                result.datasetSchema = Data(IPCStreamWriter(schema: datasetSchema).schemaMessage().encapsulated())
            }
            return result
        } catch {
            if owned { session.close() }
            throw error
        }
    }

    // MARK: - Errors

    func logged(_ error: any Error, _ what: String) -> RPCError {
        let rpc = rpcError(error)
        if rpc.code == .internalError {
            logger.error("flight call failed", metadata: ["call": "\(what)", "error": "\(error)"])
        } else {
            logger.debug("flight call failed", metadata: ["call": "\(what)", "code": "\(rpc.code)", "error": "\(rpc.message)"])
        }
        return rpc
    }
}
