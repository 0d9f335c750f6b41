/// Checks statement text before DuckDB's parser sees it. DuckDB's parser cannot be
/// interrupted, and its lexer takes quadratic time on block comments that nest or that
/// run into operator characters: `/*` repeated 16,000 times (32 KB) keeps a thread busy
/// for 12 seconds, `/**/` repeated 20,000 times for 22, 100,000 nested openers for minutes.
/// One client could so occupy every thread that parses. The screen, linear in the text,
/// does three things:
///
/// - refuses text longer than the configured limit (54000 in PostgreSQL terms);
/// - refuses an unterminated block comment, as PostgreSQL does (42601), since DuckDB would
///   spend quadratic time finding that out;
/// - blanks every block comment (each character becomes a space, line breaks stay), so that
///   DuckDB's lexer never meets one. Comments are whitespace to SQL, and keeping lines and
///   character counts keeps error positions right.
///
/// Quotes are followed as PostgreSQL's lexer follows them ('...', E'...' with backslash
/// escapes, "...", $tag$...$tag$), so a `/*` inside a literal is never touched (DuckDB
/// lexes those in linear time).
public struct StatementScreen: Sendable, Equatable {
    /// Longest statement accepted, in bytes of UTF-8.
    public var maxBytes: Int

    public init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        case tooLong(bytes: Int, limit: Int)
        /// `position` is the 1-based character offset of the comment's opening `/*`.
        case unterminatedComment(position: Int, near: String)
        /// A statement that DuckDB mishandles so badly that it would invalidate the database
        /// for every session (an internal error), refused beforehand (0A000).
        case unsupported(String)

        public var description: String {
            switch self {
            case .tooLong(let bytes, let limit):
                return "statement is too long: \(bytes) bytes, the limit is \(limit) (maxStatementBytes)"
            case .unterminatedComment(_, let near):
                return "unterminated /* comment at or near \"\(near)\""
            case .unsupported(let what):
                return what
            }
        }
    }

    /// The text DuckDB should parse: `sql` itself unless it holds a block comment.
    public func screen(_ sql: String) throws -> String {
        let count = sql.utf8.count
        guard count <= maxBytes else { throw Rejection.tooLong(bytes: count, limit: maxBytes) }
        let text = try blankingComments(sql)
        try Self.checkWriterOptions(text)
        return text
    }

    private func blankingComments(_ sql: String) throws -> String {
        // Nothing to look at without a comment opener; most statements end here.
        guard Self.containsCommentOpener(sql.utf8) else { return sql }
        let s = Array(sql.utf8)
        var blank: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            switch c {
            case UInt8(ascii: "'"):
                let escapes = i > 0 && (s[i - 1] == UInt8(ascii: "E") || s[i - 1] == UInt8(ascii: "e"))
                    && (i < 2 || !Self.isIdentifier(s[i - 2]))
                i = Self.endOfQuoted(s, from: i, quote: c, backslashEscapes: escapes)
            case UInt8(ascii: "\""):
                i = Self.endOfQuoted(s, from: i, quote: c, backslashEscapes: false)
            case UInt8(ascii: "-") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "-"):
                while i < s.count && s[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "*"):
                let start = i
                var depth = 1
                i += 2
                while i < s.count && depth > 0 {
                    if s[i] == UInt8(ascii: "*") && i + 1 < s.count && s[i + 1] == UInt8(ascii: "/") {
                        depth -= 1
                        i += 2
                    } else if s[i] == UInt8(ascii: "/") && i + 1 < s.count && s[i + 1] == UInt8(ascii: "*") {
                        depth += 1
                        i += 2
                    } else {
                        i += 1
                    }
                }
                guard depth == 0 else {
                    let position = String(decoding: s[..<start], as: UTF8.self).count + 1
                    let near = String(String(decoding: s[start...], as: UTF8.self).prefix(40))
                    throw Rejection.unterminatedComment(position: position, near: near)
                }
                blank.append(start..<i)
            case UInt8(ascii: "$"):
                i = Self.endOfDollarQuote(s, from: i)
            default:
                i += 1
            }
        }
        guard !blank.isEmpty else { return sql }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var last = 0
        for range in blank {
            out += s[last..<range.lowerBound]
            // One space per character (not per byte), line breaks kept.
            for b in s[range] where b & 0xC0 != 0x80 {
                out.append(b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") ? b : UInt8(ascii: " "))
            }
            last = range.upperBound
        }
        out += s[last...]
        return String(decoding: out, as: UTF8.self)
    }

    /// DuckDB 1.5.5's CSV writer takes a delimiter whose first byte is not ASCII (`'é'`) to
    /// an internal error that invalidates the whole database: every session fails from then
    /// on. `COPY ... TO` and `EXPORT DATABASE` with such a DELIMITER (or DELIM, SEP,
    /// SEPARATOR) are refused before DuckDB sees them; reading with one works and is left
    /// alone, as are ASCII delimiters of several characters.
    static func checkWriterOptions(_ sql: String) throws {
        let s = Array(sql.utf8)
        var tokens = SQLTokens(s)
        guard let first = tokens.nextWord(), first == "COPY" || first == "EXPORT" else { return }
        var writes = first == "EXPORT"
        var optionName: String?
        while let token = tokens.next() {
            switch token {
            case .word(let w):
                if w == "TO" && tokens.depth == 0 { writes = true }
                optionName = ["DELIMITER", "DELIM", "SEP", "SEPARATOR"].contains(w) ? w : (w == "AS" ? optionName : nil)
            case .literal(let bytes):
                if writes, let name = optionName, let lead = bytes.first, lead >= 0x80 {
                    throw Rejection.unsupported(
                        "COPY TO with a \(name) that starts with a non-ASCII character is not supported (DuckDB's CSV writer fails on it)")
                }
                optionName = nil
            case .quoted:
                optionName = nil
            case .symbol(let c):
                if c != UInt8(ascii: "=") { optionName = nil }
            }
        }
    }

    static func containsCommentOpener(_ utf8: String.UTF8View) -> Bool {
        var previous: UInt8 = 0
        for b in utf8 {
            if previous == UInt8(ascii: "/") && b == UInt8(ascii: "*") { return true }
            previous = b
        }
        return false
    }

    /// The index after the closing quote (or the end, for an unterminated literal, which
    /// DuckDB reports in linear time). A doubled quote stands for itself.
    static func endOfQuoted(_ s: [UInt8], from start: Int, quote: UInt8, backslashEscapes: Bool) -> Int {
        var i = start + 1
        while i < s.count {
            if backslashEscapes && s[i] == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if s[i] == quote {
                if i + 1 < s.count && s[i + 1] == quote {
                    i += 2
                    continue
                }
                return i + 1
            }
            i += 1
        }
        return s.count
    }

    /// `$tag$ ... $tag$` (the tag may be empty); `$1` and a `$` inside an identifier are not
    /// quotes. Returns the index after the closing tag, or after the `$` when it opens none.
    static func endOfDollarQuote(_ s: [UInt8], from start: Int) -> Int {
        if start > 0 && isIdentifier(s[start - 1]) { return start + 1 }
        var j = start + 1
        while j < s.count && isIdentifier(s[j]) { j += 1 }
        guard j < s.count, s[j] == UInt8(ascii: "$"), !(j > start + 1 && isDigit(s[start + 1])) else { return start + 1 }
        let tag = s[start...j]
        var k = j + 1
        // Linear search for the closing tag: compare at each `$` only.
        while k + tag.count <= s.count {
            if s[k] == UInt8(ascii: "$"), s[k..<(k + tag.count)].elementsEqual(tag) { return k + tag.count }
            k += 1
        }
        return s.count
    }

    static func isIdentifier(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c >= 0x80
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
