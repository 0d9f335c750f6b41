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
    /// Single bytes, as PostgreSQL requires: a multi-byte character here is refused when the
    /// options are parsed, so the data paths never see one.
    var delimiter: UInt8 = 0x09
    var null: String = "\\N"
    var header = false
    var quote: UInt8 = 0x22
    var escape: UInt8 = 0x22

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
                // CopyInResponse counts columns in 16 bits (and PostgreSQL tables have at most 1600).
                guard columns.count <= 1600 else {
                    throw ErrorFields(sqlState: SQLState.tooManyColumns, message: "COPY lists \(columns.count) columns; tables can have at most 1600")
                }
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
            // name [value] {, name [value]}: values may be quoted and hold commas.
            var l = CursorCommand.Lexer(inner)
            while let name = l.word() {
                l.skipSpace()
                let value = l.peekChar() == "," ? nil : l.optionValue()
                options.append((name, value))
                l.skipSpace()
                guard let next = l.peekChar() else { break }
                guard next == "," else { throw Self.syntax("syntax error in COPY options near \"\(next)\"") }
                l.i += 1
            }
            l.skipSpace()
            guard l.peekChar() == nil else { throw Self.syntax("syntax error in COPY options") }
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
        var quoteGiven = false, escapeGiven = false, delimiterGiven = false
        for (name, value) in options {
            switch name {
            case "FORMAT":
                switch value?.uppercased() {
                case "CSV": format = .csv
                case "TEXT", nil: format = .text
                case "BINARY":
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY in binary format is not supported")
                default: throw Self.syntax("COPY format \"\(value ?? "")\" not recognized")
                }
            case "HEADER":
                header = value.map { ["TRUE", "ON", "1", "MATCH"].contains($0.uppercased()) } ?? true
            case "DELIMITER":
                delimiter = try Self.singleByte(value, "delimiter")
                delimiterGiven = true
            case "NULL": null = value ?? ""
            case "QUOTE":
                quote = try Self.singleByte(value, "quote")
                quoteGiven = true
            case "ESCAPE":
                escape = try Self.singleByte(value, "escape")
                escapeGiven = true
            case "ENCODING":
                guard ["UTF8", "UTF-8"].contains(value?.uppercased() ?? "") else {
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY supports UTF8 only")
                }
            default:
                throw Self.syntax("option \"\(name.lowercased())\" not recognized")
            }
        }
        if format == .csv {
            if !delimiterGiven { delimiter = 0x2C }
            if !options.contains(where: { $0.0 == "NULL" }) { null = "" }
            if quoteGiven && !escapeGiven { escape = quote }
        }
        try validate(quoteGiven: quoteGiven, escapeGiven: escapeGiven)
    }

    /// A one-byte option value. PostgreSQL: "COPY delimiter must be a single one-byte character".
    private static func singleByte(_ value: String?, _ what: String) throws -> UInt8 {
        guard let value, value.utf8.count == 1, let byte = value.utf8.first else {
            throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY \(what) must be a single one-byte character")
        }
        return byte
    }

    /// PostgreSQL's checks of the option combination (ProcessCopyOptions), so that a COPY
    /// that PostgreSQL refuses is refused here too, with its SQLSTATE.
    private func validate(quoteGiven: Bool, escapeGiven: Bool) throws {
        func invalid(_ m: String) -> ErrorFields { ErrorFields(sqlState: SQLState.invalidParameterValue, message: m) }
        if delimiter == 0x0A || delimiter == 0x0D { throw invalid("COPY delimiter cannot be newline or carriage return") }
        if null.utf8.contains(0x0A) || null.utf8.contains(0x0D) {
            throw invalid("COPY null representation cannot use newline or carriage return")
        }
        if format == .text, Array("\\.abcdefghijklmnopqrstuvwxyz0123456789".utf8).contains(delimiter) {
            throw invalid("COPY delimiter cannot be \"\(Character(Unicode.Scalar(delimiter)))\"")
        }
        if format != .csv, quoteGiven {
            throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY quote available only in CSV mode")
        }
        if format != .csv, escapeGiven {
            throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY escape available only in CSV mode")
        }
        if format == .csv, delimiter == quote { throw invalid("COPY delimiter and quote must be different") }
        if null.utf8.contains(delimiter) { throw invalid("COPY delimiter must not appear in the NULL specification") }
        if format == .csv, null.utf8.contains(quote) { throw invalid("CSV quote character must not appear in the NULL specification") }
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

    /// An E'...' literal at the cursor (on its quote), with PostgreSQL's common backslash
    /// escapes undone; nil if it is not closed.
    mutating func escapedString() -> String? {
        var out = ""
        i += 1
        while i < s.count {
            let c = s[i]
            if c == "\\", i + 1 < s.count {
                let e = s[i + 1]
                switch e {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                default: out.append(e)
                }
                i += 2
                continue
            }
            if c == "'" {
                if i + 1 < s.count && s[i + 1] == "'" { out.append("'"); i += 2; continue }
                i += 1
                return out
            }
            out.append(c)
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
        if (s[i] == "E" || s[i] == "e"), i + 1 < s.count, s[i + 1] == "'" {
            i += 1
            return escapedString()
        }
        let start = i
        while i < s.count && !s[i].isWhitespace && s[i] != "," && s[i] != ")" { i += 1 }
        return i > start ? String(s[start..<i]) : nil
    }
}

extension Substring {
    func trimmingWhitespaceSub() -> String { String(self).trimmingWhitespace() }
}
