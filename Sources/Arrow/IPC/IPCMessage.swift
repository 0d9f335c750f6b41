/// One encoded IPC message: flatbuffer `Message` metadata plus body buffers.
///
/// The body is kept as separate buffers so that transports can write them without first
/// concatenating (the data stays where DuckDB or the reader left it).
public struct IPCMessage: Sendable {
    /// The flatbuffer `Message`, without prefix or padding (Flight's `FlightData.data_header`).
    public var metadata: [UInt8]
    /// Body buffers in order; each is followed by zero padding to a multiple of 8 when serialized.
    public var bodyParts: [Buffer]
    /// Total padded body size (Flight's `FlightData.data_body` length).
    public var bodyLength: Int

    public init(metadata: [UInt8], bodyParts: [Buffer]) {
        self.metadata = metadata
        self.bodyParts = bodyParts
        self.bodyLength = bodyParts.reduce(0) { $0 + IPCFraming.padded($1.count) }
    }

    /// The contiguous padded body.
    public func bodyBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bodyLength)
        appendBody(to: &out)
        return out
    }

    /// Continuation marker, metadata size, metadata and its padding: everything before the body.
    public func encapsulatedHeader() -> [UInt8] {
        let paddedMetadata = IPCFraming.padded(metadata.count)
        var out: [UInt8] = []
        out.reserveCapacity(8 + paddedMetadata)
        out.append(contentsOf: IPCFraming.continuation)
        IPCFraming.appendInt32(Int32(paddedMetadata), to: &out)
        out.append(contentsOf: metadata)
        out.append(contentsOf: repeatElement(0, count: paddedMetadata - metadata.count))
        return out
    }

    /// The message as it appears in the stream format: header followed by the body.
    public func encapsulated() -> [UInt8] {
        var out = encapsulatedHeader()
        out.reserveCapacity(out.count + bodyLength)
        appendBody(to: &out)
        return out
    }

    /// Copies the padded body into `out`, which must hold `bodyLength` bytes: one copy of each
    /// buffer straight into a transport's own memory.
    public func copyBody(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= bodyLength, "IPC body destination too small")
        var offset = 0
        for part in bodyParts {
            if part.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[offset..<(offset + part.count)]).copyMemory(from: part.bytes)
            }
            let padded = IPCFraming.padded(part.count)
            if padded > part.count {
                UnsafeMutableRawBufferPointer(rebasing: out[(offset + part.count)..<(offset + padded)]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            offset += padded
        }
    }

    /// Appends the padded body to any byte collection (a transport's `Data`, say), copying
    /// each buffer once.
    public func appendBody<Out: RangeReplaceableCollection>(to out: inout Out) where Out.Element == UInt8 {
        for part in bodyParts {
            out.append(contentsOf: part.bytes)
            out.append(contentsOf: repeatElement(0, count: IPCFraming.padded(part.count) - part.count))
        }
    }
}

/// Framing constants of the encapsulated message format.
enum IPCFraming {
    static let continuation: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
    static let continuationValue: UInt32 = 0xFFFF_FFFF
    static let alignment = 8

    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func appendInt32(_ value: Int32, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}
