import Foundation
import DuckDB

/// What the front door needs to know about a statement before or after DuckDB runs it:
/// its command tag, and how it moves the transaction state.
public enum StatementClassifier {
    public enum TransactionEffect: Sendable, Equatable { case none, begin, commit, rollback }

    /// The first one or two keywords of a statement, upper-cased ("CREATE TABLE", "SELECT").
    static func leadingKeywords(_ sql: String, count: Int = 2) -> [String] {
        var words: [String] = []
        var current = ""
        var i = sql.unicodeScalars.makeIterator()
        var inComment = false
        var previous: Unicode.Scalar = " "
        while let c = i.next() {
            if inComment {
                if c == "\n" { inComment = false }
                continue
            }
            if c == "-" && previous == "-" {
                inComment = true
                current = ""
                continue
            }
            previous = c
            if c.properties.isAlphabetic || c == "_" {
                current.unicodeScalars.append(c)
            } else if c == "-" {
                continue
            } else {
                if !current.isEmpty {
                    words.append(current.uppercased())
                    current = ""
                    if words.count == count { break }
                }
                if c == "(" || c == ";" { break }
            }
        }
        if !current.isEmpty && words.count < count { words.append(current.uppercased()) }
        return words
    }

    /// "CREATE TABLE" for "CREATE OR REPLACE TEMPORARY TABLE ...": the verb and the kind of
    /// object, without modifiers, as PostgreSQL's tags say it.
    static func objectWords(_ sql: String) -> String {
        let modifiers: Set<String> = ["OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE", "UNLOGGED", "GLOBAL", "LOCAL", "IF", "NOT", "EXISTS", "PERSISTENT"]
        let words = leadingKeywords(sql, count: 8)
        guard let verb = words.first else { return "" }
        guard let object = words.dropFirst().first(where: { !modifiers.contains($0) }) else { return verb }
        if object == "MATERIALIZED" { return "\(verb) MATERIALIZED VIEW" }
        return "\(verb) \(object)"
    }

    static func isCreateTableAs(_ sql: String) -> Bool {
        sql.range(of: #"(?is)^\s*CREATE\s.*?\bTABLE\b[^(]*?\bAS\b"#, options: .regularExpression) != nil
            || sql.range(of: #"(?is)^\s*CREATE\s.*?\bTABLE\b.*?\)\s*AS\s"#, options: .regularExpression) != nil
    }

    static func isSavepointCommand(_ sql: String) -> Bool {
        let w = leadingKeywords(sql)
        return w.first == "SAVEPOINT" || w.first == "RELEASE" || (w.first == "ROLLBACK" && w.dropFirst().first == "TO")
    }

    public static func transactionEffect(_ sql: String) -> TransactionEffect {
        let w = leadingKeywords(sql)
        switch w.first {
        case "BEGIN": return .begin
        case "START": return w.dropFirst().first == "TRANSACTION" ? .begin : .none
        case "COMMIT", "END": return .commit
        case "ROLLBACK": return w.dropFirst().first == "TO" ? .none : .rollback
        case "ABORT": return .rollback
        default: return .none
        }
    }

    /// PostgreSQL's CommandComplete tag for a finished statement.
    public static func commandTag(sql: String, type: StatementType, rowCount: Int, rowsChanged: Int?) -> String {
        let words = leadingKeywords(sql)
        let first = words.first ?? ""
        switch type {
        case .select, .explain, .pragma, .call, .execute, .relation:
            if first == "CALL" && rowCount == 0 { return "CALL" }
            if first == "SHOW" || first == "DESCRIBE" || first == "SUMMARIZE" { return "SELECT \(rowCount)" }
            if first == "VALUES" || first == "WITH" || first == "FROM" || first == "TABLE" { return "SELECT \(rowCount)" }
            return type == .explain ? "EXPLAIN" : "SELECT \(rowCount)"
        case .insert: return "INSERT 0 \(rowsChanged ?? rowCount)"
        case .update: return "UPDATE \(rowsChanged ?? rowCount)"
        case .delete: return "DELETE \(rowsChanged ?? rowCount)"
        case .mergeInto: return "MERGE \(rowsChanged ?? rowCount)"
        case .copy: return "COPY \(rowsChanged ?? rowCount)"
        case .transaction:
            switch transactionEffect(sql) {
            case .begin: return first == "START" ? "START TRANSACTION" : "BEGIN"
            case .commit: return "COMMIT"
            case .rollback: return "ROLLBACK"
            case .none: return first
            }
        case .create:
            // CREATE TABLE ... AS reports "SELECT n" in PostgreSQL.
            let object = objectWords(sql)
            if object == "CREATE TABLE", let n = rowsChanged, isCreateTableAs(sql) { return "SELECT \(n)" }
            return object
        case .drop, .alter:
            return objectWords(sql)
        case .set, .variableSet: return first == "RESET" ? "RESET" : "SET"
        case .load: return "LOAD"
        case .attach: return "ATTACH"
        case .detach: return "DETACH"
        case .vacuum: return "VACUUM"
        case .analyze: return "ANALYZE"
        case .prepare: return "PREPARE"
        case .export: return "EXPORT"
        default: return first.isEmpty ? "OK" : first
        }
    }
}
