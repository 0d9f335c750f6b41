import Arrow
import TestSupport
import XCTest

/// Truncated, corrupted and hostile input must throw `ArrowError`, never trap, and whatever
/// does decode must be safe to read through the accessors.
final class IPCMalformedInputTests: XCTestCase {
    // MARK: - Streams cut or corrupted

    func testEveryTruncationThrowsUnlessAtAMessageBoundary() throws {
        let batch = IPCSliceTests.sliceBatch(IPCRoundTripTests.everyTypeBatch(), 1, 2)
        var writer = IPCStreamWriter(schema: batch.schema)
        var stream = writer.schemaMessage().encapsulated()
        var boundaries: Set<Int> = [stream.count]
        // One round holds every message kind: schema, dictionary batches, record batch.
        for message in try writer.messages(for: batch) {
            stream += message.encapsulated()
            boundaries.insert(stream.count)
        }
        stream += IPCStreamWriter.endOfStream
        boundaries.insert(stream.count)

        let whole = Buffer(copying: stream)
        for cut in 0..<stream.count {
            let prefix = whole.slice(0, cut)
            do {
                var reader = try IPCStreamReader(bytes: prefix)
                let batches = try reader.readAll()
                XCTAssertTrue(boundaries.contains(cut), "cut at \(cut) inside a message was accepted")
                batches.forEach(Logical.touchAll)
            } catch let error as ArrowError {
                XCTAssertFalse(boundaries.contains(cut) && cut > 0, "cut at boundary \(cut) rejected: \(error)")
            }
        }
    }

    func testRandomCorruptionNeverTraps() throws {
        let batch = IPCRoundTripTests.everyTypeBatch()
        let stream = try IPCStreamWriter.serialize(schema: batch.schema, batches: [batch, IPCSliceTests.sliceBatch(batch, 1, 3)])
        var rng = SplitMix(seed: 7)
        var rejected = 0
        let rounds = 2000
        for _ in 0..<rounds {
            var corrupt = stream
            for _ in 0...(rng.next() % 3) {
                let at = Int(rng.next() % UInt64(corrupt.count))
                let choices: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x01, UInt8(truncatingIfNeeded: rng.next())]
                corrupt[at] = choices[Int(rng.next() % UInt64(choices.count))]
            }
            do {
                var reader = try IPCStreamReader(bytes: corrupt)
                try reader.readAll().forEach(Logical.touchAll)
            } catch is ArrowError {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 0, "corruption should be noticed at least sometimes")
    }

    func testGarbageThrows() {
        var rng = SplitMix(seed: 99)
        for length in [0, 1, 3, 4, 7, 8, 9, 16, 64, 1000] {
            for _ in 0..<50 {
                let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                XCTAssertThrowsError(try { var r = try IPCStreamReader(bytes: bytes); _ = try r.readAll() }())
            }
        }
        // Continuation marker followed by huge or negative sizes.
        XCTAssertThrowsError(try IPCStreamReader(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))
        XCTAssertThrowsError(try IPCStreamReader(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x80]))
        XCTAssertThrowsError(try IPCStreamReader(bytes: IPCStreamWriter.endOfStream), "no schema")
    }

    func testStreamMustStartWithSchema() throws {
        let batch = Make.batch([Field("a", .int(bitWidth: 32, signed: true))], [Make.fixed(.int(bitWidth: 32, signed: true), [Int32(1)])])
        var writer = IPCStreamWriter(schema: batch.schema)
        let body = try writer.messages(for: batch)[0].encapsulated()
        XCTAssertThrowsError(try IPCStreamReader(bytes: body))
        // A second schema in the middle of a stream is rejected too.
        let schema = writer.schemaMessage().encapsulated()
        var reader = try IPCStreamReader(bytes: schema + schema + body)
        XCTAssertThrowsError(try reader.next())
    }

    func testExcessiveNestingIsRejected() throws {
        var type = ArrowType.int(bitWidth: 32, signed: true)
        for _ in 0..<80 { type = .list(Field("item", type)) }
        let schema = Schema([Field("deep", type)])
        let message = IPCStreamWriter(schema: schema).schemaMessage()
        XCTAssertThrowsError(try IPCStreamReader(bytes: message.encapsulated() + IPCStreamWriter.endOfStream))
    }

    // MARK: - Hand-crafted record batches

    private let int32 = ArrowType.int(bitWidth: 32, signed: true)

    /// Decodes one hand-built record batch for a one-column schema.
    private func decode(_ field: Field, length: Int64, nodes: [(Int64, Int64)], buffers: [(Int64, Int64)],
                        body: [UInt8], version: Int16 = 4, compressed: Bool = false) throws -> RecordBatch {
        var decoder = try IPCMessageDecoder(schema: Schema([field]))
        let metadata = Hand.recordBatch(length: length, nodes: nodes, buffers: buffers, bodyLength: Int64(body.count),
                                        version: version, compressed: compressed)
        guard case .recordBatch(let batch) = try decoder.decode(metadata: metadata, body: body) else {
            throw ArrowError.invalidIPC("not a batch")
        }
        return batch
    }

    func testHandBuiltBatchDecodes() throws {
        // Sanity check of the hand builder: int32 [1, null, 3].
        let body: [UInt8] = [0b101, 0, 0, 0, 0, 0, 0, 0] + le(Int32(1), Int32(0), Int32(3)) + [0, 0, 0, 0]
        let batch = try decode(Field("a", int32), length: 3, nodes: [(3, 1)], buffers: [(0, 1), (8, 12)], body: body)
        XCTAssertEqual(batch.columns[0].value(0, as: Int32.self), 1)
        XCTAssertTrue(batch.columns[0].isNull(1))
        XCTAssertEqual(batch.columns[0].value(2, as: Int32.self), 3)
    }

    func testInconsistentNodesAndBuffersThrow() {
        let field = Field("a", int32)
        let body = [UInt8](repeating: 0, count: 16)
        // null count above length
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 3)], buffers: [(0, 1), (8, 8)], body: body))
        // buffer past the body
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 0)], buffers: [(0, 0), (8, 16)], body: body))
        // offset overflow
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 0)], buffers: [(0, 0), (.max, 8)], body: body))
        // values buffer too short for the length
        XCTAssertThrowsError(try decode(field, length: 3, nodes: [(3, 0)], buffers: [(0, 0), (0, 8)], body: body))
        // validity too short while nulls are claimed
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 1)], buffers: [(0, 0), (0, 8)], body: body))
        // missing node / missing buffer
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [], buffers: [(0, 0), (0, 8)], body: body))
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 0)], buffers: [(0, 0)], body: body))
        // column length differs from the batch length
        XCTAssertThrowsError(try decode(field, length: 1, nodes: [(2, 0)], buffers: [(0, 0), (0, 8)], body: body))
        // body shorter than the message says
        XCTAssertThrowsError(try {
            var decoder = try IPCMessageDecoder(schema: Schema([field]))
            _ = try decoder.decode(metadata: Hand.recordBatch(length: 0, nodes: [(0, 0)], buffers: [(0, 0), (0, 0)], bodyLength: 64),
                                   body: [UInt8](repeating: 0, count: 8))
        }())
        // compressed bodies and pre-V4 metadata are not supported
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 0)], buffers: [(0, 0), (0, 8)], body: body, compressed: true))
        XCTAssertThrowsError(try decode(field, length: 2, nodes: [(2, 0)], buffers: [(0, 0), (0, 8)], body: body, version: 2))
    }

    func testBadOffsetsThrow() {
        let field = Field("s", .utf8)
        func strings(_ offsets: [Int32], data: Int) throws -> RecordBatch {
            let offsetBytes = le(offsets)
            let body = offsetBytes + [UInt8](repeating: 0x61, count: data)
            return try decode(field, length: Int64(offsets.count - 1), nodes: [(Int64(offsets.count - 1), 0)],
                              buffers: [(0, 0), (0, Int64(offsetBytes.count)), (Int64(offsetBytes.count), Int64(data))], body: body)
        }
        XCTAssertNoThrow(try strings([0, 1, 3], data: 3))
        XCTAssertEqual(try strings([0, 1, 3], data: 3).columns[0].string(1), "aa")
        XCTAssertThrowsError(try strings([0, 3, 1], data: 3), "descending")
        XCTAssertThrowsError(try strings([0, 1, 4], data: 3), "past the data")
        XCTAssertThrowsError(try strings([-1, 1, 2], data: 3), "negative")
        XCTAssertThrowsError(try strings([0, 1, Int32.max], data: 3))

        // list<int32> whose offsets reach past the child
        let listField = Field("l", .list(Field("item", int32)))
        let body = le(Int32(0), Int32(2), Int32(5)) + [0, 0, 0, 0] + le(Int32(1), Int32(2), Int32(3), Int32(4))
        XCTAssertThrowsError(try decode(listField, length: 2, nodes: [(2, 0), (4, 0)],
                                        buffers: [(0, 0), (0, 12), (0, 0), (16, 16)], body: body))
        XCTAssertNoThrow(try decode(listField, length: 2, nodes: [(2, 0), (5, 0)],
                                    buffers: [(0, 0), (0, 12), (0, 0), (16, 20)], body: body + [0, 0, 0, 0]))
        // struct child shorter than the struct
        let structField = Field("st", .struct([Field("x", int32)]))
        XCTAssertThrowsError(try decode(structField, length: 3, nodes: [(3, 0), (2, 0)],
                                        buffers: [(0, 0), (0, 0), (0, 8)], body: [UInt8](repeating: 0, count: 8)))
    }

    func testBadUnionsThrow() throws {
        let dense = Field("u", .union(mode: .dense, typeIds: [3, 4], children: [Field("a", int32), Field("b", int32)]))
        func denseBatch(ids: [Int8], offsets: [Int32]) throws -> RecordBatch {
            let idBytes = ids.map { UInt8(bitPattern: $0) } + [UInt8](repeating: 0, count: 8 - ids.count)
            let offsetBytes = le(offsets)
            let body = idBytes + offsetBytes + [UInt8](repeating: 0, count: IPCTestPadding.padded(offsetBytes.count) - offsetBytes.count)
                + le(Int32(10), Int32(20))
            let child = Int64(idBytes.count + IPCTestPadding.padded(4 * offsets.count))
            return try decode(dense, length: Int64(ids.count), nodes: [(Int64(ids.count), 0), (1, 0), (1, 0)],
                              buffers: [(0, Int64(ids.count)), (8, Int64(4 * offsets.count)), (0, 0), (child, 4), (0, 0), (child + 4, 4)],
                              body: body)
        }
        let ok = try denseBatch(ids: [3, 4], offsets: [0, 0])
        XCTAssertEqual(ok.columns[0].children[1].value(0, as: Int32.self), 20)
        XCTAssertThrowsError(try denseBatch(ids: [3, 5], offsets: [0, 0]), "unknown type id")
        XCTAssertThrowsError(try denseBatch(ids: [3, -1], offsets: [0, 0]), "negative type id")
        XCTAssertThrowsError(try denseBatch(ids: [3, 4], offsets: [0, 1]), "offset past the child")
        XCTAssertThrowsError(try denseBatch(ids: [3, 4], offsets: [-1, 0]), "negative offset")
    }

    /// Metadata V4 unions carry a validity buffer before the type ids.
    func testV4SparseUnionSkipsValidity() throws {
        let sparse = Field("u", .union(mode: .sparse, typeIds: [0, 1], children: [Field("a", int32), Field("b", .bool)]))
        let body: [UInt8] = [0, 1, 0, 0, 0, 0, 0, 0] + le(Int32(5), Int32(6)) + [0b10, 0, 0, 0, 0, 0, 0, 0]
        let batch = try decode(sparse, length: 2, nodes: [(2, 0), (2, 0), (2, 0)],
                               buffers: [(0, 0), (0, 2), (0, 0), (8, 8), (0, 0), (16, 1)], body: body, version: 3)
        XCTAssertEqual(batch.columns[0].children[0].value(0, as: Int32.self), 5)
        XCTAssertTrue(batch.columns[0].children[1].bool(1))
    }

    func testDeltaDictionaryIsReportedUnsupported() throws {
        let field = Field("d", .utf8, dictionary: DictionaryEncoding(id: 3, indexType: int32))
        var decoder = try IPCMessageDecoder(schema: Schema([field]))
        let body = le(Int32(0), Int32(1)) + [0x61, 0, 0, 0, 0, 0, 0, 0]
        let delta = Hand.dictionaryBatch(id: 3, isDelta: true, length: 1, nodes: [(1, 0)], buffers: [(0, 0), (0, 8), (8, 1)], bodyLength: 16)
        XCTAssertThrowsError(try decoder.decode(metadata: delta, body: body)) { error in
            XCTAssertEqual(error as? ArrowError, .unsupportedType("delta dictionary batches"))
        }
        let unknownId = Hand.dictionaryBatch(id: 4, isDelta: false, length: 1, nodes: [(1, 0)], buffers: [(0, 0), (0, 8), (8, 1)], bodyLength: 16)
        XCTAssertThrowsError(try decoder.decode(metadata: unknownId, body: body))
        let replacement = Hand.dictionaryBatch(id: 3, isDelta: false, length: 1, nodes: [(1, 0)], buffers: [(0, 0), (0, 8), (8, 1)], bodyLength: 16)
        guard case .dictionary(let id) = try decoder.decode(metadata: replacement, body: body) else { return XCTFail("expected a dictionary") }
        XCTAssertEqual(id, 3)
    }
}

enum IPCTestPadding {
    static func padded(_ n: Int) -> Int { (n + 7) / 8 * 8 }
}

/// Little-endian bytes of integers.
func le<T: FixedWidthInteger>(_ values: T...) -> [UInt8] { le(values) }
func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out: [UInt8] = []
    for v in values { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    return out
}

/// Message.fbs tables written by hand from the spec, independently of the library's encoder.
enum Hand {
    static func recordBatchTable(_ b: inout FlatBufferBuilder, length: Int64, nodes: [(Int64, Int64)], buffers: [(Int64, Int64)], compressed: Bool) -> FlatBufferOffset {
        let nodeVector = b.createStructVector(nodes)
        let bufferVector = b.createStructVector(buffers)
        var compression: FlatBufferOffset?
        if compressed {
            b.startTable()
            b.add(0, Int8(0))  // LZ4_FRAME
            compression = b.endTable()
        }
        b.startTable()
        b.add(0, length)
        b.add(1, nodeVector)
        b.add(2, bufferVector)
        if let compression { b.add(3, compression) }
        return b.endTable()
    }

    static func message(_ b: inout FlatBufferBuilder, type: UInt8, header: FlatBufferOffset, bodyLength: Int64, version: Int16) -> [UInt8] {
        b.startTable()
        b.add(0, version)
        b.add(1, type)
        b.add(2, header)
        b.add(3, bodyLength)
        return b.finish(root: b.endTable())
    }

    static func recordBatch(length: Int64, nodes: [(Int64, Int64)], buffers: [(Int64, Int64)], bodyLength: Int64,
                            version: Int16 = 4, compressed: Bool = false) -> [UInt8] {
        var b = FlatBufferBuilder()
        let table = recordBatchTable(&b, length: length, nodes: nodes, buffers: buffers, compressed: compressed)
        return message(&b, type: 3, header: table, bodyLength: bodyLength, version: version)
    }

    static func dictionaryBatch(id: Int64, isDelta: Bool, length: Int64, nodes: [(Int64, Int64)], buffers: [(Int64, Int64)], bodyLength: Int64) -> [UInt8] {
        var b = FlatBufferBuilder()
        let data = recordBatchTable(&b, length: length, nodes: nodes, buffers: buffers, compressed: false)
        b.startTable()
        b.add(0, id)
        b.add(1, data)
        b.add(2, isDelta)
        let header = b.endTable()
        return message(&b, type: 2, header: header, bodyLength: bodyLength, version: 4)
    }
}
