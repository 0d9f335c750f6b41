import NIOCore
import NIOEmbedded
import XCTest

@testable import FlightSQL

/// The ping responder sits between the socket and SwiftNIO's HTTP/2 handler; these tests play
/// both sides with raw frames.
final class HTTP2PingResponderTests: XCTestCase {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8] = []) -> [UInt8] {
        var buffer = ByteBuffer()
        HTTP2FrameHeader(length: payload.count, type: type, flags: flags, streamID: stream).write(to: &buffer)
        buffer.writeBytes(payload)
        return Array(buffer.readableBytesView)
    }

    func ping(_ opaque: UInt64, ack: Bool = false) -> [UInt8] {
        var payload = ByteBuffer()
        payload.writeInteger(opaque)
        return frame(type: 6, flags: ack ? 1 : 0, payload: Array(payload.readableBytesView))
    }

    func settings() -> [UInt8] { frame(type: 4, payload: [0, 4, 0, 1, 0, 0]) }
    func data(stream: UInt32, _ bytes: Int) -> [UInt8] { frame(type: 0, stream: stream, payload: Array(repeating: 7, count: bytes)) }

    /// Feeds `chunks` as separate reads; returns what reached the next handler, joined.
    func feed(_ channel: EmbeddedChannel, _ chunks: [[UInt8]]) throws -> [UInt8] {
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
        }
        var seen: [UInt8] = []
        while let piece = try channel.readInbound(as: ByteBuffer.self) {
            seen += piece.readableBytesView
        }
        return seen
    }

    func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var out: [UInt8] = []
        while let piece = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = piece else { XCTFail("file region"); continue }
            out += buffer.readableBytesView
        }
        return out
    }

    func testPassesEverythingThroughWhileNoResponseFlows() throws {
        let channel = EmbeddedChannel(handler: HTTP2PingResponder())
        let input = Self.preface + settings() + ping(1) + data(stream: 1, 20) + ping(2, ack: true)
        XCTAssertEqual(try feed(channel, [input]), input)
        XCTAssertEqual(try written(channel), [])
    }

    func testAnswersOnePingPerResponseBurstAndPassesTheRest() throws {
        let handler = HTTP2PingResponder()
        let channel = EmbeddedChannel(handler: handler)
        XCTAssertEqual(try feed(channel, [Self.preface + settings()]), Self.preface + settings())
        // The server sends a DATA frame: the next PING is answered here, the one after is not.
        let response = settings() + data(stream: 1, 100)
        try channel.writeOutbound(IOData.byteBuffer(ByteBuffer(bytes: response)))
        XCTAssertEqual(try written(channel), response)
        XCTAssertEqual(try feed(channel, [ping(0xABCD) + ping(0x1234)]), ping(0x1234))
        XCTAssertEqual(try written(channel), ping(0xABCD, ack: true))
        XCTAssertEqual(handler.answeredPings, 1)
    }

    func testFramesSplitAnywhereKeepTheirBytes() throws {
        // Every split point of a stream with a ping that is answered and one that is not.
        let handshake = Self.preface + settings()
        let rest = ping(9) + data(stream: 3, 5) + ping(10) + settings()
        for cut in 1..<rest.count {
            for secondCut in cut..<rest.count {
                let handler = HTTP2PingResponder()
                let channel = EmbeddedChannel(handler: handler)
                _ = try feed(channel, [handshake])
                try channel.writeOutbound(IOData.byteBuffer(ByteBuffer(bytes: data(stream: 1, 3))))
                _ = try written(channel)
                let chunks = [Array(rest[..<cut]), Array(rest[cut..<secondCut]), Array(rest[secondCut...])]
                let seen = try feed(channel, chunks.filter { !$0.isEmpty })
                XCTAssertEqual(seen, data(stream: 3, 5) + ping(10) + settings(), "cuts \(cut), \(secondCut)")
                XCTAssertEqual(try written(channel), ping(9, ack: true))
            }
        }
    }

    func testAckWaitsForTheOutboundFrameInProgress() throws {
        let channel = EmbeddedChannel(handler: HTTP2PingResponder())
        _ = try feed(channel, [Self.preface])
        // A DATA frame written as header and payload separately, as NIO HTTP/2 does.
        let dataFrame = data(stream: 1, 50)
        try channel.writeOutbound(IOData.byteBuffer(ByteBuffer(bytes: dataFrame[..<9])))
        // The ping arrives between the header and the payload: its ack must not go in between.
        XCTAssertEqual(try feed(channel, [ping(42)]), [])
        try channel.writeOutbound(IOData.byteBuffer(ByteBuffer(bytes: dataFrame[9...])))
        XCTAssertEqual(try written(channel), dataFrame + ping(42, ack: true))
    }

    func testMalformedPingsAreLeftToTheHTTP2Handler() throws {
        let channel = EmbeddedChannel(handler: HTTP2PingResponder())
        _ = try feed(channel, [Self.preface])
        try channel.writeOutbound(IOData.byteBuffer(ByteBuffer(bytes: data(stream: 1, 1))))
        _ = try written(channel)
        // Wrong length, or on a stream: the HTTP/2 handler must see them and reject them.
        let odd = frame(type: 6, payload: [1, 2, 3]) + frame(type: 6, stream: 5, payload: Array(repeating: 0, count: 8))
        XCTAssertEqual(try feed(channel, [odd]), odd)
        XCTAssertEqual(try written(channel), [])
    }
}
