/// Quoting for SQL text that Tavana builds itself (never for user input that should be
/// parsed as SQL): identifiers in double quotes, string literals in single quotes, each
/// with its quote character doubled.
public enum SQLText {
    public static func identifier(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    public static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
}
