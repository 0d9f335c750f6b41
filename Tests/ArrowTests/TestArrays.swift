import Arrow
import XCTest

/// Hand-built arrays for the IPC tests: each helper takes Swift values with nil for NULL and
/// lays them out as the Arrow format does.
enum Make {
    static func bitmap(_ bits: [Bool]) -> Buffer {
        var bytes = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (i, bit) in bits.enumerated() where bit { bytes[i / 8] |= 1 << UInt8(i % 8) }
        return Buffer(copying: bytes)
    }

    /// Validity buffer and null count; an empty buffer when nothing is null.
    static func validity(_ valid: [Bool]) -> (Buffer, Int) {
        let nulls = valid.filter { !$0 }.count
        return (nulls == 0 ? .empty : bitmap(valid), nulls)
    }

    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> Buffer {
        var out: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        return Buffer(copying: out)
    }

    static func fixed<T: FixedWidthInteger>(_ type: ArrowType, _ values: [T?]) -> ArrayData {
        let (validity, nulls) = validity(values.map { $0 != nil })
        return ArrayData(type: type, length: values.count, nullCount: nulls,
                         buffers: [validity, bytes(values.map { $0 ?? 0 })])
    }

    static func float32(_ values: [Float?]) -> ArrayData {
        fixed(.float32, values.map { $0?.bitPattern })
    }

    static func float64(_ values: [Double?]) -> ArrayData {
        fixed(.float64, values.map { $0?.bitPattern })
    }

    /// Fixed-width slots given as raw bytes (decimals, intervals, fixed size binary).
    static func rawFixed(_ type: ArrowType, width: Int, _ values: [[UInt8]?]) -> ArrayData {
        let (validity, nulls) = validity(values.map { $0 != nil })
        var data: [UInt8] = []
        for v in values { data.append(contentsOf: v ?? [UInt8](repeating: 0, count: width)) }
        return ArrayData(type: type, length: values.count, nullCount: nulls, buffers: [validity, Buffer(copying: data)])
    }

    static func bools(_ values: [Bool?]) -> ArrayData {
        let (validity, nulls) = validity(values.map { $0 != nil })
        return ArrayData(type: .bool, length: values.count, nullCount: nulls,
                         buffers: [validity, bitmap(values.map { $0 ?? false })])
    }

    static func binaryLike(_ type: ArrowType, _ values: [[UInt8]?]) -> ArrayData {
        let (validity, nulls) = validity(values.map { $0 != nil })
        var data: [UInt8] = []
        var offsets = [0]
        for v in values {
            data.append(contentsOf: v ?? [])
            offsets.append(data.count)
        }
        let large: Bool
        switch type {
        case .largeUtf8, .largeBinary: large = true
        default: large = false
        }
        let offsetBuffer = large ? bytes(offsets.map { Int64($0) }) : bytes(offsets.map { Int32($0) })
        return ArrayData(type: type, length: values.count, nullCount: nulls,
                         buffers: [validity, offsetBuffer, Buffer(copying: data)])
    }

    static func strings(_ values: [String?], large: Bool = false) -> ArrayData {
        binaryLike(large ? .largeUtf8 : .utf8, values.map { $0.map { Array($0.utf8) } })
    }

    /// A list-like array (list, large list, map) over `child` with the given offsets.
    static func list(_ type: ArrowType, offsets: [Int], valid: [Bool], child: ArrayData) -> ArrayData {
        let (validity, nulls) = validity(valid)
        let offsetBuffer: Buffer
        if case .largeList = type {
            offsetBuffer = bytes(offsets.map { Int64($0) })
        } else {
            offsetBuffer = bytes(offsets.map { Int32($0) })
        }
        return ArrayData(type: type, length: valid.count, nullCount: nulls,
                         buffers: [validity, offsetBuffer], children: [child])
    }

    static func nested(_ type: ArrowType, valid: [Bool], children: [ArrayData]) -> ArrayData {
        let (validity, nulls) = validity(valid)
        return ArrayData(type: type, length: valid.count, nullCount: nulls, buffers: [validity], children: children)
    }

    static func sparseUnion(_ type: ArrowType, typeIds: [Int8], children: [ArrayData]) -> ArrayData {
        ArrayData(type: type, length: typeIds.count, nullCount: 0, buffers: [bytes(typeIds)], children: children)
    }

    static func denseUnion(_ type: ArrowType, typeIds: [Int8], offsets: [Int32], children: [ArrayData]) -> ArrayData {
        ArrayData(type: type, length: typeIds.count, nullCount: 0, buffers: [bytes(typeIds), bytes(offsets)], children: children)
    }

    static func dictionary(indices: [Int32?], values: ArrayData, valueType: ArrowType) -> ArrayData {
        var array = fixed(.int(bitWidth: 32, signed: true), indices)
        array.dictionary = DictionaryArray(valueType: valueType, values: values)
        return array
    }

    static func batch(_ fields: [Field], _ columns: [ArrayData], metadata: [KeyValue] = []) -> RecordBatch {
        RecordBatch(schema: Schema(fields, metadata: metadata), columns: columns, length: columns.first?.length ?? 0)
    }
}

/// A logical view of array slots through the `ArrayAccess` accessors, so that equality does
/// not depend on offsets, padding or whether a buffer was copied.
enum Logical {
    /// nil when slot `i` of `x` equals slot `j` of `y`, else where they differ.
    static func difference(_ x: ArrayData, _ i: Int, _ y: ArrayData, _ j: Int, _ path: String) -> String? {
        guard x.type == y.type else { return "\(path): type \(x.type) vs \(y.type)" }
        if case .union = x.type {} else {
            guard x.isNull(i) == y.isNull(j) else { return "\(path): null \(x.isNull(i)) vs \(y.isNull(j))" }
            if x.isNull(i) { return nil }
        }
        if let dx = x.dictionary {
            guard let dy = y.dictionary else { return "\(path): dictionary missing" }
            return difference(dx.values, x.dictionaryIndex(i), dy.values, y.dictionaryIndex(j), path + ".dict")
        }
        switch x.type {
        case .null:
            return nil
        case .bool:
            return x.bool(i) == y.bool(j) ? nil : "\(path): \(x.bool(i)) vs \(y.bool(j))"
        case .utf8, .largeUtf8, .binary, .largeBinary:
            return Array(x.bytes(i)) == Array(y.bytes(j)) ? nil : "\(path): bytes \(Array(x.bytes(i))) vs \(Array(y.bytes(j)))"
        case .list, .largeList, .map, .fixedSizeList:
            let rx = x.valueRange(i), ry = y.valueRange(j)
            guard rx.count == ry.count else { return "\(path): list of \(rx.count) vs \(ry.count)" }
            for (a, b) in zip(rx, ry) {
                if let d = difference(x.children[0], a, y.children[0], b, "\(path)[\(a - rx.lowerBound)]") { return d }
            }
            return nil
        case .struct(let fields):
            for k in fields.indices {
                if let d = difference(x.children[k], x.offset + i, y.children[k], y.offset + j, "\(path).\(fields[k].name)") { return d }
            }
            return nil
        case .union(let mode, let typeIds, _):
            let (cx, sx) = unionSlot(x, i, mode: mode, typeIds: typeIds)
            let (cy, sy) = unionSlot(y, j, mode: mode, typeIds: typeIds)
            guard cx == cy else { return "\(path): union child \(cx) vs \(cy)" }
            return difference(x.children[cx], sx, y.children[cy], sy, "\(path).u\(cx)")
        default:
            return Array(x.fixedBytes(i)) == Array(y.fixedBytes(j)) ? nil : "\(path): fixed bytes differ"
        }
    }

    static func unionSlot(_ a: ArrayData, _ i: Int, mode: ArrowType.UnionMode, typeIds: [Int32]) -> (child: Int, slot: Int) {
        let id = Int32(a.buffers[0].load(at: a.offset + i, as: Int8.self))
        let child = typeIds.firstIndex(of: id) ?? -1
        let slot = mode == .dense ? Int(a.buffers[1].load(at: (a.offset + i) * 4, as: Int32.self)) : a.offset + i
        return (child, slot)
    }

    static func assertEqual(_ x: ArrayData, _ y: ArrayData, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(x.length, y.length, "\(name): length", file: file, line: line)
        for i in 0..<min(x.length, y.length) {
            if let d = difference(x, i, y, i, "\(name)[\(i)]") {
                XCTFail(d, file: file, line: line)
                return
            }
        }
    }

    static func assertEqual(_ x: RecordBatch, _ y: RecordBatch, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(x.schema, y.schema, file: file, line: line)
        XCTAssertEqual(x.length, y.length, file: file, line: line)
        XCTAssertEqual(x.columns.count, y.columns.count, file: file, line: line)
        for (k, (a, b)) in zip(x.columns, y.columns).enumerated() {
            assertEqual(a, b, x.schema.fields[k].name, file: file, line: line)
        }
    }

    /// Reads every slot of every column (used on decoded fuzz output: must not trap).
    static func touchAll(_ batch: RecordBatch) {
        for column in batch.columns {
            for i in 0..<column.length { _ = difference(column, i, column, i, "") }
        }
    }
}

extension XCTestCase {
    /// Writes `batches` as a stream and reads them back.
    func roundTrip(_ batches: [RecordBatch], file: StaticString = #filePath, line: UInt = #line) throws -> [RecordBatch] {
        let schema = try XCTUnwrap(batches.first?.schema, file: file, line: line)
        let bytes = try IPCStreamWriter.serialize(schema: schema, batches: batches)
        var reader = try IPCStreamReader(bytes: bytes)
        XCTAssertEqual(reader.schema, schema, file: file, line: line)
        return try reader.readAll()
    }
}
