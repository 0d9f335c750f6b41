import NIOCore

/// Answers a client's HTTP/2 PINGs that arrive while the server is sending a response, before
/// the HTTP/2 handler sees them.
///
/// Why this exists: gRPC clients built on grpc-go (ADBC's Flight SQL driver among them) size
/// their receive window by sending a PING after almost every burst of DATA they receive
/// (bandwidth-delay-product probing), i.e. hundreds of PINGs while a large result streams.
/// SwiftNIO HTTP/2 counts more than 200 inbound PING/SETTINGS frames in 30 s as a flood and
/// closes the connection with ENHANCE_YOUR_CALM, and grpc-swift's transport has no setting to
/// raise that limit, so a big DoGet was cut off mid-stream ("the connection is draining").
///
/// The policy matches grpc-go's own server, which accepts pings while it is sending data: a
/// PING that arrives after the server wrote DATA or HEADERS since the last PING answered here
/// is acknowledged by this handler and not passed on. Any other PING (keepalive on a quiet
/// connection, a flood while nothing flows) goes to the HTTP/2 handler and its limits, so a
/// client can make us answer at most one PING per frame we chose to send.
///
/// The handler sits on the plaintext side (after TLS), directly below the HTTP/2 handler. It
/// follows frame boundaries in both directions: inbound to find PINGs, outbound so that an
/// acknowledgement is only ever written between two frames of the HTTP/2 handler.
final class HTTP2PingResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var inbound = InboundPingFilter()
    private var outbound = OutboundFrameTracker()
    /// Acknowledgements waiting for the outbound stream to reach a frame boundary.
    private var pendingAcks: [ByteBuffer] = []
    /// How many PINGs this handler answered (for tests and diagnostics).
    private(set) var answeredPings = 0

    init() {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let output = inbound.process(&buffer) { outbound.takeResponseActivity() }
        for opaque in output.answered {
            pendingAcks.append(Self.pingAck(opaque, allocator: context.channel.allocator))
        }
        answeredPings += output.answered.count
        for piece in output.pieces {
            context.fireChannelRead(wrapInboundOut(piece))
        }
        if !pendingAcks.isEmpty && outbound.atFrameBoundary {
            writePendingAcks(context: context)
            context.flush()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        outbound.observe(payload)
        context.write(data, promise: promise)
        // The HTTP/2 handler flushes after its writes, which carries these out too.
        if !pendingAcks.isEmpty && outbound.atFrameBoundary {
            writePendingAcks(context: context)
        }
    }

    private func writePendingAcks(context: ChannelHandlerContext) {
        let acks = pendingAcks
        pendingAcks.removeAll(keepingCapacity: true)
        for ack in acks {
            context.write(wrapOutboundOut(.byteBuffer(ack)), promise: nil)
        }
    }

    /// A PING frame with the ACK flag and the peer's 8 opaque bytes (RFC 9113 §6.7).
    static func pingAck(_ opaque: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = allocator.buffer(capacity: HTTP2FrameHeader.size + 8)
        HTTP2FrameHeader(length: 8, type: HTTP2FrameHeader.ping, flags: HTTP2FrameHeader.ackFlag, streamID: 0)
            .write(to: &frame)
        frame.writeInteger(opaque)
        return frame
    }
}

/// The fixed 9-byte header in front of every HTTP/2 frame (RFC 9113 §4.1).
struct HTTP2FrameHeader: Equatable {
    static let size = 9
    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let ping: UInt8 = 0x6
    static let ackFlag: UInt8 = 0x1

    var length: Int
    var type: UInt8
    var flags: UInt8
    var streamID: UInt32

    /// Reads a header from the first nine readable bytes, or nil when fewer are readable.
    init?(peeking buffer: ByteBuffer) {
        guard buffer.readableBytes >= Self.size,
              let high = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let low = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt16.self),
              let type = buffer.getInteger(at: buffer.readerIndex + 3, as: UInt8.self),
              let flags = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self),
              let stream = buffer.getInteger(at: buffer.readerIndex + 5, as: UInt32.self)
        else { return nil }
        self.init(length: Int(high) << 16 | Int(low), type: type, flags: flags, streamID: stream & 0x7fff_ffff)
    }

    init(length: Int, type: UInt8, flags: UInt8, streamID: UInt32) {
        self.length = length
        self.type = type
        self.flags = flags
        self.streamID = streamID
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(truncatingIfNeeded: length >> 16))
        buffer.writeInteger(UInt16(truncatingIfNeeded: length))
        buffer.writeInteger(type)
        buffer.writeInteger(flags)
        buffer.writeInteger(streamID)
    }

    /// A PING the peer wants answered (not an acknowledgement of ours), well formed.
    var isPingRequest: Bool {
        type == Self.ping && flags & Self.ackFlag == 0 && length == 8 && streamID == 0
    }
}

/// Splits the inbound byte stream of an HTTP/2 server connection into what the HTTP/2 handler
/// should see and the PINGs answered here. Bytes are passed on as slices of the reads (no
/// copies) except a frame header split across two reads, which is held until it is complete.
struct InboundPingFilter {
    /// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": the client connection preface is not framed.
    private var prefaceRemaining = 24
    /// Payload bytes of the current frame still to pass on.
    private var frameRemaining = 0
    /// The start of a frame header that ended a previous read.
    private var partialHeader: ByteBuffer?
    /// The opaque data of a PING being answered here, as it arrives.
    private var pingPayload: ByteBuffer?

    struct Output {
        /// Bytes for the HTTP/2 handler, in order.
        var pieces: [ByteBuffer] = []
        /// Opaque data of the PINGs taken out of the stream, to acknowledge.
        var answered: [UInt64] = []
    }

    /// `shouldAnswer` is asked once per PING request, when its header is complete; when it
    /// says yes the PING is removed from the stream and its data returned in `answered`.
    mutating func process(_ buffer: inout ByteBuffer, shouldAnswer: () -> Bool) -> Output {
        var output = Output()
        // Bytes from `runStart` up to the reader index are passed on unchanged. Slices are
        // taken from `whole`, as ByteBuffer only hands out bytes at or after its reader index.
        let whole = buffer
        var runStart = buffer.readerIndex
        func endRun(_ buffer: ByteBuffer) {
            let length = buffer.readerIndex - runStart
            if length > 0, let slice = whole.getSlice(at: runStart, length: length) {
                output.pieces.append(slice)
            }
        }

        while buffer.readableBytes > 0 {
            if prefaceRemaining > 0 {
                let n = min(prefaceRemaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: n)
                prefaceRemaining -= n
            } else if var payload = pingPayload {
                var chunk = buffer.readSlice(length: min(8 - payload.readableBytes, buffer.readableBytes))!
                payload.writeBuffer(&chunk)
                runStart = buffer.readerIndex
                if payload.readableBytes == 8 {
                    pingPayload = nil
                    output.answered.append(payload.readInteger(as: UInt64.self)!)
                } else {
                    pingPayload = payload
                }
            } else if frameRemaining > 0 {
                let n = min(frameRemaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: n)
                frameRemaining -= n
            } else {
                // At a frame header, possibly continuing one that ended the previous read.
                let heldBack = partialHeader
                var header = heldBack ?? ByteBuffer()
                let headerStart = buffer.readerIndex
                let fromThisRead = min(HTTP2FrameHeader.size - header.readableBytes, buffer.readableBytes)
                var part = buffer.getSlice(at: headerStart, length: fromThisRead)!
                header.writeBuffer(&part)
                guard let parsed = HTTP2FrameHeader(peeking: header) else {
                    // Incomplete: hold these bytes back until the next read completes them.
                    endRun(buffer)
                    buffer.moveReaderIndex(forwardBy: fromThisRead)
                    runStart = buffer.readerIndex
                    partialHeader = header
                    continue
                }
                partialHeader = nil
                if parsed.isPingRequest && shouldAnswer() {
                    // Drop the header (with any held-back part) and collect the payload.
                    endRun(buffer)
                    buffer.moveReaderIndex(forwardBy: fromThisRead)
                    runStart = buffer.readerIndex
                    pingPayload = ByteBuffer()
                } else {
                    if let heldBack {
                        // The held-back bytes go first, then this read's part of the header.
                        endRun(buffer)
                        output.pieces.append(heldBack)
                        runStart = headerStart
                    }
                    buffer.moveReaderIndex(forwardBy: fromThisRead)
                    frameRemaining = parsed.length
                }
            }
        }
        endRun(buffer)
        return output
    }
}

/// Follows the frames the HTTP/2 handler writes, to know when the outbound stream is between
/// two frames and whether a response has been flowing since the last PING answered.
struct OutboundFrameTracker {
    /// Header bytes of the current frame seen so far (0 when between frames).
    private var header = ByteBuffer()
    /// Payload bytes of the current frame still to come.
    private var remaining = 0
    /// Whether DATA or HEADERS went out since `takeResponseActivity` last returned true.
    private var responseActivity = false

    var atFrameBoundary: Bool { header.readableBytes == 0 && remaining == 0 }

    /// True (once) if the server sent response frames since the last time it said true.
    mutating func takeResponseActivity() -> Bool {
        defer { responseActivity = false }
        return responseActivity
    }

    mutating func observe(_ data: IOData) {
        switch data {
        case .byteBuffer(let buffer):
            observe(buffer)
        case .fileRegion(let region):
            // Only ever a DATA payload.
            remaining = max(0, remaining - region.readableBytes)
        }
    }

    mutating func observe(_ bytes: ByteBuffer) {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            if remaining > 0 {
                let n = min(remaining, bytes.readableBytes)
                bytes.moveReaderIndex(forwardBy: n)
                remaining -= n
                continue
            }
            var part = bytes.readSlice(length: min(HTTP2FrameHeader.size - header.readableBytes, bytes.readableBytes))!
            header.writeBuffer(&part)
            if let parsed = HTTP2FrameHeader(peeking: header) {
                header.clear()
                remaining = parsed.length
                if parsed.type == HTTP2FrameHeader.data || parsed.type == HTTP2FrameHeader.headers {
                    responseActivity = true
                }
            }
        }
    }
}
