import DuckDB
import Scheduler

/// Renders an error raised while serving a statement as the fields of an ErrorResponse:
/// PostgreSQL's own errors as they are, everything else through `QueryError`, the error type
/// both front doors share (Flight renders the same kinds as gRPC statuses).
public enum ErrorTranslation {
    static func fields(for error: any Error, sql: String?) -> ErrorFields {
        switch error {
        case let e as ErrorFields:
            return e
        case let e as PostgresTypeError:
            return ErrorFields(sqlState: e.sqlState, message: e.message)
        case let e as ProtocolViolation:
            return ErrorFields(sqlState: e.sqlState, message: e.message)
        default:
            guard let query = QueryError.from(error, sql: sql) else {
                return ErrorFields(sqlState: SQLState.internalError, message: "\(error)")
            }
            return fields(for: query)
        }
    }

    static func fields(for error: QueryError) -> ErrorFields {
        ErrorFields(sqlState: sqlState(error), message: error.message, detail: error.detail, hint: error.hint, position: error.position)
    }

    /// The SQLSTATE of each kind of error (for DuckDB's errors, by class and message).
    public static func sqlState(_ error: QueryError) -> String {
        switch error.kind {
        case .engine(let type): return SQLState.forDuckDB(type, message: error.message)
        case .queueFull: return SQLState.insufficientResources
        case .queueTimeout: return SQLState.tooManyConnections
        case .cancelled, .statementTimeout: return SQLState.queryCanceled
        case .statementTooLong: return SQLState.programLimitExceeded
        case .syntax: return SQLState.syntaxError
        case .unsupported: return SQLState.featureNotSupported
        case .tableExists: return SQLState.duplicateTable
        case .tableMissing: return SQLState.undefinedTable
        case .invalidInput: return SQLState.invalidParameterValue
        case .unknownHandle: return SQLState.undefinedPreparedStatement
        case .workerUnavailable: return SQLState.connectionFailure
        }
    }
}
