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

    public static func transactionEffect(_ sql: String) -> TransactionEffect {
        let w = leadingKeywords(sql)
        switch w.first {
        case "BEGIN": return .begin
        case "START": return w.dropFirst().first == "TRANSACTION" ? .begin : .none
        case "COMMIT", "END": return .commit
        case "ROLLBACK", "ABORT": return .rollback
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
            case .begin: return "BEGIN"
            case .commit: return "COMMIT"
            case .rollback: return "ROLLBACK"
            case .none: return first
            }
        case .create:
            // CREATE TABLE AS reports "SELECT n" in PostgreSQL.
            if rowsChanged == nil, rowCount > 0, sql.uppercased().contains(" AS ") && words.contains("TABLE") {
                return "SELECT \(rowCount)"
            }
            return words.prefix(2).joined(separator: " ").replacingOccurrences(of: "CREATE OR", with: "CREATE")
        case .drop, .alter:
            return words.prefix(2).joined(separator: " ")
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
