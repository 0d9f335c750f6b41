/// Builds complete `IPCMessage`s: the flatbuffer `Message` wrapping a Schema, RecordBatch or
/// DictionaryBatch header, plus the body buffers that header describes.
enum MessageEncoder {
    static func schema(_ schema: Schema) -> IPCMessage {
        var b = FlatBufferBuilder(capacity: 1024)
        let header = SchemaEncoder.schema(schema, into: &b)
        return IPCMessage(metadata: message(.schema, header, bodyLength: 0, into: &b), bodyParts: [])
    }

    static func recordBatch(length: Int, body: BodyWriter) -> IPCMessage {
        var b = FlatBufferBuilder(capacity: 256 + 32 * (body.nodes.count + body.buffers.count))
        let (header, bodyLength) = recordBatchTable(length: length, body: body, into: &b)
        return IPCMessage(metadata: message(.recordBatch, header, bodyLength: bodyLength, into: &b), bodyParts: body.buffers)
    }

    static func dictionaryBatch(id: Int64, length: Int, body: BodyWriter) -> IPCMessage {
        var b = FlatBufferBuilder(capacity: 256 + 32 * (body.nodes.count + body.buffers.count))
        let (data, bodyLength) = recordBatchTable(length: length, body: body, into: &b)
        b.startTable()
        b.add(Slots.DictionaryBatch.id, id)
        b.add(Slots.DictionaryBatch.data, data)
        b.add(Slots.DictionaryBatch.isDelta, false)
        let header = b.endTable()
        return IPCMessage(metadata: message(.dictionaryBatch, header, bodyLength: bodyLength, into: &b), bodyParts: body.buffers)
    }

    /// The RecordBatch table; buffer offsets are relative to the body start, each buffer
    /// padded to 8 bytes as `IPCMessage` serializes them.
    private static func recordBatchTable(length: Int, body: BodyWriter, into b: inout FlatBufferBuilder) -> (FlatBufferOffset, Int) {
        var position = 0
        var specs: [(Int64, Int64)] = []
        specs.reserveCapacity(body.buffers.count)
        for buffer in body.buffers {
            specs.append((Int64(position), Int64(buffer.count)))
            position += IPCFraming.padded(buffer.count)
        }
        let nodes = b.createStructVector(body.nodes.map { ($0.length, $0.nullCount) })
        let buffers = b.createStructVector(specs)
        b.startTable()
        b.add(Slots.RecordBatch.length, Int64(length))
        b.add(Slots.RecordBatch.nodes, nodes)
        b.add(Slots.RecordBatch.buffers, buffers)
        return (b.endTable(), position)
    }

    private static func message(_ tag: MessageHeaderTag, _ header: FlatBufferOffset, bodyLength: Int, into b: inout FlatBufferBuilder) -> [UInt8] {
        b.startTable()
        b.add(Slots.Message.bodyLength, Int64(bodyLength))
        b.add(Slots.Message.header, header)
        b.add(Slots.Message.version, MetadataVersion.v5)
        b.add(Slots.Message.headerType, tag.rawValue)
        let root = b.endTable()
        return b.finish(root: root)
    }
}
