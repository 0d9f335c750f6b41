import FlightProtocol
import Arrow
import Foundation
import GRPCCore
import SwiftProtobuf
import XCTest

@testable import FlightSQL

/// DoGet's hand-written FlightData encoding must decode exactly as the generated message.
final class FlightDataFrameTests: XCTestCase {
    func messages(rows: Int) throws -> [IPCMessage] {
        let schema = Schema([Field("a", .int(bitWidth: 64, signed: true), nullable: true),
                             Field("b", .utf8, nullable: true)])
        let batch = RecordBatch(schema: schema, columns: [
            Build.fixed((0..<rows).map { $0 % 3 == 0 ? nil : Int64($0) }, type: .int(bitWidth: 64, signed: true)),
            Build.strings((0..<rows).map { String(repeating: "x", count: $0 % 7) }),
        ], length: rows)
        var writer = IPCStreamWriter(schema: schema)
        return [writer.schemaMessage()] + (try writer.messages(for: batch))
    }

    func testDecodesLikeTheGeneratedMessage() throws {
        // Small and large bodies: lengths whose varints take one, two and three bytes.
        for rows in [0, 1, 5, 300, 20_000] {
            for message in try messages(rows: rows) {
                let bytes: [UInt8] = try FlightDataFrameSerializer().serialize(FlightDataFrame(message: message))
                let decoded = try Arrow_Flight_Protocol_FlightData(serializedBytes: bytes)
                XCTAssertEqual(Array(decoded.dataHeader), message.metadata, "rows \(rows)")
                XCTAssertEqual(Array(decoded.dataBody), message.bodyBytes(), "rows \(rows)")
                XCTAssertFalse(decoded.hasFlightDescriptor)
                XCTAssertTrue(decoded.appMetadata.isEmpty)
                // Byte for byte what swift-protobuf writes for the same fields.
                var generated = Arrow_Flight_Protocol_FlightData()
                generated.dataHeader = Data(message.metadata)
                generated.dataBody = Data(message.bodyBytes())
                XCTAssertEqual(bytes, Array(try generated.serializedData()), "rows \(rows)")
            }
        }
    }

    func testVarints() {
        XCTAssertEqual(FlightDataFrameSerializer.varint(0), [0])
        XCTAssertEqual(FlightDataFrameSerializer.varint(127), [0x7F])
        XCTAssertEqual(FlightDataFrameSerializer.varint(128), [0x80, 0x01])
        XCTAssertEqual(FlightDataFrameSerializer.varint(8002), [0xC2, 0x3E])
        XCTAssertEqual(FlightDataFrameSerializer.varint(1 << 28), [0x80, 0x80, 0x80, 0x80, 0x01])
    }
}
