/// Joining record batches of one schema into one, for flat column types.
///
/// Why: DuckDB hands out results in chunks of at most 2048 rows, and after a selective
/// filter most chunks hold a few dozen; sent as they are, every client pays a per-batch cost
/// for each. Joining them costs one copy of the (small) data.
extension RecordBatch {
    /// Whether `concatenate` can join batches of this schema: every column a flat type
    /// (fixed width, boolean, null, or variable-width binary/text), none dictionary-encoded.
    public static func canConcatenate(_ schema: Schema) -> Bool {
        schema.fields.allSatisfy { field in
            guard field.dictionary == nil else { return false }
            switch field.type {
            case .null, .bool, .utf8, .binary, .largeUtf8, .largeBinary: return true
            default: return field.type.fixedByteWidth != nil
            }
        }
    }

    /// The bytes a batch's buffers span (an estimate of its size on the wire).
    public var bufferBytes: Int {
        columns.reduce(0) { $0 + $1.buffers.reduce(0) { $0 + $1.count } }
    }

    /// One batch holding the rows of `batches` in order. Nil when the schema has columns
    /// `canConcatenate` refuses, or 32-bit offsets would overflow.
    public static func concatenate(_ batches: [RecordBatch]) -> RecordBatch? {
        guard let first = batches.first else { return nil }
        guard batches.count > 1 else { return first }
        guard canConcatenate(first.schema) else { return nil }
        var columns: [ArrayData] = []
        columns.reserveCapacity(first.columns.count)
        for (i, field) in first.schema.fields.enumerated() {
            guard let column = concatenateColumn(batches.map { $0.columns[i] }, type: field.type) else { return nil }
            columns.append(column)
        }
        return RecordBatch(schema: first.schema, columns: columns, length: batches.reduce(0) { $0 + $1.length })
    }

    static func concatenateColumn(_ parts: [ArrayData], type: ArrowType) -> ArrayData? {
        let length = parts.reduce(0) { $0 + $1.length }
        let nullCount = parts.reduce(0) { $0 + $1.nullCount }
        switch type {
        case .null:
            return ArrayData(type: type, length: length, nullCount: length, buffers: [])
        case .bool:
            return ArrayData(type: type, length: length, nullCount: nullCount,
                             buffers: [validity(parts, length: length, nullCount: nullCount),
                                       bits(parts, length: length, buffer: 1)])
        case .utf8, .binary:
            guard let (offsets, data) = variableWidth(parts, length: length, offset: Int32.self) else { return nil }
            return ArrayData(type: type, length: length, nullCount: nullCount,
                             buffers: [validity(parts, length: length, nullCount: nullCount), offsets, data])
        case .largeUtf8, .largeBinary:
            guard let (offsets, data) = variableWidth(parts, length: length, offset: Int64.self) else { return nil }
            return ArrayData(type: type, length: length, nullCount: nullCount,
                             buffers: [validity(parts, length: length, nullCount: nullCount), offsets, data])
        default:
            guard let width = type.fixedByteWidth else { return nil }
            let storage = OwnedBytes(uninitialized: max(length * width, 1))
            var at = 0
            for part in parts where part.length > 0 {
                let n = part.length * width
                (storage.pointer + at).copyMemory(from: part.buffers[1].base! + part.offset * width, byteCount: n)
                at += n
            }
            return ArrayData(type: type, length: length, nullCount: nullCount,
                             buffers: [validity(parts, length: length, nullCount: nullCount),
                                       Buffer(base: UnsafeRawPointer(storage.pointer), count: length * width, owner: storage)])
        }
    }

    /// The joined validity bitmap; empty (no nulls) when no part has a null.
    static func validity(_ parts: [ArrayData], length: Int, nullCount: Int) -> Buffer {
        guard nullCount > 0 else { return .empty }
        return bits(parts, length: length, buffer: 0)
    }

    /// Bit-packed buffer `buffer` of each part, joined; a part without it counts as all ones
    /// (a validity bitmap left out because the part has no nulls).
    static func bits(_ parts: [ArrayData], length: Int, buffer: Int) -> Buffer {
        let byteCount = (length + 7) / 8
        let storage = OwnedBytes(zeroed: byteCount)
        let out = storage.pointer.assumingMemoryBound(to: UInt8.self)
        var at = 0
        for part in parts where part.length > 0 {
            let source = part.buffers[buffer]
            if source.count == 0 {
                for i in 0..<part.length { out[(at + i) >> 3] |= 1 << UInt8((at + i) & 7) }
            } else if at & 7 == 0 && part.offset & 7 == 0 {
                // Both sides start on a byte: whole bytes, then the tail bits.
                let whole = part.length / 8
                (storage.pointer + at / 8).copyMemory(from: source.base! + part.offset / 8, byteCount: whole)
                for i in (whole * 8)..<part.length where source.bit(part.offset + i) {
                    out[(at + i) >> 3] |= 1 << UInt8((at + i) & 7)
                }
            } else {
                for i in 0..<part.length where source.bit(part.offset + i) {
                    out[(at + i) >> 3] |= 1 << UInt8((at + i) & 7)
                }
            }
            at += part.length
        }
        return Buffer(base: UnsafeRawPointer(storage.pointer), count: byteCount, owner: storage)
    }

    /// Joined offsets (rebased to start at 0 and run on across parts) and value bytes.
    static func variableWidth<Offset: FixedWidthInteger>(
        _ parts: [ArrayData], length: Int, offset: Offset.Type
    ) -> (Buffer, Buffer)? {
        let width = MemoryLayout<Offset>.size
        var dataBytes = 0
        for part in parts where part.length > 0 {
            let start = Int(part.buffers[1].load(at: part.offset * width, as: Offset.self))
            let end = Int(part.buffers[1].load(at: (part.offset + part.length) * width, as: Offset.self))
            dataBytes += end - start
        }
        guard dataBytes <= Int(Offset.max) else { return nil }
        let offsets = OwnedBytes(uninitialized: (length + 1) * width)
        let data = OwnedBytes(uninitialized: max(dataBytes, 1))
        let out = offsets.pointer.assumingMemoryBound(to: Offset.self)
        out[0] = 0
        var row = 0, base = 0
        for part in parts where part.length > 0 {
            let source = part.buffers[1]
            let start = Int(source.load(at: part.offset * width, as: Offset.self))
            for i in 1...part.length {
                let value = Int(source.load(at: (part.offset + i) * width, as: Offset.self))
                out[row + i] = Offset(base + value - start)
            }
            let end = Int(source.load(at: (part.offset + part.length) * width, as: Offset.self))
            if end > start {
                (data.pointer + base).copyMemory(from: part.buffers[2].base! + start, byteCount: end - start)
            }
            row += part.length
            base += end - start
        }
        return (Buffer(base: UnsafeRawPointer(offsets.pointer), count: (length + 1) * width, owner: offsets),
                Buffer(base: UnsafeRawPointer(data.pointer), count: dataBytes, owner: data))
    }
}
