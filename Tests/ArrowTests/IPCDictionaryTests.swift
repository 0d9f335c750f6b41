import Arrow
import XCTest

final class IPCDictionaryTests: XCTestCase {
    private let field = Field("color", .utf8, dictionary: DictionaryEncoding(id: 7, indexType: .int(bitWidth: 32, signed: true)))

    private func batch(_ indices: [Int32?], _ dictionary: DictionaryArray) -> RecordBatch {
        var column = Make.fixed(.int(bitWidth: 32, signed: true), indices)
        column.dictionary = dictionary
        return Make.batch([field], [column])
    }

    private func dictionary(_ values: [String?]) -> DictionaryArray {
        DictionaryArray(valueType: .utf8, values: Make.strings(values))
    }

    private func strings(_ batch: RecordBatch) throws -> [String?] {
        let column = batch.columns[0]
        let values = try XCTUnwrap(column.dictionary).values
        return (0..<column.length).map { column.isNull($0) ? nil : values.string(column.dictionaryIndex($0)) }
    }

    func testDictionarySentOnceThenReplacedWhenItChanges() throws {
        let first = dictionary(["red", "green"])
        let sameContent = dictionary(["red", "green"])
        let changed = dictionary(["blue", "red", "green"])
        var writer = IPCStreamWriter(schema: Schema([field]))
        var stream = writer.schemaMessage().encapsulated()
        var counts: [Int] = []
        for b in [batch([0, 1, nil], first), batch([1], first), batch([0, 0], sameContent), batch([0, nil, 2], changed), batch([1], changed)] {
            let messages = try writer.messages(for: b)
            counts.append(messages.count)
            for m in messages { stream += m.encapsulated() }
        }
        stream += IPCStreamWriter.endOfStream
        // Dictionary + batch, then batch only (same object), batch only (same bytes),
        // replacement + batch, batch only.
        XCTAssertEqual(counts, [2, 1, 1, 2, 1])

        var reader = try IPCStreamReader(bytes: stream)
        let batches = try reader.readAll()
        XCTAssertEqual(batches.count, 5)
        XCTAssertEqual(try strings(batches[0]), ["red", "green", nil])
        XCTAssertEqual(try strings(batches[1]), ["green"])
        XCTAssertEqual(try strings(batches[2]), ["red", "red"])
        XCTAssertEqual(try strings(batches[3]), ["blue", nil, "green"])
        XCTAssertEqual(try strings(batches[4]), ["red"])
        // Batches read before the replacement keep the dictionary they were read with.
        XCTAssertEqual(batches[0].columns[0].dictionary?.values.length, 2)
        XCTAssertTrue(batches[0].columns[0].dictionary === batches[2].columns[0].dictionary)
        XCTAssertFalse(batches[2].columns[0].dictionary === batches[3].columns[0].dictionary)
    }

    func testFieldsSharingADictionaryId() throws {
        let shared = dictionary(["x", "y"])
        let other = Field("other", .utf8, dictionary: field.dictionary)
        var a = Make.fixed(.int(bitWidth: 32, signed: true), [Int32(0), 1])
        a.dictionary = shared
        var b = Make.fixed(.int(bitWidth: 32, signed: true), [Int32(1), nil])
        b.dictionary = shared
        let schema = Schema([field, other])
        var writer = IPCStreamWriter(schema: schema)
        let messages = try writer.messages(for: RecordBatch(schema: schema, columns: [a, b], length: 2))
        XCTAssertEqual(messages.count, 2, "one dictionary for both fields")
        let decoded = try XCTUnwrap(roundTrip([RecordBatch(schema: schema, columns: [a, b], length: 2)]).first)
        XCTAssertEqual(decoded.columns[1].dictionary?.values.string(decoded.columns[1].dictionaryIndex(0)), "y")

        // Different dictionaries under one id in one batch cannot be expressed.
        var c = b
        c.dictionary = dictionary(["q", "r"])
        var conflicted = IPCStreamWriter(schema: schema)
        XCTAssertThrowsError(try conflicted.messages(for: RecordBatch(schema: schema, columns: [a, c], length: 2)))
    }

    /// Dictionary values that themselves contain a dictionary-encoded child.
    func testNestedDictionaryInsideDictionaryValues() throws {
        let innerField = Field("name", .utf8, dictionary: DictionaryEncoding(id: 2, indexType: .int(bitWidth: 8, signed: true)))
        let valueType = ArrowType.struct([innerField])
        var innerIndices = Make.fixed(.int(bitWidth: 8, signed: true), [Int8(1), 0])
        innerIndices.dictionary = DictionaryArray(valueType: .utf8, values: Make.strings(["ann", "bob"]))
        let values = Make.nested(valueType, valid: [true, true], children: [innerIndices])
        let outer = Field("person", valueType, dictionary: DictionaryEncoding(id: 1, indexType: .int(bitWidth: 32, signed: true)))
        var column = Make.fixed(.int(bitWidth: 32, signed: true), [Int32(0), 1, nil, 0])
        column.dictionary = DictionaryArray(valueType: valueType, values: values)
        let batch = Make.batch([outer], [column])
        var writer = IPCStreamWriter(schema: batch.schema)
        XCTAssertEqual(try writer.messages(for: batch).count, 3, "inner dictionary, outer dictionary, batch")
        let decoded = try XCTUnwrap(roundTrip([batch]).first)
        Logical.assertEqual(batch, decoded)
        let person = try XCTUnwrap(decoded.columns[0].dictionary).values
        let names = person.children[0]
        XCTAssertEqual(names.dictionary?.values.string(names.dictionaryIndex(person.offset + 0)), "bob")
    }

    func testReaderRejectsMissingOrOutOfRangeDictionaries() throws {
        let b = batch([0, 1], dictionary(["a", "b"]))
        var writer = IPCStreamWriter(schema: b.schema)
        let messages = try writer.messages(for: b)
        XCTAssertEqual(messages.count, 2)
        // Without the dictionary batch the record batch cannot be decoded.
        var decoder = IPCMessageDecoder()
        _ = try decoder.decode(metadata: writer.schemaMessage().metadata, body: [])
        XCTAssertThrowsError(try decoder.decode(metadata: messages[1].metadata, body: messages[1].bodyBytes()))

        // An index past the dictionary's end is caught on read.
        let bad = batch([0, 2], dictionary(["a", "b"]))
        XCTAssertThrowsError(try roundTrip([bad]))
        // ...but a null slot may hold any index.
        var nullSlot = batch([0, nil], dictionary(["a"]))
        nullSlot.columns[0] = {
            var c = nullSlot.columns[0]
            c.buffers[1] = Make.bytes([Int32(0), Int32(99)])
            return c
        }()
        XCTAssertEqual(try strings(XCTUnwrap(roundTrip([nullSlot]).first)), ["a", nil])
    }
}
