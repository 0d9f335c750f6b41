/// Parsing of the C Data Interface format strings ("i", "tsu:UTC", "+w:3", ...).
enum FormatString {
    /// Type for a format string. Nested types get their children from `children`.
    static func parse(_ format: String, children: [Field]) throws -> ArrowType {
        func child(_ i: Int) throws -> Field {
            guard i < children.count else { throw ArrowError.invalidFormat("\(format) needs \(i + 1) child(ren)") }
            return children[i]
        }
        switch format {
        case "n": return .null
        case "b": return .bool
        case "c": return .int(bitWidth: 8, signed: true)
        case "C": return .int(bitWidth: 8, signed: false)
        case "s": return .int(bitWidth: 16, signed: true)
        case "S": return .int(bitWidth: 16, signed: false)
        case "i": return .int(bitWidth: 32, signed: true)
        case "I": return .int(bitWidth: 32, signed: false)
        case "l": return .int(bitWidth: 64, signed: true)
        case "L": return .int(bitWidth: 64, signed: false)
        case "e": return .float16
        case "f": return .float32
        case "g": return .float64
        case "z": return .binary
        case "Z": return .largeBinary
        case "u": return .utf8
        case "U": return .largeUtf8
        case "tdD": return .date32
        case "tdm": return .date64
        case "tts": return .time32(.second)
        case "ttm": return .time32(.millisecond)
        case "ttu": return .time64(.microsecond)
        case "ttn": return .time64(.nanosecond)
        case "tDs": return .duration(.second)
        case "tDm": return .duration(.millisecond)
        case "tDu": return .duration(.microsecond)
        case "tDn": return .duration(.nanosecond)
        case "tiM": return .interval(.yearMonth)
        case "tiD": return .interval(.dayTime)
        case "tin": return .interval(.monthDayNano)
        case "+l": return .list(try child(0))
        case "+L": return .largeList(try child(0))
        case "+s": return .struct(children)
        case "+m": return .map(entries: try child(0), keysSorted: false)
        default: break
        }
        if format.hasPrefix("ts"), format.count >= 4, format.dropFirst(3).first == ":" {
            let unitChar = format[format.index(format.startIndex, offsetBy: 2)]
            let tz = String(format.dropFirst(4))
            return .timestamp(try unit(unitChar, format), timezone: tz.isEmpty ? nil : tz)
        }
        if format.hasPrefix("d:") {
            let parts = format.dropFirst(2).split(separator: ",").map { Int($0) }
            guard parts.count >= 2, let p = parts[0], let s = parts[1] else { throw ArrowError.invalidFormat(format) }
            let bits = parts.count >= 3 ? (parts[2] ?? -1) : 128
            guard [32, 64, 128, 256].contains(bits) else { throw ArrowError.invalidFormat(format) }
            return .decimal(precision: p, scale: s, bitWidth: bits)
        }
        if format.hasPrefix("w:"), let width = Int(format.dropFirst(2)), width >= 0 {
            return .fixedSizeBinary(byteWidth: width)
        }
        if format.hasPrefix("+w:"), let size = Int(format.dropFirst(3)), size >= 0 {
            return .fixedSizeList(try child(0), listSize: size)
        }
        if format.hasPrefix("+ud:") || format.hasPrefix("+us:") {
            let mode: ArrowType.UnionMode = format.hasPrefix("+ud:") ? .dense : .sparse
            let ids = format.dropFirst(4).split(separator: ",", omittingEmptySubsequences: true).compactMap { Int32($0) }
            return .union(mode: mode, typeIds: ids, children: children)
        }
        throw ArrowError.unsupportedType(format)
    }

    private static func unit(_ c: Character, _ format: String) throws -> ArrowType.TimeUnit {
        switch c {
        case "s": return .second
        case "m": return .millisecond
        case "u": return .microsecond
        case "n": return .nanosecond
        default: throw ArrowError.invalidFormat(format)
        }
    }
}
