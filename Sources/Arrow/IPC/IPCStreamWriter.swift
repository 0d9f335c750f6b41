/// Encodes a schema and record batches as Arrow IPC stream messages.
///
/// Dictionary batches are emitted before the first record batch that needs them, and again
/// (as replacements, never deltas) when a field's dictionary changes. "Changes" is decided
/// by identity first (the same `DictionaryArray` object is never resent) and then by the
/// encoded bytes, so producers that rebuild an identical dictionary for every batch do not
/// resend it either.
public struct IPCStreamWriter: Sendable {
    public let schema: Schema
    private var sent: [Int64: SentDictionary] = [:]

    private struct SentDictionary: Sendable {
        var object: DictionaryArray
        var metadata: [UInt8]
        var body: [UInt8]
    }

    /// The end-of-stream marker: continuation followed by a zero metadata size.
    public static let endOfStream: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]

    public init(schema: Schema) {
        self.schema = schema
    }

    public func schemaMessage() -> IPCMessage {
        MessageEncoder.schema(schema)
    }

    /// Dictionary batches needed (first use or changed content) followed by the record batch.
    public mutating func messages(for batch: RecordBatch) throws -> [IPCMessage] {
        guard batch.columns.count == schema.fields.count else {
            throw ArrowError.invalidIPC("batch has \(batch.columns.count) columns, the schema \(schema.fields.count)")
        }
        var messages = try dictionaryMessages(for: batch)
        var body = BodyWriter()
        for (field, column) in zip(schema.fields, batch.columns) {
            guard column.length == batch.length else {
                throw ArrowError.invalidIPC("column '\(field.name)' has \(column.length) rows, the batch \(batch.length)")
            }
            try body.append(column, field: field)
        }
        messages.append(MessageEncoder.recordBatch(length: batch.length, body: body))
        return messages
    }

    /// A whole stream in one array: schema, dictionaries and batches, end marker.
    public static func serialize(schema: Schema, batches: [RecordBatch]) throws -> [UInt8] {
        var writer = IPCStreamWriter(schema: schema)
        var out = writer.schemaMessage().encapsulated()
        for batch in batches {
            for message in try writer.messages(for: batch) { out.append(contentsOf: message.encapsulated()) }
        }
        out.append(contentsOf: endOfStream)
        return out
    }

    // MARK: - Dictionaries

    private mutating func dictionaryMessages(for batch: RecordBatch) throws -> [IPCMessage] {
        var found: [(id: Int64, field: Field, dictionary: DictionaryArray)] = []
        for (field, column) in zip(schema.fields, batch.columns) {
            try Self.collectDictionaries(field, column, depth: 0, into: &found)
        }
        var messages: [IPCMessage] = []
        var emitted: Set<Int64> = []
        for (id, field, dictionary) in found {
            if let previous = sent[id], previous.object === dictionary { continue }
            var body = BodyWriter()
            try body.append(dictionary.values, field: field)
            let message = MessageEncoder.dictionaryBatch(id: id, length: dictionary.values.length, body: body)
            let bodyBytes = message.bodyBytes()
            if let previous = sent[id], previous.metadata == message.metadata, previous.body == bodyBytes {
                sent[id]?.object = dictionary  // same content: remember the object, skip the resend
                continue
            }
            // Two fields sharing an id cannot carry different dictionaries in one batch.
            guard !emitted.contains(id) else {
                throw ArrowError.invalidIPC("fields sharing dictionary id \(id) carry different dictionaries")
            }
            emitted.insert(id)
            sent[id] = SentDictionary(object: dictionary, metadata: message.metadata, body: bodyBytes)
            messages.append(message)
        }
        return messages
    }

    /// Dictionaries of `field` and its descendants, each after any it depends on (a
    /// dictionary's values may themselves hold dictionary-encoded children).
    private static func collectDictionaries(
        _ field: Field, _ array: ArrayData, depth: Int,
        into found: inout [(id: Int64, field: Field, dictionary: DictionaryArray)]
    ) throws {
        guard depth < BodyWriter.maxDepth else { throw ArrowError.invalidIPC("fields nested too deeply") }
        if let encoding = field.dictionary {
            guard let dictionary = array.dictionary else {
                throw ArrowError.invalidIPC("dictionary-encoded column '\(field.name)' has no dictionary")
            }
            var valueField = field
            valueField.dictionary = nil
            try collectDictionaries(valueField, dictionary.values, depth: depth + 1, into: &found)
            found.append((encoding.id, valueField, dictionary))
            return
        }
        let children = field.type.children
        guard array.children.count >= children.count else {
            throw ArrowError.invalidIPC("column '\(field.name)' has \(array.children.count) children, needs \(children.count)")
        }
        for (child, childArray) in zip(children, array.children) {
            try collectDictionaries(child, childArray, depth: depth + 1, into: &found)
        }
    }
}
