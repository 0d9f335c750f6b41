import Arrow
import DuckDB
import Foundation
import GRPCCore
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// How the service logs and renders errors.
extension FlightSQLService {

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

/// Renders an error as a gRPC status: Flight's own errors as they are, everything else
/// through `QueryError`, the error type both front doors share (PostgreSQL renders the same
/// kinds as SQLSTATEs).
func rpcError(_ error: any Error) -> RPCError {
    switch error {
    case let e as RPCError:
        return e
    case let e as ParameterError:
        return RPCError(code: .invalidArgument, message: e.description)
    case let e as ArrowError:
        return RPCError(code: .invalidArgument, message: "invalid Arrow data: \(e)")
    case let e as SwiftProtobuf.BinaryDecodingError:
        return RPCError(code: .invalidArgument, message: "malformed protobuf message: \(e)")
    case let e as SwiftProtobuf.AnyUnpackError:
        return RPCError(code: .invalidArgument, message: "malformed protobuf Any: \(e)")
    default:
        guard let query = QueryError.from(error) else { return RPCError(code: .internalError, message: "\(error)") }
        return RPCError(code: statusCode(query.kind), message: query.message)
    }
}

/// The gRPC status of each kind of error.
func statusCode(_ kind: QueryError.Kind) -> RPCError.Code {
    switch kind {
    case .engine(let type):
        switch type {
        // A file or network access the server's configuration forbids.
        case .permission: return .permissionDenied
        case .outOfMemory: return .resourceExhausted
        case .interrupt: return .cancelled
        case .fatal, .internalError: return .internalError
        default: return .invalidArgument
        }
    case .queueFull, .queueTimeout: return .resourceExhausted
    case .cancelled: return .cancelled
    case .statementTimeout: return .deadlineExceeded
    case .statementTooLong, .syntax, .invalidInput: return .invalidArgument
    case .unsupported: return .unimplemented
    case .tableExists: return .alreadyExists
    case .tableMissing, .unknownHandle: return .notFound
    case .workerUnavailable: return .unavailable
    }
}
