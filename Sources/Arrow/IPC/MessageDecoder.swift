/// The parsed header of a RecordBatch (or of a DictionaryBatch's data).
struct RecordBatchHeader {
    var length: Int
    var nodes: [(length: Int, nullCount: Int)]
    /// Ranges relative to the message body, not yet checked against it.
    var buffers: [(offset: Int, length: Int)]
    /// How many data buffers each view-layout array has, in the order the arrays appear.
    var variadicBufferCounts: [Int] = []
}

enum MessageHeader {
    case schema(Schema)
    case recordBatch(RecordBatchHeader)
    case dictionaryBatch(id: Int64, isDelta: Bool, RecordBatchHeader)
}

struct DecodedMessage {
    var version: Int16
    var header: MessageHeader
    var bodyLength: Int
}

/// Parses flatbuffer `Message` metadata. Everything is validated to the extent the metadata
/// alone allows; checks against the body and the schema happen in `ArrayLoader`.
enum MessageDecoder {
    /// Far above any real batch, far below where `length + 7` or `length * 32` overflow; keeps
    /// every size computed from a hostile length representable.
    static let maxLength: Int64 = 1 << 40

    static func decode(_ metadata: Buffer) throws -> DecodedMessage {
        let view = FlatBufferView(metadata)
        let message = try view.rootTable()
        let version = try message.scalar(Slots.Message.version, default: Int16(0))
        guard version >= MetadataVersion.v4 else {
            throw ArrowError.unsupportedType("IPC metadata version V\(version + 1) (V4 or later needed)")
        }
        let bodyLength = try message.scalar(Slots.Message.bodyLength, default: Int64(0))
        guard bodyLength >= 0 else { throw ArrowError.invalidIPC("negative body length \(bodyLength)") }
        let rawTag = try message.scalar(Slots.Message.headerType, default: UInt8(0))
        guard let tag = MessageHeaderTag(rawValue: rawTag) else {
            throw ArrowError.unsupportedType("IPC message type \(rawTag)")
        }
        guard let header = try message.table(Slots.Message.header) else {
            throw ArrowError.invalidIPC("message has no header")
        }
        let decoded: MessageHeader
        switch tag {
        case .schema:
            var decoder = SchemaDecoder(metadataSize: metadata.count)
            decoded = .schema(try decoder.schema(header))
        case .recordBatch:
            decoded = .recordBatch(try recordBatch(header))
        case .dictionaryBatch:
            guard let data = try header.table(Slots.DictionaryBatch.data) else {
                throw ArrowError.invalidIPC("dictionary batch has no data")
            }
            decoded = .dictionaryBatch(
                id: try header.scalar(Slots.DictionaryBatch.id, default: Int64(0)),
                isDelta: try header.bool(Slots.DictionaryBatch.isDelta),
                try recordBatch(data))
        }
        return DecodedMessage(version: version, header: decoded, bodyLength: Int(bodyLength))
    }

    private static func recordBatch(_ table: FlatBufferTable) throws -> RecordBatchHeader {
        if try table.has(Slots.RecordBatch.compression) {
            throw ArrowError.unsupportedType("compressed IPC bodies")
        }
        let length = try table.scalar(Slots.RecordBatch.length, default: Int64(0))
        guard length >= 0, length <= maxLength else { throw ArrowError.invalidIPC("record batch length \(length)") }
        var nodes: [(length: Int, nullCount: Int)] = []
        if let vector = try table.vector(Slots.RecordBatch.nodes, elementSize: StructLayout.pairSize) {
            nodes.reserveCapacity(vector.count)
            for i in 0..<vector.count {
                let length = try vector.structMember(i, at: 0, as: Int64.self)
                let nulls = try vector.structMember(i, at: 8, as: Int64.self)
                guard length >= 0, length <= maxLength, nulls >= 0, nulls <= length else {
                    throw ArrowError.invalidIPC("field node \(i) has length \(length) and null count \(nulls)")
                }
                nodes.append((Int(length), Int(nulls)))
            }
        }
        var buffers: [(offset: Int, length: Int)] = []
        if let vector = try table.vector(Slots.RecordBatch.buffers, elementSize: StructLayout.pairSize) {
            buffers.reserveCapacity(vector.count)
            for i in 0..<vector.count {
                let offset = try vector.structMember(i, at: 0, as: Int64.self)
                let length = try vector.structMember(i, at: 8, as: Int64.self)
                guard offset >= 0, length >= 0 else {
                    throw ArrowError.invalidIPC("buffer \(i) has offset \(offset) and length \(length)")
                }
                buffers.append((Int(offset), Int(length)))
            }
        }
        var variadic: [Int] = []
        if let vector = try table.vector(Slots.RecordBatch.variadicBufferCounts, elementSize: 8) {
            variadic.reserveCapacity(vector.count)
            for i in 0..<vector.count {
                let count = try vector.scalar(i, as: Int64.self)
                // Each counts buffers of this message: never more than it lists.
                guard count >= 0, count <= buffers.count else {
                    throw ArrowError.invalidIPC("variadic buffer count \(count) of \(buffers.count) buffers")
                }
                variadic.append(Int(count))
            }
        }
        return RecordBatchHeader(length: Int(length), nodes: nodes, buffers: buffers, variadicBufferCounts: variadic)
    }
}
