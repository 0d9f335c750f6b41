import Arrow
import NIOCore

// Values PostgreSQL has no type for (STRUCT, MAP, UNION, nested lists, BIT, ...) are sent as
// text, spelled exactly the way DuckDB casts them to VARCHAR, so that a PostgreSQL client sees
// what DuckDB's own clients see.

extension DuckNode {
    /// Whether the value at `row` is SQL NULL (for unions: the active member is NULL).
    func isNull(_ array: ArrayData, _ row: Int) -> Bool {
        switch self {
        case .union(let table, let children, let dense):
            guard let (child, childRow) = unionMember(array, row, table: table, dense: dense), child < children.count else {
                return true
            }
            return children[child].isNull(array.children[child], childRow)
        case .leaf(.null):
            return true
        default:
            return !array.isValid(row)
        }
    }

    /// The child position and child row of a union slot.
    private func unionMember(_ array: ArrayData, _ row: Int, table: [Int], dense: Bool) -> (Int, Int)? {
        let typeId = Int(array.buffers[0].load(at: array.offset + row, as: Int8.self))
        guard typeId >= 0 && typeId < table.count else { return nil }
        let child = table[typeId]
        guard child >= 0 && child < array.children.count else { return nil }
        let childRow = dense ? Int(array.buffers[1].load(at: (array.offset + row) * 4, as: Int32.self)) : array.offset + row
        return (child, childRow)
    }

    /// Writes the value at `row` (which must not be NULL at the top level). `quoteIfNeeded` is
    /// set for scalar values directly inside a list, struct or map.
    func render(_ array: ArrayData, _ row: Int, quoteIfNeeded: Bool, into buffer: inout ByteBuffer) {
        switch self {
        case .leaf(let leaf):
            let start = buffer.writerIndex
            leaf.render(array, row, into: &buffer)
            if quoteIfNeeded && !leaf.neverQuoted { duckDBQuoteIfNeeded(from: start, in: &buffer) }
        case .dictionary(let inner):
            guard let values = array.dictionary?.values else { return }
            let start = buffer.writerIndex
            inner.render(values, array.dictionaryIndex(row), quoteIfNeeded: false, into: &buffer)
            if quoteIfNeeded && !inner.isNested { duckDBQuoteIfNeeded(from: start, in: &buffer) }
        case .list(let element):
            let child = array.children[0]
            buffer.writeByte(0x5B)
            var first = true
            let quote = !element.isNested
            for i in array.valueRange(row) {
                if !first { buffer.writeStaticString(", ") }
                first = false
                element.renderOrNull(child, i, quoteIfNeeded: quote, into: &buffer)
            }
            buffer.writeByte(0x5D)
        case .struct(let names, let children, let unnamed):
            let childRow = array.offset + row
            buffer.writeByte(unnamed ? 0x28 : 0x7B)
            for (k, node) in children.enumerated() {
                if k > 0 { buffer.writeStaticString(", ") }
                if !unnamed {
                    writeDuckDBQuoted(names[k], into: &buffer)
                    buffer.writeStaticString(": ")
                }
                node.renderOrNull(array.children[k], childRow, quoteIfNeeded: !node.isNested, into: &buffer)
            }
            buffer.writeByte(unnamed ? 0x29 : 0x7D)
        case .map(let key, let value):
            let entries = array.children[0]
            let keys = entries.children[0]
            let values = entries.children[1]
            buffer.writeByte(0x7B)
            var first = true
            for j in array.valueRange(row) {
                if !first { buffer.writeStaticString(", ") }
                first = false
                let e = entries.offset + j
                key.renderOrNull(keys, e, quoteIfNeeded: !key.isNested, into: &buffer)
                buffer.writeByte(0x3D)
                value.renderOrNull(values, e, quoteIfNeeded: !value.isNested, into: &buffer)
            }
            buffer.writeByte(0x7D)
        case .union(let table, let children, let dense):
            guard let (child, childRow) = unionMember(array, row, table: table, dense: dense), child < children.count else {
                buffer.writeStaticString("NULL")
                return
            }
            // DuckDB treats a union as nested: its member's text is never quoted.
            children[child].renderOrNull(array.children[child], childRow, quoteIfNeeded: false, into: &buffer)
        }
    }

    func renderOrNull(_ array: ArrayData, _ row: Int, quoteIfNeeded: Bool, into buffer: inout ByteBuffer) {
        if isNull(array, row) {
            buffer.writeStaticString("NULL")
        } else {
            render(array, row, quoteIfNeeded: quoteIfNeeded, into: &buffer)
        }
    }
}

extension DuckLeaf {
    func render(_ array: ArrayData, _ row: Int, into buffer: inout ByteBuffer) {
        switch self {
        case .null:
            buffer.writeStaticString("NULL")
        case .bool:
            buffer.writeStaticString(array.bool(row) ? "true" : "false")
        case .bool8:
            buffer.writeStaticString(array.value(row, as: UInt8.self) != 0 ? "true" : "false")
        case .int(let src):
            if src == .u64 {
                buffer.writeDecimal(array.value(row, as: UInt64.self))
            } else {
                buffer.writeDecimal(array.int64(row, src))
            }
        case .float32:
            buffer.writeFloat(array.float32(row), style: .duckdb)
        case .float64:
            buffer.writeFloat(array.float64(row), style: .duckdb)
        case .decimal(let src, let scale):
            let (negative, magnitude) = array.exact(row, src)
            buffer.writeScaledDecimal(magnitude: magnitude, negative: negative, scale: scale)
        case .bignum:
            if let (negative, digits) = bignumDecimalDigits(array.slot(row)) {
                if negative { buffer.writeByte(asciiMinus) }
                buffer.writeBytes(digits)
            }
        case .string:
            buffer.writeBytes(array.slot(row))
        case .blob:
            let bytes: UnsafeRawBufferPointer
            if case .fixedSizeBinary(let w) = array.type {
                bytes = UnsafeRawBufferPointer(rebasing: array.buffers[1].bytes[((array.offset + row) * w)..<((array.offset + row + 1) * w)])
            } else {
                bytes = array.slot(row)
            }
            writeDuckDBBlob(bytes, into: &buffer)
        case .bit:
            writeDuckDBBit(array.slot(row), into: &buffer)
        case .date32:
            buffer.writeDate(days: array.dateDays(row, date64: false), style: .duckdb)
        case .date64:
            buffer.writeDate(days: array.dateDays(row, date64: true), style: .duckdb)
        case .time(let unit):
            if unit == .nanosecond {
                buffer.writeTimeOfDay(nanos: array.rawInt64(row))
            } else {
                buffer.writeTimeOfDay(micros: array.timeMicros(row, unit))
            }
        case .timeTZBits:
            // dtime_tz_t: micros << 24 | (MAX_OFFSET - offset), offsets in seconds east of UTC.
            let bits = UInt64(bitPattern: array.rawInt64(row))
            let micros = Int64(bits >> 24)
            let offset = Int32(57_599) - Int32(bits & 0xFF_FFFF)
            buffer.writeTimeOfDay(micros: micros)
            buffer.writeZoneOffset(secondsEast: offset)
        case .timestamp(let unit, let zone):
            let raw = array.rawInt64(row)
            if unit == .nanosecond && raw != Int64.max && raw != -Int64.max && raw != Int64.min {
                let (s, f) = floorDivMod(raw, 1_000_000_000)
                buffer.writeTimestamp(seconds: s, fraction: UInt64(f), fractionDigits: 9, withZone: zone, style: .duckdb)
            } else {
                buffer.writeTimestamp(micros: array.timestampMicros(row, unit), withZone: zone, style: .duckdb)
            }
        case .interval(let unit):
            let p = array.intervalParts(row, unit)
            buffer.writeDuckDBInterval(months: p.months, days: p.days, micros: p.micros)
        case .uuidBytes:
            buffer.writeUUID(array.fixed16(row))
        case .wkb:
            var reader = WKBReader(bytes: array.slot(row))
            if !reader.writeWKT(into: &buffer) {
                buffer.writeStaticString("<invalid WKB>")
            }
        }
    }
}

/// Well-known binary to DuckDB's well-known text ("POINT (1 2)", "POLYGON ((0 0, 1 0, 1 1, 0 0))").
struct WKBReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    var littleEndian = true

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func uint32() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return littleEndian ? UInt32(littleEndian: v) : UInt32(bigEndian: v)
    }

    mutating func double() -> Double? {
        guard position + 8 <= bytes.count else { return nil }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return Double(bitPattern: littleEndian ? UInt64(littleEndian: v) : UInt64(bigEndian: v))
    }

    /// Writes one geometry; false if the bytes are not valid WKB.
    mutating func writeWKT(into buffer: inout ByteBuffer, depth: Int = 0) -> Bool {
        guard depth < 32, position < bytes.count else { return false }
        littleEndian = bytes[position] == 1
        position += 1
        guard var code = uint32() else { return false }
        var hasZ = false
        var hasM = false
        // EWKB flags, then ISO dimension thousands.
        if code & 0x8000_0000 != 0 { hasZ = true }
        if code & 0x4000_0000 != 0 { hasM = true }
        if code & 0x2000_0000 != 0 { position += 4 }  // SRID
        code &= 0x0FFF_FFFF
        switch code / 1000 {
        case 1: hasZ = true
        case 2: hasM = true
        case 3: hasZ = true; hasM = true
        default: break
        }
        let kind = code % 1000
        let dims = 2 + (hasZ ? 1 : 0) + (hasM ? 1 : 0)
        let names: [UInt32: StaticString] = [1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION"]
        guard let name = names[kind] else { return false }
        buffer.writeStaticString(name)
        if hasZ && hasM { buffer.writeStaticString(" ZM") } else if hasZ { buffer.writeStaticString(" Z") } else if hasM { buffer.writeStaticString(" M") }
        func coordinates(_ r: inout WKBReader, _ b: inout ByteBuffer) -> Bool {
            for k in 0..<dims {
                guard let v = r.double() else { return false }
                if k > 0 { b.writeByte(0x20) }
                b.writeRaw(max: 32) { out in
                    let start = out.count
                    out.float(v, style: .duckdb)
                    // WKT leaves whole numbers without ".0".
                    if out.count - start >= 2, out.base.load(fromByteOffset: out.count - 2, as: UInt8.self) == 0x2E,
                       out.base.load(fromByteOffset: out.count - 1, as: UInt8.self) == asciiZero {
                        out.count -= 2
                    }
                }
            }
            return true
        }
        func points(_ r: inout WKBReader, _ b: inout ByteBuffer) -> Bool {
            guard let n = r.uint32(), Int(n) <= r.bytes.count else { return false }
            if n == 0 { b.writeStaticString(" EMPTY"); return true }
            b.writeStaticString(" (")
            for i in 0..<n {
                if i > 0 { b.writeStaticString(", ") }
                guard coordinates(&r, &b) else { return false }
            }
            b.writeByte(0x29)
            return true
        }
        switch kind {
        case 1:
            let start = position
            var allNaN = true
            for _ in 0..<dims {
                guard let v = double() else { return false }
                if !v.isNaN { allNaN = false }
            }
            if allNaN {
                buffer.writeStaticString(" EMPTY")
                return true
            }
            position = start
            buffer.writeStaticString(" (")
            guard coordinates(&self, &buffer) else { return false }
            buffer.writeByte(0x29)
            return true
        case 2:
            return points(&self, &buffer)
        case 3:
            guard let rings = uint32(), Int(rings) <= bytes.count else { return false }
            if rings == 0 { buffer.writeStaticString(" EMPTY"); return true }
            buffer.writeStaticString(" (")
            for i in 0..<rings {
                if i > 0 { buffer.writeStaticString(", ") }
                // A ring is written like a line string's point list, without the keyword.
                guard let n = uint32(), Int(n) <= bytes.count else { return false }
                buffer.writeByte(0x28)
                for j in 0..<n {
                    if j > 0 { buffer.writeStaticString(", ") }
                    guard coordinates(&self, &buffer) else { return false }
                }
                buffer.writeByte(0x29)
            }
            buffer.writeByte(0x29)
            return true
        default:
            guard let n = uint32(), Int(n) <= bytes.count else { return false }
            if n == 0 { buffer.writeStaticString(" EMPTY"); return true }
            buffer.writeStaticString(" (")
            for i in 0..<n {
                if i > 0 { buffer.writeStaticString(", ") }
                // Members carry their own header; multi-geometries print them without keywords.
                var member = ByteBufferAllocator().buffer(capacity: 64)
                guard writeWKT(into: &member, depth: depth + 1) else { return false }
                var text = member.readableBytesView[...]
                if kind != 7 {
                    // "POINT (1 2)" → "1 2" for MULTIPOINT; "LINESTRING (…)" → "(…)" otherwise.
                    guard let open = text.firstIndex(of: 0x28) else { return false }
                    text = kind == 4 ? text[(open + 1)..<(text.endIndex - 1)] : text[open...]
                }
                buffer.writeBytes(text)
            }
            buffer.writeByte(0x29)
            return true
        }
    }
}

/// DuckDB's BLOB → VARCHAR: printable ASCII as is, everything else (and `\`, `'`, `"`) as `\xHH`.
func writeDuckDBBlob(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
    for b in bytes {
        if b >= 0x20 && b <= 0x7E && b != 0x5C && b != 0x27 && b != 0x22 {
            buffer.writeByte(b)
        } else {
            buffer.writeByte(0x5C)
            buffer.writeByte(0x78)
            buffer.writeByte(hexDigitsUpper[Int(b >> 4)])
            buffer.writeByte(hexDigitsUpper[Int(b & 0xF)])
        }
    }
}

/// DuckDB's BIT: a padding-count byte, then the bits most significant first; the first
/// `padding` bits of the first data byte are filler.
func writeDuckDBBit(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
    guard bytes.count >= 1 else { return }
    let padding = Int(bytes[0])
    let total = (bytes.count - 1) * 8
    guard padding <= total else { return }
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total - padding) { out in
        var n = 0
        for bit in padding..<total {
            let byte = bytes[1 + bit / 8]
            out[n] = (byte >> (7 - UInt8(bit % 8))) & 1 == 1 ? 0x31 : 0x30
            n += 1
        }
        return n
    }
}

/// Characters that make DuckDB quote a string inside a nested value.
private let duckDBSpecial: [Bool] = {
    var t = [Bool](repeating: false, count: 256)
    for c in "\"'(),:=[]{}".utf8 { t[Int(c)] = true }
    return t
}()

@inline(__always)
private func isCSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

/// DuckDB's quoting of scalar text inside lists, struct values and maps: single quotes when
/// the text is empty, starts or ends with white space, is "null" in any case, or contains one
/// of `"'(),:=[]{}`; inside the quotes `'` and `\` are escaped with `\`.
func duckDBQuoteIfNeeded(from start: Int, in buffer: inout ByteBuffer) {
    let end = buffer.writerIndex
    let needsQuotes: Bool = buffer.withVeryUnsafeBytes { all in
        let bytes = UnsafeRawBufferPointer(rebasing: all[start..<end])
        if bytes.isEmpty { return true }
        if isCSpace(bytes[0]) { return true }
        if bytes.count >= 2 && isCSpace(bytes[bytes.count - 1]) { return true }
        if bytes.count == 4 && (bytes[0] | 0x20) == 0x6E && (bytes[1] | 0x20) == 0x75
            && (bytes[2] | 0x20) == 0x6C && (bytes[3] | 0x20) == 0x6C {
            return true
        }
        for b in bytes where duckDBSpecial[Int(b)] { return true }
        return false
    }
    guard needsQuotes else { return }
    let raw = buffer.getBytes(at: start, length: end - start) ?? []
    buffer.moveWriterIndex(to: start)
    writeDuckDBQuoted(raw, into: &buffer)
}

func writeDuckDBQuoted<C: Sequence>(_ bytes: C, into buffer: inout ByteBuffer) where C.Element == UInt8 {
    buffer.writeByte(0x27)
    for b in bytes {
        if b == 0x27 || b == 0x5C { buffer.writeByte(0x5C) }
        buffer.writeByte(b)
    }
    buffer.writeByte(0x27)
}

func writeDuckDBQuoted(_ s: String, into buffer: inout ByteBuffer) {
    writeDuckDBQuoted(s.utf8, into: &buffer)
}
