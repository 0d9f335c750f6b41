import Arrow
import DuckDB
import Synchronization

/// A running statement's result in this process. Each `next()` pulls one chunk from DuckDB
/// on the execution threads, in the session's turn, so a consumer that stops asking stops
/// DuckDB (backpressure). Batches reference DuckDB's memory until they are dropped.
final class EmbeddedResultStream: ResultStream {
    let result: StreamingResult
    let session: EmbeddedSession
    /// IPC encoding state (dictionary ids) for `nextMessages()`.
    private let writer = Mutex<IPCStreamWriter?>(nil)
    private let closed = Mutex(false)

    init(result: StreamingResult, session: EmbeddedSession) {
        self.result = result
        self.session = session
    }

    var columns: [ColumnDescription] { result.columns }
    var statementType: StatementType { result.statementType }
    var rowsChanged: Int? { result.rowsChanged }

    func schema() async throws -> Schema {
        let result = self.result
        return try await session.perform { _ in try result.arrowSchema() }
    }

    func next() async throws -> RecordBatch? {
        guard !closed.withLock({ $0 }) else { return nil }
        let result = self.result
        let batch = try await session.perform { _ in try result.nextArrowBatch() }
        if batch == nil { close() }
        return batch
    }

    func nextMessages() async throws -> [IPCMessage]? {
        guard let batch = try await next() else { return nil }
        let schema = try await self.schema()
        return try writer.withLock { w in
            if w == nil { w = IPCStreamWriter(schema: schema) }
            return try w!.messages(for: batch)
        }
    }

    func close() {
        closed.withLock { $0 = true }
    }
}
