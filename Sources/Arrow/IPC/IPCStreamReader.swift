/// Reads an Arrow IPC stream held in memory. The arrays it returns reference `bytes`
/// (through the buffer's owner) instead of copying them.
public struct IPCStreamReader: Sendable {
    private let bytes: Buffer
    private var position: Int
    private var decoder = IPCMessageDecoder()
    private var finished = false
    public let schema: Schema

    /// Reads the schema message at the start of the stream.
    public init(bytes: Buffer) throws {
        self.bytes = bytes
        guard let (message, body, next) = try Self.readMessage(bytes, at: 0) else {
            throw ArrowError.truncated("stream ends before its schema")
        }
        guard case .schema(let schema) = try decoder.apply(message, body: body) else {
            throw ArrowError.invalidIPC("stream does not start with a schema message")
        }
        self.schema = schema
        position = next
    }

    /// Convenience: copies `bytes` into a buffer the stream's arrays then share.
    public init(bytes: [UInt8]) throws {
        try self.init(bytes: Buffer(copying: bytes))
    }

    /// The next record batch, after applying any dictionary batches before it; nil at the end
    /// of the stream (the end marker, or simply no bytes left).
    public mutating func next() throws -> RecordBatch? {
        while !finished {
            guard let (message, body, next) = try Self.readMessage(bytes, at: position) else {
                finished = true
                return nil
            }
            position = next
            switch try decoder.apply(message, body: body) {
            case .recordBatch(let batch): return batch
            case .dictionary: continue
            case .schema: throw ArrowError.invalidIPC("schema message in the middle of a stream")
            }
        }
        return nil
    }

    /// Reads all remaining batches.
    public mutating func readAll() throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        while let batch = try next() { batches.append(batch) }
        return batches
    }

    /// One encapsulated message at `position`: nil at an end-of-stream marker or at the end of
    /// the bytes. Accepts the legacy framing without the 0xFFFFFFFF continuation marker.
    static func readMessage(_ bytes: Buffer, at position: Int) throws -> (DecodedMessage, Buffer, next: Int)? {
        guard position < bytes.count else { return nil }
        var cursor = position
        func readWord() throws -> UInt32 {
            guard cursor <= bytes.count - 4 else { throw ArrowError.truncated("message prefix at \(cursor)") }
            defer { cursor += 4 }
            return UInt32(littleEndian: bytes.load(at: cursor, as: UInt32.self))
        }
        var word = try readWord()
        if word == IPCFraming.continuationValue { word = try readWord() }
        let size = Int(Int32(bitPattern: word))
        if size == 0 { return nil }
        guard size > 0 else { throw ArrowError.invalidIPC("negative metadata size \(size)") }
        guard size <= bytes.count - cursor else {
            throw ArrowError.truncated("metadata of \(size) bytes at \(cursor), \(bytes.count - cursor) left")
        }
        let message = try MessageDecoder.decode(bytes.slice(cursor, size))
        cursor += size
        guard message.bodyLength <= bytes.count - cursor else {
            throw ArrowError.truncated("body of \(message.bodyLength) bytes at \(cursor), \(bytes.count - cursor) left")
        }
        let body = bytes.slice(cursor, message.bodyLength)
        return (message, body, cursor + message.bodyLength)
    }
}
