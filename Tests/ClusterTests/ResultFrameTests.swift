import Arrow
import Foundation
import GRPCCore
import SwiftProtobuf
import TestSupport
import WorkerProtocol
import XCTest

/// The Execute stream's hand-written codec must write and read exactly the generated
/// message's bytes, and must refuse (never trap on) bytes that are not a well-formed reply.
final class ResultFrameTests: XCTestCase {
    /// IPC-shaped messages: metadata and bodies of odd and padded sizes, empty parts.
    func messages(_ rng: inout SplitMix) -> [IPCMessage] {
        (0..<Int(rng.next() % 4)).map { _ in
            let metadata = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let parts = (0..<Int(rng.next() % 3)).map { _ in
                Buffer(copying: (0..<Int(rng.next() % 5000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            }
            return IPCMessage(metadata: metadata, bodyParts: parts)
        }
    }

    func serialized(_ frame: ExecuteFrame) throws -> [UInt8] {
        try ExecuteFrameSerializer().serialize(frame)
    }

    func testABatchFrameIsTheGeneratedMessagesBytes() throws {
        var rng = SplitMix(seed: 0x5EED_0001)
        for round in 0..<200 {
            let batch = messages(&rng)
            let bytes = try serialized(.batch(batch))
            var generated = Tavana_Worker_V1_ExecuteReply()
            generated.batch = WireBatch(batch)
            XCTAssertEqual(bytes, [UInt8](try generated.serializedData()), "round \(round)")
            let parsed = try Tavana_Worker_V1_ExecuteReply(serializedBytes: bytes)
            XCTAssertEqual(parsed.batch.messages.count, batch.count, "round \(round)")
            for (wire, message) in zip(parsed.batch.messages, batch) {
                XCTAssertEqual([UInt8](wire.metadata), message.metadata)
                XCTAssertEqual([UInt8](wire.body), message.bodyBytes())
            }
        }
    }

    func testTheGeneratedMessagesBytesReadBackAsABatchFrame() throws {
        var rng = SplitMix(seed: 0x5EED_0002)
        for round in 0..<200 {
            let batch = messages(&rng)
            var generated = Tavana_Worker_V1_ExecuteReply()
            generated.batch = WireBatch(batch)
            let frame = try ExecuteFrameDeserializer().deserialize([UInt8](try generated.serializedData()))
            guard case .batch(let read) = frame else { return XCTFail("round \(round): not a batch: \(frame)") }
            XCTAssertEqual(read.count, batch.count, "round \(round)")
            for (r, m) in zip(read, batch) {
                XCTAssertEqual(r.metadata, m.metadata, "round \(round)")
                XCTAssertEqual(r.bodyBytes(), m.bodyBytes(), "round \(round)")
                XCTAssertEqual(r.bodyLength, m.bodyLength, "round \(round)")
            }
        }
    }

    func testHeadersAndFailuresTravelAsGeneratedReplies() throws {
        var header = Tavana_Worker_V1_ResultHeader()
        header.statementType = 1
        header.pins = 3
        header.arrowSchema = Data([1, 2, 3])
        var reply = Tavana_Worker_V1_ExecuteReply()
        reply.header = header
        let bytes = try serialized(.reply(reply))
        XCTAssertEqual(bytes, [UInt8](try reply.serializedData()))
        guard case .reply(let back) = try ExecuteFrameDeserializer().deserialize(bytes) else { return XCTFail("not a reply") }
        XCTAssertEqual(back, reply)

        var failed = Tavana_Worker_V1_ExecuteReply()
        failed.failure = WireFailure(WorkerUnavailableForTests())
        guard case .reply(let f) = try ExecuteFrameDeserializer().deserialize(try serialized(.reply(failed))) else { return XCTFail("not a reply") }
        XCTAssertEqual(f, failed)
    }

    func testAnEmptyBatchAndAnEmptyReplyAreKeptApart() throws {
        let empty = try serialized(.batch([]))
        XCTAssertEqual(empty, [0x12, 0x00])
        guard case .batch(let none) = try ExecuteFrameDeserializer().deserialize(empty) else { return XCTFail("not a batch") }
        XCTAssertTrue(none.isEmpty)
        guard case .reply(let reply) = try ExecuteFrameDeserializer().deserialize([UInt8]()) else { return XCTFail("not a reply") }
        XCTAssertNil(reply.reply)
    }

    func testTruncatedAndForgedLengthsAreRefusedWithoutTrapping() throws {
        var rng = SplitMix(seed: 0x5EED_0003)
        let good = try serialized(.batch(messages(&rng) + [IPCMessage(metadata: [1, 2, 3], bodyParts: [Buffer(copying: [UInt8](repeating: 7, count: 64))])]))
        // Every prefix: a well-formed frame or an error, never a crash.
        for cut in 0..<good.count {
            _ = try? ExecuteFrameDeserializer().deserialize(Array(good[..<cut]))
        }
        // Lengths that claim more than there is, and ten-byte varints.
        let forged: [[UInt8]] = [
            [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
            [0x12, 0x05, 0x0A, 0x7F, 0x0A],
            [0x12, 0x04, 0x0A, 0x02, 0x12, 0x09],
            [0x12] + [UInt8](repeating: 0xFF, count: 11),
            [0x12, 0x03, 0x0A, 0x01, 0x0F],
        ]
        for bytes in forged {
            XCTAssertThrowsError(try ExecuteFrameDeserializer().deserialize(bytes), "\(bytes)")
        }
        // Random bytes after a batch tag.
        for _ in 0..<2000 {
            let bytes = [0x12] + (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? ExecuteFrameDeserializer().deserialize(bytes)
        }
    }
}

private struct WorkerUnavailableForTests: Error, CustomStringConvertible {
    var description: String { "gone" }
}
