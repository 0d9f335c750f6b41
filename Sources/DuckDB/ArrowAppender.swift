import Arrow
import CArrowABI
import CDuckDB

/// Appends Arrow record batches to an existing table, through DuckDB's own Arrow reader and
/// its appender: no per-row work in Swift, every type DuckDB reads from Arrow (nested ones
/// included), and the rows join the connection's open transaction if there is one.
///
/// Not thread-safe; use it on one thread at a time, like its connection. `close()` writes
/// the rows still buffered; without it they are dropped.
public final class ArrowAppender: @unchecked Sendable {
    /// DuckDB turns Arrow into data chunks of at most this many rows.
    static let chunkRows = 2048

    let connection: Connection
    private var appender: duckdb_appender?
    private var converted: duckdb_arrow_converted_schema?
    public private(set) var rowsAppended = 0

    /// `catalog` and `schema` nil mean the connection's current ones.
    public init(connection: Connection, catalog: String?, schema: String?, table: String, arrowSchema: Schema) throws {
        self.connection = connection
        connection.lock.lock()
        defer { connection.lock.unlock() }
        var c = ArrowSchema()
        CDataExport.exportSchema(arrowSchema, into: &c)
        defer { tavana_arrow_schema_release(&c) }
        var types: duckdb_arrow_converted_schema?
        try check(duckdb_schema_from_arrow(connection.handle, &c, &types))
        converted = types
        var a: duckdb_appender?
        if duckdb_appender_create_ext(connection.handle, catalog, schema, table, &a) != DuckDBSuccess {
            let error = Self.error(of: a, fallback: "could not open an appender on \(table)")
            duckdb_appender_destroy(&a)
            destroyConverted()
            throw error
        }
        appender = a
    }

    deinit {
        duckdb_appender_destroy(&appender)
        destroyConverted()
    }

    private func destroyConverted() {
        if converted != nil { duckdb_destroy_arrow_converted_schema(&converted) }
    }

    /// Appends every row of `batch` (whose schema must be the one given at creation).
    public func append(_ batch: RecordBatch) throws {
        guard let appender, let converted else { throw DuckDBError(.invalid, "the appender is closed") }
        connection.lock.lock()
        defer { connection.lock.unlock() }
        var start = 0
        while start < batch.length {
            let count = min(Self.chunkRows, batch.length - start)
            var array = ArrowArray()
            CDataExport.exportRecordBatch(batch, rows: start, count: count, into: &array)
            var chunk: duckdb_data_chunk?
            // DuckDB moves the array out (its release becomes NULL, so ours is a no-op) and
            // releases it with the chunk; the buffers stay alive through `batch` meanwhile.
            let conversion = duckdb_data_chunk_from_arrow(connection.handle, &array, converted, &chunk)
            tavana_arrow_array_release(&array)
            defer { if chunk != nil { duckdb_destroy_data_chunk(&chunk) } }
            try check(conversion)
            if duckdb_append_data_chunk(appender, chunk) != DuckDBSuccess {
                throw Self.error(of: appender, fallback: "could not append rows")
            }
            start += count
        }
        rowsAppended += batch.length
    }

    /// Writes the buffered rows to the table and closes the appender.
    public func close() throws {
        guard let a = appender else { return }
        connection.lock.lock()
        defer { connection.lock.unlock() }
        if duckdb_appender_close(a) != DuckDBSuccess {
            let error = Self.error(of: a, fallback: "could not write the appended rows")
            duckdb_appender_destroy(&appender)
            throw error
        }
        duckdb_appender_destroy(&appender)
    }

    /// Drops the rows still buffered, without writing them (destroying an appender writes
    /// them, so an abandoned load must discard first).
    public func discard() {
        guard let a = appender else { return }
        connection.lock.lock()
        defer { connection.lock.unlock() }
        _ = duckdb_appender_clear(a)
        duckdb_appender_destroy(&appender)
    }

    private static func error(of appender: duckdb_appender?, fallback: String) -> any Error {
        guard let appender else { return DuckDBError(.invalid, fallback) }
        do {
            try check(duckdb_appender_error_data(appender))
        } catch {
            return error
        }
        return DuckDBError(.invalid, fallback)
    }
}
