import Arrow
import CArrowABI
import CDuckDB
import Foundation

/// The result of one statement. Rows are produced chunk by chunk as the caller asks for
/// them, so a result is never materialised; reading slower simply makes DuckDB wait.
public final class StreamingResult: @unchecked Sendable {
    let connection: Connection
    /// Kept so the statement outlives the result that reads from it.
    let statement: PreparedStatement
    var result: duckdb_result
    public let columns: [ColumnDescription]
    public let statementType: StatementType
    /// Rows inserted, updated or deleted; nil for statements that return rows.
    public let rowsChanged: Int?
    private var finished = false
    private lazy var arrowOptions: duckdb_arrow_options? = {
        var opts: duckdb_arrow_options?
        duckdb_connection_get_arrow_options(connection.handle, &opts)
        return opts
    }()
    private var cachedArrowSchema: Schema?

    init(connection: Connection, statement: PreparedStatement, result: duckdb_result) {
        self.connection = connection
        self.statement = statement
        self.result = result
        let count = Int(duckdb_column_count(&self.result))
        var columns: [ColumnDescription] = []
        for i in 0..<count {
            let name = duckdb_column_name(&self.result, idx_t(i)).map { String(cString: $0) } ?? ""
            var t = duckdb_column_logical_type(&self.result, idx_t(i))
            if let lt = t {
                columns.append(ColumnDescription(name: name, borrowing: lt))
                duckdb_destroy_logical_type(&t)
            } else {
                columns.append(ColumnDescription(name: name, type: .invalid, alias: nil))
            }
        }
        self.columns = columns
        statementType = StatementType(rawValue: duckdb_result_statement_type(result)) ?? .invalid
        rowsChanged = duckdb_result_return_type(result) == DUCKDB_RESULT_TYPE_CHANGED_ROWS
            ? Int(duckdb_rows_changed(&self.result)) : nil
    }

    deinit {
        if arrowOptions != nil { duckdb_destroy_arrow_options(&arrowOptions) }
        duckdb_destroy_result(&result)
    }

    /// Whether the statement returns rows (as opposed to a count or nothing).
    public var returnsRows: Bool { duckdb_result_return_type(result) == DUCKDB_RESULT_TYPE_QUERY_RESULT }

    /// The next chunk of rows, or nil at the end. Throws if the query failed or was
    /// interrupted while producing it.
    public func nextChunk() throws -> DataChunk? {
        guard !finished else { return nil }
        connection.lock.lock()
        defer { connection.lock.unlock() }
        guard let chunk = duckdb_fetch_chunk(result) else {
            finished = true
            if let error = duckdb_result_error(&result) {
                throw DuckDBError(duckdb_result_error_type(&result), message: String(cString: error))
            }
            return nil
        }
        let dc = DataChunk(handle: chunk)
        if dc.count == 0 {
            // DuckDB may hand out an empty chunk at the end of a stream.
            finished = true
            return nil
        }
        return dc
    }

    // MARK: - Arrow

    /// The Arrow schema of the result, as DuckDB's own converter produces it.
    public func arrowSchema() throws -> Schema {
        if let cachedArrowSchema { return cachedArrowSchema }
        var types: [duckdb_logical_type?] = (0..<columns.count).map { duckdb_column_logical_type(&result, idx_t($0)) }
        let imported = try ArrowSchemaConversion.schema(types: &types, names: columns.map(\.name), options: arrowOptions)
        cachedArrowSchema = imported
        return imported
    }

    /// The next chunk as an Arrow record batch whose buffers stay in DuckDB's memory
    /// (no copy) until the batch is dropped; nil at the end.
    public func nextArrowBatch() throws -> RecordBatch? {
        let schema = try arrowSchema()
        guard let chunk = try nextChunk() else { return nil }
        var array = ArrowArray()
        try withUnsafeMutablePointer(to: &array) { ptr in
            try check(duckdb_data_chunk_to_arrow(arrowOptions, chunk.handle, ptr))
        }
        return try withUnsafeMutablePointer(to: &array) { try CDataImport.importRecordBatch($0, schema: schema) }
    }
}

/// A chunk of rows in DuckDB's own vector format.
public final class DataChunk: @unchecked Sendable {
    var handle: duckdb_data_chunk?

    init(handle: duckdb_data_chunk) { self.handle = handle }

    deinit { duckdb_destroy_data_chunk(&handle) }

    public var count: Int { Int(duckdb_data_chunk_get_size(handle)) }
    public var columnCount: Int { Int(duckdb_data_chunk_get_column_count(handle)) }
}
