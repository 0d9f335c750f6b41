import DuckDB
import NIOCore

// MARK: - Arrays

enum ArrayInput {
    /// The element type a DuckDB list parameter is built with. DuckDB values can only be
    /// created for simple element types; the others (DECIMAL, ENUM, ...) go as VARCHAR and
    /// DuckDB casts the list when it binds it. nil for nested elements.
    static func listElementType(_ t: LogicalType) -> LogicalType? {
        switch t {
        case .boolean, .tinyint, .smallint, .integer, .bigint, .utinyint, .usmallint, .uinteger, .ubigint,
             .hugeint, .uhugeint, .float, .double, .varchar, .blob, .date, .time, .timestamp, .timestampTZ,
             .interval, .uuid:
            return t
        case .timeNS: return .time
        case .timestampS, .timestampMS, .timestampNS: return .timestamp
        case .list, .array, .struct, .map, .union: return nil
        default: return .varchar
        }
    }

    /// "[1, 2]" (DuckDB's spelling), as opposed to PostgreSQL's "[1:2]={1,2}".
    static func isDuckDBListLiteral(_ text: String) -> Bool {
        let t = Array(TextInput.trimmed(text))
        guard t.first == 0x5B else { return false }
        guard let close = t.firstIndex(of: 0x5D) else { return true }
        var k = close + 1
        while k < t.count, TextInput.isSpace(t[k]) { k += 1 }
        return !(k < t.count && t[k] == 0x3D)
    }

    static func nestedNotSupported() -> PostgresTypeError {
        PostgresTypeError(sqlState: PostgresTypeError.featureNotSupported, message: "multidimensional array parameters are not supported")
    }

    static func malformed(_ text: String, _ detail: String) -> PostgresTypeError {
        PostgresTypeError(sqlState: PostgresTypeError.invalidTextRepresentation, message: "malformed array literal: \"\(text)\" (\(detail))")
    }

    /// Splits a one-dimensional PostgreSQL array literal into its elements (nil for NULL).
    static func split(_ text: String) throws -> [String?] {
        let b = Array(text.utf8)
        var i = 0
        func skipSpaces() { while i < b.count, TextInput.isSpace(b[i]) { i += 1 } }
        skipSpaces()
        // Optional dimension decoration "[1:3]=".
        if i < b.count, b[i] == 0x5B {
            while i < b.count, b[i] != 0x3D { i += 1 }
            guard i < b.count else { throw malformed(text, "missing \"=\" after array dimensions") }
            i += 1
            skipSpaces()
        }
        guard i < b.count, b[i] == 0x7B else { throw malformed(text, "array value must start with \"{\" or dimension information") }
        i += 1
        var out: [String?] = []
        skipSpaces()
        if i < b.count, b[i] == 0x7D {
            i += 1
            skipSpaces()
            guard i == b.count else { throw malformed(text, "junk after closing right brace") }
            return []
        }
        while true {
            skipSpaces()
            guard i < b.count else { throw malformed(text, "unexpected end of input") }
            if b[i] == 0x7B { throw nestedNotSupported() }
            var element: [UInt8] = []
            if b[i] == 0x22 {
                i += 1
                var closed = false
                while i < b.count {
                    if b[i] == 0x5C {
                        i += 1
                        guard i < b.count else { break }
                        element.append(b[i])
                    } else if b[i] == 0x22 {
                        closed = true
                        i += 1
                        break
                    } else {
                        element.append(b[i])
                    }
                    i += 1
                }
                guard closed else { throw malformed(text, "unexpected end of input") }
                out.append(String(decoding: element, as: UTF8.self))
                skipSpaces()
            } else {
                var lastSignificant = 0
                var escaped = false
                while i < b.count, b[i] != 0x2C, b[i] != 0x7D {
                    if b[i] == 0x22 || b[i] == 0x7B { throw malformed(text, "unexpected \"\(Character(Unicode.Scalar(b[i])))\" character") }
                    if b[i] == 0x5C {
                        i += 1
                        guard i < b.count else { break }
                        element.append(b[i])
                        lastSignificant = element.count
                        escaped = true
                    } else {
                        element.append(b[i])
                        if !TextInput.isSpace(b[i]) { lastSignificant = element.count }
                    }
                    i += 1
                }
                element.removeLast(element.count - lastSignificant)
                if element.isEmpty { throw malformed(text, "unexpected \",\" or \"}\" character") }
                let isNull = !escaped && element.count == 4 && element.map({ $0 | 0x20 }) == Array("null".utf8)
                out.append(isNull ? nil : String(decoding: element, as: UTF8.self))
            }
            guard i < b.count else { throw malformed(text, "unexpected end of input") }
            if b[i] == 0x2C {
                i += 1
                continue
            }
            guard b[i] == 0x7D else { throw malformed(text, "unexpected character") }
            i += 1
            skipSpaces()
            guard i == b.count else { throw malformed(text, "junk after closing right brace") }
            return out
        }
    }

    static func parseText(_ text: String, element: LogicalType) throws -> DuckDBValue {
        guard let elementType = listElementType(element) else { throw nestedNotSupported() }
        let raw = try split(text)
        if elementType == .varchar {
            return .list(raw.map { $0.map(DuckDBValue.varchar) ?? .null }, element: .varchar)
        }
        var values: [DuckDBValue] = []
        values.reserveCapacity(raw.count)
        for r in raw {
            guard let r else { values.append(.null); continue }
            let v = try TextInput.parse(r, as: element)
            if case .varchar = v {
                // An element only DuckDB can read (a zone name): let it cast the whole list.
                return .list(raw.map { $0.map(DuckDBValue.varchar) ?? .null }, element: .varchar)
            }
            values.append(v)
        }
        return .list(values, element: elementType)
    }
}

// MARK: - Binary input

enum BinaryInput {
    static func need(_ buffer: ByteBuffer, _ n: Int, _ type: String) throws {
        guard buffer.readableBytes == n else {
            throw PostgresTypeError.binaryLength(type, expected: n, got: buffer.readableBytes)
        }
    }

    /// Reads a whole parameter sent in the binary format of the type `oid`.
    static func decode(_ buffer: inout ByteBuffer, oid: UInt32) throws -> DuckDBValue {
        switch oid {
        case PostgresType.boolOID:
            try need(buffer, 1, "bool")
            return .bool(buffer.readInteger(as: UInt8.self)! != 0)
        case PostgresType.int2OID:
            try need(buffer, 2, "int2")
            return .int16(buffer.readInteger()!)
        case PostgresType.int4OID:
            try need(buffer, 4, "int4")
            return .int32(buffer.readInteger()!)
        case PostgresType.int8OID:
            try need(buffer, 8, "int8")
            return .int64(buffer.readInteger()!)
        case PostgresType.oidOID:
            try need(buffer, 4, "oid")
            return .uint32(buffer.readInteger()!)
        case PostgresType.float4OID:
            try need(buffer, 4, "float4")
            return .float(Float(bitPattern: buffer.readInteger()!))
        case PostgresType.float8OID:
            try need(buffer, 8, "float8")
            return .double(Double(bitPattern: buffer.readInteger()!))
        case PostgresType.numericOID:
            return try numeric(&buffer)
        case PostgresType.textOID, PostgresType.varcharOID, PostgresType.nameOID, PostgresType.bpcharOID,
             PostgresType.charOID, PostgresType.jsonOID, PostgresType.xmlOID, PostgresType.unknownOID:
            return .varchar(try ParameterDecoder.utf8String(buffer))
        case PostgresType.jsonbOID:
            guard let version: UInt8 = buffer.readInteger() else { throw PostgresTypeError.binaryLength("jsonb", expected: 1, got: 0) }
            guard version == 1 else { throw PostgresTypeError.badBinary("unsupported jsonb version number \(version)") }
            return .varchar(try ParameterDecoder.utf8String(buffer))
        case PostgresType.byteaOID:
            return .blob(buffer.readBytes(length: buffer.readableBytes) ?? [])
        case PostgresType.dateOID:
            try need(buffer, 4, "date")
            let d: Int32 = buffer.readInteger()!
            if d == Int32.max { return .date(duckDBDateInfinity) }
            if d == Int32.min { return .date(duckDBDateNegInfinity) }
            guard let days = Int32(exactly: Int64(d) + postgresEpochDays) else {
                throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "date out of range")
            }
            return .date(days)
        case PostgresType.timeOID:
            try need(buffer, 8, "time")
            return .time(try timeOfDay(buffer.readInteger()!))
        case PostgresType.timetzOID:
            try need(buffer, 12, "timetz")
            let us = try timeOfDay(buffer.readInteger()!)
            let west: Int32 = buffer.readInteger()!
            // PostgreSQL's limit (TZDISP_LIMIT): less than 16 hours either way. Checked before
            // negating, since -Int32.min does not exist.
            guard west.magnitude < 16 * 3600 else {
                throw PostgresTypeError(sqlState: PostgresTypeError.invalidBinaryRepresentation, message: "time zone displacement out of range")
            }
            var text = ByteBufferAllocator().buffer(capacity: 24)
            text.writeTimeOfDay(micros: us)
            text.writeZoneOffset(secondsEast: -west)
            return .varchar(text.readString(length: text.readableBytes) ?? "")
        case PostgresType.timestampOID, PostgresType.timestamptzOID:
            try need(buffer, 8, oid == PostgresType.timestampOID ? "timestamp" : "timestamptz")
            let t: Int64 = buffer.readInteger()!
            let us: Int64
            if t == Int64.max {
                us = duckDBTimestampInfinity
            } else if t == Int64.min {
                us = duckDBTimestampNegInfinity
            } else {
                let (v, o) = t.addingReportingOverflow(postgresEpochMicros)
                guard !o else { throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "timestamp out of range") }
                us = v
            }
            return oid == PostgresType.timestampOID ? .timestamp(us) : .timestampTZ(us)
        case PostgresType.intervalOID:
            try need(buffer, 16, "interval")
            let us: Int64 = buffer.readInteger()!
            let days: Int32 = buffer.readInteger()!
            let months: Int32 = buffer.readInteger()!
            return .interval(months: months, days: days, micros: us)
        case PostgresType.uuidOID:
            try need(buffer, 16, "uuid")
            let hi: UInt64 = buffer.readInteger()!
            let lo: UInt64 = buffer.readInteger()!
            return .uuid(UInt128(hi) << 64 | UInt128(lo))
        case PostgresType.bitOID, PostgresType.varbitOID:
            guard let bits: Int32 = buffer.readInteger(), bits >= 0 else { throw PostgresTypeError.binaryLength("varbit", expected: 4, got: buffer.readableBytes) }
            try need(buffer, (Int(bits) + 7) / 8, "varbit")
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            var s = ""
            s.reserveCapacity(Int(bits))
            for k in 0..<Int(bits) { s.append((bytes[k / 8] >> (7 - UInt8(k % 8))) & 1 == 1 ? "1" : "0") }
            return .varchar(s)
        default:
            if PostgresType.known(oid: oid)?.elementType != nil {
                return try array(&buffer)
            }
            throw PostgresTypeError(
                sqlState: PostgresTypeError.featureNotSupported, message: "binary format is not supported for parameters of type OID \(oid)")
        }
    }

    /// Microseconds since midnight, 00:00:00 to 24:00:00 inclusive (PostgreSQL's time range).
    static func timeOfDay(_ us: Int64) throws -> Int64 {
        guard us >= 0, us <= microsPerDay else {
            throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "time out of range")
        }
        return us
    }

    static func numeric(_ buffer: inout ByteBuffer) throws -> DuckDBValue {
        guard buffer.readableBytes >= 8 else { throw PostgresTypeError.binaryLength("numeric", expected: 8, got: buffer.readableBytes) }
        let ndigits = Int(buffer.readInteger(as: UInt16.self)!)
        let weight = Int(buffer.readInteger(as: Int16.self)!)
        let sign: UInt16 = buffer.readInteger()!
        let dscale = Int(buffer.readInteger(as: UInt16.self)!)
        try need(buffer, ndigits * 2, "numeric")
        switch sign {
        case numericNaN: return .double(.nan)
        case numericPositiveInfinity: return .double(.infinity)
        case numericNegativeInfinity: return .double(-.infinity)
        case numericPositive, numericNegative: break
        default: throw PostgresTypeError.badBinary("invalid sign in external \"numeric\" value")
        }
        guard dscale <= 0x3FFF else { throw PostgresTypeError.badBinary("invalid scale in external \"numeric\" value") }
        var digits: [UInt8] = []
        digits.reserveCapacity(ndigits * 4)
        for _ in 0..<ndigits {
            let d: UInt16 = buffer.readInteger()!
            guard d < 10_000 else { throw PostgresTypeError.badBinary("invalid digit in external \"numeric\" value") }
            digits.append(UInt8(d / 1000))
            digits.append(UInt8(d / 100 % 10))
            digits.append(UInt8(d / 10 % 10))
            digits.append(UInt8(d % 10))
        }
        // value = digits × 10^(4 × (weight − ndigits + 1))
        var exponent = 4 * (weight - ndigits + 1)
        while let last = digits.last, last == 0 { digits.removeLast(); exponent += 1 }
        var first = 0
        while first < digits.count && digits[first] == 0 { first += 1 }
        digits.removeFirst(first)
        if digits.isEmpty { exponent = 0 }
        let exact = ExactDecimal(negative: sign == numericNegative, digits: digits, exponent: exponent, displayScale: dscale)
        return exact.ownScaleValue() ?? .double(Double(exact.text) ?? .nan)
    }

    static func array(_ buffer: inout ByteBuffer) throws -> DuckDBValue {
        guard let ndim: Int32 = buffer.readInteger(), let _: Int32 = buffer.readInteger(),
              let elementOID: UInt32 = buffer.readInteger() else {
            throw PostgresTypeError(sqlState: PostgresTypeError.protocolViolation, message: "insufficient data left in message")
        }
        guard let elementLogical = PostgresTypeMapping.duckDBType(forParameterOID: elementOID),
              let elementType = ArrayInput.listElementType(elementLogical) else {
            throw PostgresTypeError(sqlState: PostgresTypeError.featureNotSupported, message: "arrays of type OID \(elementOID) are not supported as parameters")
        }
        if ndim == 0 {
            guard buffer.readableBytes == 0 else { throw PostgresTypeError.badBinary("incorrect binary data format in array") }
            return .list([], element: elementType)
        }
        guard ndim == 1 else {
            if ndim < 0 { throw PostgresTypeError.badBinary("invalid number of dimensions: \(ndim)") }
            throw ArrayInput.nestedNotSupported()
        }
        guard let count: Int32 = buffer.readInteger(), let _: Int32 = buffer.readInteger(), count >= 0 else {
            throw PostgresTypeError(sqlState: PostgresTypeError.protocolViolation, message: "insufficient data left in message")
        }
        // Every element takes at least its 4-byte length: a count the remaining bytes cannot
        // hold is refused before anything is allocated for it.
        guard Int(count) <= buffer.readableBytes / 4 else {
            throw PostgresTypeError(sqlState: PostgresTypeError.protocolViolation, message: "insufficient data left in message")
        }
        var values: [DuckDBValue] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length: Int32 = buffer.readInteger() else {
                throw PostgresTypeError(sqlState: PostgresTypeError.protocolViolation, message: "insufficient data left in message")
            }
            if length < 0 {
                values.append(.null)
                continue
            }
            guard var slice = buffer.readSlice(length: Int(length)) else {
                throw PostgresTypeError(sqlState: PostgresTypeError.protocolViolation, message: "insufficient data left in message")
            }
            let v = try decode(&slice, oid: elementOID)
            values.append(elementType == .varchar ? Coercion.textValue(v) : try Coercion.coerce(v, to: elementType))
        }
        guard buffer.readableBytes == 0 else { throw PostgresTypeError.badBinary("incorrect binary data format in array") }
        return .list(values, element: elementType)
    }
}

// MARK: - Conversions to the inferred type

enum Coercion {
    enum Number {
        case int(Int128)
        case uint(UInt128)
        case decimal(Int128, scale: Int)
        case double(Double)
    }

    static func number(_ v: DuckDBValue) -> Number? {
        switch v {
        case .int8(let x): return .int(Int128(x))
        case .int16(let x): return .int(Int128(x))
        case .int32(let x): return .int(Int128(x))
        case .int64(let x): return .int(Int128(x))
        case .uint8(let x): return .int(Int128(x))
        case .uint16(let x): return .int(Int128(x))
        case .uint32(let x): return .int(Int128(x))
        case .uint64(let x): return .int(Int128(x))
        case .hugeint(let x): return .int(x)
        case .uhugeint(let x): return .uint(x)
        case .float(let x): return .double(Double(x))
        case .double(let x): return .double(x)
        case .decimal(let u, _, let s): return .decimal(u, scale: Int(s))
        default: return nil
        }
    }

    static func outOfRange(_ type: LogicalType) -> PostgresTypeError {
        PostgresTypeError(sqlState: PostgresTypeError.numericValueOutOfRange, message: "\(TextInput.typeName(type)) out of range")
    }

    /// An integer from any number, rounded the way PostgreSQL rounds (numeric: half away from
    /// zero; float: half to even), checked against min...max.
    static func integer(_ n: Number, min: Int128, max: Int128, type: LogicalType) throws -> Int128 {
        switch n {
        case .int(let i):
            guard i >= min && i <= max else { throw outOfRange(type) }
            return i
        case .uint(let u):
            guard let i = Int128(exactly: u), i <= max else { throw outOfRange(type) }
            return i
        case .decimal(let u, let s):
            let p = ExactDecimal.pow10(s)
            var (q, r) = u.quotientAndRemainder(dividingBy: p)
            if r.magnitude * 2 >= p.magnitude { q += u < 0 ? -1 : 1 }
            guard q >= min && q <= max else { throw outOfRange(type) }
            return q
        case .double(let d):
            guard d.isFinite, let i = Int128(exactly: d.rounded(.toNearestOrEven)), i >= min && i <= max else { throw outOfRange(type) }
            return i
        }
    }

    static func double(_ n: Number) -> Double {
        switch n {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .decimal(let u, let s): return Double(ExactDecimal(unscaled: u, scale: s).text) ?? .nan
        case .double(let d): return d
        }
    }

    static func exact(_ n: Number, type: LogicalType) throws -> ExactDecimal {
        switch n {
        case .int(let i): return ExactDecimal(unscaled: i, scale: 0)
        case .uint(let u):
            return ExactDecimal(String(u)) ?? ExactDecimal(negative: false, digits: [], exponent: 0)
        case .decimal(let u, let s): return ExactDecimal(unscaled: u, scale: s)
        case .double(let d):
            guard d.isFinite, let e = ExactDecimal(d.description) else { throw outOfRange(type) }
            return e
        }
    }

    /// Converts a decoded value to the type DuckDB inferred for the parameter, where that
    /// is a simple, checked conversion; anything else is left for DuckDB to cast.
    static func coerce(_ value: DuckDBValue, to target: LogicalType) throws -> DuckDBValue {
        if case .null = value { return .null }
        if case .varchar(let s) = value {
            switch target {
            case .varchar, .invalid: return value
            case .blob: return .blob(Array(s.utf8))
            default: return try TextInput.parse(s, as: target)
            }
        }
        if let n = number(value) {
            switch target {
            case .tinyint: return .int8(Int8(try integer(n, min: Int128(Int8.min), max: Int128(Int8.max), type: target)))
            case .smallint: return .int16(Int16(try integer(n, min: Int128(Int16.min), max: Int128(Int16.max), type: target)))
            case .integer: return .int32(Int32(try integer(n, min: Int128(Int32.min), max: Int128(Int32.max), type: target)))
            case .bigint: return .int64(Int64(try integer(n, min: Int128(Int64.min), max: Int128(Int64.max), type: target)))
            case .utinyint: return .uint8(UInt8(try integer(n, min: 0, max: Int128(UInt8.max), type: target)))
            case .usmallint: return .uint16(UInt16(try integer(n, min: 0, max: Int128(UInt16.max), type: target)))
            case .uinteger: return .uint32(UInt32(try integer(n, min: 0, max: Int128(UInt32.max), type: target)))
            case .ubigint: return .uint64(UInt64(try integer(n, min: 0, max: Int128(UInt64.max), type: target)))
            case .hugeint: return .hugeint(try integer(n, min: Int128.min, max: Int128.max, type: target))
            case .uhugeint:
                if case .uint(let u) = n { return .uhugeint(u) }
                return .uhugeint(UInt128(try integer(n, min: 0, max: Int128.max, type: target)))
            case .float:
                let d = double(n)
                let f = Float(d)
                if f.isInfinite && d.isFinite { throw outOfRange(target) }
                return .float(f)
            case .double: return .double(double(n))
            case .decimal(let w, let s): return try exact(n, type: target).decimalValue(width: w, scale: s)
            case .varchar: return textValue(value)
            default: return value
            }
        }
        switch (value, target) {
        case (.date(let d), .timestamp), (.date(let d), .timestampS), (.date(let d), .timestampMS), (.date(let d), .timestampNS):
            return .timestamp(try timestampOfDate(d))
        case (.date(let d), .timestampTZ):
            return .timestampTZ(try timestampOfDate(d))
        case (.timestamp(let us), .timestampTZ):
            return .timestampTZ(us)
        case (.timestampTZ(let us), .timestamp), (.timestampTZ(let us), .timestampS), (.timestampTZ(let us), .timestampMS), (.timestampTZ(let us), .timestampNS):
            return .timestamp(us)
        case (.timestamp(let us), .date), (.timestampTZ(let us), .date):
            if us == duckDBTimestampInfinity { return .date(duckDBDateInfinity) }
            if us == duckDBTimestampNegInfinity { return .date(duckDBDateNegInfinity) }
            return .date(Int32(clamping: floorDivMod(us, microsPerDay).0))
        case (.timestamp(let us), .time), (.timestampTZ(let us), .time):
            return .time(floorDivMod(us, microsPerDay).1)
        case (.list(let values, _), .list(let element)), (.list(let values, _), .array(let element, _)):
            guard let e = ArrayInput.listElementType(element) else { throw ArrayInput.nestedNotSupported() }
            if e == .varchar && element != .varchar {
                return .list(values.map(textValue), element: .varchar)
            }
            return .list(try values.map { try coerce($0, to: e) }, element: e)
        case (_, .varchar):
            return textValue(value)
        default:
            return value
        }
    }

    /// Midnight of a date as a timestamp. Dates reach further than timestamps (a date of
    /// 5874897 AD is valid), so the product is checked: 22008 as in PostgreSQL.
    static func timestampOfDate(_ d: Int32) throws -> Int64 {
        if d == duckDBDateInfinity { return duckDBTimestampInfinity }
        if d == duckDBDateNegInfinity { return duckDBTimestampNegInfinity }
        let (us, overflow) = Int64(d).multipliedReportingOverflow(by: microsPerDay)
        guard !overflow, us > -9_223_372_022_400_000_000, us < 9_223_371_331_200_000_000 else {
            throw PostgresTypeError(sqlState: PostgresTypeError.datetimeFieldOverflow, message: "timestamp out of range")
        }
        return us
    }

    /// The value as VARCHAR, spelled so that DuckDB's casts read it back.
    static func textValue(_ v: DuckDBValue) -> DuckDBValue {
        var b = ByteBufferAllocator().buffer(capacity: 32)
        switch v {
        case .null, .typedNull: return .null
        case .varchar: return v
        case .bool(let x): return .varchar(x ? "true" : "false")
        case .int8(let x): return .varchar(String(x))
        case .int16(let x): return .varchar(String(x))
        case .int32(let x): return .varchar(String(x))
        case .int64(let x): return .varchar(String(x))
        case .uint8(let x): return .varchar(String(x))
        case .uint16(let x): return .varchar(String(x))
        case .uint32(let x): return .varchar(String(x))
        case .uint64(let x): return .varchar(String(x))
        case .hugeint(let x): return .varchar(String(x))
        case .uhugeint(let x): return .varchar(String(x))
        case .float(let x): b.writeFloat(x, style: .duckdb)
        case .double(let x): b.writeFloat(x, style: .duckdb)
        case .decimal(let u, _, let s): return .varchar(ExactDecimal(unscaled: u, scale: Int(s)).text)
        case .blob(let bytes): bytes.withUnsafeBytes { writeDuckDBBlob($0, into: &b) }
        case .date(let d): b.writeDate(days: d, style: .duckdb)
        case .time(let us): b.writeTimeOfDay(micros: us)
        case .timestamp(let us): b.writeTimestamp(micros: us, withZone: false, style: .duckdb)
        case .timestampTZ(let us): b.writeTimestamp(micros: us, withZone: true, style: .duckdb)
        case .interval(let m, let d, let us): b.writeDuckDBInterval(months: m, days: d, micros: us)
        case .uuid(let u):
            withUnsafeBytes(of: u.bigEndian) { b.writeUUID($0) }
        case .list(let values, _):
            let parts = values.map { v -> String in
                if case .varchar(let s) = textValue(v) { return s }
                return "NULL"
            }
            return .varchar("[" + parts.joined(separator: ", ") + "]")
        }
        return .varchar(b.readString(length: b.readableBytes) ?? "")
    }
}
