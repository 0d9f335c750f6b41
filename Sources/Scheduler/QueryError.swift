import Foundation
import DuckDB
import Worker

/// Every error a statement can end with, whichever part of Tavana raised it: DuckDB's class,
/// message and position, the queue's states, the statement screen's refusals, bulk-load
/// conflicts. The front doors only render it, PostgreSQL as an SQLSTATE and gRPC as a
/// status code, and the two renderings agree (`Tests/SchedulerTests/QueryErrorTests`).
public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// From DuckDB, by its error class.
        case engine(DuckDBErrorType)
        /// The queue holds as many queries as it may (in all, or of this user).
        case queueFull(limit: Int)
        /// Waited the longest a query may wait for a slot.
        case queueTimeout
        /// Cancelled by its client (a CancelRequest, a Flight cancel, a vanished caller).
        case cancelled
        /// statement_timeout expired.
        case statementTimeout
        /// Longer than maxStatementBytes.
        case statementTooLong
        /// Malformed before DuckDB saw it (an unterminated comment).
        case syntax
        /// Refused before DuckDB saw it: DuckDB would mishandle it.
        case unsupported
        /// A bulk load's target table exists / does not exist.
        case tableExists
        case tableMissing
        /// Input the client sent that cannot be used (an Arrow type Tavana cannot load).
        case invalidInput
        /// A transaction or prepared-statement id that names nothing the caller holds.
        case unknownHandle
        /// The worker that ran the session is gone or stopped taking queries; whatever the
        /// session held there (a transaction, temporary tables) is lost.
        case workerUnavailable
    }

    public var kind: Kind
    /// The message without DuckDB's "Xxx Error: " prefix, first line only.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// 1-based character position in the statement text.
    public var position: Int?

    public init(_ kind: Kind, _ message: String, detail: String? = nil, hint: String? = nil, position: Int? = nil) {
        self.kind = kind
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position
    }

    public var description: String { message }

    public static let statementTimeout = QueryError(.statementTimeout, "canceling statement due to statement timeout")
    public static let cancelled = QueryError(.cancelled, "canceling statement due to user request")

    /// The error as a QueryError, or nil for errors of a front door's own making (protocol
    /// violations, its own SQLSTATEs), which it renders itself. `sql` is the statement text
    /// DuckDB's positions refer to.
    public static func from(_ error: any Error, sql: String? = nil) -> QueryError? {
        switch error {
        case let e as QueryError:
            return e
        case let e as DuckDBError:
            if e.type == .interrupt { return .cancelled }
            return engine(e, sql: sql)
        case let e as AdmissionController.AdmissionError:
            switch e {
            case .queueFull(let limit):
                return QueryError(.queueFull(limit: limit), "too many queries waiting: the queue holds at most \(limit)",
                                  hint: "Retry later, or raise the queue limit / add workers.")
            case .userQueueFull(let limit):
                return QueryError(.queueFull(limit: limit), "too many queries waiting: one user may queue at most \(limit)",
                                  hint: "Wait for your running queries, or raise maxQueuedPerUser.")
            case .waitedTooLong(let limit):
                return QueryError(.queueTimeout, "waited \(limit.formattedSeconds) for a query slot without getting one",
                                  detail: "Every slot stayed busy for the longest a query may wait (maxQueueWait).",
                                  hint: "Retry later, or add workers.")
            case .cancelled:
                return .cancelled
            }
        case let e as StatementScreen.Rejection:
            switch e {
            case .tooLong:
                return QueryError(.statementTooLong, e.description,
                                  hint: "Send a shorter statement, or raise maxStatementBytes (TAVANA_MAX_STATEMENT_BYTES).")
            case .unterminatedComment(let position, _):
                return QueryError(.syntax, e.description, position: position)
            case .unsupported:
                return QueryError(.unsupported, e.description)
            }
        case let e as LoadError:
            switch e {
            case .tableExists: return QueryError(.tableExists, e.description)
            case .tableMissing: return QueryError(.tableMissing, e.description)
            case .unsupportedType: return QueryError(.invalidInput, e.description)
            }
        case let e as WorkerUnavailable:
            return QueryError(.workerUnavailable, e.message,
                              hint: "Run the statement again; a session that held a transaction or temporary tables starts afresh.")
        case is CancellationError:
            return .cancelled
        default:
            return nil
        }
    }

    /// DuckDB messages look like "Catalog Error: Table with name x does not exist!\nDid you
    /// mean ...?\n\nLINE 1: SELECT * FROM x\n                      ^". The first line is the
    /// message, the rest (minus the LINE excerpt) the detail, and the caret the position.
    static func engine(_ error: DuckDBError, sql: String?) -> QueryError {
        let text = error.messageWithoutPrefix
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let message = lines.isEmpty ? text : lines.removeFirst()
        var position: Int?
        if let lineIndex = lines.firstIndex(where: { $0.hasPrefix("LINE ") }) {
            let lineText = lines[lineIndex]
            if lineIndex + 1 < lines.count, let caret = lines[lineIndex + 1].firstIndex(of: "^"),
               let colon = lineText.firstIndex(of: ":"), lineText.count > 5,
               let lineNumber = Int(lineText[lineText.index(lineText.startIndex, offsetBy: 5)..<colon]),
               let sql {
                let prefixLength = lineText.distance(from: lineText.startIndex, to: colon) + 2
                let column = lines[lineIndex + 1].distance(from: lines[lineIndex + 1].startIndex, to: caret) - prefixLength
                let sqlLines = sql.split(separator: "\n", omittingEmptySubsequences: false)
                if lineNumber >= 1, lineNumber <= sqlLines.count, column >= 0 {
                    let before = sqlLines.prefix(lineNumber - 1).reduce(0) { $0 + $1.count + 1 }
                    if column <= sqlLines[lineNumber - 1].count { position = before + column + 1 }
                }
            }
            lines.removeSubrange(lineIndex..<min(lines.count, lineIndex + 2))
        }
        let rest = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        return QueryError(.engine(error.type), message, detail: rest.isEmpty ? nil : rest, position: position)
    }
}

