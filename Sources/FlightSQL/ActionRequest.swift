import FlightProtocol
import Foundation
import GRPCCore
import SwiftProtobuf

/// A DoAction request decoded from its type name and body. Flight SQL's actions carry
/// Any-packed messages; CancelFlightInfo (from Flight itself) carries a plain one. Any body
/// that is not the message its type names is INVALID_ARGUMENT: the client sent it.
enum ActionRequest {
    case createPreparedStatement(Arrow_Flight_Protocol_Sql_ActionCreatePreparedStatementRequest)
    case closePreparedStatement(Arrow_Flight_Protocol_Sql_ActionClosePreparedStatementRequest)
    case beginTransaction(Arrow_Flight_Protocol_Sql_ActionBeginTransactionRequest)
    case endTransaction(Arrow_Flight_Protocol_Sql_ActionEndTransactionRequest)
    case cancelFlightInfo(Arrow_Flight_Protocol_CancelFlightInfoRequest)
    /// The older Flight SQL cancel: the FlightInfo inside is decoded too.
    case cancelQuery(Arrow_Flight_Protocol_FlightInfo)
    /// Flight's session actions (plain bodies, like CancelFlightInfo).
    case setSessionOptions(Arrow_Flight_Protocol_SetSessionOptionsRequest)
    case getSessionOptions(Arrow_Flight_Protocol_GetSessionOptionsRequest)
    case closeSession(Arrow_Flight_Protocol_CloseSessionRequest)

    static func decode(type: String, body: Data) throws -> ActionRequest {
        switch type {
        case "CreatePreparedStatement": return .createPreparedStatement(try unpack(body, type))
        case "ClosePreparedStatement": return .closePreparedStatement(try unpack(body, type))
        case "BeginTransaction": return .beginTransaction(try unpack(body, type))
        case "EndTransaction": return .endTransaction(try unpack(body, type))
        case "CancelFlightInfo":
            return .cancelFlightInfo(try plain(body, type))
        case "CancelQuery":
            let request: Arrow_Flight_Protocol_Sql_ActionCancelQueryRequest = try unpack(body, type)
            return .cancelQuery(try plain(request.info, type))
        case "SetSessionOptions": return .setSessionOptions(try plain(body, type))
        case "GetSessionOptions": return .getSessionOptions(try plain(body, type))
        case "CloseSession": return .closeSession(try plain(body, type))
        default:
            throw RPCError(code: .unimplemented, message: "unknown action '\(type)'")
        }
    }

    /// An Any-packed message of type M.
    static func unpack<M: SwiftProtobuf.Message>(_ body: Data, _ action: String) throws -> M {
        let any: Google_Protobuf_Any
        do {
            any = try Google_Protobuf_Any(serializedBytes: body)
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(action): the body is not a protobuf Any: \(error)")
        }
        guard any.isA(M.self) else {
            throw RPCError(code: .invalidArgument,
                           message: "\(action): the body holds \(any.typeURL.isEmpty ? "no type" : any.typeURL), expected \(M.protoMessageName)")
        }
        do {
            return try M(unpackingAny: any)
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(action): malformed \(M.protoMessageName): \(error)")
        }
    }

    /// A message of type M serialized directly.
    static func plain<M: SwiftProtobuf.Message>(_ body: Data, _ action: String) throws -> M {
        do {
            return try M(serializedBytes: body)
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(action): malformed \(M.protoMessageName): \(error)")
        }
    }
}
