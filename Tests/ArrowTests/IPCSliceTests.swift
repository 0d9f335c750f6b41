import Arrow
import TestSupport
import XCTest

/// Arrays with a non-zero `offset` must be written re-based (IPC has no offset), including
/// their validity bits, boolean values, var-length offsets and the children they reach.
final class IPCSliceTests: XCTestCase {
    /// A logical slice, the way a producer would hand one over (null count unknown).
    static func slice(_ array: ArrayData, _ offset: Int, _ length: Int) -> ArrayData {
        var sliced = array
        sliced.offset += offset
        sliced.length = length
        if sliced.nullCount != 0 { sliced.nullCount = -1 }
        return sliced
    }

    static func sliceBatch(_ batch: RecordBatch, _ offset: Int, _ length: Int) -> RecordBatch {
        RecordBatch(schema: batch.schema, columns: batch.columns.map { slice($0, offset, length) }, length: length)
    }

    func testEveryTypeSlicedAtEveryOffset() throws {
        let batch = IPCRoundTripTests.everyTypeBatch()
        for offset in 0...batch.length {
            for length in 0...(batch.length - offset) {
                let sliced = Self.sliceBatch(batch, offset, length)
                let back = try roundTrip([sliced])
                XCTAssertEqual(back.count, 1)
                guard let decoded = back.first else { continue }
                Logical.assertEqual(sliced, decoded)
                for column in decoded.columns { XCTAssertEqual(column.offset, 0) }
            }
        }
    }

    /// Random data of 150 rows, sliced at many offsets (aligned and not) and lengths.
    func testGeneratedColumnsSliced() throws {
        var rng = SplitMix(seed: 42)
        let rows = 150
        func maybe<T>(_ value: T) -> T? { rng.next() % 4 == 0 ? nil : value }
        let ints: [Int32?] = (0..<rows).map { _ in maybe(Int32(truncatingIfNeeded: rng.next())) }
        let bools: [Bool?] = (0..<rows).map { _ in maybe(rng.next() % 2 == 0) }
        let strings: [String?] = (0..<rows).map { i in maybe(String(repeating: "s\(i)", count: Int(rng.next() % 4))) }
        var listOffsets = [0]
        var listValid: [Bool] = []
        for _ in 0..<rows {
            listValid.append(rng.next() % 5 != 0)
            listOffsets.append(listOffsets.last! + Int(rng.next() % 4))
        }
        let listChild = Make.fixed(.int(bitWidth: 64, signed: true), (0..<listOffsets.last!).map { maybe(Int64($0)) })
        let listType = ArrowType.list(Field("item", .int(bitWidth: 64, signed: true)))
        let structType = ArrowType.struct([Field("b", .bool), Field("s", .largeUtf8)])
        let structValid = (0..<rows).map { _ in rng.next() % 6 != 0 }
        let fields = [
            Field("i", .int(bitWidth: 32, signed: true)), Field("b", .bool), Field("s", .utf8),
            Field("l", listType), Field("st", structType),
        ]
        let batch = Make.batch(fields, [
            Make.fixed(.int(bitWidth: 32, signed: true), ints), Make.bools(bools), Make.strings(strings),
            Make.list(listType, offsets: listOffsets, valid: listValid, child: listChild),
            Make.nested(structType, valid: structValid, children: [Make.bools(bools.reversed()), Make.strings(strings, large: true)]),
        ])
        for offset in [0, 1, 3, 7, 8, 9, 15, 16, 63, 64, 65, 100] {
            for length in [0, 1, 7, 8, 9, 33, rows - offset] where offset + length <= rows {
                let sliced = Self.sliceBatch(batch, offset, length)
                let decoded = try XCTUnwrap(roundTrip([sliced]).first)
                Logical.assertEqual(sliced, decoded)
                // Only the slice's bytes travel: the string data is exactly the slice's.
                let expectedBytes = strings[offset..<(offset + length)].reduce(0) { $0 + ($1?.utf8.count ?? 0) }
                XCTAssertEqual(decoded.columns[2].buffers[2].count, expectedBytes)
                if length > 0 { XCTAssertEqual(decoded.columns[2].valueRange(0).lowerBound, 0) }
            }
        }
    }

    /// Children that carry their own offsets, and a list whose offsets do not start at 0.
    func testChildOffsetsAndNonZeroFirstOffset() throws {
        // struct children offset by 2 and 1 into longer arrays.
        let a = Self.slice(Make.fixed(.int(bitWidth: 16, signed: true), [Int16(9), 9, 1, nil, 3]), 2, 3)
        let s = Self.slice(Make.strings(["zz", "x", nil, "z"]), 1, 3)
        let structType = ArrowType.struct([Field("a", .int(bitWidth: 16, signed: true)), Field("s", .utf8)])
        let structArray = Make.nested(structType, valid: [true, false, true], children: [a, s])
        // list<utf8> with offsets [2, 3, 5] into a child of 6, itself sliced by 1.
        let child = Self.slice(Make.strings(["-", "-", "-", "p", "q", "r", "-"]), 1, 6)
        let listType = ArrowType.list(Field("item", .utf8))
        let list = Make.list(listType, offsets: [2, 3, 5, 5], valid: [true, true, false], child: child)
        // fixed size list of 2 over a child sliced by 2.
        let fslType = ArrowType.fixedSizeList(Field("item", .bool), listSize: 2)
        let fsl = Make.nested(fslType, valid: [true, true, true], children: [
            Self.slice(Make.bools([false, false, true, nil, false, true, true, false]), 2, 6),
        ])
        let batch = Make.batch([Field("st", structType), Field("l", listType), Field("f", fslType)], [structArray, list, fsl])
        let decoded = try XCTUnwrap(roundTrip([batch]).first)
        Logical.assertEqual(batch, decoded)
        XCTAssertEqual(decoded.columns[0].children[0].value(0, as: Int16.self), 1)
        XCTAssertTrue(decoded.columns[0].children[0].isNull(1))
        XCTAssertEqual(decoded.columns[0].children[1].string(0), "x")
        XCTAssertEqual(decoded.columns[1].valueRange(0), 0..<1, "list offsets re-based to start at 0")
        XCTAssertEqual(decoded.columns[1].children[0].string(0), "p")
        XCTAssertEqual(decoded.columns[1].children[0].length, 3, "only the referenced child range is written")
        XCTAssertTrue(decoded.columns[2].children[0].isNull(1))

        // And the whole thing sliced once more at the top.
        let again = Self.sliceBatch(batch, 1, 2)
        Logical.assertEqual(again, try XCTUnwrap(roundTrip([again]).first))
    }
}
