import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// DoAction: prepared statements, transactions and cancel, as Flight SQL's actions.
extension FlightSQLService {

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
                let result = try await createPrepared(
                    req.query, transaction: transactionID(req.hasTransactionID ? req.transactionID : nil), owner: owner(context),
                    clientSession: clientSession(owner(context)))
                try await reply(try packAny(result))
            case .closePreparedStatement(let req):
                let id = String(decoding: req.preparedStatementHandle, as: UTF8.self)
                leases.closeStatement(id, owner: owner(context))
            case .beginTransaction:
                var result = Arrow_Flight_Protocol_Sql_ActionBeginTransactionResult()
                result.transactionID = Data(try await leases.beginTransaction(owner: owner(context), in: clientSession(owner(context))).utf8)
                try await reply(try packAny(result))
            case .endTransaction(let req):
                try await endTransaction(String(decoding: req.transactionID, as: UTF8.self), req.action, owner: owner(context))
            case .cancelFlightInfo(let req):
                var result = Arrow_Flight_Protocol_CancelFlightInfoResult()
                result.status = cancel(req.info) ? .cancelled : .notCancellable
                try await reply(try result.serializedData())
            case .cancelQuery(let info):
                var result = Arrow_Flight_Protocol_Sql_ActionCancelQueryResult()
                result.result = cancel(info) ? .cancelled : .notCancellable
                try await reply(try packAny(result))
            case .setSessionOptions(let req):
                try await reply(try await setSessionOptions(req, owner: owner(context)).serializedData())
            case .getSessionOptions:
                try await reply(try await getSessionOptions(owner: owner(context)).serializedData())
            case .closeSession:
                // No open session by that cookie: NOT_FOUND, as Flight asks.
                guard let cookie = FlightCaller.sessionCookie, clientSessions.close(cookie.name, user: owner(context).user) else {
                    throw RPCError(code: .notFound, message: "no open session for this session cookie")
                }
                var result = Arrow_Flight_Protocol_CloseSessionResult()
                result.status = .closed
                try await reply(try result.serializedData())
            }
        } catch {
            throw logged(error, "DoAction \(request.type)")
        }
    }

    func createPrepared(
        _ query: String, transaction: String? = nil, owner: LeaseOwner, clientSession: Session? = nil
    ) async throws -> Arrow_Flight_Protocol_Sql_ActionCreatePreparedStatementResult {
        let lease = try await leases.prepare(query, inTransaction: transaction, owner: owner, clientSession: clientSession)
        var result = Arrow_Flight_Protocol_Sql_ActionCreatePreparedStatementResult()
        result.preparedStatementHandle = Data(lease.id.utf8)
        let parameterSchema = ArrowParameters.schema(for: lease.statement.description.parameterTypes)
        result.parameterSchema = Data(IPCStreamWriter(schema: parameterSchema).schemaMessage().encapsulated())
        // The result schema when DuckDB knows it before execution (not when a column's
        // type depends on a parameter); clients then learn it from the query's FlightInfo.
        if let datasetSchema = lease.statement.description.arrowSchema {
            result.datasetSchema = Data(IPCStreamWriter(schema: datasetSchema).schemaMessage().encapsulated())
        }
        return result
    }
}
