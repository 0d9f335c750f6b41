import Arrow
import Foundation
import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// One reply of the `Execute` stream as the gateway and worker handle it: a header or a
/// failure as the generated message, or a batch as the seam's IPC messages.
///
/// Why not the generated `ExecuteReply` for batches: a large result is nearly all batch
/// bytes, and the generated path copies each of them four times on the way through (into the
/// message's `Data`, its serialization, its parsing on the gateway, the seam's buffer). The
/// frame codec below writes and reads the very same protobuf encoding
/// (`ExecuteReply.batch = ResultBatch { repeated IPCMessage { metadata, body } }`) by hand,
/// so a batch is copied once on the worker (from DuckDB's buffers into the transport's) and
/// once on the gateway (out of the transport's); a peer using the generated messages reads
/// and writes the same bytes.
public enum ExecuteFrame: Sendable {
    case reply(Tavana_Worker_V1_ExecuteReply)
    case batch([IPCMessage])
}

/// Protobuf wire-format pieces the frame codec needs.
enum ProtobufWire {
    /// Length-delimited field tags: `(field << 3) | 2`.
    static let field1: UInt8 = 0x0A
    static let field2: UInt8 = 0x12

    static func varintSize(_ value: Int) -> Int {
        var v = UInt64(value), n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    static func putVarint(_ value: Int, _ out: UnsafeMutableRawBufferPointer, _ offset: inout Int) {
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
    static func fieldSize(_ payload: Int) -> Int { 1 + varintSize(payload) + payload }

    struct Malformed: Error, CustomStringConvertible {
        let reason: String
        var description: String { "malformed result batch from the worker: \(reason)" }
    }

    /// Reads fields of one message, every length checked against the bytes that are there.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int
        let end: Int

        init(_ bytes: UnsafeRawBufferPointer, from start: Int = 0, to end: Int? = nil) {
            self.bytes = bytes
            self.offset = start
            self.end = end ?? bytes.count
        }

        var atEnd: Bool { offset >= end }

        mutating func varint() throws -> UInt64 {
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
        mutating func field() throws -> (number: UInt64, payload: Range<Int>?) {
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

/// Writes frames: batches by hand, one copy of each Arrow buffer into the transport's bytes;
/// headers and failures through the generated message.
public struct ExecuteFrameSerializer: MessageSerializer {
    public init() {}

    public func serialize<Bytes: GRPCContiguousBytes>(_ frame: ExecuteFrame) throws -> Bytes {
        switch frame {
        case .reply(let reply):
            return try ProtobufSerializer<Tavana_Worker_V1_ExecuteReply>().serialize(reply)
        case .batch(let messages):
            // IPCMessage { metadata = 1; body = 2 } for each message, inside
            // ResultBatch { messages = 1 }, inside ExecuteReply { batch = 2 }.
            let messageSizes = messages.map { m in
                (m.metadata.isEmpty ? 0 : ProtobufWire.fieldSize(m.metadata.count))
                    + (m.bodyLength == 0 ? 0 : ProtobufWire.fieldSize(m.bodyLength))
            }
            let batchSize = messageSizes.reduce(0) { $0 + ProtobufWire.fieldSize($1) }
            var bytes = Bytes(repeating: 0, count: ProtobufWire.fieldSize(batchSize))
            bytes.withUnsafeMutableBytes { out in
                var offset = 0
                out[offset] = ProtobufWire.field2
                offset += 1
                ProtobufWire.putVarint(batchSize, out, &offset)
                for (m, size) in zip(messages, messageSizes) {
                    out[offset] = ProtobufWire.field1
                    offset += 1
                    ProtobufWire.putVarint(size, out, &offset)
                    if !m.metadata.isEmpty {
                        out[offset] = ProtobufWire.field1
                        offset += 1
                        ProtobufWire.putVarint(m.metadata.count, out, &offset)
                        m.metadata.withUnsafeBytes {
                            UnsafeMutableRawBufferPointer(rebasing: out[offset..<(offset + $0.count)]).copyMemory(from: $0)
                        }
                        offset += m.metadata.count
                    }
                    if m.bodyLength > 0 {
                        out[offset] = ProtobufWire.field2
                        offset += 1
                        ProtobufWire.putVarint(m.bodyLength, out, &offset)
                        m.copyBody(into: UnsafeMutableRawBufferPointer(rebasing: out[offset..<(offset + m.bodyLength)]))
                        offset += m.bodyLength
                    }
                }
            }
            return bytes
        }
    }
}

/// Reads frames: a batch (field 2) by hand, each body copied once out of the transport's
/// bytes into a buffer of its own; anything else through the generated message.
public struct ExecuteFrameDeserializer: MessageDeserializer {
    public init() {}

    public func deserialize<Bytes: GRPCContiguousBytes>(_ serialized: Bytes) throws -> ExecuteFrame {
        let batch: [IPCMessage]? = try serialized.withUnsafeBytes { raw in
            var reader = ProtobufWire.Reader(raw)
            guard !reader.atEnd else { return nil }
            let first = try reader.field()
            // Only a reply made of exactly one batch field takes the fast path.
            guard first.number == 2, let batchRange = first.payload, reader.atEnd else { return nil }
            return try Self.messages(raw, batchRange)
        }
        if let batch { return .batch(batch) }
        return .reply(try ProtobufDeserializer<Tavana_Worker_V1_ExecuteReply>().deserialize(serialized))
    }

    static func messages(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws -> [IPCMessage] {
        var batch = ProtobufWire.Reader(raw, from: range.lowerBound, to: range.upperBound)
        var messages: [IPCMessage] = []
        while !batch.atEnd {
            let field = try batch.field()
            guard field.number == 1, let messageRange = field.payload else { continue }
            var message = ProtobufWire.Reader(raw, from: messageRange.lowerBound, to: messageRange.upperBound)
            var metadata: [UInt8] = []
            var body = Buffer.empty
            while !message.atEnd {
                let part = try message.field()
                guard let r = part.payload else { continue }
                let slice = UnsafeRawBufferPointer(rebasing: raw[r])
                switch part.number {
                case 1: metadata = [UInt8](slice)
                case 2:
                    let owned = OwnedBytes(uninitialized: slice.count)
                    if let base = slice.baseAddress { owned.pointer.copyMemory(from: base, byteCount: slice.count) }
                    body = Buffer(base: UnsafeRawPointer(owned.pointer), count: slice.count, owner: owned)
                default: continue
                }
            }
            messages.append(IPCMessage(metadata: metadata, bodyParts: body.count == 0 ? [] : [body]))
        }
        return messages
    }
}
