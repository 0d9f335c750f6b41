import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// GetFlightInfo and GetSchema: starting what a command asks for, in a session of its own
/// or a transaction's, and handing out the ticket its DoGet fetches.
extension FlightSQLService {

    func getFlightInfo(
        request: Arrow_Flight_Protocol_FlightDescriptor,
        context: ServerContext
    ) async throws -> Arrow_Flight_Protocol_FlightInfo {
        do {
            return try await flightInfo(for: try command(of: request), descriptor: request, owner: owner(context))
        } catch {
            throw logged(error, "GetFlightInfo")
        }
    }

    /// Starts a command and parks its result under a ticket; the FlightInfo names it.
    func flightInfo(
        for command: Command, descriptor: Arrow_Flight_Protocol_FlightDescriptor, owner: LeaseOwner
    ) async throws -> Arrow_Flight_Protocol_FlightInfo {
        let pending = try await start(command, owner: owner)
        // The statement has run (DDL and DML are done now); until a DoGet reads the
        // rows, the result waits without holding a query slot.
        if case .cursor(let cursor) = pending.source { cursor.suspend() }
        let id = tickets.addPending(pending)
        var ticket = Arrow_Flight_Protocol_Sql_TicketStatementQuery()
        ticket.statementHandle = Data(id.utf8)
        var info = Arrow_Flight_Protocol_FlightInfo()
        info.schema = Data(IPCStreamWriter(schema: pending.schema).schemaMessage().encapsulated())
        info.flightDescriptor = descriptor
        info.totalRecords = -1
        info.totalBytes = -1
        var endpoint = Arrow_Flight_Protocol_FlightEndpoint()
        endpoint.ticket.ticket = try packAny(ticket)
        info.endpoint = [endpoint]
        return info
    }

    func getSchema(
        request: Arrow_Flight_Protocol_FlightDescriptor,
        context: ServerContext
    ) async throws -> Arrow_Flight_Protocol_SchemaResult {
        do {
            let pending = try await start(try command(of: request), owner: owner(context))
            pending.release()
            var result = Arrow_Flight_Protocol_SchemaResult()
            result.schema = Data(IPCStreamWriter(schema: pending.schema).schemaMessage().encapsulated())
            return result
        } catch {
            throw logged(error, "GetSchema")
        }
    }

    func command(of descriptor: Arrow_Flight_Protocol_FlightDescriptor) throws -> Command {
        guard descriptor.type == .cmd else {
            throw RPCError(code: .invalidArgument, message: "Tavana serves command descriptors only (path descriptors name nothing)")
        }
        return try Command.decode(descriptor.cmd)
    }

    /// Starts whatever a command asks for and returns the result a ticket will stream.
    func start(_ command: Command, owner: LeaseOwner) async throws -> PendingResult {
        switch command {
        case .statementQuery(let sql, let transaction):
            return try await runInNewSession(sql: sql, transaction: transaction, owner: owner)
        case .preparedQuery(let id):
            let handle = try leases.statement(id, owner: owner)
            // Several bound rows run the query once per row (see ResultSource.perParameterRow).
            let rows = handle.parameterRows
            let params = rows.first ?? []
            let statement = handle.statement
            let cursor = try await handle.session.execute(statement, parameters: params)
            do {
                let schema = try await cursor.schema()
                let source: ResultSource = rows.count > 1
                    ? .perParameterRow(first: cursor, rest: Array(rows.dropFirst()), statement: statement)
                    : .cursor(cursor)
                return PendingResult(schema: schema, source: source, session: handle.session,
                                     ownsSession: false, ttl: tickets.ticketTTL)
            } catch {
                cursor.close()
                throw error
            }
        case .statementUpdate, .preparedUpdate, .ingest:
            throw RPCError(code: .invalidArgument, message: "updates go through DoPut, not GetFlightInfo")
        case .sqlInfo(let ids):
            let vocabulary = try await scheduler.vocabulary()
            let batch = Metadata.sqlInfo(ids, serverVersion: serverVersion, preparedTimeout: leases.statementIdleLifetime,
                                         vocabulary: vocabulary)
            return PendingResult(schema: batch.schema, source: .batches([batch]), session: nil, ownsSession: false,
                                 ttl: tickets.ticketTTL)
        case .xdbcTypeInfo(let request):
            let batch = Metadata.xdbcTypeInfo(request, vocabulary: try await scheduler.vocabulary())
            return PendingResult(schema: batch.schema, source: .batches([batch]), session: nil, ownsSession: false,
                                 ttl: tickets.ticketTTL)
        case .tables(let request) where request.includeSchema:
            let (session, owned) = try await session(for: nil, owner: owner)
            defer { if owned { session.close() } }
            let batch = try await Metadata.tablesWithSchemas(request, session: session)
            return PendingResult(schema: batch.schema, source: .batches([batch]), session: nil, ownsSession: false,
                                 ttl: tickets.ticketTTL)
        default:
            let (sql, params) = try Metadata.query(for: command)
            return try await runInNewSession(sql: sql, parameters: params, nonNullable: Metadata.nonNullable(command),
                                             catalog: true, owner: owner)
        }
    }

    /// The caller's transaction's session, else the session its cookie names, else a new one
    /// (`owned`: the caller then closes it).
    func session(for transaction: String?, owner: LeaseOwner) async throws -> (session: Session, owned: Bool) {
        if let transaction { return (try leases.transactionSession(transaction, owner: owner), false) }
        if let kept = clientSession(owner) { return (kept, false) }
        return (try await scheduler.openSession(user: owner.user, door: .flight), true)
    }

    /// Prepares and starts `sql` in a session of its own, owned by the returned result, or
    /// in the session of the given transaction.
    func runInNewSession(
        sql: String, parameters: [DuckDBValue] = [], nonNullable: Set<String> = [], transaction: String? = nil,
        catalog: Bool = false, owner: LeaseOwner
    ) async throws -> PendingResult {
        let (session, owned) = try await session(for: transaction, owner: owner)
        do {
            let statement = try await session.prepare(sql)
            do {
                // A client that gives up on GetFlightInfo (deadline, cancel) stops the query.
                let cursor = try await withTaskCancellationHandler {
                    try await session.execute(statement, parameters: parameters, catalog: catalog)
                } onCancel: {
                    session.cancel()
                }
                do {
                    var schema = try await cursor.schema()
                    for i in schema.fields.indices where nonNullable.contains(schema.fields[i].name) {
                        schema.fields[i].nullable = false
                    }
                    return PendingResult(schema: schema, source: .cursor(cursor), session: session, ownsSession: owned,
                                         statement: statement, ttl: tickets.ticketTTL)
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
}
