/// SQL-level cursors (DECLARE / FETCH / MOVE / CLOSE), which DuckDB does not have. They
/// are portals of the connection, as in PostgreSQL, so Describe on a declared cursor works
/// (psycopg's server-side cursors rely on that).
enum CursorCommand: Sendable, Equatable {
    case declare(name: String, binary: Bool, hold: Bool, query: String)
    /// count nil = ALL.
    case fetch(name: String, count: Int?, move: Bool)
    case close(name: String?)

    /// Parses the statement if it is one of the cursor commands; throws on malformed ones.
    static func parse(_ sql: String) throws -> CursorCommand? {
        var lexer = Lexer(sql)
        guard let first = lexer.word() else { return nil }
        switch first {
        case "DECLARE":
            guard let name = lexer.identifier() else { throw syntax("cursor name expected after DECLARE") }
            var binary = false, hold = false
            while let w = lexer.word() {
                switch w {
                case "BINARY": binary = true
                case "INSENSITIVE", "SCROLL", "ASENSITIVE": continue
                case "NO": _ = lexer.word()
                case "CURSOR": continue
                case "WITH", "WITHOUT":
                    guard lexer.word() == "HOLD" else { throw syntax("HOLD expected after \(w)") }
                    hold = w == "WITH"
                case "FOR":
                    let query = lexer.rest()
                    guard !query.isEmpty else { throw syntax("query expected after FOR") }
                    return .declare(name: name, binary: binary, hold: hold, query: query)
                default: throw syntax("unexpected \(w) in DECLARE")
                }
            }
            throw syntax("FOR expected in DECLARE")
        case "FETCH", "MOVE":
            var count: Int? = 1
            var sign = 1
            while true {
                let save = lexer
                if let n = lexer.number() {
                    count = n * sign
                    continue
                }
                lexer = save
                guard let w = lexer.peekWord() else { throw syntax("cursor name expected in \(first)") }
                switch w {
                case "NEXT", "FORWARD": _ = lexer.word()
                case "ALL": _ = lexer.word(); count = nil
                case "-": _ = lexer.word(); sign = -1
                case "FROM", "IN":
                    _ = lexer.word()
                    guard let name = lexer.identifier() else { throw syntax("cursor name expected") }
                    if let c = count, c < 0 { throw unsupported("backward FETCH") }
                    return .fetch(name: name, count: count, move: first == "MOVE")
                case "PRIOR", "FIRST", "LAST", "ABSOLUTE", "RELATIVE", "BACKWARD":
                    throw unsupported("\(w) in \(first) (cursors are forward-only)")
                default:
                    guard let name = lexer.identifier() else { throw syntax("cursor name expected") }
                    return .fetch(name: name, count: count, move: first == "MOVE")
                }
            }
        case "CLOSE":
            if lexer.peekWord() == "ALL" { return .close(name: nil) }
            guard let name = lexer.identifier() else { throw syntax("cursor name expected after CLOSE") }
            return .close(name: name)
        default:
            return nil
        }
    }

    private static func syntax(_ m: String) -> ErrorFields { ErrorFields(sqlState: SQLState.syntaxError, message: m) }
    private static func unsupported(_ m: String) -> ErrorFields { ErrorFields(sqlState: SQLState.featureNotSupported, message: "\(m) is not supported") }

    /// A tiny tokenizer: upper-cased words, quoted or plain identifiers, integers.
    struct Lexer {
        let s: [Character]
        var i = 0
        init(_ text: String) { s = Array(text) }

        mutating func skipSpace() {
            while i < s.count {
                if s[i].isWhitespace { i += 1; continue }
                if s[i] == "-" && i + 1 < s.count && s[i + 1] == "-" {
                    while i < s.count && s[i] != "\n" { i += 1 }
                    continue
                }
                break
            }
        }

        mutating func word() -> String? {
            skipSpace()
            guard i < s.count else { return nil }
            if s[i] == "-" { i += 1; return "-" }
            let start = i
            while i < s.count && (s[i].isLetter || s[i] == "_") { i += 1 }
            return i > start ? String(s[start..<i]).uppercased() : nil
        }

        mutating func peekWord() -> String? {
            var copy = self
            return copy.word()
        }

        mutating func number() -> Int? {
            skipSpace()
            let start = i
            while i < s.count && s[i].isNumber { i += 1 }
            return i > start ? Int(String(s[start..<i])) : nil
        }

        /// The text of a quoted token at the cursor ("ident" or 'literal'), with doubled
        /// quotes undone; nil if it is not closed.
        mutating func quoted() -> String? {
            let q = s[i]
            var out = ""
            i += 1
            while i < s.count {
                if s[i] == q {
                    if i + 1 < s.count && s[i + 1] == q { out.append(q); i += 2; continue }
                    i += 1
                    return out
                }
                out.append(s[i])
                i += 1
            }
            return nil
        }

        /// A plain identifier (folded to lower case, as PostgreSQL does) or a "quoted" one.
        mutating func identifier() -> String? {
            skipSpace()
            guard i < s.count else { return nil }
            if s[i] == "\"" { return quoted() }
            let start = i
            while i < s.count && (s[i].isLetter || s[i].isNumber || s[i] == "_") { i += 1 }
            return i > start ? String(s[start..<i]).lowercased() : nil
        }

        mutating func rest() -> String {
            skipSpace()
            var text = String(s[i...])
            while text.hasSuffix(";") || text.last?.isWhitespace == true { text.removeLast() }
            return text
        }
    }
}
