/// Splits a simple-query string into statements at top-level semicolons, skipping those
/// inside quotes, comments and dollar-quoted bodies. Needed because each statement's own
/// text decides its command tag and transaction effect.
public enum SQLSplitter {
    public static func split(_ sql: String) -> [String] {
        let s = Array(sql.utf8)
        var statements: [String] = []
        var start = 0
        var i = 0
        func take(_ end: Int) {
            let text = String(decoding: s[start..<end], as: UTF8.self)
            if !isBlank(text) { statements.append(text.trimmingWhitespace()) }
        }
        while i < s.count {
            let c = s[i]
            switch c {
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                let escapes = c == UInt8(ascii: "'") && i > 0 && (s[i - 1] == UInt8(ascii: "E") || s[i - 1] == UInt8(ascii: "e"))
                i += 1
                while i < s.count {
                    if escapes && s[i] == UInt8(ascii: "\\") { i += 2; continue }
                    if s[i] == c {
                        if i + 1 < s.count && s[i + 1] == c { i += 2; continue }
                        break
                    }
                    i += 1
                }
                i += 1
            case UInt8(ascii: "-") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "-"):
                while i < s.count && s[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "*"):
                var depth = 1
                i += 2
                while i < s.count && depth > 0 {
                    if s[i] == UInt8(ascii: "*") && i + 1 < s.count && s[i + 1] == UInt8(ascii: "/") { depth -= 1; i += 2; continue }
                    if s[i] == UInt8(ascii: "/") && i + 1 < s.count && s[i + 1] == UInt8(ascii: "*") { depth += 1; i += 2; continue }
                    i += 1
                }
            case UInt8(ascii: "$"):
                // $tag$ ... $tag$ (tag may be empty); a lone $1 parameter is not a quote.
                var j = i + 1
                while j < s.count && (isIdent(s[j])) { j += 1 }
                if j < s.count && s[j] == UInt8(ascii: "$") && !(j > i + 1 && isDigit(s[i + 1])) {
                    let tag = s[i...j]
                    var k = j + 1
                    var closed = false
                    // Compared only where a `$` is: partial matches cannot overlap (the tag
                    // holds no `$` inside), so the search stays linear in the text.
                    while k + tag.count <= s.count {
                        if s[k] == UInt8(ascii: "$"), s[k..<(k + tag.count)].elementsEqual(tag) { closed = true; break }
                        k += 1
                    }
                    i = closed ? k + tag.count : s.count
                } else {
                    i += 1
                }
            case UInt8(ascii: ";"):
                take(i)
                i += 1
                start = i
            default:
                i += 1
            }
        }
        if start < s.count { take(s.count) }
        return statements
    }

    /// True for text that holds no statement: whitespace and comments only.
    public static func isBlank(_ text: String) -> Bool {
        var rest = Substring(text)
        while true {
            rest = rest.drop(while: { $0.isWhitespace })
            if rest.hasPrefix("--") {
                rest = rest.drop(while: { $0 != "\n" })
            } else if rest.hasPrefix("/*"), let end = rest.range(of: "*/") {
                rest = rest[end.upperBound...]
            } else {
                return rest.isEmpty
            }
        }
    }

    private static func isIdent(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c >= 0x80
    }
    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
