import DuckDB
import Scheduler
import Worker

/// Turns any error raised while serving a statement into the fields of an ErrorResponse.
enum ErrorTranslation {
    static func fields(for error: any Error, sql: String?) -> ErrorFields {
        switch error {
        case let e as ErrorFields:
            return e
        case let e as DuckDBError:
            if e.type == .interrupt {
                return ErrorFields(sqlState: SQLState.queryCanceled, message: "canceling statement due to user request")
            }
            return fields(for: e, sql: sql)
        case let e as PostgresTypeError:
            return ErrorFields(sqlState: e.sqlState, message: e.message)
        case let e as ProtocolViolation:
            return ErrorFields(sqlState: e.sqlState, message: e.message)
        case let e as StatementScreen.Rejection:
            switch e {
            case .tooLong:
                return ErrorFields(sqlState: SQLState.programLimitExceeded, message: e.description,
                                   hint: "Send a shorter statement, or raise maxStatementBytes (TAVANA_MAX_STATEMENT_BYTES).")
            case .unterminatedComment(let position, _):
                return ErrorFields(sqlState: SQLState.syntaxError, message: e.description, position: position)
            case .unsupported:
                return ErrorFields(sqlState: SQLState.featureNotSupported, message: e.description)
            }
        case let e as AdmissionController.AdmissionError:
            switch e {
            case .queueFull(let limit):
                return ErrorFields(sqlState: SQLState.insufficientResources,
                                   message: "too many queries waiting: the queue holds at most \(limit)",
                                   hint: "Retry later, or raise the queue limit / add workers.")
            case .cancelled:
                return ErrorFields(sqlState: SQLState.queryCanceled, message: "canceling statement due to user request")
            }
        default:
            return ErrorFields(sqlState: SQLState.internalError, message: "\(error)")
        }
    }

    /// DuckDB messages look like "Catalog Error: Table with name x does not exist!\nDid you
    /// mean ...?\n\nLINE 1: SELECT * FROM x\n                      ^". The first line is the
    /// message, the rest (minus the LINE excerpt) the detail, and the caret the position.
    static func fields(for error: DuckDBError, sql: String?) -> ErrorFields {
        let text = error.messageWithoutPrefix
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let message = lines.isEmpty ? text : lines.removeFirst()
        var position: Int?
        if let lineIndex = lines.firstIndex(where: { $0.hasPrefix("LINE ") }) {
            let lineText = lines[lineIndex]
            if lineIndex + 1 < lines.count, let caret = lines[lineIndex + 1].firstIndex(of: "^"),
               let colon = lineText.firstIndex(of: ":"),
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
        return ErrorFields(
            sqlState: SQLState.forDuckDB(error), message: message,
            detail: rest.isEmpty ? nil : rest, position: position)
    }
}

import Foundation
