import Arrow
import FlightProtocol
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
