import CArrowABI
import Foundation

/// Export of the Swift model to C Data Interface structures, for a consumer such as DuckDB's
/// Arrow reader. No buffer is copied: the C structs point into the Swift buffers, which stay
/// alive until the consumer calls `release` (on each struct it was given, children included
/// unless it moved them out, as the interface allows).
public enum CDataExport {
    /// Fills `out` with the schema of a record batch (a struct, format "+s").
    public static func exportSchema(_ schema: Schema, into out: UnsafeMutablePointer<ArrowSchema>) {
        let root = Field("", .struct(schema.fields), nullable: false, metadata: schema.metadata)
        exportField(root, into: out)
    }

    /// Fills `out` with rows `start ..< start + count` of `batch` as a struct array (the
    /// columns keep their buffers; only offsets and lengths change).
    public static func exportRecordBatch(
        _ batch: RecordBatch, rows start: Int = 0, count: Int? = nil, into out: UnsafeMutablePointer<ArrowArray>
    ) {
        let count = count ?? (batch.length - start)
        precondition(start >= 0 && count >= 0 && start + count <= batch.length, "slice outside the batch")
        let columns = batch.columns.map { column -> ArrayData in
            var sliced = column
            sliced.offset += start
            sliced.length = count
            // The count of nulls in a slice is unknown without a scan; -1 says so.
            if start != 0 || count != column.length { sliced.nullCount = -1 }
            return sliced
        }
        let root = ArrayData(type: .struct(batch.schema.fields), length: count, nullCount: 0,
                             buffers: [.empty], children: columns)
        exportArray(root, into: out)
    }

    // MARK: - Schema

    static func exportField(_ field: Field, into out: UnsafeMutablePointer<ArrowSchema>) {
        let node = SchemaNode()
        var flags: Int64 = 0
        if field.nullable { flags |= Int64(ARROW_FLAG_NULLABLE) }
        let children: [Field]
        if let encoding = field.dictionary {
            // The field's own format is the index type; the values hang off `dictionary`.
            node.format = strdup(FormatString.make(encoding.indexType))
            if encoding.ordered { flags |= Int64(ARROW_FLAG_DICTIONARY_ORDERED) }
            let dictionary = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
            exportField(Field("", field.type, nullable: true), into: dictionary)
            node.dictionary = dictionary
            children = []
        } else {
            node.format = strdup(FormatString.make(field.type))
            if case .map(_, true) = field.type { flags |= Int64(ARROW_FLAG_MAP_KEYS_SORTED) }
            children = field.type.children
        }
        node.name = strdup(field.name)
        node.metadata = encodeMetadata(field.metadata)
        node.children = children.map { child in
            let pointer = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
            exportField(child, into: pointer)
            return pointer
        }
        node.childPointers = node.children.isEmpty ? nil : .allocate(capacity: node.children.count)
        for (i, child) in node.children.enumerated() { node.childPointers![i] = child }
        out.initialize(to: ArrowSchema(
            format: node.format, name: node.name, metadata: node.metadata.map { UnsafePointer($0) },
            flags: flags, n_children: Int64(node.children.count), children: node.childPointers,
            dictionary: node.dictionary, release: releaseSchema,
            private_data: Unmanaged.passRetained(node).toOpaque()))
    }

    /// C Data Interface metadata: int32 pair count, then int32 length + bytes for each key and value.
    static func encodeMetadata(_ pairs: [KeyValue]) -> UnsafeMutablePointer<CChar>? {
        guard !pairs.isEmpty else { return nil }
        var bytes: [UInt8] = []
        func int32(_ n: Int) { withUnsafeBytes(of: Int32(n).littleEndian) { bytes += $0 } }
        int32(pairs.count)
        for pair in pairs {
            for text in [pair.key, pair.value] {
                let utf8 = Array(text.utf8)
                int32(utf8.count)
                bytes += utf8
            }
        }
        let out = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        bytes.withUnsafeBytes { UnsafeMutableRawPointer(out).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return out
    }

    // MARK: - Arrays

    static func exportArray(_ data: ArrayData, into out: UnsafeMutablePointer<ArrowArray>) {
        let node = ArrayNode()
        node.keepAlive = data.buffers
        let pointers = UnsafeMutablePointer<UnsafeRawPointer?>.allocate(capacity: max(data.buffers.count, 1))
        for (i, buffer) in data.buffers.enumerated() {
            if buffer.count > 0 {
                pointers[i] = buffer.bytes.baseAddress
            } else if i == 0 && data.type.hasValidityBuffer {
                pointers[i] = nil  // no validity bitmap: no nulls
            } else {
                // Empty offsets/values: consumers may still read offset 0, so never NULL.
                pointers[i] = UnsafeRawPointer(zeros)
            }
        }
        node.buffers = pointers
        node.children = data.children.map { child in
            let pointer = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
            exportArray(child, into: pointer)
            return pointer
        }
        node.childPointers = node.children.isEmpty ? nil : .allocate(capacity: node.children.count)
        for (i, child) in node.children.enumerated() { node.childPointers![i] = child }
        if let dictionary = data.dictionary {
            let pointer = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
            exportArray(dictionary.values, into: pointer)
            node.dictionary = pointer
        }
        out.initialize(to: ArrowArray(
            length: Int64(data.length), null_count: Int64(data.nullCount), offset: Int64(data.offset),
            n_buffers: Int64(data.buffers.count), n_children: Int64(node.children.count),
            buffers: UnsafeMutablePointer(OpaquePointer(pointers)), children: node.childPointers,
            dictionary: node.dictionary, release: releaseArray,
            private_data: Unmanaged.passRetained(node).toOpaque()))
    }

    /// Stands in for empty buffers (16 zero bytes, enough for one int64 offset pair).
    nonisolated(unsafe) static let zeros: UnsafeMutableRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        return p
    }()
}

/// What one exported `ArrowSchema` owns; freed by its release callback.
final class SchemaNode {
    var format: UnsafeMutablePointer<CChar>?
    var name: UnsafeMutablePointer<CChar>?
    var metadata: UnsafeMutablePointer<CChar>?
    var children: [UnsafeMutablePointer<ArrowSchema>] = []
    var childPointers: UnsafeMutablePointer<UnsafeMutablePointer<ArrowSchema>?>?
    var dictionary: UnsafeMutablePointer<ArrowSchema>?

    deinit {
        free(format)
        free(name)
        metadata?.deallocate()
        for child in children {
            tavana_arrow_schema_release(child)  // no-op if the consumer moved it out
            child.deallocate()
        }
        childPointers?.deallocate()
        if let dictionary {
            tavana_arrow_schema_release(dictionary)
            dictionary.deallocate()
        }
    }
}

/// What one exported `ArrowArray` owns: its pointer tables, its children, and references
/// that keep the Swift buffers (and the memory behind them) alive.
final class ArrayNode {
    var keepAlive: [Buffer] = []
    var buffers: UnsafeMutablePointer<UnsafeRawPointer?>?
    var children: [UnsafeMutablePointer<ArrowArray>] = []
    var childPointers: UnsafeMutablePointer<UnsafeMutablePointer<ArrowArray>?>?
    var dictionary: UnsafeMutablePointer<ArrowArray>?

    deinit {
        buffers?.deallocate()
        for child in children {
            tavana_arrow_array_release(child)
            child.deallocate()
        }
        childPointers?.deallocate()
        if let dictionary {
            tavana_arrow_array_release(dictionary)
            dictionary.deallocate()
        }
    }
}

private let releaseSchema: @convention(c) (UnsafeMutablePointer<ArrowSchema>?) -> Void = { schema in
    guard let schema, let node = schema.pointee.private_data else { return }
    schema.pointee.release = nil
    schema.pointee.private_data = nil
    Unmanaged<SchemaNode>.fromOpaque(node).release()
}

private let releaseArray: @convention(c) (UnsafeMutablePointer<ArrowArray>?) -> Void = { array in
    guard let array, let node = array.pointee.private_data else { return }
    array.pointee.release = nil
    array.pointee.private_data = nil
    Unmanaged<ArrayNode>.fromOpaque(node).release()
}

extension ArrowType {
    /// Whether buffer 0 of this type is a validity bitmap (unions and null have none).
    var hasValidityBuffer: Bool {
        switch self {
        case .null, .union: return false
        default: return true
        }
    }
}

extension FormatString {
    /// The C Data Interface format string of a type (the inverse of `parse`).
    static func make(_ type: ArrowType) -> String {
        func unit(_ u: ArrowType.TimeUnit) -> String {
            switch u {
            case .second: return "s"
            case .millisecond: return "m"
            case .microsecond: return "u"
            case .nanosecond: return "n"
            }
        }
        switch type {
        case .null: return "n"
        case .bool: return "b"
        case .int(8, true): return "c"
        case .int(8, false): return "C"
        case .int(16, true): return "s"
        case .int(16, false): return "S"
        case .int(32, true): return "i"
        case .int(32, false): return "I"
        case .int(_, true): return "l"
        case .int(_, false): return "L"
        case .float16: return "e"
        case .float32: return "f"
        case .float64: return "g"
        case .decimal(let p, let s, let bits): return bits == 128 ? "d:\(p),\(s)" : "d:\(p),\(s),\(bits)"
        case .utf8: return "u"
        case .largeUtf8: return "U"
        case .binary: return "z"
        case .largeBinary: return "Z"
        case .fixedSizeBinary(let w): return "w:\(w)"
        case .date32: return "tdD"
        case .date64: return "tdm"
        case .time32(let u), .time64(let u): return "tt" + unit(u)
        case .timestamp(let u, let tz): return "ts" + unit(u) + ":" + (tz ?? "")
        case .duration(let u): return "tD" + unit(u)
        case .interval(.yearMonth): return "tiM"
        case .interval(.dayTime): return "tiD"
        case .interval(.monthDayNano): return "tin"
        case .list: return "+l"
        case .largeList: return "+L"
        case .fixedSizeList(_, let size): return "+w:\(size)"
        case .struct: return "+s"
        case .map: return "+m"
        case .union(let mode, let ids, _):
            return (mode == .dense ? "+ud:" : "+us:") + ids.map(String.init).joined(separator: ",")
        case .utf8View: return "vu"
        case .binaryView: return "vz"
        case .listView: return "+vl"
        case .largeListView: return "+vL"
        }
    }
}
