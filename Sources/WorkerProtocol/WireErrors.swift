import DuckDB
import Worker

public typealias WireFailure = Tavana_Worker_V1_Failure

// Query errors cross the hop in band, so that the gateway raises the very error the
// in-process worker would have raised and both front doors render it as in `serve`.

extension WireFailure {
    public init(_ error: any Error) {
        self.init()
        switch error {
        case let e as DuckDBError:
            source = .duckdb
            code = e.type.rawValue
            message = e.message
        case let e as StatementScreen.Rejection:
            source = .screen
            message = e.description
            switch e {
            case .tooLong(let bytes, let limit):
                code = 0
                first = Int64(bytes)
                second = Int64(limit)
            case .unterminatedComment(let position, let near):
                code = 1
                first = Int64(position)
                text = near
            case .unsupported(let what):
                code = 2
                text = what
            }
        case let e as LoadError:
            source = .load
            message = e.description
            switch e {
            case .tableExists(let t):
                code = 0
                text = t
            case .tableMissing(let t):
                code = 1
                text = t
            case .unsupportedType(let column, let type):
                code = 2
                text = column
                message = type
            }
        case is CancellationError:
            source = .cancelled
        case let e as WorkerUnavailable:
            source = .unavailable
            message = e.message
        case let e as WireError:
            // The worker could not read what the gateway sent: a bug or a version skew.
            source = .duckdb
            code = DuckDBErrorType.invalidInput.rawValue
            message = "Invalid Input Error: \(e.description)"
        default:
            source = .unavailable
            message = "worker error: \(error)"
        }
    }

    /// The error the worker raised, as the seam's error values.
    public var error: any Error {
        func int(_ v: Int64) -> Int { Int(clamping: v) }
        switch source {
        case .duckdb:
            return DuckDBError(DuckDBErrorType(rawValue: code) ?? .invalid, message)
        case .screen:
            switch code {
            case 0: return StatementScreen.Rejection.tooLong(bytes: int(first), limit: int(second))
            case 1: return StatementScreen.Rejection.unterminatedComment(position: int(first), near: text)
            default: return StatementScreen.Rejection.unsupported(text)
            }
        case .load:
            switch code {
            case 0: return LoadError.tableExists(text)
            case 1: return LoadError.tableMissing(text)
            default: return LoadError.unsupportedType(column: text, type: message)
            }
        case .cancelled:
            return CancellationError()
        case .unknownSession:
            return WorkerUnavailable(message.isEmpty ? "the worker no longer has this session" : message)
        case .unavailable, .UNRECOGNIZED:
            return WorkerUnavailable(message.isEmpty ? "the worker is unavailable" : message)
        }
    }
}
