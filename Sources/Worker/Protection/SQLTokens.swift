/// Words, quoted identifiers, string literals and symbols of a statement whose comments are
/// already blanked: just enough of SQL's lexical structure to find a statement's kind, an
/// option and its value, or a name. Linear in the text; nothing is allocated for a token
/// unless its text is asked for.
struct SQLTokens {
    enum Kind: Equatable {
        /// An unquoted word (a keyword, a name or a number).
        case word
        /// `"..."`: `range` spans the text between the quotes, doubled quotes not undone.
        case quoted
        /// '...', E'...' or $tag$...$tag$: `range` spans the text between the quotes.
        case literal
        case symbol(UInt8)
    }

    struct Raw: Equatable {
        var kind: Kind
        var range: Range<Int>
    }

    enum Token: Hashable {
        /// An unquoted word, upper-cased.
        case word(String)
        /// A quoted identifier's text, as written (doubled quotes undone).
        case quoted(String)
        /// The bytes between the quotes of a literal ('...', E'...', $tag$...$tag$).
        case literal([UInt8])
        case symbol(UInt8)
    }

    let s: [UInt8]
    var i = 0
    /// Parenthesis depth before the next token.
    private(set) var depth = 0

    init(_ s: [UInt8]) { self.s = s }

    mutating func nextWord() -> String? {
        if case .word(let w)? = next() { return w }
        return nil
    }

    mutating func next() -> Token? {
        nextRaw().map(token)
    }

    /// A raw token with its text.
    func token(_ raw: Raw) -> Token {
        switch raw.kind {
        case .word: return .word(upper(raw.range))
        case .quoted: return .quoted(unquoted(raw.range))
        case .literal: return .literal(Array(s[raw.range]))
        case .symbol(let c): return .symbol(c)
        }
    }

    /// The bytes of `range`, upper-cased (ASCII letters only, as SQL keywords are).
    func upper(_ range: Range<Int>) -> String {
        String(decoding: s[range].map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    /// A quoted identifier's or literal's text with doubled quotes undone.
    func unquoted(_ range: Range<Int>, quote: UInt8 = UInt8(ascii: "\"")) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var j = range.lowerBound
        while j < range.upperBound {
            out.append(s[j])
            j += s[j] == quote && j + 1 < range.upperBound && s[j + 1] == quote ? 2 : 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func nextRaw() -> Raw? {
        while true {
            while i < s.count, s[i] == 0x20 || (s[i] >= 0x09 && s[i] <= 0x0D) { i += 1 }
            guard i < s.count else { return nil }
            let c = s[i]
            if c == UInt8(ascii: "-"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "-") {
                while i < s.count && s[i] != 0x0A { i += 1 }
                continue
            }
            if c == UInt8(ascii: "'") {
                let start = i
                i = StatementScreen.endOfQuoted(s, from: i, quote: c, backslashEscapes: false)
                return Raw(kind: .literal, range: (start + 1)..<max(start + 1, i - 1))
            }
            if c == UInt8(ascii: "E") || c == UInt8(ascii: "e"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "'"),
               i == 0 || !StatementScreen.isIdentifier(s[i - 1]) {
                let start = i + 1
                i = StatementScreen.endOfQuoted(s, from: start, quote: UInt8(ascii: "'"), backslashEscapes: true)
                return Raw(kind: .literal, range: (start + 1)..<max(start + 1, i - 1))
            }
            if c == UInt8(ascii: "\"") {
                let start = i
                i = StatementScreen.endOfQuoted(s, from: i, quote: c, backslashEscapes: false)
                return Raw(kind: .quoted, range: (start + 1)..<max(start + 1, i - 1))
            }
            if c == UInt8(ascii: "$") {
                let start = i
                let end = StatementScreen.endOfDollarQuote(s, from: i)
                if end > start + 1 {
                    var tagEnd = start + 1
                    while tagEnd < end, s[tagEnd] != UInt8(ascii: "$") { tagEnd += 1 }
                    let tagLength = tagEnd - start + 1
                    i = end
                    let lower = min(start + tagLength, end)
                    return Raw(kind: .literal, range: lower..<max(lower, end - tagLength))
                }
            }
            if StatementScreen.isIdentifier(c) {
                let start = i
                while i < s.count, StatementScreen.isIdentifier(s[i]) { i += 1 }
                return Raw(kind: .word, range: start..<i)
            }
            i += 1
            if c == UInt8(ascii: "(") { depth += 1 }
            if c == UInt8(ascii: ")") { depth = max(0, depth - 1) }
            return Raw(kind: .symbol(c), range: (i - 1)..<i)
        }
    }
}
