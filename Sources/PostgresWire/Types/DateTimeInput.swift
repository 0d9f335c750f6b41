import DuckDB

/// PostgreSQL-style date, time and timestamp input (DateStyle ISO): `2024-02-29`,
/// `13:14:15.5`, `2024-02-29 13:14:15.5+02`, `2024-02-29T13:14:15Z`, `0044-03-15 BC`,
/// `infinity`, `epoch`.
enum DateTimeInput {
    struct Fields {
        var year: Int64 = 0
        var month = 0
        var day = 0
        var hasDate = false
        var hasTime = false
        /// Time of day in microseconds (may be 24:00:00, or roll over with second 60).
        var micros: Int64 = 0
        /// Offset in seconds east of UTC, if one was given.
        var zoneEast: Int32?
        /// A zone name that is not UTC/GMT/Z.
        var zoneName: String?
        var bc = false
    }

    enum Special { case infinity, negativeInfinity, epoch }

    static func special(_ t: [UInt8]) -> Special? {
        switch String(decoding: t, as: UTF8.self) {
        case "infinity", "+infinity": return .infinity
        case "-infinity": return .negativeInfinity
        case "epoch": return .epoch
        default: return nil
        }
    }

    /// Scans `[date] [time] [zone] [BC|AD]`; nil on a syntax error.
    static func scan(_ text: String, typeName: String) throws -> Fields {
        let b = Array(TextInput.trimmed(text)).map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        var f = Fields()
        var i = 0
        func bad() -> PostgresTypeError { PostgresTypeError.badDatetime(typeName, text) }
        // At most 18 digits fit an Int64 whatever they are; callers ask for fewer.
        func digits(max: Int) -> (Int64, Int)? {
            precondition(max <= 18, "digits(max:) must stay below Int64's 19 digits")
            var v: Int64 = 0
            var n = 0
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39, n < max {
                v = v * 10 + Int64(b[i] - 0x30)
                n += 1
                i += 1
            }
            return n == 0 ? nil : (v, n)
        }
        func skipSpaces() { while i < b.count, TextInput.isSpace(b[i]) { i += 1 } }

        // Date: Y+-M-D (the year needs a '-' after it to be a date).
        var j = 0
        while j < b.count, b[j] >= 0x30 && b[j] <= 0x39 { j += 1 }
        if j > 0, j < b.count, b[j] == 0x2D {
            guard let (y, _) = digits(max: 9) else { throw bad() }
            guard i < b.count, b[i] == 0x2D else { throw bad() }
            i += 1
            guard let (m, _) = digits(max: 2), i < b.count, b[i] == 0x2D else { throw bad() }
            i += 1
            guard let (d, _) = digits(max: 2) else { throw bad() }
            f.year = y
            f.month = Int(m)
            f.day = Int(d)
            f.hasDate = true
            if i < b.count, b[i] == 0x74 { i += 1 } else { skipSpaces() }
        }
        // Time: H:MM[:SS[.ffffff]]
        var k = i
        while k < b.count, b[k] >= 0x30 && b[k] <= 0x39 { k += 1 }
        if k > i, k < b.count, b[k] == 0x3A {
            guard let (h, _) = digits(max: 2), i < b.count, b[i] == 0x3A else { throw bad() }
            i += 1
            guard let (mi, mn) = digits(max: 2), mn == 2 else { throw bad() }
            var s: Int64 = 0
            var frac: Int64 = 0
            if i < b.count, b[i] == 0x3A {
                i += 1
                guard let (ss, sn) = digits(max: 2), sn == 2 else { throw bad() }
                s = ss
                if i < b.count, b[i] == 0x2E {
                    i += 1
                    var scale: Int64 = 100_000
                    var n = 0
                    var roundDigit: UInt8 = 0
                    while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                        if n < 6 {
                            frac += Int64(b[i] - 0x30) * scale
                            scale /= 10
                        } else if n == 6 {
                            roundDigit = b[i] - 0x30
                        }
                        n += 1
                        i += 1
                    }
                    if roundDigit >= 5 { frac += 1 }
                }
            }
            guard h <= 24, mi <= 59, s <= 60 else { throw PostgresTypeError.datetimeOutOfRange(text) }
            if h == 24 && (mi != 0 || s != 0 || frac != 0) { throw PostgresTypeError.datetimeOutOfRange(text) }
            f.micros = h * microsPerHour + mi * microsPerMinute + s * microsPerSecond + frac
            f.hasTime = true
            skipSpaces()
        }
        // Zone
        if i < b.count, b[i] == 0x2B || b[i] == 0x2D {
            let negative = b[i] == 0x2D
            i += 1
            guard let (hh, hn) = digits(max: 2) else { throw bad() }
            var secs = hh * 3600
            var mm: Int64 = 0
            if hn == 2, i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                guard let (m2, n2) = digits(max: 2), n2 == 2 else { throw bad() }
                mm = m2
            } else if i < b.count, b[i] == 0x3A {
                i += 1
                guard let (m2, n2) = digits(max: 2), n2 == 2 else { throw bad() }
                mm = m2
                if i < b.count, b[i] == 0x3A {
                    i += 1
                    guard let (s2, n3) = digits(max: 2), n3 == 2 else { throw bad() }
                    secs += s2
                }
            }
            secs += mm * 60
            guard hh <= 15, mm <= 59 else { throw PostgresTypeError(sqlState: PostgresTypeError.invalidDatetimeFormat, message: "time zone displacement out of range: \"\(text)\"") }
            f.zoneEast = Int32(negative ? -secs : secs)
            skipSpaces()
        } else if i < b.count, (b[i] >= 0x61 && b[i] <= 0x7A) {
            var e = i
            while e < b.count, !TextInput.isSpace(b[e]) { e += 1 }
            let word = String(decoding: b[i..<e], as: UTF8.self)
            switch word {
            case "z", "utc", "gmt", "zulu", "ut": f.zoneEast = 0; i = e; skipSpaces()
            case "bc", "ad": break
            default:
                f.zoneName = word
                i = e
                skipSpaces()
            }
        }
        // Era
        if i < b.count {
            let rest = String(decoding: b[i...], as: UTF8.self)
            if rest == "bc" { f.bc = true; i = b.count } else if rest == "ad" { i = b.count }
        }
        guard i == b.count, f.hasDate || f.hasTime else { throw bad() }
        return f
    }

    /// Day number of the scanned date, checked.
    static func days(_ f: Fields, _ text: String) throws -> Int64 {
        guard f.year >= 1, f.month >= 1, f.month <= 12 else { throw PostgresTypeError.datetimeOutOfRange(text) }
        let year = f.bc ? 1 - f.year : f.year
        guard f.day >= 1, f.day <= daysInMonth(year: year, month: f.month) else { throw PostgresTypeError.datetimeOutOfRange(text) }
        return daysFromCivil(year: year, month: f.month, day: f.day)
    }

    /// Days since 1970-01-01 (DuckDB's DATE), with DuckDB's infinities.
    static func date(_ text: String) throws -> Int32 {
        let lowered = Array(TextInput.trimmed(text)).map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        if let s = special(lowered) {
            switch s {
            case .infinity: return duckDBDateInfinity
            case .negativeInfinity: return duckDBDateNegInfinity
            case .epoch: return 0
            }
        }
        let f = try scan(text, typeName: "date")
        guard f.hasDate else { throw PostgresTypeError.badDatetime("date", text) }
        let d = try days(f, text)
        // PostgreSQL's date range: 4714-11-24 BC to 5874897-12-31.
        guard d >= -2_440_588, d <= 2_145_031_948 else {
            throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "date out of range: \"\(text)\"")
        }
        return Int32(d)
    }

    /// Microseconds since midnight.
    static func time(_ text: String) throws -> Int64 {
        let f = try scan(text, typeName: "time")
        guard f.hasTime else { throw PostgresTypeError.badDatetime("time", text) }
        guard f.micros <= microsPerDay else { throw PostgresTypeError.datetimeOutOfRange(text) }
        return f.micros
    }

    /// Microseconds since the epoch (UTC for `withZone`; a numeric zone given for a timestamp
    /// without time zone is ignored, as PostgreSQL does). nil when the text names a time zone
    /// other than UTC, which only DuckDB (ICU) can resolve or reject.
    static func timestamp(_ text: String, withZone: Bool) throws -> Int64? {
        let typeName = withZone ? "timestamp with time zone" : "timestamp"
        let lowered = Array(TextInput.trimmed(text)).map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        if let s = special(lowered) {
            switch s {
            case .infinity: return duckDBTimestampInfinity
            case .negativeInfinity: return duckDBTimestampNegInfinity
            case .epoch: return 0
            }
        }
        let f = try scan(text, typeName: typeName)
        guard f.hasDate else { throw PostgresTypeError.badDatetime(typeName, text) }
        if f.zoneName != nil { return nil }
        let d = try days(f, text)
        let outOfRange = PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "timestamp out of range: \"\(text)\"")
        // The year has up to nine digits, so the day number times a day's microseconds can
        // exceed Int64: checked, as everything computed from client text.
        let (dayMicros, o1) = d.multipliedReportingOverflow(by: microsPerDay)
        var (us, o2) = dayMicros.addingReportingOverflow(f.micros)
        guard !o1, !o2 else { throw outOfRange }
        if withZone, let east = f.zoneEast {
            let (shifted, o3) = us.subtractingReportingOverflow(Int64(east) * microsPerSecond)
            guard !o3 else { throw outOfRange }
            us = shifted
        }
        // DuckDB's timestamp range (290309-12-22 BC to 294247-01-10).
        guard us > -9_223_372_022_400_000_000 && us < 9_223_371_331_200_000_000 else { throw outOfRange }
        return us
    }
}

/// PostgreSQL interval input: `1 year 2 mons 3 days 04:05:06.5`, `-1 days +02:00`,
/// `@ 3 days ago`, `1.5 hours`, ISO 8601 `P1Y2M3DT4H5M6S`.
enum IntervalInput {
    struct Accumulator {
        var months: Int64 = 0
        var days: Int64 = 0
        var micros: Int64 = 0
        var overflow = false

        private static func sum(_ a: Int64, _ b: Int64, _ overflow: inout Bool) -> Int64 {
            let (r, o) = a.addingReportingOverflow(b)
            if o { overflow = true }
            return r
        }

        mutating func addMicros(_ v: Int64) { micros = Self.sum(micros, v, &overflow) }
        mutating func addWholeDays(_ v: Int64) { days = Self.sum(days, v, &overflow) }
        mutating func addWholeMonths(_ v: Int64) { months = Self.sum(months, v, &overflow) }

        /// -v, or an overflow for Int64.min (which has no positive counterpart).
        mutating func negate(_ v: Int64) -> Int64 {
            let (r, o) = Int64(0).subtractingReportingOverflow(v)
            if o { overflow = true }
            return r
        }

        mutating func mul(_ v: Int64, _ k: Int64) -> Int64 {
            let (r, o) = v.multipliedReportingOverflow(by: k)
            if o { overflow = true }
            return r
        }

        /// Adds `whole + frac` units of `microsPerUnit` microseconds.
        mutating func addTime(_ whole: Int64, _ frac: Double, _ microsPerUnit: Int64) {
            addMicros(mul(whole, microsPerUnit))
            addMicros(Int64((frac * Double(microsPerUnit)).rounded()))
        }

        mutating func addDays(_ whole: Int64, _ frac: Double) {
            addWholeDays(whole)
            addTime(0, frac, microsPerDay)
        }

        mutating func addMonths(_ whole: Int64, _ frac: Double) {
            addWholeMonths(whole)
            let fd = frac * 30
            let wd = fd.rounded(.towardZero)
            addDays(Int64(wd), fd - wd)
        }
    }

    static func parse(_ text: String) throws -> (Int32, Int32, Int64) {
        let b = Array(TextInput.trimmed(text)).map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }
        func bad() -> PostgresTypeError { PostgresTypeError.badDatetime("interval", text) }
        guard !b.isEmpty else { throw bad() }
        var acc = Accumulator()
        if b[0] == 0x70 {
            try parseISO(b, &acc, bad)
        } else {
            try parsePostgres(b, &acc, bad)
        }
        guard !acc.overflow, let m = Int32(exactly: acc.months), let d = Int32(exactly: acc.days) else {
            throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "interval field value out of range: \"\(text)\"")
        }
        return (m, d, acc.micros)
    }

    /// A signed decimal number: whole part and fraction (both carrying the sign). A whole
    /// part beyond Int64 sets `overflow` (the caller reports 22008) instead of wrapping.
    static func number(_ b: [UInt8], _ i: inout Int, _ overflow: inout Bool) -> (whole: Int64, frac: Double, negative: Bool)? {
        var negative = false
        if i < b.count, b[i] == 0x2D || b[i] == 0x2B {
            negative = b[i] == 0x2D
            i += 1
        }
        // Accumulated negatively when the sign is minus, so that Int64.min itself is
        // representable ("-9223372036854775808 us").
        var whole: Int64 = 0
        var n = 0
        while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
            let digit = Int64(b[i] - 0x30)
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (v, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            if o1 || o2 { overflow = true } else { whole = v }
            n += 1
            i += 1
        }
        var frac = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                frac += Double(b[i] - 0x30) * scale
                scale /= 10
                n += 1
                i += 1
            }
        }
        guard n > 0 else { return nil }
        return negative ? (whole, -frac, true) : (whole, frac, false)
    }

    static func apply(unit: String, _ whole: Int64, _ frac: Double, _ acc: inout Accumulator) -> Bool {
        switch unit {
        case "us", "usec", "usecs", "microsecond", "microseconds", "microsecon":
            acc.addTime(whole, frac, 1)
        case "ms", "msec", "msecs", "millisecond", "milliseconds", "millisecon":
            acc.addTime(whole, frac, 1_000)
        case "s", "sec", "secs", "second", "seconds":
            acc.addTime(whole, frac, microsPerSecond)
        case "m", "min", "mins", "minute", "minutes":
            acc.addTime(whole, frac, microsPerMinute)
        case "h", "hr", "hrs", "hour", "hours":
            acc.addTime(whole, frac, microsPerHour)
        case "d", "day", "days":
            acc.addDays(whole, frac)
        case "w", "week", "weeks":
            let fd = frac * 7
            let wd = fd.rounded(.towardZero)
            acc.addWholeDays(acc.mul(whole, 7))
            acc.addDays(Int64(wd), fd - wd)
        case "mon", "mons", "month", "months":
            acc.addMonths(whole, frac)
        case "y", "yr", "yrs", "year", "years":
            acc.addWholeMonths(acc.mul(whole, 12))
            acc.addWholeMonths(Int64((frac * 12).rounded()))
        case "dec", "decs", "decade", "decades":
            acc.addWholeMonths(acc.mul(whole, 120))
            acc.addWholeMonths(Int64((frac * 120).rounded()))
        case "c", "cent", "century", "centuries":
            acc.addWholeMonths(acc.mul(whole, 1_200))
            acc.addWholeMonths(Int64((frac * 1_200).rounded()))
        case "mil", "mils", "millennium", "millennia":
            acc.addWholeMonths(acc.mul(whole, 12_000))
            acc.addWholeMonths(Int64((frac * 12_000).rounded()))
        default:
            return false
        }
        return true
    }

    static func parsePostgres(_ b: [UInt8], _ acc: inout Accumulator, _ bad: () -> PostgresTypeError) throws {
        var i = 0
        var ago = false
        var pendingBare: (Int64, Double)?
        func skipSpaces() { while i < b.count, TextInput.isSpace(b[i]) { i += 1 } }
        while true {
            skipSpaces()
            guard i < b.count else { break }
            if b[i] == 0x40 { i += 1; continue }  // '@'
            if b[i] >= 0x61 && b[i] <= 0x7A {
                var e = i
                while e < b.count, b[e] >= 0x61 && b[e] <= 0x7A { e += 1 }
                let word = String(decoding: b[i..<e], as: UTF8.self)
                guard word == "ago" else { throw bad() }
                ago = true
                i = e
                continue
            }
            // A time field [+-]H:MM[:SS[.f]]?
            var k = i
            if k < b.count, b[k] == 0x2D || b[k] == 0x2B { k += 1 }
            while k < b.count, b[k] >= 0x30 && b[k] <= 0x39 { k += 1 }
            if k < b.count, b[k] == 0x3A {
                if let (w, f) = pendingBare { acc.addDays(w, f); pendingBare = nil }
                var negative = false
                if b[i] == 0x2D || b[i] == 0x2B { negative = b[i] == 0x2D; i += 1 }
                guard let (h, _, _) = number(b, &i, &acc.overflow), i < b.count, b[i] == 0x3A else { throw bad() }
                i += 1
                guard let (m, _, _) = number(b, &i, &acc.overflow) else { throw bad() }
                var sWhole: Int64 = 0
                var sFrac = 0.0
                if i < b.count, b[i] == 0x3A {
                    i += 1
                    guard let (sw, sf, _) = number(b, &i, &acc.overflow) else { throw bad() }
                    sWhole = sw
                    sFrac = sf
                }
                guard m < 60, sWhole < 60 || (sWhole == 60 && sFrac == 0) else {
                    throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "interval field value out of range")
                }
                var t = Accumulator()
                t.addTime(h, 0, microsPerHour)
                t.addTime(m, 0, microsPerMinute)
                t.addTime(sWhole, sFrac, microsPerSecond)
                if t.overflow { acc.overflow = true }
                acc.addMicros(negative ? acc.negate(t.micros) : t.micros)
                continue
            }
            if let (w, f) = pendingBare { acc.addTime(w, f, microsPerSecond); pendingBare = nil }
            guard let (whole, frac, _) = number(b, &i, &acc.overflow) else { throw bad() }
            skipSpaces()
            var e = i
            while e < b.count, b[e] >= 0x61 && b[e] <= 0x7A { e += 1 }
            if e == i {
                pendingBare = (whole, frac)
                continue
            }
            let unit = String(decoding: b[i..<e], as: UTF8.self)
            if unit == "ago" {
                pendingBare = (whole, frac)
                continue
            }
            guard apply(unit: unit, whole, frac, &acc) else { throw bad() }
            i = e
        }
        if let (w, f) = pendingBare { acc.addTime(w, f, microsPerSecond) }
        if ago {
            acc.months = acc.negate(acc.months)
            acc.days = acc.negate(acc.days)
            acc.micros = acc.negate(acc.micros)
        }
    }

    static func parseISO(_ b: [UInt8], _ acc: inout Accumulator, _ bad: () -> PostgresTypeError) throws {
        var i = 1
        var inTime = false
        guard b.count > 1 else { throw bad() }
        while i < b.count {
            if b[i] == 0x74 {  // 'T'
                guard !inTime else { throw bad() }
                inTime = true
                i += 1
                continue
            }
            guard let (whole, frac, _) = number(b, &i, &acc.overflow), i < b.count else { throw bad() }
            let unit: String
            switch (b[i], inTime) {
            case (0x79, false): unit = "year"
            case (0x6D, false): unit = "month"
            case (0x77, false): unit = "week"
            case (0x64, false): unit = "day"
            case (0x68, true): unit = "hour"
            case (0x6D, true): unit = "minute"
            case (0x73, true): unit = "second"
            default: throw bad()
            }
            _ = apply(unit: unit, whole, frac, &acc)
            i += 1
        }
    }
}
