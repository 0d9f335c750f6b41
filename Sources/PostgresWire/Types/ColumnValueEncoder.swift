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
    public func encode(_ array: ArrayData, row: Int, into buffer: inout ByteBuffer) {
        if plan.isNull(array, row) {
            buffer.writeInteger(Int32(-1))
            return
        }
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        if format == .text {
            plan.writeText(array, row, into: &buffer)
        } else {
            plan.writeBinary(array, row, into: &buffer)
        }
        buffer.setInteger(Int32(truncatingIfNeeded: buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
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

    /// The 16 bytes of a fixed-size binary slot.
    func fixed16(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffers[1].bytes[((offset + i) * 16)..<((offset + i + 1) * 16)])
    }
}

/// Parses a canonical UUID text into its 16 bytes.
func parseUUIDBytes(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
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

extension ValuePlan {
    @inline(__always)
    func isNull(_ array: ArrayData, _ row: Int) -> Bool {
        if case .duckdb(let node) = self { return node.isNull(array, row) }
        return !array.isValid(row)
    }

    func writeText(_ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer) {
        switch self {
        case .bool:
            buffer.writeByte(array.bool(row) ? 0x74 : 0x66)
        case .bool8:
            buffer.writeByte(array.value(row, as: UInt8.self) != 0 ? 0x74 : 0x66)
        case .int(let src, _):
            if src == .u64 {
                buffer.writeDecimal(array.value(row, as: UInt64.self))
            } else {
                buffer.writeDecimal(array.int64(row, src))
            }
        case .float4:
            buffer.writeFloat(array.float32(row), style: .postgresFloat4)
        case .float8:
            buffer.writeFloat(array.float64(row), style: .postgresFloat8)
        case .numeric(let src, let scale):
            let (negative, magnitude) = array.exact(row, src)
            buffer.writeScaledDecimal(magnitude: magnitude, negative: negative, scale: scale)
        case .bignum:
            if let (negative, digits) = bignumDecimalDigits(array.bytes(row)) {
                if negative { buffer.writeByte(asciiMinus) }
                buffer.writeBytes(digits)
            } else {
                buffer.writeStaticString("NaN")
            }
        case .string:
            buffer.writeBytes(array.bytes(row))
        case .bytea:
            buffer.writeByteaHex(array.bytes(row))
        case .date32, .date64:
            buffer.writeDate(days: array.dateDays(row, date64: isDate64), style: .postgres)
        case .time(let unit):
            buffer.writeTimeOfDay(micros: array.timeMicros(row, unit))
        case .timestamp(let unit, let zone):
            buffer.writeTimestamp(micros: array.timestampMicros(row, unit), withZone: zone, style: .postgres)
        case .interval(let unit):
            let p = array.intervalParts(row, unit)
            buffer.writePostgresInterval(months: p.months, days: p.days, micros: p.micros)
        case .uuidText:
            // DuckDB renders UUIDs canonically (lower case, hyphenated) already.
            buffer.writeBytes(array.bytes(row))
        case .uuidBytes:
            buffer.writeUUID(array.fixed16(row))
        case .dictionary(let inner):
            guard let values = array.dictionary?.values else { return }
            inner.writeText(values, array.dictionaryIndex(row), into: &buffer)
        case .array(let element, _, _):
            writeArrayText(element, array, row, into: &buffer)
        case .duckdb(let node):
            node.render(array, row, quoteIfNeeded: false, into: &buffer)
        }
    }

    var isDate64: Bool { if case .date64 = self { return true } else { return false } }

    func writeBinary(_ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer) {
        switch self {
        case .bool:
            buffer.writeByte(array.bool(row) ? 1 : 0)
        case .bool8:
            buffer.writeByte(array.value(row, as: UInt8.self) != 0 ? 1 : 0)
        case .int(let src, let target):
            let v = array.int64(row, src)
            switch target {
            case .int2: buffer.writeInteger(Int16(truncatingIfNeeded: v))
            case .int4: buffer.writeInteger(Int32(truncatingIfNeeded: v))
            case .int8: buffer.writeInteger(v)
            }
        case .float4:
            buffer.writeInteger(array.float32(row).bitPattern)
        case .float8:
            buffer.writeInteger(array.float64(row).bitPattern)
        case .numeric(let src, let scale):
            let (negative, magnitude) = array.exact(row, src)
            buffer.writeNumericBinary(magnitude: magnitude, negative: negative, scale: scale)
        case .bignum:
            if let (negative, digits) = bignumDecimalDigits(array.bytes(row)) {
                digits.withUnsafeBufferPointer { buffer.writeNumericBinary(digits: $0, negative: negative, scale: 0) }
            } else {
                buffer.writeNumericSpecial(numericNaN)
            }
        case .string, .bytea:
            buffer.writeBytes(array.bytes(row))
        case .date32, .date64:
            let days = array.dateDays(row, date64: isDate64)
            if days == duckDBDateInfinity {
                buffer.writeInteger(Int32.max)
            } else if days == duckDBDateNegInfinity || days == Int32.min {
                buffer.writeInteger(Int32.min)
            } else {
                buffer.writeInteger(Int32(clamping: Int64(days) - postgresEpochDays))
            }
        case .time(let unit):
            buffer.writeInteger(array.timeMicros(row, unit))
        case .timestamp(let unit, _):
            let us = array.timestampMicros(row, unit)
            if us == duckDBTimestampInfinity {
                buffer.writeInteger(Int64.max)
            } else if us == duckDBTimestampNegInfinity {
                buffer.writeInteger(Int64.min)
            } else {
                buffer.writeInteger(us - postgresEpochMicros)
            }
        case .interval(let unit):
            let p = array.intervalParts(row, unit)
            buffer.writeInteger(p.micros)
            buffer.writeInteger(p.days)
            buffer.writeInteger(p.months)
        case .uuidText:
            withUnsafeTemporaryAllocation(byteCount: 16, alignment: 1) { out -> Void in
                if parseUUIDBytes(array.bytes(row), into: out) {
                    buffer.writeBytes(UnsafeRawBufferPointer(out))
                } else {
                    buffer.writeRepeatingByte(0, count: 16)
                }
            }
        case .uuidBytes:
            buffer.writeBytes(array.fixed16(row))
        case .dictionary(let inner):
            guard let values = array.dictionary?.values else { return }
            inner.writeBinary(values, array.dictionaryIndex(row), into: &buffer)
        case .array(let element, let elementType, _):
            writeArrayBinary(element, elementType, array, row, into: &buffer)
        case .duckdb(let node):
            node.render(array, row, quoteIfNeeded: false, into: &buffer)
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
        buffer.writeInteger(Int32(range.isEmpty ? 0 : 1))  // ndim
        buffer.writeInteger(Int32(hasNull ? 1 : 0))
        buffer.writeInteger(elementType.oid)
        guard !range.isEmpty else { return }
        buffer.writeInteger(Int32(range.count))  // dimension length
        buffer.writeInteger(Int32(1))  // lower bound
        for i in range {
            if element.isNull(child, i) {
                buffer.writeInteger(Int32(-1))
                continue
            }
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(Int32(0))
            element.writeBinary(child, i, into: &buffer)
            buffer.setInteger(Int32(truncatingIfNeeded: buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
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
