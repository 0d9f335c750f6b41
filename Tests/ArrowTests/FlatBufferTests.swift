import Arrow
import XCTest

final class FlatBufferTests: XCTestCase {
    private func view(_ bytes: [UInt8]) -> FlatBufferView { FlatBufferView(Buffer(copying: bytes)) }

    func testScalarsStringsAndDefaults() throws {
        var b = FlatBufferBuilder(capacity: 16)  // small on purpose: exercises growth
        let name = b.createString("héllo")
        let empty = b.createString("")
        b.startTable()
        b.add(0, Int8(-5))
        b.add(1, Int16(-300))
        b.add(2, Int32(70000))
        b.add(3, Int64.min)
        b.add(4, UInt8(200))
        b.add(5, true)
        b.add(6, name)
        b.add(8, empty)
        // slot 7 absent
        let root = b.endTable()
        let bytes = b.finish(root: root)
        XCTAssertEqual(bytes.count % 8, 0)

        let table = try view(bytes).rootTable()
        XCTAssertEqual(try table.scalar(0, default: Int8(0)), -5)
        XCTAssertEqual(try table.scalar(1, default: Int16(0)), -300)
        XCTAssertEqual(try table.scalar(2, default: Int32(0)), 70000)
        XCTAssertEqual(try table.scalar(3, default: Int64(0)), Int64.min)
        XCTAssertEqual(try table.scalar(4, default: UInt8(0)), 200)
        XCTAssertTrue(try table.bool(5))
        XCTAssertEqual(try table.string(6), "héllo")
        XCTAssertEqual(try table.string(8), "")
        XCTAssertNil(try table.string(7))
        XCTAssertEqual(try table.scalar(7, default: Int32(42)), 42, "absent field takes its default")
        XCTAssertEqual(try table.scalar(30, default: Int16(7)), 7, "slot past the vtable takes its default")
        XCTAssertFalse(try table.has(7))
    }

    func testVectorsAndNestedTables() throws {
        var b = FlatBufferBuilder()
        var children: [FlatBufferOffset] = []
        for i in 0..<3 {
            let s = b.createString("child\(i)")
            b.startTable()
            b.add(0, s)
            b.add(1, Int64(i * 1000))
            children.append(b.endTable())
        }
        let childVector = b.createVector(children)
        let ints = b.createVector([Int32(1), -2, 3])
        let bytesVector = b.createVector([UInt8(9), 8, 7, 6, 5])
        let pairs = b.createStructVector([(1, 2), (Int64.max, -1)])
        let emptyPairs = b.createStructVector([])
        b.startTable()
        b.add(0, childVector)
        b.add(1, ints)
        b.add(2, bytesVector)
        b.add(3, pairs)
        b.add(4, emptyPairs)
        let bytes = b.finish(root: b.endTable())

        let root = try view(bytes).rootTable()
        let kids = try XCTUnwrap(root.vector(0, elementSize: 4))
        XCTAssertEqual(kids.count, 3)
        for i in 0..<3 {
            let kid = try kids.table(i)
            XCTAssertEqual(try kid.string(0), "child\(i)")
            XCTAssertEqual(try kid.scalar(1, default: Int64(-1)), Int64(i * 1000))
        }
        let intVector = try XCTUnwrap(root.vector(1, elementSize: 4))
        XCTAssertEqual(try (0..<3).map { try intVector.scalar($0, as: Int32.self) }, [1, -2, 3])
        let byteVector = try XCTUnwrap(root.vector(2, elementSize: 1))
        XCTAssertEqual(try (0..<5).map { try byteVector.scalar($0, as: UInt8.self) }, [9, 8, 7, 6, 5])
        let pairVector = try XCTUnwrap(root.vector(3, elementSize: 16))
        XCTAssertEqual(pairVector.count, 2)
        XCTAssertEqual(try pairVector.structMember(1, at: 0, as: Int64.self), Int64.max)
        XCTAssertEqual(try pairVector.structMember(1, at: 8, as: Int64.self), -1)
        XCTAssertEqual(try XCTUnwrap(root.vector(4, elementSize: 16)).count, 0)
        XCTAssertThrowsError(try pairVector.structMember(2, at: 0, as: Int64.self))
    }

    /// Every scalar must sit at a multiple of its size from the buffer start; struct vectors
    /// at multiples of 8. Checked by building many mixes and reading positions back.
    func testAlignment() throws {
        for shift in 0..<8 {
            var b = FlatBufferBuilder()
            // A string of varying length perturbs every later position.
            let s = b.createString(String(repeating: "x", count: shift))
            let pairs = b.createStructVector([(Int64(shift), 1)])
            let longs = b.createVector([Int64(shift)])
            b.startTable()
            b.add(0, UInt8(1))
            b.add(1, Int64(shift))
            b.add(2, Int16(2))
            b.add(3, s)
            b.add(4, pairs)
            b.add(5, Int32(3))
            b.add(6, longs)
            let bytes = b.finish(root: b.endTable())
            try bytes.withUnsafeBytes { raw in
                let table = try FlatBufferView(Buffer(copying: bytes)).rootTable()
                XCTAssertEqual(try table.scalar(1, default: Int64(0)), Int64(shift))
                XCTAssertEqual(try table.scalar(5, default: Int32(0)), 3)
                // Find the struct vector's data: uoffset in slot 4 → count → data.
                let rootPos = Int(raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
                let vtable = rootPos - Int(raw.loadUnaligned(fromByteOffset: rootPos, as: Int32.self))
                func fieldPos(_ slot: Int) -> Int { rootPos + Int(raw.loadUnaligned(fromByteOffset: vtable + 4 + 2 * slot, as: UInt16.self)) }
                XCTAssertEqual(fieldPos(1) % 8, 0)
                XCTAssertEqual(fieldPos(2) % 2, 0)
                XCTAssertEqual(fieldPos(5) % 4, 0)
                for slot in [4, 6] {
                    let vectorPos = fieldPos(slot) + Int(raw.loadUnaligned(fromByteOffset: fieldPos(slot), as: UInt32.self))
                    XCTAssertEqual(vectorPos % 4, 0)
                    XCTAssertEqual((vectorPos + 4) % 8, 0, "8-byte elements are 8-aligned")
                }
            }
        }
    }

    func testMalformedBuffersThrow() throws {
        var b = FlatBufferBuilder()
        let s = b.createString("abc")
        b.startTable()
        b.add(0, s)
        b.add(1, Int64(5))
        let good = b.finish(root: b.endTable())

        // Every truncation either fails to parse or fails when the field is read.
        for cut in 0..<good.count {
            let truncated = Array(good[0..<cut])
            XCTAssertThrowsError(try {
                let t = try self.view(truncated).rootTable()
                _ = try t.string(0)
                _ = try t.scalar(1, default: Int64(0))
            }(), "cut at \(cut)")
        }
        // Root offset pointing past the end.
        var bad = good
        bad[0] = 0xF0
        XCTAssertThrowsError(try view(bad).rootTable())
        // Vector / string count far beyond the buffer.
        let table = try view(good).rootTable()
        XCTAssertEqual(try table.string(0), "abc")
        for i in 0..<(good.count - 3) {
            var corrupt = good
            corrupt[i] = 0xFF; corrupt[i + 1] = 0xFF; corrupt[i + 2] = 0xFF
            // Must not trap; throwing or returning something are both acceptable.
            if let t = try? view(corrupt).rootTable() {
                _ = try? t.string(0)
                _ = try? t.scalar(1, default: Int64(0))
                _ = try? t.vector(0, elementSize: 16)
            }
        }
        XCTAssertThrowsError(try view([]).rootTable())
    }
}
