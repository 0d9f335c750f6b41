import CDuckDB
import Foundation

/// How far the running query of a connection has got.
public struct QueryProgress: Sendable, Equatable {
    /// 0...100, or -1 when DuckDB cannot tell (no query running, or not measurable).
    public var percentage: Double
    public var rowsProcessed: UInt64
    public var totalRowsToProcess: UInt64

    public init(percentage: Double, rowsProcessed: UInt64, totalRowsToProcess: UInt64) {
        self.percentage = percentage
        self.rowsProcessed = rowsProcessed
        self.totalRowsToProcess = totalRowsToProcess
    }
}

/// A connection to a `Database`. One statement runs at a time on a connection (calls are
/// serialised by a lock); `interrupt()` and `progress` may be called from any thread while
/// a query runs. The calls block: callers in async code run them on a thread of their own.
public final class Connection: @unchecked Sendable {
    let handle: duckdb_connection
    public let database: Database
    /// Serialises statement execution; DuckDB connections are not re-entrant.
    let lock = NSRecursiveLock()

    init(database: Database) throws {
        self.database = database
        var c: duckdb_connection?
        guard duckdb_connect(database.handle, &c) == DuckDBSuccess, let c else {
            throw DuckDBError(.connection, "could not connect to the database")
        }
        handle = c
        // Progress is only tracked while DuckDB's progress bar is on; it must never print.
        for setting in ["SET enable_progress_bar = true", "SET enable_progress_bar_print = false", "SET progress_bar_time = 0"] {
            var result = duckdb_result()
            defer { duckdb_destroy_result(&result) }
            _ = duckdb_query(handle, setting, &result)
        }
    }

    deinit {
        var c: duckdb_connection? = handle
        duckdb_disconnect(&c)
    }

    /// Asks the running query to stop; it then fails with an `.interrupt` error.
    public func interrupt() { duckdb_interrupt(handle) }

    public var progress: QueryProgress {
        let p = duckdb_query_progress(handle)
        return QueryProgress(percentage: p.percentage, rowsProcessed: p.rows_processed, totalRowsToProcess: p.total_rows_to_process)
    }

    /// Prepares one statement.
    public func prepare(_ sql: String) throws -> PreparedStatement {
        lock.lock()
        defer { lock.unlock() }
        var stmt: duckdb_prepared_statement?
        let state = duckdb_prepare(handle, sql, &stmt)
        return try PreparedStatement(connection: self, handle: stmt, state: state)
    }

    /// Splits `sql` into statements and prepares each (for simple-query protocols that
    /// accept several statements in one string). Statements are prepared lazily, one at a
    /// time, because each may depend on the ones before it (CREATE TABLE then INSERT).
    public func statements(_ sql: String) throws -> StatementList {
        lock.lock()
        defer { lock.unlock() }
        var extracted: duckdb_extracted_statements?
        let count = duckdb_extract_statements(handle, sql, &extracted)
        if count == 0 {
            let message = extracted.flatMap { duckdb_extract_statements_error($0) }.map { String(cString: $0) }
            duckdb_destroy_extracted(&extracted)
            if let message { throw DuckDBError(message: message) }
            return StatementList(connection: self, handle: nil, count: 0)
        }
        return StatementList(connection: self, handle: extracted, count: Int(count))
    }

    /// Runs every statement in `sql`, discarding results; returns the last statement's
    /// changed-row count, if it reports one.
    @discardableResult
    public func execute(_ sql: String) throws -> Int? {
        let list = try statements(sql)
        var changed: Int?
        for i in 0..<list.count {
            let result = try list.prepare(i).execute()
            while try result.nextChunk() != nil {}
            changed = result.rowsChanged
        }
        return changed
    }

    /// Runs one query and streams its result.
    public func query(_ sql: String, _ parameters: [DuckDBValue] = []) throws -> StreamingResult {
        let stmt = try prepare(sql)
        try stmt.bind(parameters)
        return try stmt.execute()
    }
}

/// Statements extracted from one SQL string, prepared on demand in order.
public final class StatementList: @unchecked Sendable {
    let connection: Connection
    var handle: duckdb_extracted_statements?
    public let count: Int

    init(connection: Connection, handle: duckdb_extracted_statements?, count: Int) {
        self.connection = connection
        self.handle = handle
        self.count = count
    }

    deinit { if handle != nil { duckdb_destroy_extracted(&handle) } }

    public func prepare(_ index: Int) throws -> PreparedStatement {
        precondition(index >= 0 && index < count, "statement index out of range")
        connection.lock.lock()
        defer { connection.lock.unlock() }
        var stmt: duckdb_prepared_statement?
        let state = duckdb_prepare_extracted_statement(connection.handle, handle, idx_t(index), &stmt)
        return try PreparedStatement(connection: connection, handle: stmt, state: state)
    }
}
