import Arrow
import DuckDB
import NIOCore

/// Encodes the values of one result column; created once per column per query.
public struct ColumnValueEncoder: Sendable {
    /// What RowDescription says about the column (same as `PostgresTypeMapping.postgresType(for:)`).
    public let type: PostgresType
    public let format: PostgresFormat
    let plan: ValuePlan

    public init(column: ColumnDescription, field: Field, format: PostgresFormat) throws {
        self.type = PostgresTypeMapping.postgresType(for: column)
        self.format = format
        self.plan = try PostgresTypeMapping.plan(for: column, field: field)
    }

    /// Appends one DataRow field: Int32 byte length then the bytes, or Int32 -1 for NULL.
    @inline(__always)
    public func encode(_ array: ArrayData, row: Int, into buffer: inout ByteBuffer) {
        if plan.isNull(array, row) {
            buffer.writeRaw(max: 4) { $0.integer(Int32(-1)) }
        } else {
            plan.encodeField(array, row, text: format == .text, into: &buffer)
        }
    }

    /// The field's bytes without the length prefix (nil for NULL); for tests and tools.
    public func encodedValue(_ array: ArrayData, row: Int) -> [UInt8]? {
        var buffer = ByteBufferAllocator().buffer(capacity: 32)
        encode(array, row: row, into: &buffer)
        guard let length: Int32 = buffer.readInteger(), length >= 0 else { return nil }
        return buffer.readBytes(length: Int(length))
    }
}

// MARK: - Reading Arrow values

extension ArrayData {
    @inline(__always)
    func int64(_ i: Int, _ src: IntSource) -> Int64 {
        switch src {
        case .i8: return Int64(value(i, as: Int8.self))
        case .i16: return Int64(value(i, as: Int16.self))
        case .i32: return Int64(value(i, as: Int32.self))
        case .i64: return value(i, as: Int64.self)
        case .u8: return Int64(value(i, as: UInt8.self))
        case .u16: return Int64(value(i, as: UInt16.self))
        case .u32: return Int64(value(i, as: UInt32.self))
        case .u64: return Int64(bitPattern: value(i, as: UInt64.self))
        }
    }

    /// Sign and magnitude of an exact number.
    @inline(__always)
    func exact(_ i: Int, _ src: DecimalSource) -> (negative: Bool, magnitude: UInt128) {
        switch src {
        case .bits32:
            let v = buffers[1].load(at: (offset + i) * 4, as: Int32.self)
            return (v < 0, UInt128(v.magnitude))
        case .bits64:
            let v = buffers[1].load(at: (offset + i) * 8, as: Int64.self)
            return (v < 0, UInt128(v.magnitude))
        case .bits128:
            let v = buffers[1].load(at: (offset + i) * 16, as: Int128.self)
            return (v < 0, v.magnitude)
        case .unsigned128:
            return (false, buffers[1].load(at: (offset + i) * 16, as: UInt128.self))
        case .unsigned64:
            return (false, UInt128(value(i, as: UInt64.self)))
        }
    }

    @inline(__always)
    func rawInt64(_ i: Int) -> Int64 { buffers[1].load(at: (offset + i) * 8, as: Int64.self) }

    @inline(__always)
    func rawInt32(_ i: Int) -> Int32 { buffers[1].load(at: (offset + i) * 4, as: Int32.self) }

    /// Microseconds since midnight of a time value.
    func timeMicros(_ i: Int, _ unit: ArrowType.TimeUnit) -> Int64 {
        switch unit {
        case .second: return Int64(rawInt32(i)) * 1_000_000
        case .millisecond: return Int64(rawInt32(i)) * 1_000
        case .microsecond: return rawInt64(i)
        case .nanosecond:
            // DuckDB's TIME_NS → TIME cast rounds to the nearest microsecond.
            let ns = rawInt64(i)
            return ns >= 0 ? (ns + 500) / 1_000 : (ns - 500) / 1_000
        }
    }

    /// Microseconds since the epoch of a timestamp, keeping DuckDB's infinities.
    func timestampMicros(_ i: Int, _ unit: ArrowType.TimeUnit) -> Int64 {
        let raw = rawInt64(i)
        if raw == duckDBTimestampInfinity { return duckDBTimestampInfinity }
        if raw == duckDBTimestampNegInfinity || raw == Int64.min { return duckDBTimestampNegInfinity }
        switch unit {
        case .second:
            let (v, o) = raw.multipliedReportingOverflow(by: 1_000_000)
            return o ? (raw < 0 ? duckDBTimestampNegInfinity : duckDBTimestampInfinity) : v
        case .millisecond:
            let (v, o) = raw.multipliedReportingOverflow(by: 1_000)
            return o ? (raw < 0 ? duckDBTimestampNegInfinity : duckDBTimestampInfinity) : v
        case .microsecond: return raw
        case .nanosecond: return raw / 1_000  // truncation, like DuckDB's cast to TIMESTAMP
        }
    }

    /// Days since 1970-01-01 of a date (date64 holds milliseconds).
    func dateDays(_ i: Int, date64: Bool) -> Int32 {
        guard date64 else { return rawInt32(i) }
        let ms = rawInt64(i)
        let (d, _) = floorDivMod(ms, 86_400_000)
        return Int32(clamping: d)
    }

    /// months, days, microseconds of an interval.
    func intervalParts(_ i: Int, _ unit: ArrowType.IntervalUnit) -> (months: Int32, days: Int32, micros: Int64) {
        switch unit {
        case .monthDayNano:
            let base = (offset + i) * 16
            let months = buffers[1].load(at: base, as: Int32.self)
            let days = buffers[1].load(at: base + 4, as: Int32.self)
            let nanos = buffers[1].load(at: base + 8, as: Int64.self)
            return (months, days, nanos / 1_000)
        case .dayTime:
            let base = (offset + i) * 8
            let days = buffers[1].load(at: base, as: Int32.self)
            let ms = buffers[1].load(at: base + 4, as: Int32.self)
            return (0, days, Int64(ms) * 1_000)
        case .yearMonth:
            return (rawInt32(i), 0, 0)
        }
    }

    /// The bytes of a string or binary slot (like `bytes(_:)`, without generic slicing).
    @inline(__always)
    func slot(_ i: Int) -> UnsafeRawBufferPointer {
        let start: Int
        let end: Int
        switch type {
        case .largeUtf8, .largeBinary:
            start = Int(buffers[1].load(at: (offset + i) * 8, as: Int64.self))
            end = Int(buffers[1].load(at: (offset + i + 1) * 8, as: Int64.self))
        default:
            start = Int(buffers[1].load(at: (offset + i) * 4, as: Int32.self))
            end = Int(buffers[1].load(at: (offset + i + 1) * 4, as: Int32.self))
        }
        let data = buffers[2]
        guard end > start, let base = data.base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        precondition(start >= 0 && end <= data.count, "Arrow string slot out of bounds")
        return UnsafeRawBufferPointer(start: base + start, count: end - start)
    }

    /// The 16 bytes of a fixed-size binary slot.
    @inline(__always)
    func fixed16(_ i: Int) -> UnsafeRawBufferPointer {
        let data = buffers[1]
        precondition((offset + i + 1) * 16 <= data.count, "Arrow fixed-size slot out of bounds")
        return UnsafeRawBufferPointer(start: data.base! + (offset + i) * 16, count: 16)
    }
}

/// Hex digit values, 0xFF for other bytes.
private let hexValues: [UInt8] = {
    var t = [UInt8](repeating: 0xFF, count: 256)
    for (i, c) in "0123456789abcdef".utf8.enumerated() { t[Int(c)] = UInt8(i) }
    for (i, c) in "ABCDEF".utf8.enumerated() { t[Int(c)] = UInt8(10 + i) }
    return t
}()

/// Parses a UUID text (canonical, or any hyphenation/braces) into its 16 bytes.
func parseUUIDBytes(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
    if text.count == 36 && text[8] == asciiMinus && text[13] == asciiMinus && text[18] == asciiMinus && text[23] == asciiMinus {
        let ok: Bool = hexValues.withUnsafeBufferPointer { hex in
            var bad: UInt8 = 0
            var j = 0
            for k in 0..<16 {
                if j == 8 || j == 13 || j == 18 || j == 23 { j += 1 }
                let hi = hex[Int(text[j])]
                let lo = hex[Int(text[j + 1])]
                bad |= (hi | lo) & 0xF0
                out[k] = hi << 4 | (lo & 0x0F)
                j += 2
            }
            return bad == 0
        }
        if ok { return true }
    }
    var n = 0
    var high = true
    var current: UInt8 = 0
    for c in text {
        let v: UInt8
        switch c {
        case 0x30...0x39: v = c - 0x30
        case 0x61...0x66: v = c - 0x61 + 10
        case 0x41...0x46: v = c - 0x41 + 10
        case asciiMinus, 0x7B, 0x7D: continue
        default: return false
        }
        if high {
            current = v << 4
        } else {
            guard n < 16 else { return false }
            out[n] = current | v
            n += 1
        }
        high.toggle()
    }
    return n == 16 && high
}

// MARK: - Writing PostgreSQL values

extension ByteBuffer {
    /// Overwrites the Int32 at `index` (already written) with the byte count that follows it.
    @inline(__always)
    mutating func patchLength(at index: Int) {
        let length = Int32(truncatingIfNeeded: writerIndex - index - 4)
        let offset = index - readerIndex
        withUnsafeMutableReadableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: offset, as: Int32.self) }
    }
}

extension ValuePlan {
    @inline(__always)
    func isNull(_ array: ArrayData, _ row: Int) -> Bool {
        if case .duckdb(let node) = self { return node.isNull(array, row) }
        return !array.isValid(row)
    }

    /// The most bytes `writeBounded` writes, or nil if the value's size has no fixed bound.
    @inline(__always)
    func bound(text: Bool) -> Int? {
        switch self {
        case .bool, .bool8: return 1
        case .int: return text ? 21 : 8
        case .float4, .float8: return text ? 32 : 8
        case .numeric(_, let scale): return text ? 44 + max(scale, 0) : RawOut.numericBinaryBound(digitCount: 39, scale: scale)
        case .date32, .date64: return text ? 26 : 4
        case .time: return text ? 30 : 8
        case .timestamp: return text ? 64 : 8
        case .interval: return text ? 100 : 16
        case .uuidBytes: return text ? 36 : 16
        case .uuidText: return text ? nil : 16
        default: return nil
        }
    }

    /// Appends the field: its Int32 length and its bytes (the value must not be NULL).
    func encodeField(_ array: ArrayData, _ row: Int, text: Bool, into buffer: inout ByteBuffer) {
        switch self {
        case .string,
             .uuidText where text:
            let b = array.slot(row)
            buffer.writeRaw(max: 4 + b.count) {
                $0.integer(Int32(truncatingIfNeeded: b.count))
                $0.bytes(b)
            }
        case .bytea:
            let b = array.slot(row)
            let length = text ? 2 + 2 * b.count : b.count
            buffer.writeRaw(max: 4 + length) {
                $0.integer(Int32(truncatingIfNeeded: length))
                if text { $0.byteaHex(b) } else { $0.bytes(b) }
            }
        case .dictionary(let inner):
            guard let values = array.dictionary?.values else {
                buffer.writeRaw(max: 4) { $0.integer(Int32(0)) }
                return
            }
            inner.encodeField(values, array.dictionaryIndex(row), text: text, into: &buffer)
        default:
            if let max = bound(text: text) {
                buffer.writeRaw(max: 4 + max) { out in
                    out.count = 4
                    writeBounded(array, row, text: text, into: &out)
                    out.base.storeBytes(of: Int32(truncatingIfNeeded: out.count - 4).bigEndian, as: Int32.self)
                }
            } else {
                let lengthIndex = buffer.writerIndex
                buffer.writeRaw(max: 4) { $0.integer(Int32(0)) }
                if text { writeText(array, row, into: &buffer) } else { writeBinary(array, row, into: &buffer) }
                buffer.patchLength(at: lengthIndex)
            }
        }
    }

    /// Writes a value whose size `bound(text:)` limits.
    @inline(__always)
    func writeBounded(_ array: ArrayData, _ row: Int, text: Bool, into out: inout RawOut) {
        switch self {
        case .bool:
            let v = array.bool(row)
            out.byte(text ? (v ? 0x74 : 0x66) : (v ? 1 : 0))
        case .bool8:
            let v = array.value(row, as: UInt8.self) != 0
            out.byte(text ? (v ? 0x74 : 0x66) : (v ? 1 : 0))
        case .int(let src, let target):
            if text {
                if src == .u64 { out.decimal(array.value(row, as: UInt64.self)) } else { out.decimal(array.int64(row, src)) }
            } else {
                let v = array.int64(row, src)
                switch target {
                case .int2: out.integer(Int16(truncatingIfNeeded: v))
                case .int4: out.integer(Int32(truncatingIfNeeded: v))
                case .int8: out.integer(v)
                }
            }
        case .float4:
            let v = array.float32(row)
            if text { out.float(v, style: .postgresFloat4) } else { out.integer(v.bitPattern) }
        case .float8:
            let v = array.float64(row)
            if text { out.float(v, style: .postgresFloat8) } else { out.integer(v.bitPattern) }
        case .numeric(let src, let scale):
            let (negative, magnitude) = array.exact(row, src)
            if text {
                out.scaledDecimal(magnitude: magnitude, negative: negative, scale: scale)
            } else {
                out.numericBinary(magnitude: magnitude, negative: negative, scale: scale)
            }
        case .date32, .date64:
            let days = array.dateDays(row, date64: isDate64)
            if text {
                out.date(days: days, style: .postgres)
            } else if days == duckDBDateInfinity {
                out.integer(Int32.max)
            } else if days == duckDBDateNegInfinity || days == Int32.min {
                out.integer(Int32.min)
            } else {
                out.integer(Int32(clamping: Int64(days) - postgresEpochDays))
            }
        case .time(let unit):
            let us = array.timeMicros(row, unit)
            if text { out.timeOfDay(micros: us) } else { out.integer(us) }
        case .timestamp(let unit, let zone):
            let us = array.timestampMicros(row, unit)
            if text {
                out.timestamp(micros: us, withZone: zone, style: .postgres)
            } else if us == duckDBTimestampInfinity {
                out.integer(Int64.max)
            } else if us == duckDBTimestampNegInfinity {
                out.integer(Int64.min)
            } else {
                // DuckDB's earliest timestamps (290308 BC) lie before what PostgreSQL's
                // binary form, counted from 2000, can hold: they go as -infinity.
                let (v, overflow) = us.subtractingReportingOverflow(postgresEpochMicros)
                out.integer(overflow ? Int64.min : v)
            }
        case .interval(let unit):
            let p = array.intervalParts(row, unit)
            if text {
                out.postgresInterval(months: p.months, days: p.days, micros: p.micros)
            } else {
                out.integer(p.micros)
                out.integer(p.days)
                out.integer(p.months)
            }
        case .uuidBytes:
            if text { out.uuid(array.fixed16(row)) } else { out.bytes(array.fixed16(row)) }
        case .uuidText:
            // Binary only (text copies DuckDB's canonical spelling as it is).
            let start = out.count
            if !parseUUIDBytes(array.slot(row), into: UnsafeMutableRawBufferPointer(start: out.base + start, count: 16)) {
                (out.base + start).initializeMemory(as: UInt8.self, repeating: 0, count: 16)
            }
            out.count += 16
        default:
            break
        }
    }

    /// The value's bytes without a length prefix.
    func writeText(_ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer) {
        if let max = bound(text: true) {
            buffer.writeRaw(max: max) { writeBounded(array, row, text: true, into: &$0) }
            return
        }
        switch self {
        case .bignum:
            if let (negative, digits) = bignumDecimalDigits(array.slot(row)) {
                if negative { buffer.writeByte(asciiMinus) }
                buffer.writeBytes(digits)
            } else {
                buffer.writeStaticString("NaN")
            }
        case .string, .uuidText:
            buffer.writeBytes(array.slot(row))
        case .bytea:
            let b = array.slot(row)
            buffer.writeRaw(max: 2 + 2 * b.count) { $0.byteaHex(b) }
        case .dictionary(let inner):
            guard let values = array.dictionary?.values else { return }
            inner.writeText(values, array.dictionaryIndex(row), into: &buffer)
        case .array(let element, _):
            writeArrayText(element, array, row, into: &buffer)
        case .duckdb(let node):
            node.render(array, row, quoteIfNeeded: false, into: &buffer)
        default:
            break
        }
    }

    var isDate64: Bool { if case .date64 = self { return true } else { return false } }

    /// The value's bytes without a length prefix.
    func writeBinary(_ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer) {
        if let max = bound(text: false) {
            buffer.writeRaw(max: max) { writeBounded(array, row, text: false, into: &$0) }
            return
        }
        switch self {
        case .bignum:
            if let (negative, digits) = bignumDecimalDigits(array.slot(row)) {
                digits.withUnsafeBufferPointer { buffer.writeNumericBinary(digits: $0, negative: negative, scale: 0) }
            } else {
                buffer.writeRaw(max: 8) { $0.numericSpecial(numericNaN) }
            }
        case .string, .bytea:
            buffer.writeBytes(array.slot(row))
        case .dictionary(let inner):
            guard let values = array.dictionary?.values else { return }
            inner.writeBinary(values, array.dictionaryIndex(row), into: &buffer)
        case .array(let element, let elementType):
            writeArrayBinary(element, elementType, array, row, into: &buffer)
        case .duckdb(let node):
            node.render(array, row, quoteIfNeeded: false, into: &buffer)
        default:
            break
        }
    }

    // MARK: Arrays

    private func writeArrayText(_ element: ValuePlan, _ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer) {
        let child = array.children[0]
        let range = array.valueRange(row)
        let mayQuote = element.textMayNeedArrayQuotes
        buffer.writeByte(0x7B)
        var first = true
        for i in range {
            if !first { buffer.writeByte(0x2C) }
            first = false
            if element.isNull(child, i) {
                buffer.writeStaticString("NULL")
                continue
            }
            let start = buffer.writerIndex
            element.writeText(child, i, into: &buffer)
            if mayQuote { quoteArrayElement(from: start, in: &buffer) }
        }
        buffer.writeByte(0x7D)
    }

    private func writeArrayBinary(
        _ element: ValuePlan, _ elementType: PostgresType, _ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer
    ) {
        let child = array.children[0]
        let range = array.valueRange(row)
        var hasNull = false
        for i in range where element.isNull(child, i) {
            hasNull = true
            break
        }
        buffer.writeRaw(max: 20) { out in
            out.integer(Int32(range.isEmpty ? 0 : 1))  // ndim
            out.integer(Int32(hasNull ? 1 : 0))
            out.integer(elementType.oid)
            if !range.isEmpty {
                out.integer(Int32(truncatingIfNeeded: range.count))  // dimension length (rows past 1 GB are refused)
                out.integer(Int32(1))  // lower bound
            }
        }
        for i in range {
            if element.isNull(child, i) {
                buffer.writeRaw(max: 4) { $0.integer(Int32(-1)) }
            } else {
                element.encodeField(child, i, text: false, into: &buffer)
            }
        }
    }
}

/// PostgreSQL's array_out quoting: an element is double-quoted when it is empty, equals NULL
/// (any case), or contains `{`, `}`, `,`, `"`, `\` or white space; `"` and `\` are escaped.
func quoteArrayElement(from start: Int, in buffer: inout ByteBuffer) {
    let end = buffer.writerIndex
    let needsQuotes: Bool = buffer.withVeryUnsafeBytes { all in
        let bytes = UnsafeRawBufferPointer(rebasing: all[start..<end])
        if bytes.isEmpty { return true }
        if bytes.count == 4 {
            let lower = bytes.map { $0 | 0x20 }
            if lower == [0x6E, 0x75, 0x6C, 0x6C] { return true }
        }
        for b in bytes {
            switch b {
            case 0x7B, 0x7D, 0x2C, 0x22, 0x5C, 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D: return true
            default: continue
            }
        }
        return false
    }
    guard needsQuotes else { return }
    let raw = buffer.getBytes(at: start, length: end - start) ?? []
    buffer.moveWriterIndex(to: start)
    buffer.writeByte(0x22)
    for b in raw {
        if b == 0x22 || b == 0x5C { buffer.writeByte(0x5C) }
        buffer.writeByte(b)
    }
    buffer.writeByte(0x22)
}
