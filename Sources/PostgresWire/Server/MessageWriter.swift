import NIOCore

/// The connection's outgoing bytes: messages are collected in one buffer and written when
/// the protocol says the client waits (ReadyForQuery, Flush) or when the buffer is full.
/// A write suspends while the socket is full, and the next batch is only pulled after it:
/// backpressure from the client's socket to DuckDB.
final class MessageWriter {
    typealias Outbound = NIOAsyncChannelOutboundWriter<ByteBuffer>

    let outbound: Outbound
    let allocator: ByteBufferAllocator
    var buffer: ByteBuffer
    /// Collected bytes beyond which the buffer is written without waiting for a Flush.
    let flushThreshold: Int
    /// Told the size of each write (the bytes-sent metric).
    let onWrite: (@Sendable (Int) -> Void)?

    init(outbound: Outbound, allocator: ByteBufferAllocator, flushThreshold: Int, onWrite: (@Sendable (Int) -> Void)? = nil) {
        self.outbound = outbound
        self.allocator = allocator
        self.flushThreshold = flushThreshold
        self.onWrite = onWrite
        buffer = allocator.buffer(capacity: 4096)
    }

    func send(_ message: BackendMessage) {
        buffer.writeBackendMessage(message)
    }

    func flush() async throws {
        guard buffer.readableBytes > 0 else { return }
        let full = buffer
        buffer = allocator.buffer(capacity: 4096)
        try await outbound.write(full)
        onWrite?(full.readableBytes)
    }

    /// Writes when enough has collected; called between rows.
    func flushIfFull() async throws {
        if buffer.readableBytes >= flushThreshold { try await flush() }
    }
}
