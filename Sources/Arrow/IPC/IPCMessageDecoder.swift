/// Message-level IPC decoding for transports that deliver metadata and body separately
/// (Flight's `FlightData.data_header` / `data_body`), and the engine behind `IPCStreamReader`.
///
/// It keeps the schema and the current dictionary of each id; dictionary batches replace the
/// dictionary for later record batches, while batches already returned keep theirs.
public struct IPCMessageDecoder: Sendable {
    public enum Decoded: Sendable {
        case schema(Schema)
        case recordBatch(RecordBatch)
        /// A dictionary batch, applied to the decoder's state.
        case dictionary(id: Int64)
    }

    /// The schema as the decoded batches carry it: view layouts in their plain large forms
    /// (`ArrowType.withoutViews`).
    public private(set) var schema: Schema?
    /// The schema as the stream declared it, which is how its buffers are laid out.
    private var wireSchema: Schema?
    private var dictionaries: [Int64: DictionaryArray] = [:]
    /// The value field behind each dictionary id, which is how its batches are decoded.
    private var dictionaryFields: [Int64: Field] = [:]

    public init() {}

    /// For transports that agree on the schema out of band.
    public init(schema: Schema) throws {
        try setSchema(schema)
    }

    /// Decodes one message. `body` is referenced, not copied, by the arrays returned.
    public mutating func decode(metadata: Buffer, body: Buffer) throws -> Decoded {
        let message = try MessageDecoder.decode(metadata)
        guard body.count >= message.bodyLength else {
            throw ArrowError.truncated("body has \(body.count) bytes, the message announces \(message.bodyLength)")
        }
        return try apply(message, body: body.slice(0, message.bodyLength))
    }

    /// Convenience for byte arrays; copies both into buffers the results own.
    public mutating func decode(metadata: [UInt8], body: [UInt8]) throws -> Decoded {
        try decode(metadata: Buffer(copying: metadata), body: Buffer(copying: body))
    }

    mutating func apply(_ message: DecodedMessage, body unaligned: Buffer) throws -> Decoded {
        let body = Self.aligned(unaligned)
        switch message.header {
        case .schema(let decoded):
            if let wireSchema, let schema {
                // Some transports repeat the schema; a different one mid-stream is an error.
                guard wireSchema == decoded else { throw ArrowError.invalidIPC("a second, different schema message") }
                return .schema(schema)
            }
            try setSchema(decoded)
            return .schema(schema!)

        case .dictionaryBatch(let id, let isDelta, let header):
            guard schema != nil else { throw ArrowError.invalidIPC("dictionary batch before the schema") }
            guard let field = dictionaryFields[id] else {
                throw ArrowError.invalidIPC("dictionary batch for id \(id), which no field uses")
            }
            guard !isDelta else { throw ArrowError.unsupportedType("delta dictionary batches") }
            var loader = ArrayLoader(header: header, body: body, dictionaries: dictionaries, version: message.version)
            let values = try loader.loadColumn(field)
            dictionaries[id] = DictionaryArray(valueType: field.type.withoutViews, values: values)
            return .dictionary(id: id)

        case .recordBatch(let header):
            guard let schema, let wireSchema else { throw ArrowError.invalidIPC("record batch before the schema") }
            var loader = ArrayLoader(header: header, body: body, dictionaries: dictionaries, version: message.version)
            var columns: [ArrayData] = []
            columns.reserveCapacity(schema.fields.count)
            for field in wireSchema.fields { columns.append(try loader.loadColumn(field)) }
            return .recordBatch(RecordBatch(schema: schema, columns: columns, length: header.length))
        }
    }

    /// Arrays reference the body in place, and consumers (the C data interface, SIMD code)
    /// expect 8-byte aligned buffers; a transport may hand over a body at any address, so a
    /// misaligned one is copied once into aligned memory.
    private static func aligned(_ body: Buffer) -> Buffer {
        guard let base = body.base, Int(bitPattern: base) % IPCFraming.alignment != 0 else { return body }
        return Buffer(copying: body.bytes)
    }

    private mutating func setSchema(_ schema: Schema) throws {
        var fields: [Int64: Field] = [:]
        try Self.collectDictionaryFields(schema.fields, into: &fields, depth: 0)
        wireSchema = schema
        var plain = schema
        plain.fields = schema.fields.map(\.withoutViews)
        self.schema = plain
        dictionaryFields = fields
    }

    private static func collectDictionaryFields(_ fields: [Field], into map: inout [Int64: Field], depth: Int) throws {
        guard depth < SchemaDecoder.maxDepth else { throw ArrowError.invalidIPC("fields nested too deeply") }
        for field in fields {
            if let encoding = field.dictionary {
                var valueField = field
                valueField.dictionary = nil
                // Fields may share a dictionary only if they agree on what it holds.
                if let existing = map[encoding.id], existing.type != valueField.type {
                    throw ArrowError.invalidIPC("dictionary id \(encoding.id) used with two value types")
                }
                map[encoding.id] = map[encoding.id] ?? valueField
            }
            // A dictionary's values may themselves hold dictionary-encoded children.
            try collectDictionaryFields(field.type.children, into: &map, depth: depth + 1)
        }
    }
}
