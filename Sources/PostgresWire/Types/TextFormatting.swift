import NIOCore

// Writers that put the text (and binary) form of numbers, dates and times straight into
// memory reserved in a ByteBuffer: one capacity check per value, no Foundation, no
// intermediate Strings (except Swift's own shortest float rendering, a small string).

@usableFromInline let asciiZero: UInt8 = 0x30
@usableFromInline let asciiMinus: UInt8 = 0x2D

/// Number of decimal digits of `v` (1 for 0).
@inlinable
func decimalDigitCount(_ v: UInt64) -> Int {
    var n = 1
    var x = v
    while x >= 10_000 { x /= 10_000; n += 4 }
    while x >= 10 { x /= 10; n += 1 }
    return n
}

@usableFromInline let hexDigitsLower: [UInt8] = Array("0123456789abcdef".utf8)
@usableFromInline let hexDigitsUpper: [UInt8] = Array("0123456789ABCDEF".utf8)

/// A cursor over memory that the caller has reserved (see `ByteBuffer.writeRaw`).
struct RawOut {
    let base: UnsafeMutableRawPointer
    var count = 0

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        base.storeBytes(of: b, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func bytes(_ s: StaticString) {
        base.advanced(by: count).copyMemory(from: s.utf8Start, byteCount: s.utf8CodeUnitCount)
        count += s.utf8CodeUnitCount
    }

    @inline(__always)
    mutating func bytes(_ b: UnsafeRawBufferPointer) {
        if let src = b.baseAddress { base.advanced(by: count).copyMemory(from: src, byteCount: b.count) }
        count += b.count
    }

    @inline(__always)
    mutating func integer<T: FixedWidthInteger>(_ v: T) {
        base.storeBytes(of: v.bigEndian, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    /// The decimal digits of `v`, zero-padded to at least `width`.
    @inline(__always)
    mutating func decimal(_ v: UInt64, width: Int = 1) {
        let n = max(decimalDigitCount(v), width)
        var x = v
        var i = count + n
        while i > count {
            i -= 1
            let q = x / 10
            base.storeBytes(of: asciiZero &+ UInt8(truncatingIfNeeded: x &- q &* 10), toByteOffset: i, as: UInt8.self)
            x = q
        }
        count += n
    }

    @inline(__always)
    mutating func decimal(_ v: Int64) {
        if v < 0 { byte(asciiMinus) }
        decimal(v.magnitude)
    }

    /// Two digits.
    @inline(__always)
    mutating func twoDigits(_ v: Int) {
        byte(asciiZero &+ UInt8(truncatingIfNeeded: v / 10))
        byte(asciiZero &+ UInt8(truncatingIfNeeded: v % 10))
    }
}

extension ByteBuffer {
    @inlinable
    mutating func writeByte(_ b: UInt8) { writeInteger(b) }

    /// Reserves `max` bytes, lets `body` write up to that many, and keeps what it wrote.
    @inline(__always)
    mutating func writeRaw(max: Int, _ body: (inout RawOut) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: max) { ptr in
            var out = RawOut(ptr.baseAddress!)
            body(&out)
            // Each caller's `max` is the most its writer can produce for any value; a writer
            // that went past it is a bug to find in tests and fuzzing, not to write past silently.
            precondition(out.count <= max, "RawOut wrote \(out.count) bytes, more than the \(max) reserved")
            return out.count
        }
    }

    mutating func writeDecimal(_ v: UInt64, width: Int = 1) { writeRaw(max: 20 + width) { $0.decimal(v, width: width) } }
    mutating func writeDecimal(_ v: Int64) { writeRaw(max: 21) { $0.decimal(v) } }
}

// MARK: - Integers of 128 bits and exact decimals

/// Calls `body` with the ASCII decimal digits of `v` (no leading zeros; "0" for zero),
/// held in stack memory.
@inline(__always)
func withDecimalDigits<R>(_ v: UInt128, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buf in
        var i = 40
        if let small = UInt64(exactly: v) {
            var x = small
            repeat {
                i -= 1
                let q = x / 10
                buf[i] = asciiZero &+ UInt8(truncatingIfNeeded: x &- q &* 10)
                x = q
            } while x != 0
        } else {
            var x = v
            let chunk: UInt128 = 10_000_000_000_000_000_000  // 10^19
            while x != 0 {
                let (q, r) = x.quotientAndRemainder(dividingBy: chunk)
                var lo = UInt64(r)
                let last = q == 0
                var written = 0
                repeat {
                    i -= 1
                    let qq = lo / 10
                    buf[i] = asciiZero &+ UInt8(truncatingIfNeeded: lo &- qq &* 10)
                    lo = qq
                    written += 1
                } while (last ? lo != 0 : written < 19)
                x = q
            }
        }
        return body(UnsafeBufferPointer(rebasing: UnsafeBufferPointer(buf)[i..<40]))
    }
}

extension RawOut {
    /// ASCII `digits` (most significant first) as a number with `scale` fraction digits:
    /// "123.45", "-0.05", "0.000". Needs digits.count + scale + 3 bytes.
    mutating func scaledDigits(_ digits: UnsafeBufferPointer<UInt8>, negative: Bool, scale: Int) {
        var isZero = true
        for d in digits where d != asciiZero { isZero = false; break }
        if negative && !isZero { byte(asciiMinus) }
        let raw = UnsafeRawBufferPointer(digits)
        if scale <= 0 {
            bytes(raw)
            return
        }
        let intLen = digits.count - scale
        if intLen > 0 {
            bytes(UnsafeRawBufferPointer(rebasing: raw[0..<intLen]))
            byte(0x2E)
            bytes(UnsafeRawBufferPointer(rebasing: raw[intLen...]))
        } else {
            byte(asciiZero)
            byte(0x2E)
            for _ in 0..<(-intLen) { byte(asciiZero) }
            bytes(raw)
        }
    }

    /// `magnitude / 10^scale` with exactly `scale` fraction digits. Needs scale + 43 bytes.
    mutating func scaledDecimal(magnitude: UInt128, negative: Bool, scale: Int) {
        withDecimalDigits(magnitude) { scaledDigits($0, negative: negative, scale: scale) }
    }

    /// Needs 40 bytes.
    mutating func decimal(_ v: UInt128) {
        if let small = UInt64(exactly: v) {
            decimal(small)
        } else {
            withDecimalDigits(v) { bytes(UnsafeRawBufferPointer($0)) }
        }
    }

    /// `\x` and lower-case hex digits (bytea_output = hex). Needs 2 + 2 × count bytes.
    mutating func byteaHex(_ source: UnsafeRawBufferPointer) {
        byte(0x5C)
        byte(0x78)
        hexDigitsLower.withUnsafeBufferPointer { hex in
            for b in source {
                byte(hex[Int(b >> 4)])
                byte(hex[Int(b & 0xF)])
            }
        }
    }

    /// A UUID's 16 bytes in canonical lower-case form. Needs 36 bytes.
    mutating func uuid(_ source: UnsafeRawBufferPointer) {
        hexDigitsLower.withUnsafeBufferPointer { hex in
            for (i, b) in source.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { byte(asciiMinus) }
                byte(hex[Int(b >> 4)])
                byte(hex[Int(b & 0xF)])
            }
        }
    }
}

// MARK: - Floating point

/// The shortest decimal that round-trips to a float: `mantissa * 10^exponent`, with
/// `digitCount` digits in the mantissa (no trailing zeros). Zero has mantissa 0.
struct ShortestDecimal {
    var negative: Bool
    var mantissa: UInt64
    var digitCount: Int
    var exponent: Int

    /// Reads Swift's own shortest round-trip rendering ("1.5", "1e-05", "1.2345678901234568e+17").
    init(_ text: String) {
        var text = text
        var negative = false
        var mantissa: UInt64 = 0
        var count = 0
        var exp = 0
        var fractionDigits = 0
        text.withUTF8 { bytes in
            var i = 0
            if i < bytes.count, bytes[i] == asciiMinus { negative = true; i += 1 }
            var seenPoint = false
            while i < bytes.count {
                let c = bytes[i]
                if c >= 0x30 && c <= 0x39 {
                    if mantissa == 0 && c == asciiZero {
                        if seenPoint { fractionDigits += 1 }
                    } else if count < 19 {
                        mantissa = mantissa * 10 + UInt64(c - asciiZero)
                        count += 1
                        if seenPoint { fractionDigits += 1 }
                    } else if !seenPoint {
                        exp += 1
                    }
                } else if c == 0x2E {
                    seenPoint = true
                } else if c == 0x65 || c == 0x45 {
                    i += 1
                    var expNegative = false
                    if i < bytes.count, bytes[i] == asciiMinus {
                        expNegative = true
                        i += 1
                    } else if i < bytes.count, bytes[i] == 0x2B {
                        i += 1
                    }
                    var e = 0
                    while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 {
                        e = e * 10 + Int(bytes[i] - asciiZero)
                        i += 1
                    }
                    exp += expNegative ? -e : e
                    break
                }
                i += 1
            }
        }
        exp -= fractionDigits
        if mantissa == 0 {
            count = 1
            exp = 0
        } else {
            while mantissa % 10 == 0 {
                mantissa /= 10
                count -= 1
                exp += 1
            }
        }
        self.negative = negative
        self.mantissa = mantissa
        self.digitCount = count
        self.exponent = exp
    }

    /// The exponent in scientific notation (d.ddd × 10^x).
    var scientificExponent: Int { exponent + digitCount - 1 }
}

/// A finite, non-zero binary float as `significand × 2^exponent`.
struct BinaryParts {
    var significand: UInt64
    var exponent: Int
    /// Whether the next smaller float is half as far away as the next larger one.
    var narrowBelow: Bool
    var precision: Int

    init(_ v: Double) {
        let bits = v.bitPattern
        let field = Int((bits >> 52) & 0x7FF)
        let fraction = bits & ((1 << 52) - 1)
        if field == 0 {
            significand = fraction
            exponent = -1074
        } else {
            significand = fraction | (1 << 52)
            exponent = field - 1075
        }
        narrowBelow = fraction == 0 && field > 1
        precision = 17
    }

    init(_ v: Float) {
        let bits = v.bitPattern
        let field = Int((bits >> 23) & 0xFF)
        let fraction = UInt64(bits & ((1 << 23) - 1))
        if field == 0 {
            significand = fraction
            exponent = -149
        } else {
            significand = fraction | (1 << 23)
            exponent = field - 150
        }
        narrowBelow = fraction == 0 && field > 1
        precision = 9
    }
}

extension ShortestDecimal {
    /// PostgreSQL's Ryu never picks a representation that lies exactly halfway between two
    /// floats, where Swift's renderer (like Python's) takes it when it rounds back correctly.
    /// In that rare case (only large magnitudes) this returns the shortest representation
    /// strictly inside the rounding interval, as PostgreSQL prints it.
    func rejectingBoundaryTie(_ p: BinaryParts) -> ShortestDecimal {
        guard mantissa != 0, p.significand != 0 else { return self }
        let m = p.significand
        let upper = (2 * m + 1, p.exponent - 1)
        let lower = p.narrowBelow ? (4 * m - 1, p.exponent - 2) : (2 * m - 1, p.exponent - 1)
        guard ShortestDecimal.equals(mantissa, exponent, upper.0, upper.1)
            || ShortestDecimal.equals(mantissa, exponent, lower.0, lower.1) else { return self }
        return longer(p) ?? self
    }

    /// Whether M × 10^E == N × 2^f exactly (N odd).
    static func equals(_ M: UInt64, _ E: Int, _ N: UInt64, _ f: Int) -> Bool {
        let t = M.trailingZeroBitCount
        let odd = UInt128(M >> t)
        var five: UInt128 = 1
        for _ in 0..<abs(E) {
            let (r, o) = five.multipliedReportingOverflow(by: 5)
            if o { return false }
            five = r
        }
        if E >= 0 {
            guard t + E == f else { return false }
            let (lhs, o) = odd.multipliedReportingOverflow(by: five)
            return !o && lhs == UInt128(N)
        } else {
            guard t == f - E else { return false }
            let (rhs, o) = UInt128(N).multipliedReportingOverflow(by: five)
            return !o && odd == rhs
        }
    }

    /// The value correctly rounded to the fewest digits (more than now) that lie strictly
    /// inside the rounding interval; nil when the numbers do not fit 128 bits.
    func longer(_ p: BinaryParts) -> ShortestDecimal? {
        // Work in units of 10^-s so that the value and the half gaps are integers.
        let s = max(0, 2 - p.exponent)
        guard s <= 20, p.exponent + s <= 70 else { return nil }
        var pow5: UInt128 = 1
        for _ in 0..<s { pow5 *= 5 }
        // value = m × 2^e = m × 2^(e+s) × 5^s / 10^s
        let (w, o1) = (UInt128(p.significand) << (p.exponent + s)).multipliedReportingOverflow(by: pow5)
        let halfUp = (UInt128(1) << (p.exponent - 1 + s)) * pow5
        let halfDown = p.narrowBelow ? (UInt128(1) << (p.exponent - 2 + s)) * pow5 : halfUp
        guard !o1 else { return nil }
        var digits = 0
        var x = w
        while x != 0 { x /= 10; digits += 1 }
        var k = digitCount + 1
        while k <= max(p.precision, digitCount + 1) && k <= digits {
            var unit: UInt128 = 1
            for _ in 0..<(digits - k) { unit *= 10 }
            var (q, r) = w.quotientAndRemainder(dividingBy: unit)
            if r * 2 > unit || (r * 2 == unit && q % 2 == 1) { q += 1 }
            let candidate = q * unit
            let inside = candidate >= w ? candidate - w < halfUp : w - candidate < halfDown
            if inside {
                var result = ShortestDecimal("0")
                result.negative = negative
                var mant = q
                var exp = digits - k - s
                while mant % 10 == 0 && mant != 0 { mant /= 10; exp += 1 }
                guard let m64 = UInt64(exactly: mant) else { return nil }
                var n = 0
                var y = m64
                while y != 0 { y /= 10; n += 1 }
                result.mantissa = m64
                result.digitCount = n
                result.exponent = exp
                return result
            }
            k += 1
        }
        return nil
    }
}

enum FloatStyle {
    /// PostgreSQL's float8out/float4out with extra_float_digits > 0: fixed notation for
    /// decimal exponents -4 ..< fixedBelow (15 for float8, 6 for float4), else d.ddde±XX.
    case postgres(fixedBelow: Int)
    /// DuckDB's VARCHAR cast: fixed notation with ".0" for exponents -4...15.
    case duckdb

    var isPostgres: Bool { if case .postgres = self { return true } else { return false } }
    static let postgresFloat8 = FloatStyle.postgres(fixedBelow: 15)
    static let postgresFloat4 = FloatStyle.postgres(fixedBelow: 6)
}

extension RawOut {
    /// Needs 32 bytes.
    mutating func float(_ v: Double, style: FloatStyle) {
        if v.isNaN { style.isPostgres ? bytes("NaN") : bytes("nan"); return }
        if v.isInfinite {
            if style.isPostgres { v < 0 ? bytes("-Infinity") : bytes("Infinity") } else { v < 0 ? bytes("-inf") : bytes("inf") }
            return
        }
        // Whole numbers print as such (the common case in analytics), without Swift's renderer.
        // Below 2^53 every whole double is exact and its digits are its shortest form.
        let limit: Double = style.isPostgres ? 1e15 : 9_007_199_254_740_992
        if v.magnitude < limit, v.rounded(.towardZero) == v, v != 0 || v.sign == .plus {
            decimal(Int64(v))
            if !style.isPostgres { bytes(".0") }
            return
        }
        var d = ShortestDecimal(v.description)
        if style.isPostgres { d = d.rejectingBoundaryTie(BinaryParts(v)) }
        shortest(d, style: style)
    }

    /// Needs 32 bytes.
    mutating func float(_ v: Float, style: FloatStyle) {
        if v.isNaN { style.isPostgres ? bytes("NaN") : bytes("nan"); return }
        if v.isInfinite {
            if style.isPostgres { v < 0 ? bytes("-Infinity") : bytes("Infinity") } else { v < 0 ? bytes("-inf") : bytes("inf") }
            return
        }
        let limit: Float
        switch style {
        case .postgres(let below): limit = below >= 15 ? 16_777_216 : 1e6
        case .duckdb: limit = 16_777_216  // 2^24: whole floats below it are exact
        }
        if v.magnitude < limit, v.rounded(.towardZero) == v, v != 0 || v.sign == .plus {
            decimal(Int64(v))
            if !style.isPostgres { bytes(".0") }
            return
        }
        var d = ShortestDecimal(v.description)
        if style.isPostgres { d = d.rejectingBoundaryTie(BinaryParts(v)) }
        shortest(d, style: style)
    }

    /// Moves `count` bytes at `from` up by `by` (overlapping, so from the end).
    private func shiftRight(from: Int, count: Int, by: Int) {
        var k = count
        while k > 0 {
            k -= 1
            base.storeBytes(of: base.load(fromByteOffset: from + k, as: UInt8.self), toByteOffset: from + k + by, as: UInt8.self)
        }
    }

    mutating func shortest(_ d: ShortestDecimal, style: FloatStyle) {
        if d.negative { byte(asciiMinus) }
        if d.mantissa == 0 {
            if style.isPostgres { byte(asciiZero) } else { bytes("0.0") }
            return
        }
        let sciExp = d.scientificExponent
        let fixed: Bool
        switch style {
        case .postgres(let below): fixed = sciExp >= -4 && sciExp < below
        case .duckdb: fixed = sciExp >= -4 && sciExp < 16
        }
        let n = d.digitCount
        // The mantissa's digits, written at their final place or shifted into it.
        let start = count
        decimal(d.mantissa)
        if fixed {
            if d.exponent >= 0 {
                for _ in 0..<d.exponent { byte(asciiZero) }
                if !style.isPostgres { bytes(".0") }
            } else {
                let intDigits = n + d.exponent
                if intDigits > 0 {
                    // d d d . d d: move the fraction digits one place right.
                    let point = start + intDigits
                    shiftRight(from: point, count: n - intDigits, by: 1)
                    base.storeBytes(of: 0x2E, toByteOffset: point, as: UInt8.self)
                    count += 1
                } else {
                    // 0 . 0 0 d d d: move all digits right by 2 + leading zeros.
                    let shift = 2 - intDigits
                    shiftRight(from: start, count: n, by: shift)
                    base.storeBytes(of: asciiZero, toByteOffset: start, as: UInt8.self)
                    base.storeBytes(of: 0x2E, toByteOffset: start + 1, as: UInt8.self)
                    for k in 0..<(-intDigits) { base.storeBytes(of: asciiZero, toByteOffset: start + 2 + k, as: UInt8.self) }
                    count += shift
                }
            }
        } else {
            if n > 1 {
                shiftRight(from: start + 1, count: n - 1, by: 1)
                base.storeBytes(of: 0x2E, toByteOffset: start + 1, as: UInt8.self)
                count += 1
            }
            byte(0x65)
            var e = sciExp
            if e < 0 {
                byte(asciiMinus)
                e = -e
            } else {
                byte(0x2B)
            }
            if e >= 100 {
                byte(asciiZero &+ UInt8(e / 100))
                e %= 100
            }
            twoDigits(e)
        }
    }
}

// MARK: - Calendar

/// Days between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
let postgresEpochDays: Int64 = 10_957
let postgresEpochMicros: Int64 = 946_684_800_000_000
let microsPerDay: Int64 = 86_400_000_000
let microsPerHour: Int64 = 3_600_000_000
let microsPerMinute: Int64 = 60_000_000
let microsPerSecond: Int64 = 1_000_000

/// Proleptic Gregorian year/month/day of a day number (days since 1970-01-01).
/// Year 0 is 1 BC.
@inlinable
func civilFromDays(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (m <= 2 ? y + 1 : y, Int(m), Int(d))
}

/// Day number (days since 1970-01-01) of a proleptic Gregorian date; year 0 is 1 BC.
@inlinable
func daysFromCivil(year: Int64, month: Int, day: Int) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let m = Int64(month)
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func isLeapYear(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

func daysInMonth(year: Int64, month: Int) -> Int {
    switch month {
    case 1, 3, 5, 7, 8, 10, 12: return 31
    case 4, 6, 9, 11: return 30
    default: return isLeapYear(year) ? 29 : 28
    }
}

@inlinable
func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
    var q = a / b
    var r = a - q * b
    if r < 0 {
        q -= 1
        r += b
    }
    return (q, r)
}

// DuckDB's special values.
let duckDBDateInfinity = Int32.max
let duckDBDateNegInfinity = -Int32.max
let duckDBTimestampInfinity = Int64.max
let duckDBTimestampNegInfinity = -Int64.max

enum DateStyle {
    /// "0044-03-15 BC" (DateStyle ISO); the era goes at the very end.
    case postgres
    /// "0044-03-15 (BC)".
    case duckdb
}

extension RawOut {
    /// "YYYY-MM-DD" (at least four year digits); returns whether the year is BC. Needs 20 bytes.
    @discardableResult
    mutating func ymd(days: Int64) -> Bool {
        let (y, m, d) = civilFromDays(days)
        let bc = y <= 0
        decimal(UInt64(bc ? 1 - y : y), width: 4)
        byte(asciiMinus)
        twoDigits(m)
        byte(asciiMinus)
        twoDigits(d)
        return bc
    }

    /// "HH:MM:SS" plus a fraction with trailing zeros trimmed. `fraction` has `digits` digits
    /// (6 for microseconds, 9 for nanoseconds). Hours may exceed 23. Needs 30 bytes.
    mutating func clock(hours: UInt64, minutes: Int, seconds: Int, fraction: UInt64, digits: Int) {
        decimal(hours, width: 2)
        byte(0x3A)
        twoDigits(minutes)
        byte(0x3A)
        twoDigits(seconds)
        guard fraction != 0 else { return }
        byte(0x2E)
        var f = fraction
        var n = digits
        while f % 10 == 0 {
            f /= 10
            n -= 1
        }
        decimal(f, width: n)
    }

    /// Time of day from microseconds since midnight. Needs 30 bytes.
    mutating func timeOfDay(micros: Int64) {
        let us = UInt64(max(0, micros))
        let secs = us / 1_000_000
        clock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: us % 1_000_000, digits: 6)
    }

    /// Time of day from nanoseconds since midnight. Needs 30 bytes.
    mutating func timeOfDay(nanos: Int64) {
        let ns = UInt64(max(0, nanos))
        let secs = ns / 1_000_000_000
        clock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: ns % 1_000_000_000, digits: 9)
    }

    /// A DuckDB date (days since 1970-01-01), with infinities. Needs 26 bytes.
    mutating func date(days: Int32, style: DateStyle) {
        if days == duckDBDateInfinity { bytes("infinity"); return }
        if days == duckDBDateNegInfinity || days == Int32.min { bytes("-infinity"); return }
        if ymd(days: Int64(days)) { style == .postgres ? bytes(" BC") : bytes(" (BC)") }
    }

    /// A timestamp given as whole seconds since the epoch plus a sub-second fraction.
    /// Needs 64 bytes.
    mutating func timestamp(seconds: Int64, fraction: UInt64, fractionDigits: Int, withZone: Bool, style: DateStyle) {
        let (days, secOfDay) = floorDivMod(seconds, 86_400)
        let bc = ymd(days: days)
        if bc && style == .duckdb { bytes(" (BC)") }
        byte(0x20)
        clock(hours: UInt64(secOfDay / 3600), minutes: Int(secOfDay / 60 % 60), seconds: Int(secOfDay % 60), fraction: fraction, digits: fractionDigits)
        if withZone { bytes("+00") }
        if bc && style == .postgres { bytes(" BC") }
    }

    /// Microseconds since the epoch, with DuckDB's infinities. Needs 64 bytes.
    mutating func timestamp(micros: Int64, withZone: Bool, style: DateStyle) {
        if micros == duckDBTimestampInfinity { bytes("infinity"); return }
        if micros == duckDBTimestampNegInfinity || micros == Int64.min { bytes("-infinity"); return }
        let (s, f) = floorDivMod(micros, 1_000_000)
        timestamp(seconds: s, fraction: UInt64(f), fractionDigits: 6, withZone: withZone, style: style)
    }

    /// PostgreSQL's interval output with IntervalStyle = postgres. Needs 100 bytes.
    mutating func postgresInterval(months: Int32, days: Int32, micros: Int64) {
        var isZero = true
        var isBefore = false
        func part(_ out: inout RawOut, _ value: Int64, _ unit: StaticString) {
            guard value != 0 else { return }
            if !isZero { out.byte(0x20) }
            if isBefore && value > 0 { out.byte(0x2B) }
            out.decimal(value)
            out.byte(0x20)
            out.bytes(unit)
            if value != 1 { out.byte(0x73) }
            isBefore = value < 0
            isZero = false
        }
        part(&self, Int64(months / 12), "year")
        part(&self, Int64(months % 12), "mon")
        part(&self, Int64(days), "day")
        if isZero || micros != 0 {
            if !isZero { byte(0x20) }
            if micros < 0 { byte(asciiMinus) } else if isBefore { byte(0x2B) }
            let us = micros.magnitude
            let secs = us / 1_000_000
            clock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: us % 1_000_000, digits: 6)
        }
    }

    /// DuckDB's interval to VARCHAR ("1 year 2 months 3 days 04:05:06.5", "-1 day",
    /// "00:00:00"). Needs 100 bytes.
    mutating func duckDBInterval(months: Int32, days: Int32, micros: Int64) {
        var first = true
        func part(_ out: inout RawOut, _ value: Int64, _ unit: StaticString) {
            guard value != 0 else { return }
            if !first { out.byte(0x20) }
            out.decimal(value)
            out.byte(0x20)
            out.bytes(unit)
            if value != 1 && value != -1 { out.byte(0x73) }
            first = false
        }
        part(&self, Int64(months / 12), "year")
        part(&self, Int64(months % 12), "month")
        part(&self, Int64(days), "day")
        if micros != 0 {
            if !first { byte(0x20) }
            if micros < 0 { byte(asciiMinus) }
            let us = micros.magnitude
            let secs = us / 1_000_000
            clock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: us % 1_000_000, digits: 6)
        } else if first {
            bytes("00:00:00")
        }
    }

    /// A time zone offset in seconds east of UTC as "+HH", "+HH:MM" or "+HH:MM:SS". Needs 12 bytes.
    mutating func zoneOffset(secondsEast: Int32) {
        byte(secondsEast < 0 ? asciiMinus : 0x2B)
        let s = UInt64(secondsEast.magnitude)
        decimal(s / 3600, width: 2)
        let m = Int(s / 60 % 60)
        let sec = Int(s % 60)
        if m != 0 || sec != 0 {
            byte(0x3A)
            twoDigits(m)
            if sec != 0 {
                byte(0x3A)
                twoDigits(sec)
            }
        }
    }
}

// ByteBuffer conveniences over the raw writers, for the less hot paths.
extension ByteBuffer {
    mutating func writeFloat(_ v: Double, style: FloatStyle) { writeRaw(max: 32) { $0.float(v, style: style) } }
    mutating func writeFloat(_ v: Float, style: FloatStyle) { writeRaw(max: 32) { $0.float(v, style: style) } }
    mutating func writeScaledDecimal(magnitude: UInt128, negative: Bool, scale: Int) {
        writeRaw(max: 44 + max(scale, 0)) { $0.scaledDecimal(magnitude: magnitude, negative: negative, scale: scale) }
    }
    mutating func writeDate(days: Int32, style: DateStyle) { writeRaw(max: 26) { $0.date(days: days, style: style) } }
    mutating func writeTimeOfDay(micros: Int64) { writeRaw(max: 30) { $0.timeOfDay(micros: micros) } }
    mutating func writeTimeOfDay(nanos: Int64) { writeRaw(max: 30) { $0.timeOfDay(nanos: nanos) } }
    mutating func writeTimestamp(micros: Int64, withZone: Bool, style: DateStyle) {
        writeRaw(max: 64) { $0.timestamp(micros: micros, withZone: withZone, style: style) }
    }
    mutating func writeTimestamp(seconds: Int64, fraction: UInt64, fractionDigits: Int, withZone: Bool, style: DateStyle) {
        writeRaw(max: 64) { $0.timestamp(seconds: seconds, fraction: fraction, fractionDigits: fractionDigits, withZone: withZone, style: style) }
    }
    mutating func writeDuckDBInterval(months: Int32, days: Int32, micros: Int64) {
        writeRaw(max: 100) { $0.duckDBInterval(months: months, days: days, micros: micros) }
    }
    mutating func writeZoneOffset(secondsEast: Int32) { writeRaw(max: 12) { $0.zoneOffset(secondsEast: secondsEast) } }
    mutating func writeUUID(_ bytes: UnsafeRawBufferPointer) { writeRaw(max: 36) { $0.uuid(bytes) } }
}
