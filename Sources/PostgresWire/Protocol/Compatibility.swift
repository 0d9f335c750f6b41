import Foundation

/// What the compatibility layer does with a statement that DuckDB would not understand
/// the way a PostgreSQL client means it.
enum CompatibilityAnswer: Sendable {
    /// Answer with a command tag only (e.g. `SET application_name = ...`), and report
    /// parameter changes with ParameterStatus.
    case command(tag: String, parameterStatus: [(String, String)])
    /// `DEALLOCATE [PREPARE] name | ALL`: drops protocol-level prepared statements too.
    case deallocate(name: String?)
    /// SAVEPOINT / RELEASE: accepted inside a transaction block (DuckDB has no savepoints,
    /// so ROLLBACK TO is refused).
    case savepoint(tag: String)
    /// A session setting Tavana itself acts on (statement_timeout), in milliseconds.
    case statementTimeout(milliseconds: Int)

    var columns: [DuckDB.ColumnDescription] { [] }
}

import DuckDB

/// PostgreSQL session parameters and functions that clients use but DuckDB does not have.
/// Statements are rewritten to DuckDB SQL with the same answer, or answered directly.
struct Compatibility: Sendable {
    let serverVersion: String
    let versionString: String

    init(serverVersion: String, tavanaVersion: String) {
        self.serverVersion = serverVersion
        let number = serverVersion.split(separator: " ").first.map(String.init) ?? serverVersion
        self.versionString = "PostgreSQL \(number) on x86_64-pc-linux-gnu, compiled by Tavana \(tavanaVersion) (DuckDB \(DuckDBLibrary.loadedVersion)), 64-bit"
        self.parameters = Self.parameters(serverVersion: serverVersion, serverVersionNum: Self.versionNumber(serverVersion))
    }

    /// PostgreSQL-only parameters: accepted by SET, answered by SHOW and current_setting.
    let parameters: [String: String]

    static func parameters(serverVersion: String, serverVersionNum: String) -> [String: String] {
        [
            "application_name": "", "client_encoding": "UTF8", "server_encoding": "UTF8",
            "datestyle": "ISO, MDY", "intervalstyle": "postgres", "extra_float_digits": "1",
            "standard_conforming_strings": "on", "integer_datetimes": "on", "bytea_output": "hex",
            "statement_timeout": "0", "lock_timeout": "0", "idle_in_transaction_session_timeout": "0",
            "client_min_messages": "notice", "transaction_isolation": "read committed",
            "default_transaction_isolation": "read committed", "default_transaction_read_only": "off",
            "transaction_read_only": "off", "server_version": serverVersion,
            "server_version_num": serverVersionNum, "max_identifier_length": "63",
            "lc_collate": "C", "lc_ctype": "C", "lc_messages": "C", "lc_monetary": "C", "lc_numeric": "C",
            "lc_time": "C", "jit": "off", "row_security": "on", "synchronous_commit": "on",
            "search_path": "\"$user\", public", "is_superuser": "off", "geqo": "on",
        ]
    }

    var serverVersionNum: String { Self.versionNumber(serverVersion) }

    static func versionNumber(_ serverVersion: String) -> String {
        let parts = (serverVersion.split(separator: " ").first ?? "").split(separator: ".").compactMap { Int($0) }
        return String((parts.first ?? 15) * 10000 + (parts.count > 1 ? parts[1] : 0))
    }

    /// Parameters whose changes clients expect to hear about (ParameterStatus).
    static let reported: Set<String> = ["application_name", "client_encoding", "datestyle", "intervalstyle", "standard_conforming_strings"]

    enum Outcome {
        case run(String)
        case answer(CompatibilityAnswer)
        case error(ErrorFields)
    }

    func rewrite(_ sql: String) -> Outcome {
        let words = StatementClassifier.leadingKeywords(sql, count: 4)
        let first = words.first ?? ""
        if first == "SET" || first == "RESET" {
            if let outcome = set(sql, words: words) { return outcome }
        }
        if first == "SHOW", words.count >= 2 {
            let name = words.dropFirst().joined(separator: " ").lowercased()
            if name == "transaction isolation level" { return .run("SELECT 'read committed' AS transaction_isolation") }
            if let value = parameters[name] {
                return .run("SELECT \(SQLText.literal(value)) AS \(name)")
            }
        }
        if first == "SAVEPOINT" { return .answer(.savepoint(tag: "SAVEPOINT")) }
        if first == "RELEASE" { return .answer(.savepoint(tag: "RELEASE")) }
        if first == "ROLLBACK", words.dropFirst().first == "TO" {
            return .error(ErrorFields(
                sqlState: SQLState.featureNotSupported,
                message: "ROLLBACK TO SAVEPOINT is not supported: DuckDB has no savepoints",
                hint: "Roll back the whole transaction with ROLLBACK."))
        }
        if first == "COPY", let problem = copyProblem(sql) { return .error(problem) }
        if first == "DEALLOCATE" {
            var lexer = CursorCommand.Lexer(sql)
            _ = lexer.word()
            if lexer.peekWord() == "PREPARE" { _ = lexer.word() }
            if lexer.peekWord() == "ALL" { return .answer(.deallocate(name: nil)) }
            guard let name = lexer.identifier() else {
                return .error(ErrorFields(sqlState: SQLState.syntaxError, message: "DEALLOCATE needs a statement name or ALL"))
            }
            return .answer(.deallocate(name: name))
        }
        if first == "DISCARD" { return .answer(.command(tag: "DISCARD ALL", parameterStatus: [])) }
        return .run(rewriteFunctions(sql))
    }

    /// `SET [SESSION|LOCAL] name {=|TO} value` for PostgreSQL-only parameters.
    private func set(_ sql: String, words: [String]) -> Outcome? {
        var rest = sql.trimmingWhitespace().dropFirst(words[0].count).drop(while: \.isWhitespace)
        for modifier in ["SESSION ", "LOCAL "] where rest.uppercased().hasPrefix(modifier) {
            rest = rest.dropFirst(modifier.count).drop(while: \.isWhitespace)
        }
        let nameEnd = rest.firstIndex(where: { !($0.isLetter || $0 == "_" || $0.isNumber) }) ?? rest.endIndex
        let name = rest[..<nameEnd].lowercased()
        if words[0] == "SET", name == "time" || name == "names" { return .answer(.command(tag: "SET", parameterStatus: [])) }
        guard parameters[name] != nil, name != "search_path" else { return nil }
        if words[0] == "RESET" && name != "statement_timeout" { return .answer(.command(tag: "RESET", parameterStatus: [])) }
        var value = rest[nameEnd...].drop(while: \.isWhitespace)
        if value.hasPrefix("=") { value = value.dropFirst() } else if value.uppercased().hasPrefix("TO") { value = value.dropFirst(2) }
        var text = String(value).trimmingWhitespace()
        if text.hasSuffix(";") { text.removeLast() }
        if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") {
            text = String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        if name == "client_encoding", !["UTF8", "UTF-8", "UNICODE"].contains(text.uppercased()) {
            return .error(ErrorFields(sqlState: SQLState.featureNotSupported,
                                      message: "client_encoding \(text) is not supported: Tavana speaks UTF8 only"))
        }
        if name == "statement_timeout" {
            if words[0] == "RESET" { return .answer(.statementTimeout(milliseconds: 0)) }
            switch Self.milliseconds(text) {
            case .value(let ms): return .answer(.statementTimeout(milliseconds: ms))
            case .invalid:
                return .error(ErrorFields(sqlState: SQLState.invalidParameterValue,
                                          message: "invalid value for parameter \"statement_timeout\": \"\(text)\""))
            case .outOfRange:
                return .error(ErrorFields(sqlState: SQLState.invalidParameterValue,
                                          message: "invalid value for parameter \"statement_timeout\": \"\(text)\"",
                                          hint: "Value exceeds integer range."))
            case .negative:
                return .error(ErrorFields(sqlState: SQLState.invalidParameterValue,
                                          message: "\(text) is outside the valid range for parameter \"statement_timeout\" (0 .. \(Int32.max))"))
            }
        }
        let canonical = ["datestyle": "DateStyle", "intervalstyle": "IntervalStyle"][name] ?? name
        let status = Self.reported.contains(name) ? [(canonical, text)] : []
        return .answer(.command(tag: "SET", parameterStatus: status))
    }

    /// Statements run once per session: PostgreSQL answers for functions whose DuckDB
    /// namesakes answer differently (temporary macros shadow DuckDB's built-ins).
    var sessionSetup: [String] {
        [
            "CREATE OR REPLACE TEMP MACRO version() AS \(SQLText.literal(versionString))",
            // psql's \\d family asks for owners; DuckDB has no roles.
            "CREATE OR REPLACE TEMP MACRO pg_get_userbyid(id) AS current_user",
            // jsonb casts work (as DuckDB JSON, presented as json).
            "CREATE TEMP TYPE jsonb AS JSON",
            // PostgreSQL's identifier type, used in catalog queries (`'t'::name`).
            "CREATE TEMP TYPE name AS VARCHAR",
            // Type lookups of clients (psycopg's TypeInfo, SQLAlchemy): oids stand in for names.
            "CREATE TEMP TYPE regtype AS BIGINT",
            "CREATE OR REPLACE TEMP MACRO to_regtype(name) AS (SELECT oid FROM pg_catalog.pg_type WHERE typname = name LIMIT 1)",
        ]
    }

    /// pg_catalog-qualified calls of functions that only exist as our temporary macros.
    static let macroFunctions = ["version", "pg_get_userbyid", "to_regtype"]

    /// Functions that answer differently in PostgreSQL: pg_catalog.version(), current_setting(...).
    /// The patterns are compiled once; each is one linear pass over the text.
    private func rewriteFunctions(_ sql: String) -> String {
        guard sql.range(of: "pg_catalog", options: .caseInsensitive) != nil || sql.range(of: "current_setting", options: .caseInsensitive) != nil else {
            return sql
        }
        var out = sql
        out = Self.replace(Self.macroCall, in: out) { "\($0[1])(" }
        // psql writes PostgreSQL's regex operator schema-qualified.
        out = Self.replace(Self.regexOperator, in: out) { $0[1] }
        out = Self.replace(Self.defaultCollation, in: out) { _ in "" }
        // Casts to schema-qualified types (`::pg_catalog.text`): DuckDB names types unqualified.
        out = Self.replace(Self.qualifiedCast, in: out) { "::\($0[1])" }
        let parameters = self.parameters
        out = Self.replace(Self.currentSetting, in: out) { groups in
            parameters[groups[1].lowercased()].map(SQLText.literal) ?? groups[0]
        }
        return out
    }

    private static func pattern(_ p: String) -> NSRegularExpression {
        // The patterns are constants of this file: a failure to compile is a programming error.
        try! NSRegularExpression(pattern: p)
    }

    private static let macroCall = pattern(#"(?i)\bpg_catalog\s*\.\s*("# + macroFunctions.joined(separator: "|") + #")\s*\("#)
    private static let regexOperator = pattern(#"OPERATOR\(pg_catalog\.(!?~)\)"#)
    private static let defaultCollation = pattern(#"(?i)\s+COLLATE\s+pg_catalog\.default"#)
    private static let qualifiedCast = pattern(#"(?i)::\s*pg_catalog\.(\w+)"#)
    private static let currentSetting = pattern(#"(?i)\b(?:pg_catalog\s*\.\s*)?current_setting\s*\(\s*'([^']*)'\s*(?:,\s*(?:true|false)\s*)?\)"#)

    /// Replaces each match of `regex` with what `replacement` makes of its groups (0 is the
    /// whole match; an unmatched group is "").
    private static func replace(_ regex: NSRegularExpression, in text: String, _ replacement: ([String]) -> String) -> String {
        let whole = NSRange(text.startIndex..., in: text)
        let matches = regex.matches(in: text, range: whole)
        guard !matches.isEmpty else { return text }
        var out = ""
        var last = text.startIndex
        for match in matches {
            guard let range = Range(match.range, in: text) else { continue }
            let groups = (0..<match.numberOfRanges).map { i in
                Range(match.range(at: i), in: text).map { String(text[$0]) } ?? ""
            }
            out += text[last..<range.lowerBound]
            out += replacement(groups)
            last = range.upperBound
        }
        out += text[last...]
        return out
    }

    enum Milliseconds: Equatable {
        case value(Int)
        case invalid
        /// Beyond PostgreSQL's integer range for the setting (2147483647 ms).
        case outOfRange
        case negative
    }

    /// A timeout in PostgreSQL's units ("250", "1.5s", "10 min"): a bare number is
    /// milliseconds. The value is client text, so it is range-checked in floating point
    /// before it becomes an integer (`9223372036854775807s` must not overflow).
    static func milliseconds(_ text: String) -> Milliseconds {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let number = t.prefix(while: { $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-" || $0 == "+") })
        guard !number.isEmpty, number.count <= 64, TextInput.isDecimalLiteral(String(number)),
              let magnitude = Double(number) else { return .invalid }
        let factor: Double
        switch t.dropFirst(number.count).trimmingCharacters(in: .whitespaces) {
        case "": factor = 1
        case "us": factor = 0.001
        case "ms": factor = 1
        case "s": factor = 1_000
        case "min": factor = 60_000
        case "h": factor = 3_600_000
        case "d": factor = 86_400_000
        default: return .invalid
        }
        let ms = (magnitude * factor).rounded()
        guard ms.isFinite, ms <= Double(Int32.max) else { return .outOfRange }
        guard ms >= 0 else { return .negative }
        return .value(Int(ms))
    }

    /// COPY to or from the server's own standard streams would write into its log or wait
    /// on its terminal; clients use COPY TO STDOUT / FROM STDIN (CopyCommand) instead.
    func copyProblem(_ sql: String) -> ErrorFields? {
        let pattern = #"(?is)(['"]/dev/(stdin|stdout|stderr|fd/\d+)['"]|['"]/proc/self/fd)"#
        guard sql.range(of: pattern, options: .regularExpression) != nil else { return nil }
        return ErrorFields(sqlState: SQLState.featureNotSupported,
                           message: "COPY to or from the server's standard streams is not allowed",
                           hint: "Use COPY ... TO STDOUT / FROM STDIN to move data over the connection.")
    }
}
