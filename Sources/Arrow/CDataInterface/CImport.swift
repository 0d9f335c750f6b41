import CArrowABI

/// Import of C Data Interface structures (as exported by DuckDB) into the Swift model
/// without copying any buffer: the resulting `ArrayData` points into the producer's memory
/// and keeps it alive through an owner that calls the producer's `release` exactly once.
public enum CDataImport {
    /// Reads an `ArrowSchema` describing a record batch (format "+s") into a `Schema`.
    /// The caller keeps ownership of `schema` (and must release it).
    public static func importSchema(_ schema: UnsafePointer<ArrowSchema>) throws -> Schema {
        var nextDictionaryID: Int64 = 0
        let root = try importField(schema, nextDictionaryID: &nextDictionaryID, depth: 0)
        guard case .struct(let fields) = root.type else {
            throw ArrowError.invalidFormat("a record batch schema must be a struct, got \(root.type)")
        }
        return Schema(fields, metadata: root.metadata)
    }

    /// Takes ownership of `array` (moved out of the caller's struct, which is marked released)
    /// and returns the record batch it holds, typed by `schema`.
    public static func importRecordBatch(_ array: UnsafeMutablePointer<ArrowArray>, schema: Schema) throws -> RecordBatch {
        let owner = ReleasedArrayOwner(moving: array)
        let root = owner.array
        guard root.pointee.n_children == Int64(schema.fields.count) else {
            throw ArrowError.invalidFormat("batch has \(root.pointee.n_children) columns, schema \(schema.fields.count)")
        }
        var columns: [ArrayData] = []
        columns.reserveCapacity(schema.fields.count)
        for (i, field) in schema.fields.enumerated() {
            guard let child = root.pointee.children?[i] else { throw ArrowError.invalidFormat("missing column \(i)") }
            columns.append(try importArray(child, field: field, owner: owner, depth: 0))
        }
        return RecordBatch(schema: schema, columns: columns, length: Int(root.pointee.length))
    }

    // MARK: - Schema

    private static func importField(
        _ s: UnsafePointer<ArrowSchema>, nextDictionaryID: inout Int64, depth: Int
    ) throws -> Field {
        guard depth < 64 else { throw ArrowError.invalidFormat("nesting too deep") }
        let p = s.pointee
        guard let formatPtr = p.format else { throw ArrowError.invalidFormat("missing format") }
        let format = String(cString: formatPtr)
        let name = p.name.map { String(cString: $0) } ?? ""
        let metadata = p.metadata.map { decodeMetadata(UnsafeRawPointer($0)) } ?? []
        // Dictionary ids are handed out in pre-order, the order IPC readers expect them.
        var dictionary: DictionaryEncoding?
        var valueType: ArrowType?
        if let dict = p.dictionary {
            let id = nextDictionaryID
            nextDictionaryID += 1
            let valueField = try importField(dict, nextDictionaryID: &nextDictionaryID, depth: depth + 1)
            let indexType = try FormatString.parse(format, children: [])
            guard case .int = indexType else { throw ArrowError.invalidFormat("dictionary index type \(format)") }
            dictionary = DictionaryEncoding(id: id, indexType: indexType, ordered: p.flags & Int64(ARROW_FLAG_DICTIONARY_ORDERED) != 0)
            valueType = valueField.type
        }
        var children: [Field] = []
        for i in 0..<Int(p.n_children) {
            guard let c = p.children?[i] else { throw ArrowError.invalidFormat("missing child \(i) of \(name)") }
            children.append(try importField(c, nextDictionaryID: &nextDictionaryID, depth: depth + 1))
        }
        var type = try valueType ?? FormatString.parse(format, children: children)
        if case .map(let entries, _) = type {
            type = .map(entries: entries, keysSorted: p.flags & Int64(ARROW_FLAG_MAP_KEYS_SORTED) != 0)
        }
        return Field(name, type, nullable: p.flags & Int64(ARROW_FLAG_NULLABLE) != 0, metadata: metadata, dictionary: dictionary)
    }

    /// C Data Interface metadata: int32 count, then (int32 length, bytes) for each key and value.
    static func decodeMetadata(_ raw: UnsafeRawPointer) -> [KeyValue] {
        var pos = 0
        func int32() -> Int {
            defer { pos += 4 }
            return Int(raw.loadUnaligned(fromByteOffset: pos, as: Int32.self))
        }
        func string() -> String {
            let n = int32()
            defer { pos += n }
            return String(decoding: UnsafeRawBufferPointer(start: raw + pos, count: n), as: UTF8.self)
        }
        let count = int32()
        var pairs: [KeyValue] = []
        for _ in 0..<max(count, 0) {
            let k = string()
            pairs.append(KeyValue(k, string()))
        }
        return pairs
    }

    // MARK: - Arrays

    private static func importArray(
        _ a: UnsafeMutablePointer<ArrowArray>, field: Field, owner: ReleasedArrayOwner, depth: Int
    ) throws -> ArrayData {
        var data = try importStorage(a, type: field.storageType, owner: owner, depth: depth)
        if field.dictionary != nil {
            guard let dict = a.pointee.dictionary else { throw ArrowError.invalidFormat("\(field.name): dictionary missing") }
            let values = try importStorage(dict, type: field.type, owner: owner, depth: depth + 1)
            data.dictionary = DictionaryArray(valueType: field.type, values: values)
        }
        return data
    }

    private static func importStorage(
        _ a: UnsafeMutablePointer<ArrowArray>, type: ArrowType, owner: ReleasedArrayOwner, depth: Int
    ) throws -> ArrayData {
        guard depth < 64 else { throw ArrowError.invalidFormat("nesting too deep") }
        let p = a.pointee
        let length = Int(p.length), offset = Int(p.offset)
        let end = offset + length
        let expected = type.bufferCount
        guard p.n_buffers == Int64(expected) else {
            throw ArrowError.invalidFormat("\(type) array has \(p.n_buffers) buffers, expected \(expected)")
        }
        func raw(_ i: Int) -> UnsafeRawPointer? { p.buffers?[i].map { UnsafeRawPointer($0) } }
        func buffer(_ i: Int, _ count: Int) -> Buffer {
            guard let base = raw(i) else { return .empty }
            return Buffer(base: base, count: count, owner: owner)
        }
        let bitmapBytes = (end + 7) / 8
        var buffers: [Buffer] = []
        var children: [ArrayData] = []
        switch type {
        case .null:
            break
        case .bool:
            buffers = [buffer(0, bitmapBytes), buffer(1, bitmapBytes)]
        case .utf8, .binary, .largeUtf8, .largeBinary:
            let wide = type == .largeUtf8 || type == .largeBinary
            let offsets = buffer(1, (length == 0 && raw(1) == nil) ? 0 : (end + 1) * (wide ? 8 : 4))
            let dataCount: Int
            if offsets.count == 0 {
                dataCount = 0
            } else if wide {
                dataCount = Int(offsets.load(at: end * 8, as: Int64.self))
            } else {
                dataCount = Int(offsets.load(at: end * 4, as: Int32.self))
            }
            buffers = [buffer(0, bitmapBytes), offsets, buffer(2, dataCount)]
        case .list(let child), .largeList(let child), .map(let child, _):
            let wide: Bool = { if case .largeList = type { return true } else { return false } }()
            buffers = [buffer(0, bitmapBytes), buffer(1, (end + 1) * (wide ? 8 : 4))]
            children = [try importChild(a, 0, child, owner, depth)]
        case .fixedSizeList(let child, _):
            buffers = [buffer(0, bitmapBytes)]
            children = [try importChild(a, 0, child, owner, depth)]
        case .struct(let fields):
            buffers = [buffer(0, bitmapBytes)]
            for (i, f) in fields.enumerated() { children.append(try importChild(a, i, f, owner, depth)) }
        case .union(let mode, _, let fields):
            buffers = [buffer(0, end)]
            if mode == .dense { buffers.append(buffer(1, end * 4)) }
            for (i, f) in fields.enumerated() { children.append(try importChild(a, i, f, owner, depth)) }
        default:
            guard let width = type.fixedByteWidth else { throw ArrowError.unsupportedType("\(type)") }
            buffers = [buffer(0, bitmapBytes), buffer(1, end * width)]
        }
        var nullCount = Int(p.null_count)
        if nullCount < 0 {
            // -1 means "not computed by the producer"; count it once here.
            nullCount = 0
            if case .null = type { nullCount = length } else if buffers.first.map({ $0.count > 0 }) == true {
                for i in offset..<end where !buffers[0].bit(i) { nullCount += 1 }
            }
        }
        return ArrayData(type: type, length: length, nullCount: nullCount, offset: offset, buffers: buffers, children: children)
    }

    private static func importChild(
        _ parent: UnsafeMutablePointer<ArrowArray>, _ i: Int, _ field: Field, _ owner: ReleasedArrayOwner, _ depth: Int
    ) throws -> ArrayData {
        guard Int(parent.pointee.n_children) > i, let child = parent.pointee.children?[i] else {
            throw ArrowError.invalidFormat("missing child \(i) for \(field.name)")
        }
        return try importArray(child, field: field, owner: owner, depth: depth + 1)
    }
}

/// Owns a moved C `ArrowArray` and releases it when the last Swift view of it goes away.
final class ReleasedArrayOwner: @unchecked Sendable {
    let array: UnsafeMutablePointer<ArrowArray>

    init(moving source: UnsafeMutablePointer<ArrowArray>) {
        array = .allocate(capacity: 1)
        array.initialize(to: source.pointee)
        // The C Data Interface's move semantics: the source no longer owns the data.
        source.pointee.release = nil
    }

    deinit {
        tavana_arrow_array_release(array)
        array.deallocate()
    }
}
