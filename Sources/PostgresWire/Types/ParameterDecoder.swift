import DuckDB
import NIOCore

/// Turns Bind parameters into DuckDB values.
public enum ParameterDecoder {
    /// One Bind parameter. `oid` is what the client declared in Parse (0 = unspecified);
    /// `target` is the type DuckDB inferred for the parameter (`.invalid` when unknown).
    ///
    /// Text is parsed with PostgreSQL's input rules into `target` (or, when DuckDB could not
    /// infer a type, into the type the client declared; undeclared text binds as VARCHAR so
    /// that DuckDB casts it). Binary is read as the declared type (or, when none was declared,
    /// as the PostgreSQL type of `target`) and then converted to `target`.
    public static func decode(_ value: ByteBuffer?, format: PostgresFormat, oid: UInt32, target: LogicalType) throws -> DuckDBValue {
        guard let value else { return .null }
        switch format {
        case .text:
            let text = try utf8String(value)
            if target != .invalid {
                return try TextInput.parse(text, as: target)
            }
            if oid == PostgresType.numericOID {
                return try TextInput.exactNumeric(text)
            }
            guard let declared = PostgresTypeMapping.duckDBType(forParameterOID: oid) else { return .varchar(text) }
            return try TextInput.parse(text, as: declared)
        case .binary:
            var wireOID = oid
            if wireOID == 0 || wireOID == PostgresType.unknownOID {
                wireOID = target == .invalid ? PostgresType.textOID : PostgresTypeMapping.postgresType(for: target).oid
            }
            var buffer = value
            let decoded = try BinaryInput.decode(&buffer, oid: wireOID)
            return target == .invalid ? decoded : try Coercion.coerce(decoded, to: target)
        }
    }

    static func utf8String(_ buffer: ByteBuffer) throws -> String {
        try buffer.withUnsafeReadableBytes { bytes in
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw PostgresTypeError(
                    sqlState: PostgresTypeError.characterNotInRepertoire, message: "invalid byte sequence for encoding \"UTF8\"")
            }
            return s
        }
    }
}

// MARK: - Text input

enum TextInput {
    static func typeName(_ t: LogicalType) -> String {
        switch t {
        case .boolean: return "boolean"
        case .smallint: return "smallint"
        case .integer: return "integer"
        case .bigint: return "bigint"
        case .float: return "real"
        case .double: return "double precision"
        case .decimal: return "numeric"
        case .date: return "date"
        case .time, .timeNS: return "time"
        case .timestamp, .timestampS, .timestampMS, .timestampNS: return "timestamp"
        case .timestampTZ: return "timestamp with time zone"
        case .interval: return "interval"
        case .uuid: return "uuid"
        case .blob: return "bytea"
        default: return t.description.lowercased()
        }
    }

    static func parse(_ text: String, as type: LogicalType) throws -> DuckDBValue {
        switch type {
        case .boolean: return .bool(try parseBool(text))
        case .tinyint: return .int8(Int8(try parseInteger(text, type: type, min: Int128(Int8.min), max: Int128(Int8.max))))
        case .smallint: return .int16(Int16(try parseInteger(text, type: type, min: Int128(Int16.min), max: Int128(Int16.max))))
        case .integer: return .int32(Int32(try parseInteger(text, type: type, min: Int128(Int32.min), max: Int128(Int32.max))))
        case .bigint: return .int64(Int64(try parseInteger(text, type: type, min: Int128(Int64.min), max: Int128(Int64.max))))
        case .utinyint: return .uint8(UInt8(try parseInteger(text, type: type, min: 0, max: Int128(UInt8.max))))
        case .usmallint: return .uint16(UInt16(try parseInteger(text, type: type, min: 0, max: Int128(UInt16.max))))
        case .uinteger: return .uint32(UInt32(try parseInteger(text, type: type, min: 0, max: Int128(UInt32.max))))
        case .ubigint: return .uint64(UInt64(try parseInteger(text, type: type, min: 0, max: Int128(UInt64.max))))
        case .hugeint: return .hugeint(try parseInteger(text, type: type, min: Int128.min, max: Int128.max))
        case .uhugeint: return .uhugeint(try parseUnsigned128(text))
        case .float: return .float(try parseFloat(text))
        case .double: return .double(try parseDouble(text))
        case .decimal(let width, let scale):
            guard let d = ExactDecimal(text) else { throw PostgresTypeError.invalidText("numeric", text) }
            return try d.decimalValue(width: width, scale: scale)
        case .varchar, .enum: return .varchar(text)
        case .blob: return .blob(try parseBytea(text))
        case .date: return .date(try DateTimeInput.date(text))
        case .time, .timeNS: return .time(try DateTimeInput.time(text))
        case .timestamp, .timestampS, .timestampMS, .timestampNS:
            guard let us = try DateTimeInput.timestamp(text, withZone: false) else { return .varchar(text) }
            return .timestamp(us)
        case .timestampTZ:
            // A zone name we cannot resolve without a time zone database: DuckDB (ICU) casts it.
            guard let us = try DateTimeInput.timestamp(text, withZone: true) else { return .varchar(text) }
            return .timestampTZ(us)
        case .interval:
            let (m, d, us) = try IntervalInput.parse(text)
            return .interval(months: m, days: d, micros: us)
        case .uuid: return .uuid(try parseUUID(text))
        case .list(let element), .array(let element, _):
            // Lists of nested types, and DuckDB's own list spelling "[1, 2]": DuckDB casts.
            if PostgresTypeMapping.isNested(element) || ArrayInput.isDuckDBListLiteral(text) { return .varchar(text) }
            return try ArrayInput.parseText(text, element: element)
        default:
            // BIT, TIME WITH TIME ZONE, BIGNUM, STRUCT, MAP, ...: DuckDB casts the text.
            return .varchar(text)
        }
    }

    static func trimmed(_ text: String) -> Substring.UTF8View {
        var v = Substring(text).utf8
        while let f = v.first, isSpace(f) { v = v.dropFirst() }
        while let l = v.last, isSpace(l) { v = v.dropLast() }
        return v
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    static func parseBool(_ text: String) throws -> Bool {
        let v = Array(trimmed(text)).map { $0 | 0x20 }
        func prefix(of word: String) -> Bool {
            let w = Array(word.utf8)
            return !v.isEmpty && v.count <= w.count && Array(w[0..<v.count]) == v
        }
        if let first = v.first {
            switch first {
            case 0x74 where prefix(of: "true"): return true
            case 0x66 where prefix(of: "false"): return false
            case 0x79 where prefix(of: "yes"): return true
            case 0x6E where prefix(of: "no"): return false
            case 0x6F where v.count >= 2 && prefix(of: "on"): return true
            case 0x6F where v.count >= 2 && prefix(of: "off"): return false
            case 0x31 where v.count == 1: return true
            case 0x30 where v.count == 1: return false
            default: break
            }
        }
        throw PostgresTypeError.invalidText("boolean", text)
    }

    static func parseInteger(_ text: String, type: LogicalType, min: Int128, max: Int128) throws -> Int128 {
        let v = trimmed(text)
        var i = v.startIndex
        var negative = false
        if i < v.endIndex, v[i] == 0x2D || v[i] == 0x2B {
            negative = v[i] == 0x2D
            i = v.index(after: i)
        }
        guard i < v.endIndex else { throw PostgresTypeError.invalidText(typeName(type), text) }
        var magnitude: UInt128 = 0
        var overflow = false
        while i < v.endIndex {
            let c = v[i]
            guard c >= 0x30 && c <= 0x39 else { throw PostgresTypeError.invalidText(typeName(type), text) }
            if !overflow {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt128(c - 0x30))
                if o1 || o2 { overflow = true } else { magnitude = m2 }
            }
            i = v.index(after: i)
        }
        let limit: UInt128 = negative ? min.magnitude : UInt128(max)
        if overflow || magnitude > limit || (negative && min == 0 && magnitude != 0) {
            throw PostgresTypeError.outOfRange(text, typeName(type))
        }
        if negative { return magnitude == Int128.min.magnitude ? Int128.min : -Int128(magnitude) }
        return Int128(magnitude)
    }

    static func parseUnsigned128(_ text: String) throws -> UInt128 {
        let v = trimmed(text)
        var i = v.startIndex
        if i < v.endIndex, v[i] == 0x2B { i = v.index(after: i) }
        guard i < v.endIndex else { throw PostgresTypeError.invalidText("uhugeint", text) }
        var m: UInt128 = 0
        while i < v.endIndex {
            let c = v[i]
            guard c >= 0x30 && c <= 0x39 else {
                if c == 0x2D { throw PostgresTypeError.outOfRange(text, "uhugeint") }
                throw PostgresTypeError.invalidText("uhugeint", text)
            }
            let (m1, o1) = m.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(UInt128(c - 0x30))
            if o1 || o2 { throw PostgresTypeError.outOfRange(text, "uhugeint") }
            m = m2
            i = v.index(after: i)
        }
        return m
    }

    /// The text of a float, with PostgreSQL's spellings of the special values.
    private static func floatText(_ text: String) -> (String, special: Double?) {
        let t = String(trimmed(text)) ?? text
        switch t.lowercased() {
        case "nan", "+nan", "-nan": return (t, .nan)
        case "infinity", "+infinity", "inf", "+inf": return (t, .infinity)
        case "-infinity", "-inf": return (t, -.infinity)
        default: return (t, nil)
        }
    }

    private static func hasNonZeroDigit(_ t: String) -> Bool {
        for c in t.utf8 {
            if c == 0x65 || c == 0x45 { return false }
            if c >= 0x31 && c <= 0x39 { return true }
        }
        return false
    }

    static func parseDouble(_ text: String) throws -> Double {
        let (t, special) = floatText(text)
        if let special { return special }
        guard isDecimalLiteral(t), let d = Double(t) else { throw PostgresTypeError.invalidText("double precision", text) }
        if d.isInfinite || (d == 0 && hasNonZeroDigit(t)) {
            throw PostgresTypeError(sqlState: PostgresTypeError.numericValueOutOfRange, message: "\"\(t)\" is out of range for type double precision")
        }
        return d
    }

    static func parseFloat(_ text: String) throws -> Float {
        let (t, special) = floatText(text)
        if let special { return Float(special) }
        guard isDecimalLiteral(t), let f = Float(t) else { throw PostgresTypeError.invalidText("real", text) }
        if f.isInfinite || (f == 0 && hasNonZeroDigit(t)) {
            throw PostgresTypeError(sqlState: PostgresTypeError.numericValueOutOfRange, message: "\"\(t)\" is out of range for type real")
        }
        return f
    }

    /// `[+-]digits[.digits][e[+-]digits]` (Swift's parsers also take hex and "nan(...)").
    static func isDecimalLiteral(_ t: String) -> Bool {
        var sawDigit = false
        var sawPoint = false
        var sawExp = false
        var prev: UInt8 = 0
        for (k, c) in t.utf8.enumerated() {
            switch c {
            case 0x30...0x39: sawDigit = true
            case 0x2B, 0x2D: if !(k == 0 || prev == 0x65 || prev == 0x45) { return false }
            case 0x2E: if sawPoint || sawExp { return false }; sawPoint = true
            case 0x65, 0x45: if sawExp || !sawDigit { return false }; sawExp = true
            default: return false
            }
            prev = c
        }
        return sawDigit
    }

    static func parseBytea(_ text: String) throws -> [UInt8] {
        let b = Array(text.utf8)
        if b.count >= 2 && b[0] == 0x5C && b[1] == 0x78 {
            var out: [UInt8] = []
            out.reserveCapacity((b.count - 2) / 2)
            var i = 2
            while i < b.count {
                if isSpace(b[i]) { i += 1; continue }
                guard let hi = hexValue(b[i]) else {
                    throw PostgresTypeError(sqlState: PostgresTypeError.invalidTextRepresentation, message: "invalid hexadecimal digit: \"\(Character(Unicode.Scalar(b[i])))\"")
                }
                guard i + 1 < b.count, let lo = hexValue(b[i + 1]) else {
                    throw PostgresTypeError(sqlState: PostgresTypeError.invalidTextRepresentation, message: "invalid hexadecimal data: odd number of digits")
                }
                out.append(hi << 4 | lo)
                i += 2
            }
            return out
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] != 0x5C {
                out.append(b[i])
                i += 1
            } else if i + 1 < b.count && b[i + 1] == 0x5C {
                out.append(0x5C)
                i += 2
            } else if i + 3 < b.count && (0x30...0x33).contains(b[i + 1]) && (0x30...0x37).contains(b[i + 2]) && (0x30...0x37).contains(b[i + 3]) {
                out.append((b[i + 1] - 0x30) << 6 | (b[i + 2] - 0x30) << 3 | (b[i + 3] - 0x30))
                i += 4
            } else {
                throw PostgresTypeError.invalidText("bytea", text)
            }
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }

    /// PostgreSQL's uuid_in: 32 hex digits, optionally in braces, with a hyphen allowed
    /// after any group of four digits.
    static func parseUUID(_ text: String) throws -> UInt128 {
        var b = Array(text.utf8)
        if b.first == 0x7B && b.last == 0x7D && b.count >= 2 { b = Array(b[1..<(b.count - 1)]) }
        var v: UInt128 = 0
        var digits = 0
        var i = 0
        while i < b.count {
            if b[i] == 0x2D {
                guard digits > 0, digits % 4 == 0, i + 1 < b.count, b[i + 1] != 0x2D else {
                    throw PostgresTypeError.invalidText("uuid", text)
                }
                i += 1
                continue
            }
            guard let h = hexValue(b[i]), digits < 32 else { throw PostgresTypeError.invalidText("uuid", text) }
            v = v << 4 | UInt128(h)
            digits += 1
            i += 1
        }
        guard digits == 32 else { throw PostgresTypeError.invalidText("uuid", text) }
        return v
    }

    /// A numeric text kept exact: DECIMAL with the literal's own scale when it fits DuckDB's
    /// 38 digits, DOUBLE otherwise.
    static func exactNumeric(_ text: String) throws -> DuckDBValue {
        let (_, special) = floatText(text)
        if let special { return .double(special) }
        guard let d = ExactDecimal(text) else { throw PostgresTypeError.invalidText("numeric", text) }
        if let v = d.ownScaleValue() { return v }
        return .double(try parseDouble(text))
    }
}

// MARK: - Exact decimals

/// A decimal literal as digits and a power of ten: value = digits × 10^exponent.
struct ExactDecimal {
    var negative: Bool
    /// Significant digits, no leading zeros (empty for zero).
    var digits: [UInt8]
    var exponent: Int
    /// The number of fraction digits the literal was written with ("12.340" → 3).
    var displayScale: Int

    init?(_ text: String) {
        let v = Array(TextInput.trimmed(text))
        var i = 0
        negative = false
        if i < v.count, v[i] == 0x2D || v[i] == 0x2B {
            negative = v[i] == 0x2D
            i += 1
        }
        var digits: [UInt8] = []
        var exp = 0
        var sawDigit = false
        var sawPoint = false
        while i < v.count {
            let c = v[i]
            if c >= 0x30 && c <= 0x39 {
                sawDigit = true
                if !(digits.isEmpty && c == 0x30) { digits.append(c - 0x30) }
                if sawPoint { exp -= 1 }
            } else if c == 0x2E && !sawPoint {
                sawPoint = true
            } else {
                break
            }
            i += 1
        }
        guard sawDigit else { return nil }
        if i < v.count, v[i] == 0x65 || v[i] == 0x45 {
            i += 1
            var eneg = false
            if i < v.count, v[i] == 0x2D || v[i] == 0x2B {
                eneg = v[i] == 0x2D
                i += 1
            }
            var e = 0
            var sawE = false
            while i < v.count, v[i] >= 0x30 && v[i] <= 0x39 {
                e = min(e * 10 + Int(v[i] - 0x30), 1_000_000)
                sawE = true
                i += 1
            }
            guard sawE else { return nil }
            exp += eneg ? -e : e
        }
        guard i == v.count else { return nil }
        displayScale = max(0, -exp)
        // Trailing zeros move into the exponent.
        while let last = digits.last, last == 0 {
            digits.removeLast()
            exp += 1
        }
        if digits.isEmpty { exp = 0 }
        self.digits = digits
        self.exponent = exp
    }

    init(negative: Bool, digits: [UInt8], exponent: Int, displayScale: Int? = nil) {
        self.negative = negative
        self.digits = digits
        self.exponent = exponent
        self.displayScale = displayScale ?? max(0, -exponent)
    }

    init(unscaled: Int128, scale: Int) {
        negative = unscaled < 0
        var m = unscaled.magnitude
        var ds: [UInt8] = []
        while m != 0 {
            ds.append(UInt8(m % 10))
            m /= 10
        }
        var exp = -scale
        var k = 0
        while k < ds.count && ds[k] == 0 { k += 1; exp += 1 }
        digits = Array(ds[k...].reversed())
        exponent = digits.isEmpty ? 0 : exp
        displayScale = scale
    }

    /// The unscaled integer at `scale`, rounded half away from zero; nil if it needs more
    /// than 38 digits.
    func unscaled(scale: Int) -> Int128? {
        let shift = exponent + scale  // digits × 10^shift
        var kept = digits
        var roundUp = false
        if shift < 0 {
            let drop = -shift
            if drop > kept.count {
                kept = []
            } else {
                roundUp = kept[kept.count - drop] >= 5
                kept.removeLast(drop)
            }
        }
        if shift > 0 {
            guard kept.count + shift <= 39 else { return nil }
            kept.append(contentsOf: repeatElement(0, count: kept.isEmpty ? 0 : shift))
        }
        guard kept.count <= 38 || (kept.count == 39 && !roundUp) else { return nil }
        var v: Int128 = 0
        for d in kept {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int128(d))
            guard !o1 && !o2 else { return nil }
            v = a
        }
        if roundUp { v += 1 }
        return negative ? -v : v
    }

    static func pow10(_ n: Int) -> Int128 {
        var p: Int128 = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    /// DECIMAL(width, scale), or 22003 if the value needs more integer digits.
    func decimalValue(width: Int, scale: Int) throws -> DuckDBValue {
        guard let u = unscaled(scale: scale), u.magnitude < ExactDecimal.pow10(min(width, 38)).magnitude else {
            throw PostgresTypeError(
                sqlState: PostgresTypeError.numericValueOutOfRange,
                message: "numeric field overflow: a field with precision \(width), scale \(scale) must round to an absolute value less than 10^\(width - scale)")
        }
        return .decimal(unscaled: u, width: UInt8(width), scale: UInt8(scale))
    }

    /// DECIMAL with this literal's own scale if it fits in 38 digits; HUGEINT or UHUGEINT
    /// for larger integers that fit those.
    func ownScaleValue() -> DuckDBValue? {
        let scale = max(displayScale, -exponent)
        let intDigits = max(0, digits.count + exponent)
        let width = max(1, intDigits + scale)
        if width <= 38, let u = unscaled(scale: scale) {
            return .decimal(unscaled: u, width: UInt8(width), scale: UInt8(scale))
        }
        guard exponent >= 0, intDigits <= 39 else { return nil }
        var m: UInt128 = 0
        for d in digits + Array(repeating: 0, count: exponent) {
            let (a, o1) = m.multipliedReportingOverflow(by: 10)
            let (b, o2) = a.addingReportingOverflow(UInt128(d))
            guard !o1 && !o2 else { return nil }
            m = b
        }
        if negative {
            if m == Int128.min.magnitude { return .hugeint(Int128.min) }
            return Int128(exactly: m).map { .hugeint(-$0) }
        }
        if let i = Int128(exactly: m) { return .hugeint(i) }
        return .uhugeint(m)
    }

    /// Plain decimal notation with the display scale ("1.50", "-0.05", "0.000").
    var text: String {
        let scale = max(displayScale, -exponent, 0)
        var unscaled = digits.map { Character(String($0)) }
        if !unscaled.isEmpty { unscaled += Array(repeating: "0", count: exponent + scale) }
        if unscaled.count <= scale { unscaled = Array(repeating: "0", count: scale + 1 - unscaled.count) + unscaled }
        var s = negative && !digits.isEmpty ? "-" : ""
        s += String(unscaled[0..<(unscaled.count - scale)])
        if scale > 0 { s += "." + String(unscaled[(unscaled.count - scale)...]) }
        return s
    }
}
