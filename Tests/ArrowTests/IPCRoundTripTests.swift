import Arrow
import XCTest

/// Write → read round trips of hand-built batches covering every supported type, each column
/// holding NULLs. Values are compared slot by slot through the `ArrayAccess` accessors.
final class IPCRoundTripTests: XCTestCase {
    private static func i32(_ v: [Int32?]) -> ArrayData { Make.fixed(.int(bitWidth: 32, signed: true), v) }

    /// One column per type; every column has 4 rows with at least one NULL.
    static func everyTypeBatch() -> RecordBatch {
        var fields: [Field] = []
        var columns: [ArrayData] = []
        func add(_ field: Field, _ column: ArrayData) {
            fields.append(field)
            columns.append(column)
        }
        add(Field("null", .null), ArrayData(type: .null, length: 4, nullCount: 4, buffers: []))
        add(Field("bool", .bool), Make.bools([true, nil, false, true]))
        add(Field("i8", .int(bitWidth: 8, signed: true)), Make.fixed(.int(bitWidth: 8, signed: true), [Int8(1), nil, -128, 127]))
        add(Field("i16", .int(bitWidth: 16, signed: true)), Make.fixed(.int(bitWidth: 16, signed: true), [Int16(-2), nil, .min, .max]))
        add(Field("i32", .int(bitWidth: 32, signed: true)), i32([3, nil, .min, .max]))
        add(Field("i64", .int(bitWidth: 64, signed: true)), Make.fixed(.int(bitWidth: 64, signed: true), [Int64(-4), nil, .min, .max]))
        add(Field("u8", .int(bitWidth: 8, signed: false)), Make.fixed(.int(bitWidth: 8, signed: false), [UInt8(5), nil, 0, .max]))
        add(Field("u16", .int(bitWidth: 16, signed: false)), Make.fixed(.int(bitWidth: 16, signed: false), [UInt16(6), nil, 0, .max]))
        add(Field("u32", .int(bitWidth: 32, signed: false)), Make.fixed(.int(bitWidth: 32, signed: false), [UInt32(7), nil, 0, .max]))
        add(Field("u64", .int(bitWidth: 64, signed: false)), Make.fixed(.int(bitWidth: 64, signed: false), [UInt64(8), nil, 0, .max]))
        add(Field("f16", .float16), Make.fixed(.float16, [UInt16(0x3C00), nil, 0xC000, 0x7C00]))
        add(Field("f32", .float32), Make.float32([1.5, nil, -0.0, .infinity]))
        add(Field("f64", .float64), Make.float64([2.25, nil, -1e300, .pi]))
        for (bits, precision) in [(32, 9), (64, 18), (128, 38), (256, 76)] {
            let width = bits / 8
            let type = ArrowType.decimal(precision: precision, scale: 2, bitWidth: bits)
            add(Field("dec\(bits)", type), Make.rawFixed(type, width: width, [
                // Top byte 0 keeps the value within the precision (pyarrow validates that).
                (0..<width).map { $0 == width - 1 ? 0 : UInt8($0) }, nil, [UInt8](repeating: 0xFF, count: width), [UInt8](repeating: 0, count: width),
            ]))
        }
        add(Field("utf8", .utf8), Make.strings(["a", nil, "", "héllo"]))
        add(Field("large_utf8", .largeUtf8), Make.strings([nil, "big", "ü", ""], large: true))
        add(Field("binary", .binary), Make.binaryLike(.binary, [[0, 1], nil, [], [255]]))
        add(Field("large_binary", .largeBinary), Make.binaryLike(.largeBinary, [[9], [], nil, [1, 2, 3]]))
        add(Field("fsb", .fixedSizeBinary(byteWidth: 3)), Make.rawFixed(.fixedSizeBinary(byteWidth: 3), width: 3, [[1, 2, 3], nil, [4, 5, 6], [0, 0, 0]]))
        add(Field("date32", .date32), Make.fixed(.date32, [Int32(19000), nil, -1, 0]))
        add(Field("date64", .date64), Make.fixed(.date64, [Int64(1_641_600_000_000), nil, 0, -86_400_000]))
        add(Field("time32s", .time32(.second)), Make.fixed(.time32(.second), [Int32(3600), nil, 0, 86399]))
        add(Field("time32ms", .time32(.millisecond)), Make.fixed(.time32(.millisecond), [Int32(1), nil, 0, 86_399_999]))
        add(Field("time64us", .time64(.microsecond)), Make.fixed(.time64(.microsecond), [Int64(1), nil, 0, 86_399_999_999]))
        add(Field("time64ns", .time64(.nanosecond)), Make.fixed(.time64(.nanosecond), [Int64(1), nil, 0, 86_399_999_999_999]))
        let units: [ArrowType.TimeUnit] = [.second, .millisecond, .microsecond, .nanosecond]
        for unit in units {
            for zone in [nil, "UTC", "+07:30", "America/New_York"] as [String?] {
                let type = ArrowType.timestamp(unit, timezone: zone)
                add(Field("ts_\(unit)_\(zone ?? "naive")", type), Make.fixed(type, [Int64(1_700_000_000), nil, -1, 0]))
            }
            add(Field("dur_\(unit)", .duration(unit)), Make.fixed(.duration(unit), [Int64(-5), nil, 0, .max]))
        }
        add(Field("iv_ym", .interval(.yearMonth)), Make.fixed(.interval(.yearMonth), [Int32(13), nil, -1, 0]))
        add(Field("iv_dt", .interval(.dayTime)), Make.fixed(.interval(.dayTime), [Int64(0x0000_0001_0000_0002), nil, 0, -1]))
        add(Field("iv_mdn", .interval(.monthDayNano)), Make.rawFixed(.interval(.monthDayNano), width: 16, [
            [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0], nil, [UInt8](repeating: 0xFE, count: 16), [UInt8](repeating: 0, count: 16),
        ]))

        // list<int32>: [[1, 2], null, [null], [3, 4]]
        let listType = ArrowType.list(Field("item", .int(bitWidth: 32, signed: true)))
        add(Field("list", listType), Make.list(listType, offsets: [0, 2, 2, 3, 5], valid: [true, false, true, true],
                                                 child: i32([1, 2, nil, 3, 4])))
        // large_list<utf8>: [["x"], [], null, ["y", null]]
        let largeListType = ArrowType.largeList(Field("item", .utf8))
        add(Field("large_list", largeListType), Make.list(largeListType, offsets: [0, 1, 1, 1, 3], valid: [true, true, false, true],
                                                            child: Make.strings(["x", "y", nil])))
        // fixed_size_list<int16, 2>: [[1, 2], null, [null, 4], [5, 6]]
        let fslType = ArrowType.fixedSizeList(Field("item", .int(bitWidth: 16, signed: true)), listSize: 2)
        add(Field("fsl", fslType), Make.nested(fslType, valid: [true, false, true, true], children: [
            Make.fixed(.int(bitWidth: 16, signed: true), [Int16(1), 2, 0, 0, nil, 4, 5, 6]),
        ]))
        // struct<a: int32, b: utf8>
        let structType = ArrowType.struct([Field("a", .int(bitWidth: 32, signed: true)), Field("b", .utf8)])
        add(Field("struct", structType), Make.nested(structType, valid: [true, true, false, true], children: [
            i32([1, nil, 0, 4]), Make.strings(["one", "two", nil, nil]),
        ]))
        // map<utf8, int64>: [{k1: 1, k2: null}, null, {}, {k3: 3}]
        let entries = Field("entries", .struct([Field("key", .utf8, nullable: false), Field("value", .int(bitWidth: 64, signed: true))]), nullable: false)
        let mapType = ArrowType.map(entries: entries, keysSorted: false)
        add(Field("map", mapType), Make.list(mapType, offsets: [0, 2, 2, 2, 3], valid: [true, false, true, true], child:
            Make.nested(entries.type, valid: [true, true, true], children: [
                Make.strings(["k1", "k2", "k3"]), Make.fixed(.int(bitWidth: 64, signed: true), [Int64(1), nil, 3]),
            ])))
        // sparse union<i: int32 (id 5), s: utf8 (id 7)>: [5:10, 7:"u", 5:null, 7:null]
        let sparseType = ArrowType.union(mode: .sparse, typeIds: [5, 7], children: [Field("i", .int(bitWidth: 32, signed: true)), Field("s", .utf8)])
        add(Field("sparse", sparseType), Make.sparseUnion(sparseType, typeIds: [5, 7, 5, 7], children: [
            i32([10, 0, nil, 0]), Make.strings([nil, "u", nil, nil]),
        ]))
        // dense union<i: int32 (id 0), d: float64 (id 1)>: [0:10, 1:2.5, 0:null, 1:null]
        let denseType = ArrowType.union(mode: .dense, typeIds: [0, 1], children: [Field("i", .int(bitWidth: 32, signed: true)), Field("d", .float64)])
        add(Field("dense", denseType), Make.denseUnion(denseType, typeIds: [0, 1, 0, 1], offsets: [0, 0, 1, 1], children: [
            i32([10, nil]), Make.float64([2.5, nil]),
        ]))
        // dictionary<int32 → utf8>, a null index and a null value in the dictionary
        let dictField = Field("dict", .utf8, dictionary: DictionaryEncoding(id: 1, indexType: .int(bitWidth: 32, signed: true)))
        add(dictField, Make.dictionary(indices: [0, nil, 2, 1], values: Make.strings(["red", "green", nil]), valueType: .utf8))
        // dictionary<int8 → int64>, ordered
        var small = Make.fixed(.int(bitWidth: 8, signed: true), [Int8(1), 1, nil, 0])
        small.dictionary = DictionaryArray(valueType: .int(bitWidth: 64, signed: true), values: Make.fixed(.int(bitWidth: 64, signed: true), [Int64(100), 200]))
        add(Field("dict8", .int(bitWidth: 64, signed: true), dictionary: DictionaryEncoding(id: 2, indexType: .int(bitWidth: 8, signed: true), ordered: true)), small)
        // list<dictionary<uint16 → utf8>>: [["a", "b"], null, [null], []]
        let innerDict = Field("item", .utf8, dictionary: DictionaryEncoding(id: 3, indexType: .int(bitWidth: 16, signed: false)))
        var inner = Make.fixed(.int(bitWidth: 16, signed: false), [UInt16(0), 1, nil])
        inner.dictionary = DictionaryArray(valueType: .utf8, values: Make.strings(["a", "b"]))
        let dictListType = ArrowType.list(innerDict)
        add(Field("dict_list", dictListType), Make.list(dictListType, offsets: [0, 2, 2, 3, 3], valid: [true, false, true, true], child: inner))
        // struct<tag: dictionary<int64 → utf8>>
        let tagField = Field("tag", .utf8, dictionary: DictionaryEncoding(id: 4, indexType: .int(bitWidth: 64, signed: true)))
        var tags = Make.fixed(.int(bitWidth: 64, signed: true), [Int64(1), nil, 0, 1])
        tags.dictionary = DictionaryArray(valueType: .utf8, values: Make.strings(["p", "q"]))
        let dictStructType = ArrowType.struct([tagField])
        add(Field("dict_struct", dictStructType), Make.nested(dictStructType, valid: [true, true, true, false], children: [tags]))
        // Custom metadata and a non-nullable column.
        add(Field("meta", .int(bitWidth: 32, signed: true), nullable: false, metadata: [KeyValue("unit", "m"), KeyValue("", "empty key")]),
            i32([1, 2, 3, 4]))
        return Make.batch(fields, columns, metadata: [KeyValue("origin", "tavana"), KeyValue("x", "")])
    }

    func testEveryTypeRoundTrips() throws {
        let batch = Self.everyTypeBatch()
        let decoded = try roundTrip([batch])
        XCTAssertEqual(decoded.count, 1)
        let back = try XCTUnwrap(decoded.first)
        Logical.assertEqual(batch, back)

        // Spot checks through the accessors, by name.
        func column(_ name: String) throws -> ArrayData {
            let index = try XCTUnwrap(back.schema.fields.firstIndex { $0.name == name }, name)
            return back.columns[index]
        }
        XCTAssertEqual(back.length, 4)
        XCTAssertTrue(try column("null").isNull(0))
        XCTAssertEqual(try column("bool").bool(0), true)
        XCTAssertTrue(try column("bool").isNull(1))
        XCTAssertEqual(try column("i8").value(2, as: Int8.self), -128)
        XCTAssertEqual(try column("i64").value(3, as: Int64.self), .max)
        XCTAssertEqual(try column("u64").value(3, as: UInt64.self), .max)
        XCTAssertTrue(try column("u32").isNull(1))
        XCTAssertEqual(try column("f32").float32(0), 1.5)
        XCTAssertEqual(try column("f64").float64(3), .pi)
        XCTAssertEqual(try column("f16").value(0, as: UInt16.self), 0x3C00)
        XCTAssertEqual(Array(try column("dec128").fixedBytes(0)), (0..<16).map { $0 == 15 ? 0 : UInt8($0) })
        XCTAssertEqual(try column("dec256").type, .decimal(precision: 76, scale: 2, bitWidth: 256))
        XCTAssertEqual(try column("utf8").string(3), "héllo")
        XCTAssertEqual(try column("utf8").string(2), "")
        XCTAssertTrue(try column("utf8").isNull(1))
        XCTAssertEqual(try column("large_utf8").string(1), "big")
        XCTAssertEqual(Array(try column("binary").bytes(3)), [255])
        XCTAssertEqual(Array(try column("large_binary").bytes(3)), [1, 2, 3])
        XCTAssertEqual(Array(try column("fsb").fixedBytes(2)), [4, 5, 6])
        XCTAssertEqual(try column("date64").value(0, as: Int64.self), 1_641_600_000_000)
        XCTAssertEqual(try column("time64ns").type, .time64(.nanosecond))
        XCTAssertEqual(try column("ts_microsecond_+07:30").type, .timestamp(.microsecond, timezone: "+07:30"))
        XCTAssertEqual(try column("ts_nanosecond_naive").type, .timestamp(.nanosecond, timezone: nil))
        XCTAssertEqual(try column("ts_second_UTC").value(0, as: Int64.self), 1_700_000_000)
        XCTAssertEqual(try column("dur_millisecond").value(3, as: Int64.self), .max)
        XCTAssertEqual(Array(try column("iv_mdn").fixedBytes(0))[8], 3)

        let list = try column("list")
        XCTAssertEqual(list.valueRange(0), 0..<2)
        XCTAssertTrue(list.isNull(1))
        XCTAssertTrue(list.children[0].isNull(2))
        XCTAssertEqual(list.children[0].value(4, as: Int32.self), 4)
        let largeList = try column("large_list")
        XCTAssertEqual(largeList.valueRange(3), 1..<3)
        XCTAssertEqual(largeList.children[0].string(1), "y")
        let fsl = try column("fsl")
        XCTAssertEqual(fsl.valueRange(2), 4..<6)
        XCTAssertTrue(fsl.children[0].isNull(4))
        XCTAssertEqual(fsl.children[0].value(5, as: Int16.self), 4)
        let structColumn = try column("struct")
        XCTAssertTrue(structColumn.isNull(2))
        XCTAssertEqual(structColumn.children[1].string(1), "two")
        XCTAssertTrue(structColumn.children[0].isNull(1))
        let map = try column("map")
        XCTAssertEqual(map.valueRange(0), 0..<2)
        XCTAssertEqual(map.children[0].children[0].string(2), "k3")
        XCTAssertTrue(map.children[0].children[1].isNull(1))
        let sparse = try column("sparse")
        XCTAssertEqual(sparse.buffers[0].load(at: 1, as: Int8.self), 7)
        XCTAssertEqual(sparse.children[1].string(1), "u")
        XCTAssertTrue(sparse.children[0].isNull(2))
        let dense = try column("dense")
        XCTAssertEqual(dense.buffers[1].load(at: 4, as: Int32.self), 0)
        XCTAssertEqual(dense.children[1].float64(0), 2.5)
        let dict = try column("dict")
        let values = try XCTUnwrap(dict.dictionary).values
        XCTAssertEqual(values.string(dict.dictionaryIndex(3)), "green")
        XCTAssertTrue(dict.isNull(1))
        XCTAssertTrue(values.isNull(dict.dictionaryIndex(2)))
        let dict8 = try column("dict8")
        XCTAssertEqual(try XCTUnwrap(dict8.dictionary).values.value(dict8.dictionaryIndex(0), as: Int64.self), 200)
        let dictList = try column("dict_list").children[0]
        XCTAssertEqual(try XCTUnwrap(dictList.dictionary).values.string(dictList.dictionaryIndex(1)), "b")
        let tagsBack = try column("dict_struct").children[0]
        XCTAssertEqual(try XCTUnwrap(tagsBack.dictionary).values.string(tagsBack.dictionaryIndex(0)), "q")

        XCTAssertEqual(back.schema.metadata, [KeyValue("origin", "tavana"), KeyValue("x", "")])
        let meta = try XCTUnwrap(back.schema.fields.first { $0.name == "meta" })
        XCTAssertFalse(meta.nullable)
        XCTAssertEqual(meta.metadata, [KeyValue("unit", "m"), KeyValue("", "empty key")])
        XCTAssertEqual(back.schema.fields.first { $0.name == "dict8" }?.dictionary,
                       DictionaryEncoding(id: 2, indexType: .int(bitWidth: 8, signed: true), ordered: true))
    }

    func testMessagesAreAlignedAndSized() throws {
        let batch = Self.everyTypeBatch()
        var writer = IPCStreamWriter(schema: batch.schema)
        var messages = [writer.schemaMessage()]
        messages += try writer.messages(for: batch)
        XCTAssertEqual(messages.count, 1 + 4 + 1, "schema, four dictionaries, one record batch")
        for message in messages {
            let framed = message.encapsulated()
            XCTAssertEqual(framed.count % 8, 0)
            XCTAssertEqual(Array(framed[0..<4]), [0xFF, 0xFF, 0xFF, 0xFF])
            let size = Int(framed[4]) | Int(framed[5]) << 8 | Int(framed[6]) << 16 | Int(framed[7]) << 24
            XCTAssertEqual(size % 8, 0)
            XCTAssertGreaterThanOrEqual(size, message.metadata.count)
            XCTAssertEqual(framed.count, 8 + size + message.bodyLength)
            XCTAssertEqual(message.bodyBytes().count, message.bodyLength)
            XCTAssertEqual(message.bodyLength % 8, 0)
        }
        XCTAssertEqual(IPCStreamWriter.endOfStream, [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
    }

    /// Flight delivers metadata and body separately; decode them without the stream framing.
    func testMessageDecoderWithSeparateBody() throws {
        let batch = Self.everyTypeBatch()
        var writer = IPCStreamWriter(schema: batch.schema)
        var decoder = IPCMessageDecoder()
        guard case .schema(let schema) = try decoder.decode(metadata: writer.schemaMessage().metadata, body: []) else {
            return XCTFail("expected a schema")
        }
        XCTAssertEqual(schema, batch.schema)
        var batches: [RecordBatch] = []
        var dictionaryIds: [Int64] = []
        for message in try writer.messages(for: batch) {
            switch try decoder.decode(metadata: message.metadata, body: message.bodyBytes()) {
            case .recordBatch(let b): batches.append(b)
            case .dictionary(let id): dictionaryIds.append(id)
            case .schema: XCTFail("unexpected schema")
            }
        }
        XCTAssertEqual(Set(dictionaryIds), [1, 2, 3, 4])
        XCTAssertEqual(batches.count, 1)
        Logical.assertEqual(batch, batches[0])

        // A decoder told the schema out of band needs no schema message.
        var known = try IPCMessageDecoder(schema: batch.schema)
        for message in try IPCStreamWriter(schema: batch.schema).messagesOnce(batch) {
            if case .recordBatch(let b) = try known.decode(metadata: message.metadata, body: message.bodyBytes()) {
                Logical.assertEqual(batch, b)
            }
        }
    }

    /// A body handed over at an odd address is re-aligned, so arrays never start misaligned.
    func testMisalignedBodyIsRealigned() throws {
        let column = Make.fixed(.int(bitWidth: 64, signed: true), [Int64(11), nil, 33])
        let batch = Make.batch([Field("n", .int(bitWidth: 64, signed: true))], [column])
        var writer = IPCStreamWriter(schema: batch.schema)
        let message = try XCTUnwrap(writer.messages(for: batch).first)
        let shifted = Buffer(copying: [0] + message.bodyBytes()).slice(1, message.bodyLength)
        var decoder = try IPCMessageDecoder(schema: batch.schema)
        guard case .recordBatch(let back) = try decoder.decode(metadata: Buffer(copying: message.metadata), body: shifted) else {
            return XCTFail("expected a batch")
        }
        let values = back.columns[0].buffers[1]
        XCTAssertEqual(Int(bitPattern: values.base) % 8, 0)
        XCTAssertEqual(back.columns[0].value(2, as: Int64.self), 33)
        XCTAssertTrue(back.columns[0].isNull(1))
    }

    func testLegacyFramingWithoutContinuation() throws {
        let batch = Self.everyTypeBatch()
        var writer = IPCStreamWriter(schema: batch.schema)
        var bytes: [UInt8] = []
        for message in [writer.schemaMessage()] + (try writer.messages(for: batch)) {
            let framed = message.encapsulated()
            bytes.append(contentsOf: framed[4...])  // drop the continuation marker
        }
        bytes.append(contentsOf: [0, 0, 0, 0])
        var reader = try IPCStreamReader(bytes: bytes)
        let back = try XCTUnwrap(try reader.next())
        Logical.assertEqual(batch, back)
        XCTAssertNil(try reader.next())
        XCTAssertNil(try reader.next(), "stays at the end")
    }

    func testStreamWithoutEndMarkerAndEmptyBatches() throws {
        let fields = [Field("s", .utf8), Field("l", .list(Field("item", .int(bitWidth: 32, signed: true))))]
        // Zero-length arrays may omit offsets entirely (some producers send empty buffers).
        let emptyStrings = ArrayData(type: .utf8, length: 0, nullCount: 0, buffers: [.empty, .empty, .empty])
        let emptyList = ArrayData(type: fields[1].type, length: 0, nullCount: 0, buffers: [.empty, .empty],
                                  children: [Make.fixed(.int(bitWidth: 32, signed: true), [Int32]())])
        let empty = Make.batch(fields, [emptyStrings, emptyList])
        let full = Make.batch(fields, [Make.strings(["x", nil]), Make.list(fields[1].type, offsets: [0, 1, 1], valid: [true, false], child: Make.fixed(.int(bitWidth: 32, signed: true), [Int32(7)]))])
        var bytes = try IPCStreamWriter.serialize(schema: empty.schema, batches: [empty, full, empty])
        bytes.removeLast(8)  // no end-of-stream marker: the end of the bytes ends the stream
        var reader = try IPCStreamReader(bytes: bytes)
        let batches = try reader.readAll()
        XCTAssertEqual(batches.map(\.length), [0, 2, 0])
        Logical.assertEqual(full, batches[1])
        XCTAssertEqual(batches[1].columns[1].children[0].value(0, as: Int32.self), 7)
        XCTAssertEqual(batches[0].columns[0].buffers[1].load(at: 0, as: Int32.self), 0, "offset 0 is readable even when omitted")
    }

    func testManyBatchesShareOneStream() throws {
        let field = Field("n", .int(bitWidth: 64, signed: true))
        let batches = (0..<5).map { k in
            Make.batch([field], [Make.fixed(.int(bitWidth: 64, signed: true), (0..<(k * 3)).map { Int64($0 * k) as Int64? })])
        }
        let back = try roundTrip(batches)
        XCTAssertEqual(back.count, 5)
        for (a, b) in zip(batches, back) { Logical.assertEqual(a, b) }
        XCTAssertEqual(back[4].columns[0].value(11, as: Int64.self), 44)
    }

    func testWriterRejectsInconsistentBatches() throws {
        let schema = Schema([Field("a", .int(bitWidth: 32, signed: true))])
        var writer = IPCStreamWriter(schema: schema)
        XCTAssertThrowsError(try writer.messages(for: RecordBatch(schema: schema, columns: [], length: 0)))
        XCTAssertThrowsError(try writer.messages(for: RecordBatch(schema: schema, columns: [Make.strings(["x"])], length: 1)))
        XCTAssertThrowsError(try writer.messages(for: RecordBatch(schema: schema, columns: [Self.i32([1, 2])], length: 3)))
        let short = ArrayData(type: .int(bitWidth: 32, signed: true), length: 10, nullCount: 0, buffers: [.empty, Make.bytes([Int32(1)])])
        XCTAssertThrowsError(try writer.messages(for: RecordBatch(schema: schema, columns: [short], length: 10)))
        let dictSchema = Schema([Field("d", .utf8, dictionary: DictionaryEncoding(id: 0, indexType: .int(bitWidth: 32, signed: true)))])
        var dictWriter = IPCStreamWriter(schema: dictSchema)
        XCTAssertThrowsError(try dictWriter.messages(for: RecordBatch(schema: dictSchema, columns: [Self.i32([0])], length: 1)),
                             "a dictionary-encoded column without its dictionary")
    }
}

private extension IPCStreamWriter {
    /// Messages for a single batch from a fresh writer state.
    func messagesOnce(_ batch: RecordBatch) throws -> [IPCMessage] {
        var copy = self
        return try copy.messages(for: batch)
    }
}
