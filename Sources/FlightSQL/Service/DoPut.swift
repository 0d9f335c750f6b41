import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// DoPut: updates, prepared statements' parameters and bulk ingest.
extension FlightSQLService {

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
                let count = try await executeUpdate(sql: sql, transaction: transaction, owner: owner(context))
                try await response.write(updateResult(count))
            case .preparedQuery(let id):
                let handle = try leases.statement(id, owner: owner(context))
                handle.parameterRows = try await parameterRows(first: first, rest: &messages)
                var result = Arrow_Flight_Protocol_Sql_DoPutPreparedStatementResult()
                result.preparedStatementHandle = Data(id.utf8)
                var put = Arrow_Flight_Protocol_PutResult()
                put.appMetadata = try result.serializedData()
                try await response.write(put)
            case .preparedUpdate(let id):
                let handle = try leases.statement(id, owner: owner(context))
                let rows = try await parameterRows(first: first, rest: &messages)
                let count = try await executePreparedUpdate(handle, rows: rows.isEmpty ? [handle.parameterRows.last ?? []] : rows)
                try await response.write(updateResult(count))
            case .ingest(let ingest):
                // ADBC's Flight SQL driver never sends a transaction id with an ingest, even
                // with autocommit off; an ingest without one joins the transaction the same
                // user has open over the same connection, if there is exactly one.
                let transaction = transactionID(ingest.hasTransactionID ? ingest.transactionID : nil)
                    ?? leases.soleTransaction(of: owner(context))
                logger.debug("ingest", metadata: [
                    "table": "\(ingest.table)", "temporary": "\(ingest.temporary)",
                    "transaction": "\(transaction ?? "none")",
                ])
                // Else the caller's cookie session: a temporary table it loads stays for its
                // next statements.
                let session = try transaction.map { try leases.transactionSession($0, owner: owner(context)) }
                    ?? clientSession(owner(context))
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
    func executeUpdate(sql: String, transaction: String? = nil, owner: LeaseOwner) async throws -> Int64 {
        let (session, owned) = try await session(for: transaction, owner: owner)
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

    func executePreparedUpdate(_ handle: StatementLease, rows: [[DuckDBValue]]) async throws -> Int64 {
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
}
