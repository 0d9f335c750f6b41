/// `COPY ... TO STDOUT` and `COPY ... FROM STDIN`: data travels over the connection
/// (CopyOut / CopyIn sub-protocols) instead of through the server's standard streams.
struct CopyCommand: Sendable, Equatable {
    enum Direction: Sendable, Equatable {
        /// The rows of this query go to the client.
        case out(query: String)
        /// Rows from the client go into this table (and columns, if listed).
        case `in`(table: String, columns: [String])
    }

    enum Format: Sendable, Equatable { case text, csv }

    var direction: Direction
    var format: Format = .text
    var delimiter: Character = "\t"
    var null: String = "\\N"
    var header = false
    var quote: Character = "\""
    var escape: Character = "\""

    /// nil when the statement is not a COPY to or from the client.
    static func parse(_ sql: String) throws -> CopyCommand? {
        var lexer = CursorCommand.Lexer(sql)
        guard lexer.word() == "COPY" else { return nil }
        let upper = sql.uppercased()
        guard upper.range(of: #"\b(TO\s+STDOUT|FROM\s+STDIN)\b"#, options: .regularExpression) != nil else { return nil }
        lexer.skipSpace()
        var direction: Direction
        if lexer.peekChar() == "(" {
            guard let query = lexer.balancedParentheses() else { throw syntax("unbalanced parentheses in COPY") }
            guard lexer.word() == "TO", lexer.word() == "STDOUT" else { throw syntax("COPY (query) must be followed by TO STDOUT") }
            direction = .out(query: query)
        } else {
            guard let table = lexer.qualifiedName() else { throw syntax("table name expected after COPY") }
            var columns: [String] = []
            lexer.skipSpace()
            if lexer.peekChar() == "(" {
                guard let list = lexer.balancedParentheses() else { throw syntax("unbalanced column list in COPY") }
                columns = list.split(separator: ",").map { $0.trimmingWhitespaceSub() }
            }
            switch (lexer.word(), lexer.word()) {
            case ("TO", "STDOUT"):
                let cols = columns.isEmpty ? "*" : columns.joined(separator: ", ")
                direction = .out(query: "SELECT \(cols) FROM \(table)")
            case ("FROM", "STDIN"):
                direction = .in(table: table, columns: columns)
            default:
                throw syntax("COPY table must be followed by TO STDOUT or FROM STDIN")
            }
        }
        var command = CopyCommand(direction: direction)
        try command.parseOptions(&lexer)
        return command
    }

    /// Both `WITH (FORMAT csv, HEADER)` and the old `WITH CSV HEADER DELIMITER ','` forms.
    private mutating func parseOptions(_ lexer: inout CursorCommand.Lexer) throws {
        if lexer.peekWord() == "WITH" { _ = lexer.word() }
        lexer.skipSpace()
        var options: [(String, String?)] = []
        if lexer.peekChar() == "(" {
            guard let inner = lexer.balancedParentheses() else { throw Self.syntax("unbalanced COPY options") }
            for part in inner.split(separator: ",") {
                var l = CursorCommand.Lexer(String(part))
                guard let name = l.word() else { continue }
                options.append((name, l.optionValue()))
            }
        } else {
            while let name = lexer.word() {
                switch name {
                case "CSV", "BINARY", "TEXT": options.append(("FORMAT", name))
                case "HEADER": options.append(("HEADER", nil))
                case "DELIMITER", "NULL", "QUOTE", "ESCAPE":
                    if lexer.peekWord() == "AS" { _ = lexer.word() }
                    options.append((name, lexer.optionValue()))
                default: throw Self.syntax("unsupported COPY option \(name)")
                }
            }
        }
        for (name, value) in options {
            switch name {
            case "FORMAT":
                switch value?.uppercased() {
                case "CSV":
                    format = .csv
                    if delimiter == "\t" { delimiter = "," }
                    if null == "\\N" { null = "" }
                case "TEXT", nil: format = .text
                case "BINARY":
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY in binary format is not supported")
                default: throw Self.syntax("COPY format \(value ?? "") not recognized")
                }
            case "HEADER":
                header = value.map { ["TRUE", "ON", "1", "MATCH"].contains($0.uppercased()) } ?? true
            case "DELIMITER":
                guard let v = value, v.count == 1 else { throw Self.syntax("COPY delimiter must be a single one-byte character") }
                delimiter = v.first!
            case "NULL": null = value ?? ""
            case "QUOTE":
                guard let v = value, v.count == 1 else { throw Self.syntax("COPY quote must be a single one-byte character") }
                quote = v.first!
            case "ESCAPE":
                guard let v = value, v.count == 1 else { throw Self.syntax("COPY escape must be a single one-byte character") }
                escape = v.first!
            case "ENCODING":
                guard ["UTF8", "UTF-8"].contains(value?.uppercased() ?? "") else {
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY supports UTF8 only")
                }
            default:
                throw Self.syntax("option \"\(name.lowercased())\" not recognized")
            }
        }
    }

    static func syntax(_ m: String) -> ErrorFields { ErrorFields(sqlState: SQLState.syntaxError, message: m) }
}

extension CursorCommand.Lexer {
    func peekChar() -> Character? { i < s.count ? s[i] : nil }

    /// The text between a "(" at the cursor and its matching ")", skipping quotes.
    mutating func balancedParentheses() -> String? {
        skipSpace()
        guard i < s.count, s[i] == "(" else { return nil }
        var depth = 0
        var quote: Character?
        let start = i + 1
        while i < s.count {
            let c = s[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "(" {
                depth += 1
            } else if c == ")" {
                depth -= 1
                if depth == 0 {
                    let inner = String(s[start..<i])
                    i += 1
                    return inner
                }
            }
            i += 1
        }
        return nil
    }

    /// A table name as written (quotes kept, so DuckDB sees the same identifier).
    mutating func qualifiedName() -> String? {
        skipSpace()
        let start = i
        var quoted = false
        while i < s.count {
            let c = s[i]
            if c == "\"" { quoted.toggle(); i += 1; continue }
            if quoted || c.isLetter || c.isNumber || c == "_" || c == "." { i += 1; continue }
            break
        }
        return i > start ? String(s[start..<i]) : nil
    }

    /// An option value: 'quoted', or a bare word / number; nil if none follows.
    mutating func optionValue() -> String? {
        skipSpace()
        guard i < s.count else { return nil }
        if s[i] == "'" { return quoted() }
        let start = i
        while i < s.count && !s[i].isWhitespace && s[i] != "," && s[i] != ")" { i += 1 }
        return i > start ? String(s[start..<i]) : nil
    }
}

extension Substring {
    func trimmingWhitespaceSub() -> String { String(self).trimmingWhitespace() }
}
