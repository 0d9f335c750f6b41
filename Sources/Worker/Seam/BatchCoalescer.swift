import Arrow

/// Pulls a query's batches for Flight (DoGet in `serve`, a worker's Execute stream in
/// cluster mode) and joins the small chunks DuckDB emits after filters
/// (a 2% filter leaves ~40 rows in each 2048-row chunk) into batches of at least
/// `targetRows` rows, so that a selective query does not reach the client as thousands of
/// tiny batches, each with its own per-batch cost. Full chunks pass through untouched:
/// joining them into bigger batches measured slower with pyarrow.flight (larger gRPC
/// messages cost its client more than the batches saved). Columns of nested or dictionary
/// types are passed on as they come.
///
/// Used by one task at a time (the sender's loop and its one read-ahead never overlap).
public final class BatchCoalescer: @unchecked Sendable {
    /// DuckDB's own chunk size (STANDARD_VECTOR_SIZE).
    static let targetRows = 2048
    static let targetBytes = 1 << 20
    /// Never joined past this, so a message stays well under clients' 16 MiB default limit
    /// (ADBC's); a chunk that would cross it starts the next batch.
    static let maximumBytes = 12 << 20

    private let source: @Sendable () async throws -> RecordBatch?
    private var carried: RecordBatch?
    private var finished = false

    /// `source` gives the next batch of the result, nil at its end.
    public init(_ source: @escaping @Sendable () async throws -> RecordBatch?) { self.source = source }

    /// The next batches to send (one joined batch, or one batch that cannot be joined);
    /// empty at the end of the result.
    public func next() async throws -> [RecordBatch] {
        var parts: [RecordBatch] = []
        var rows = 0, bytes = 0
        while let batch = try await pull() {
            let joinable = RecordBatch.canConcatenate(batch.schema)
            if !parts.isEmpty && (!joinable || bytes + batch.bufferBytes > Self.maximumBytes) {
                carried = batch
                break
            }
            parts.append(batch)
            rows += batch.length
            bytes += batch.bufferBytes
            if !joinable || rows >= Self.targetRows || bytes >= Self.targetBytes { break }
        }
        if parts.count > 1, let joined = RecordBatch.concatenate(parts) { return [joined] }
        return parts
    }

    private func pull() async throws -> RecordBatch? {
        if let batch = carried {
            carried = nil
            return batch
        }
        guard !finished else { return nil }
        guard let batch = try await source() else {
            finished = true
            return nil
        }
        return batch
    }
}
