/// The protobuf wire format, for the serializers that write a message's bytes by hand to
/// spare copies of Arrow buffers (`FlightDataFrameSerializer`, the worker's
/// `ExecuteFrameSerializer`) and the reader of the latter.
public enum ProtobufWire {
    /// Length-delimited field tags: `(field << 3) | 2`.
    public static let field1: UInt8 = 0x0A
    public static let field2: UInt8 = 0x12

    public static func varintSize(_ value: Int) -> Int {
        var v = UInt64(value), n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    public static func putVarint(_ value: Int, _ out: UnsafeMutableRawBufferPointer, _ offset: inout Int) {
        var v = UInt64(value)
        while v >= 0x80 {
            out[offset] = UInt8(v & 0x7F) | 0x80
            offset += 1
            v >>= 7
        }
        out[offset] = UInt8(v)
        offset += 1
    }

    /// A length-delimited field's size on the wire: tag, length, payload.
    public static func fieldSize(_ payload: Int) -> Int { 1 + varintSize(payload) + payload }

    public struct Malformed: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "malformed protobuf message: \(reason)" }
    }

    /// Reads fields of one message, every length checked against the bytes that are there.
    public struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int
        let end: Int

        public init(_ bytes: UnsafeRawBufferPointer, from start: Int = 0, to end: Int? = nil) {
            self.bytes = bytes
            self.offset = start
            self.end = end ?? bytes.count
        }

        public var atEnd: Bool { offset >= end }

        public mutating func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < end else { throw Malformed(reason: "truncated varint") }
                guard shift < 64 else { throw Malformed(reason: "varint too long") }
                let byte = bytes[offset]
                offset += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }

        /// The next field: its number, and for a length-delimited one its payload's range.
        /// Other wire types are skipped over (range nil).
        public mutating func field() throws -> (number: UInt64, payload: Range<Int>?) {
            let tag = try varint()
            let number = tag >> 3
            switch tag & 7 {
            case 0:
                _ = try varint()
                return (number, nil)
            case 1:
                try skip(8)
                return (number, nil)
            case 5:
                try skip(4)
                return (number, nil)
            case 2:
                let length = try varint()
                guard length <= UInt64(end - offset) else { throw Malformed(reason: "field longer than its message") }
                let start = offset
                offset += Int(length)
                return (number, start..<offset)
            default:
                throw Malformed(reason: "unsupported wire type \(tag & 7)")
            }
        }

        private mutating func skip(_ n: Int) throws {
            guard end - offset >= n else { throw Malformed(reason: "truncated field") }
            offset += n
        }
    }
}
