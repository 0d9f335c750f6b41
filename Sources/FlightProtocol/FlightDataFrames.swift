import Arrow
import GRPCCore
import GRPCProtobuf

/// One Arrow IPC message on its way out of DoGet as a `FlightData`.
///
/// Why not the generated `FlightData` message: building one copies every Arrow buffer into
/// a `Data`, and protobuf serialization copies it again into the transport's bytes. A DoGet
/// moves the whole result (a gigabyte for TPC-H lineitem at SF1), so `FlightDataFrameSerializer`
/// writes the protobuf encoding itself, copying each Arrow buffer once, straight from DuckDB's
/// memory into the transport's buffer.
public struct FlightDataFrame: Sendable {
    public let message: IPCMessage
    public init(message: IPCMessage) { self.message = message }
}

/// Encodes `FlightData { data_header = 2; data_body = 1000; }` (Flight.proto), the only two
/// fields a DoGet stream sets, in field-number order as protobuf encoders do.
public struct FlightDataFrameSerializer: MessageSerializer {
    public init() {}

    /// Tag of field 2 (`data_header`), length-delimited.
    public static let headerTag: [UInt8] = [0x12]
    /// Tag of field 1000 (`data_body`), length-delimited: varint(1000 << 3 | 2).
    public static let bodyTag: [UInt8] = [0xC2, 0x3E]

    public func serialize<Bytes: GRPCContiguousBytes>(_ frame: FlightDataFrame) throws -> Bytes {
        let header = frame.message.metadata
        let bodyLength = frame.message.bodyLength
        var size = Self.headerTag.count + Self.varintSize(header.count) + header.count
        if bodyLength > 0 { size += Self.bodyTag.count + Self.varintSize(bodyLength) + bodyLength }
        var bytes = Bytes(repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { out in
            var offset = 0
            func put(_ chunk: [UInt8]) {
                chunk.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[offset...]).copyMemory(from: $0) }
                offset += chunk.count
            }
            put(Self.headerTag)
            put(Self.varint(header.count))
            put(header)
            if bodyLength > 0 {
                put(Self.bodyTag)
                put(Self.varint(bodyLength))
                frame.message.copyBody(into: UnsafeMutableRawBufferPointer(rebasing: out[offset...]))
            }
        }
        return bytes
    }

    public static func varintSize(_ value: Int) -> Int { ProtobufWire.varintSize(value) }

    public static func varint(_ value: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 10) { out, count in
            count = 0
            ProtobufWire.putVarint(value, UnsafeMutableRawBufferPointer(out), &count)
        }
    }
}
