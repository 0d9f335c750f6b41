import NIOCore

// Low-level writers that put the text form of numbers, dates and times straight into a
// ByteBuffer, without Foundation and without intermediate Strings where it can be helped.

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

extension ByteBuffer {
    @inlinable
    mutating func writeByte(_ b: UInt8) { writeInteger(b) }

    /// Writes the decimal digits of `v`.
    @inlinable
    mutating func writeDecimal(_ v: UInt64) {
        let n = decimalDigitCount(v)
        writeWithUnsafeMutableBytes(minimumWritableBytes: n) { ptr in
            var x = v
            var i = n
            while i > 0 {
                i -= 1
                let q = x / 10
                ptr[i] = asciiZero &+ UInt8(truncatingIfNeeded: x &- q &* 10)
                x = q
            }
            return n
        }
    }

    @inlinable
    mutating func writeDecimal(_ v: Int64) {
        if v < 0 { writeByte(asciiMinus) }
        writeDecimal(v.magnitude)
    }

    /// Writes `v` zero-padded to at least `width` digits.
    @inlinable
    mutating func writeDecimal(_ v: UInt64, width: Int) {
        let n = max(decimalDigitCount(v), width)
        writeWithUnsafeMutableBytes(minimumWritableBytes: n) { ptr in
            var x = v
            var i = n
            while i > 0 {
                i -= 1
                let q = x / 10
                ptr[i] = asciiZero &+ UInt8(truncatingIfNeeded: x &- q &* 10)
                x = q
            }
            return n
        }
    }

    mutating func writeDecimal(_ v: UInt128) {
        if let small = UInt64(exactly: v) {
            writeDecimal(small)
            return
        }
        let chunk: UInt128 = 10_000_000_000_000_000_000  // 10^19
        let (hi, lo) = v.quotientAndRemainder(dividingBy: chunk)
        writeDecimal(hi)
        writeDecimal(UInt64(lo), width: 19)
    }

    mutating func writeDecimal(_ v: Int128) {
        if v < 0 { writeByte(asciiMinus) }
        writeDecimal(v.magnitude)
    }

    /// Writes `\x` followed by lower-case hex digits (PostgreSQL's bytea_output = hex).
    mutating func writeByteaHex(_ bytes: UnsafeRawBufferPointer) {
        let n = 2 + bytes.count * 2
        writeWithUnsafeMutableBytes(minimumWritableBytes: n) { ptr in
            ptr[0] = 0x5C
            ptr[1] = 0x78
            var i = 2
            for b in bytes {
                ptr[i] = hexDigitsLower[Int(b >> 4)]
                ptr[i + 1] = hexDigitsLower[Int(b & 0xF)]
                i += 2
            }
            return n
        }
    }
}

@usableFromInline let hexDigitsLower: [UInt8] = Array("0123456789abcdef".utf8)
@usableFromInline let hexDigitsUpper: [UInt8] = Array("0123456789ABCDEF".utf8)

// MARK: - Decimal (exact) numbers

extension ByteBuffer {
    /// Writes `unscaled / 10^scale` with exactly `scale` fraction digits ("123.45", "-0.05", "0.00").
    mutating func writeScaledDecimal(magnitude: UInt128, negative: Bool, scale: Int) {
        withDecimalDigits(magnitude) { digits in
            writeScaledDigits(digits, negative: negative, scale: scale)
        }
    }

    /// Writes ASCII `digits` (most significant first) as a number with `scale` fraction digits.
    mutating func writeScaledDigits(_ digits: UnsafeBufferPointer<UInt8>, negative: Bool, scale: Int) {
        let isZero = digits.allSatisfy { $0 == asciiZero }
        if negative && !isZero { writeByte(asciiMinus) }
        if scale <= 0 {
            writeBytes(UnsafeRawBufferPointer(digits))
            return
        }
        let intLen = digits.count - scale
        if intLen > 0 {
            writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[0..<intLen]))
            writeByte(0x2E)
            writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[intLen...]))
        } else {
            writeByte(asciiZero)
            writeByte(0x2E)
            writeRepeatingByte(asciiZero, count: -intLen)
            writeBytes(UnsafeRawBufferPointer(digits))
        }
    }
}

/// Calls `body` with the ASCII decimal digits of `v` (no leading zeros; "0" for zero),
/// held in stack memory.
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
            let chunk: UInt128 = 10_000_000_000_000_000_000
            while x != 0 {
                let (q, r) = x.quotientAndRemainder(dividingBy: chunk)
                var lo = UInt64(r)
                let stop = q == 0
                var written = 0
                repeat {
                    i -= 1
                    let qq = lo / 10
                    buf[i] = asciiZero &+ UInt8(truncatingIfNeeded: lo &- qq &* 10)
                    lo = qq
                    written += 1
                } while (stop ? lo != 0 : written < 19)
                x = q
            }
        }
        return body(UnsafeBufferPointer(rebasing: UnsafeBufferPointer(buf)[i..<40]))
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
                        // leading zero: contributes nothing but position
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
                    if i < bytes.count, bytes[i] == asciiMinus { expNegative = true; i += 1 }
                    else if i < bytes.count, bytes[i] == 0x2B { i += 1 }
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

enum FloatStyle {
    /// PostgreSQL's float8out/float4out with extra_float_digits > 0.
    case postgres(fixedBelow: Int)
    /// DuckDB's VARCHAR cast (fmt "{}"): fixed notation with ".0" for exponents -4...15.
    case duckdb
}

extension ByteBuffer {
    mutating func writeFloat(_ v: Double, style: FloatStyle) {
        if v.isNaN { writeStaticString(style.isPostgres ? "NaN" : "nan"); return }
        if v.isInfinite {
            if style.isPostgres { writeStaticString(v < 0 ? "-Infinity" : "Infinity") }
            else { writeStaticString(v < 0 ? "-inf" : "inf") }
            return
        }
        writeShortest(ShortestDecimal(v.description), style: style)
    }

    mutating func writeFloat(_ v: Float, style: FloatStyle) {
        if v.isNaN { writeStaticString(style.isPostgres ? "NaN" : "nan"); return }
        if v.isInfinite {
            if style.isPostgres { writeStaticString(v < 0 ? "-Infinity" : "Infinity") }
            else { writeStaticString(v < 0 ? "-inf" : "inf") }
            return
        }
        writeShortest(ShortestDecimal(v.description), style: style)
    }

    mutating func writeShortest(_ d: ShortestDecimal, style: FloatStyle) {
        if d.negative { writeByte(asciiMinus) }
        if d.mantissa == 0 {
            switch style {
            case .postgres: writeByte(asciiZero)
            case .duckdb: writeStaticString("0.0")
            }
            return
        }
        let sciExp = d.scientificExponent
        let fixed: Bool
        switch style {
        case .postgres(let below): fixed = sciExp >= -4 && sciExp < below
        case .duckdb: fixed = sciExp >= -4 && sciExp < 16
        }
        let n = d.digitCount
        writeWithUnsafeMutableBytes(minimumWritableBytes: n + 26) { ptr in
            // The mantissa's digits go first to the end of the scratch area, then into place.
            var dig: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            return withUnsafeMutableBytes(of: &dig) { digits -> Int in
                var x = d.mantissa
                var k = n
                while k > 0 { k -= 1; digits[k] = asciiZero &+ UInt8(x % 10); x /= 10 }
                var out = 0
                if fixed {
                    if d.exponent >= 0 {
                        for k in 0..<n { ptr[out] = digits[k]; out += 1 }
                        for _ in 0..<d.exponent { ptr[out] = asciiZero; out += 1 }
                        if case .duckdb = style { ptr[out] = 0x2E; ptr[out + 1] = asciiZero; out += 2 }
                    } else {
                        let intDigits = n + d.exponent
                        if intDigits > 0 {
                            for k in 0..<intDigits { ptr[out] = digits[k]; out += 1 }
                            ptr[out] = 0x2E; out += 1
                            for k in intDigits..<n { ptr[out] = digits[k]; out += 1 }
                        } else {
                            ptr[out] = asciiZero; ptr[out + 1] = 0x2E; out += 2
                            for _ in 0..<(-intDigits) { ptr[out] = asciiZero; out += 1 }
                            for k in 0..<n { ptr[out] = digits[k]; out += 1 }
                        }
                    }
                } else {
                    ptr[out] = digits[0]; out += 1
                    if n > 1 {
                        ptr[out] = 0x2E; out += 1
                        for k in 1..<n { ptr[out] = digits[k]; out += 1 }
                    }
                    ptr[out] = 0x65; out += 1
                    var e = sciExp
                    if e < 0 { ptr[out] = asciiMinus; e = -e } else { ptr[out] = 0x2B }
                    out += 1
                    if e >= 100 {
                        ptr[out] = asciiZero &+ UInt8(e / 100); out += 1
                        e %= 100
                    }
                    ptr[out] = asciiZero &+ UInt8(e / 10)
                    ptr[out + 1] = asciiZero &+ UInt8(e % 10)
                    out += 2
                }
                return out
            }
        }
    }
}

extension FloatStyle {
    var isPostgres: Bool { if case .postgres = self { return true } else { return false } }
    static let postgresFloat8 = FloatStyle.postgres(fixedBelow: 15)
    static let postgresFloat4 = FloatStyle.postgres(fixedBelow: 6)
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
    if r < 0 { q -= 1; r += b }
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

extension ByteBuffer {
    /// "YYYY-MM-DD" for a (possibly BC) date; returns whether the year is BC.
    @discardableResult
    mutating func writeYMD(days: Int64) -> Bool {
        let (y, m, d) = civilFromDays(days)
        let bc = y <= 0
        let year = bc ? 1 - y : y
        writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { ptr in
            var out = 0
            // year: at least 4 digits
            let n = max(4, decimalDigitCount(UInt64(year)))
            var x = UInt64(year)
            var i = n
            while i > 0 { i -= 1; ptr[i] = asciiZero &+ UInt8(x % 10); x /= 10 }
            out = n
            ptr[out] = asciiMinus
            ptr[out + 1] = asciiZero &+ UInt8(m / 10)
            ptr[out + 2] = asciiZero &+ UInt8(m % 10)
            ptr[out + 3] = asciiMinus
            ptr[out + 4] = asciiZero &+ UInt8(d / 10)
            ptr[out + 5] = asciiZero &+ UInt8(d % 10)
            return out + 6
        }
        return bc
    }

    /// "HH:MM:SS" plus a fraction with trailing zeros trimmed. `fraction` has `digits` digits
    /// (6 for microseconds, 9 for nanoseconds). Hours may exceed 23 (intervals, 24:00:00).
    mutating func writeClock(hours: UInt64, minutes: Int, seconds: Int, fraction: UInt64, digits: Int) {
        writeDecimal(hours, width: 2)
        writeWithUnsafeMutableBytes(minimumWritableBytes: 8 + digits) { ptr in
            ptr[0] = 0x3A
            ptr[1] = asciiZero &+ UInt8(minutes / 10)
            ptr[2] = asciiZero &+ UInt8(minutes % 10)
            ptr[3] = 0x3A
            ptr[4] = asciiZero &+ UInt8(seconds / 10)
            ptr[5] = asciiZero &+ UInt8(seconds % 10)
            guard fraction != 0 else { return 6 }
            ptr[6] = 0x2E
            var f = fraction
            var n = digits
            while f % 10 == 0 { f /= 10; n -= 1 }
            var i = 7 + n
            while i > 7 { i -= 1; ptr[i] = asciiZero &+ UInt8(f % 10); f /= 10 }
            return 7 + n
        }
    }

    /// Time of day from microseconds since midnight (0...86_400_000_000).
    mutating func writeTimeOfDay(micros: Int64) {
        let us = UInt64(max(0, micros))
        let secs = us / 1_000_000
        writeClock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: us % 1_000_000, digits: 6)
    }

    /// Time of day from nanoseconds since midnight.
    mutating func writeTimeOfDay(nanos: Int64) {
        let ns = UInt64(max(0, nanos))
        let secs = ns / 1_000_000_000
        writeClock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: ns % 1_000_000_000, digits: 9)
    }

    /// A DuckDB date (days since 1970-01-01) as PostgreSQL or DuckDB prints it.
    mutating func writeDate(days: Int32, style: DateStyle) {
        if days == duckDBDateInfinity { writeStaticString("infinity"); return }
        if days == duckDBDateNegInfinity || days == Int32.min { writeStaticString("-infinity"); return }
        let bc = writeYMD(days: Int64(days))
        if bc { writeStaticString(style == .postgres ? " BC" : " (BC)") }
    }

    /// A timestamp given as whole seconds since the epoch plus a sub-second fraction.
    mutating func writeTimestamp(seconds: Int64, fraction: UInt64, fractionDigits: Int, withZone: Bool, style: DateStyle) {
        let (days, secOfDay) = floorDivMod(seconds, 86_400)
        let bc = writeYMD(days: days)
        if bc && style == .duckdb { writeStaticString(" (BC)") }
        writeByte(0x20)
        writeClock(hours: UInt64(secOfDay / 3600), minutes: Int(secOfDay / 60 % 60), seconds: Int(secOfDay % 60), fraction: fraction, digits: fractionDigits)
        if withZone { writeStaticString("+00") }
        if bc && style == .postgres { writeStaticString(" BC") }
    }

    /// Microseconds since the epoch, with DuckDB's infinities.
    mutating func writeTimestamp(micros: Int64, withZone: Bool, style: DateStyle) {
        if micros == duckDBTimestampInfinity { writeStaticString("infinity"); return }
        if micros == duckDBTimestampNegInfinity || micros == Int64.min { writeStaticString("-infinity"); return }
        let (s, f) = floorDivMod(micros, 1_000_000)
        writeTimestamp(seconds: s, fraction: UInt64(f), fractionDigits: 6, withZone: withZone, style: style)
    }

    /// PostgreSQL's interval output with IntervalStyle = postgres.
    mutating func writePostgresInterval(months: Int32, days: Int32, micros: Int64) {
        let year = Int64(months / 12)
        let mon = Int64(months % 12)
        var isZero = true
        var isBefore = false
        func part(_ value: Int64, _ unit: StaticString, into buf: inout ByteBuffer) {
            guard value != 0 else { return }
            if !isZero { buf.writeByte(0x20) }
            if isBefore && value > 0 { buf.writeByte(0x2B) }
            buf.writeDecimal(value)
            buf.writeByte(0x20)
            buf.writeStaticString(unit)
            if value != 1 { buf.writeByte(0x73) }
            isBefore = value < 0
            isZero = false
        }
        part(year, "year", into: &self)
        part(mon, "mon", into: &self)
        part(Int64(days), "day", into: &self)
        if isZero || micros != 0 {
            let minus = micros < 0
            if !isZero { writeByte(0x20) }
            if minus { writeByte(asciiMinus) } else if isBefore { writeByte(0x2B) }
            let us = micros.magnitude
            let secs = us / 1_000_000
            writeClock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: us % 1_000_000, digits: 6)
        }
    }

    /// DuckDB's interval to VARCHAR ("1 year 2 months 3 days 04:05:06.5", "-1 day", "00:00:00").
    mutating func writeDuckDBInterval(months: Int32, days: Int32, micros: Int64) {
        var first = true
        func part(_ value: Int64, _ unit: StaticString, into buf: inout ByteBuffer) {
            guard value != 0 else { return }
            if !first { buf.writeByte(0x20) }
            buf.writeDecimal(value)
            buf.writeByte(0x20)
            buf.writeStaticString(unit)
            if value != 1 && value != -1 { buf.writeByte(0x73) }
            first = false
        }
        part(Int64(months / 12), "year", into: &self)
        part(Int64(months % 12), "month", into: &self)
        part(Int64(days), "day", into: &self)
        if micros != 0 {
            if !first { writeByte(0x20) }
            if micros < 0 { writeByte(asciiMinus) }
            let us = micros.magnitude
            let secs = us / 1_000_000
            writeClock(hours: secs / 3600, minutes: Int(secs / 60 % 60), seconds: Int(secs % 60), fraction: us % 1_000_000, digits: 6)
        } else if first {
            writeStaticString("00:00:00")
        }
    }

    /// A time zone offset in seconds east of UTC as "+HH", "+HH:MM" or "+HH:MM:SS".
    mutating func writeZoneOffset(secondsEast: Int32) {
        writeByte(secondsEast < 0 ? asciiMinus : 0x2B)
        let s = UInt64(secondsEast.magnitude)
        writeDecimal(s / 3600, width: 2)
        let m = s / 60 % 60
        let sec = s % 60
        if m != 0 || sec != 0 {
            writeByte(0x3A)
            writeDecimal(m, width: 2)
            if sec != 0 {
                writeByte(0x3A)
                writeDecimal(sec, width: 2)
            }
        }
    }

    /// A UUID's 16 bytes in canonical lower-case form.
    mutating func writeUUID(_ bytes: UnsafeRawBufferPointer) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: 36) { ptr in
            var out = 0
            for (i, b) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { ptr[out] = asciiMinus; out += 1 }
                ptr[out] = hexDigitsLower[Int(b >> 4)]
                ptr[out + 1] = hexDigitsLower[Int(b & 0xF)]
                out += 2
            }
            return out
        }
    }
}
