import Arrow
import CDuckDB

/// What kind of statement DuckDB parsed (`duckdb_statement_type`).
public enum StatementType: Int32, Sendable {
    case invalid = 0, select, insert, update, explain, delete, prepare, create, execute, alter,
        transaction, copy, analyze, variableSet, createFunction, drop, export, pragma, vacuum,
        call, set, load, relation, `extension`, logicalPlan, attach, detach, multi, copyDatabase,
        updateExtensions, mergeInto
}

/// A prepared statement with typed parameter binding.
public final class PreparedStatement: @unchecked Sendable {
    let connection: Connection
    var handle: duckdb_prepared_statement?

    init(connection: Connection, handle: duckdb_prepared_statement?, state: duckdb_state) throws {
        self.connection = connection
        self.handle = handle
        if state != DuckDBSuccess || handle == nil {
            let message = handle.flatMap { duckdb_prepare_error($0) }.map { String(cString: $0) } ?? "could not prepare the statement"
            throw DuckDBError(message: message)
        }
    }

    deinit { duckdb_destroy_prepare(&handle) }

    public var statementType: StatementType {
        StatementType(rawValue: duckdb_prepared_statement_type(handle)) ?? .invalid
    }

    public var parameterCount: Int { Int(duckdb_nparams(handle)) }

    /// Parameter types DuckDB inferred (`.invalid` where it could not, e.g. `SELECT $1`).
    public var parameterTypes: [LogicalType] {
        (0..<parameterCount).map { i in
            guard let t = duckdb_param_logical_type(handle, idx_t(i + 1)) else { return .invalid }
            var owned: duckdb_logical_type? = t
            defer { duckdb_destroy_logical_type(&owned) }
            return LogicalType(borrowing: t)
        }
    }

    /// Result columns, known before execution.
    public var columns: [ColumnDescription] {
        (0..<Int(duckdb_prepared_statement_column_count(handle))).map { (i: Int) -> ColumnDescription in
            let name = duckdb_prepared_statement_column_name(handle, idx_t(i)).map { takeString(UnsafeMutablePointer(mutating: $0)) } ?? ""
            guard let t = duckdb_prepared_statement_column_logical_type(handle, idx_t(i)) else {
                return ColumnDescription(name: name, type: .invalid, alias: nil)
            }
            var owned: duckdb_logical_type? = t
            defer { duckdb_destroy_logical_type(&owned) }
            return ColumnDescription(name: name, borrowing: t)
        }
    }

    /// The Arrow schema of the result, known before execution; nil when DuckDB cannot tell
    /// yet (a column whose type depends on a parameter).
    public func arrowSchema() throws -> Schema? {
        connection.lock.lock()
        defer { connection.lock.unlock() }
        let count = Int(duckdb_prepared_statement_column_count(handle))
        var types: [duckdb_logical_type?] = (0..<count).map { duckdb_prepared_statement_column_logical_type(handle, idx_t($0)) }
        let names = (0..<count).map { i in
            duckdb_prepared_statement_column_name(handle, idx_t(i)).map { takeString(UnsafeMutablePointer(mutating: $0)) } ?? ""
        }
        if types.contains(where: { $0 == nil || duckdb_get_type_id($0) == DUCKDB_TYPE_INVALID }) {
            for i in types.indices { duckdb_destroy_logical_type(&types[i]) }
            return nil
        }
        var options: duckdb_arrow_options?
        duckdb_connection_get_arrow_options(connection.handle, &options)
        defer { duckdb_destroy_arrow_options(&options) }
        return try ArrowSchemaConversion.schema(types: &types, names: names, options: options)
    }

    /// Binds all parameters (1-based in SQL: `$1` is `values[0]`).
    public func bind(_ values: [DuckDBValue]) throws {
        guard values.count == parameterCount else {
            throw DuckDBError(.invalidInput, "the statement has \(parameterCount) parameter(s) but \(values.count) value(s) were given")
        }
        duckdb_clear_bindings(handle)
        for (i, value) in values.enumerated() {
            if case .null = value {
                guard duckdb_bind_null(handle, idx_t(i + 1)) == DuckDBSuccess else { throw bindError(i) }
                continue
            }
            var v: duckdb_value? = try value.makeHandle()
            defer { duckdb_destroy_value(&v) }
            guard duckdb_bind_value(handle, idx_t(i + 1), v) == DuckDBSuccess else { throw bindError(i) }
        }
    }

    private func bindError(_ i: Int) -> DuckDBError {
        let message = duckdb_prepare_error(handle).map { String(cString: $0) } ?? "could not bind parameter $\(i + 1)"
        return DuckDBError(message: message)
    }

    /// Starts execution and returns a result that produces chunks as they are read.
    public func execute() throws -> StreamingResult {
        connection.lock.lock()
        defer { connection.lock.unlock() }
        var pending: duckdb_pending_result?
        if duckdb_pending_prepared_streaming(handle, &pending) != DuckDBSuccess {
            let message = pending.flatMap { duckdb_pending_error($0) }.map { String(cString: $0) } ?? "could not start the query"
            duckdb_destroy_pending(&pending)
            throw DuckDBError(message: message)
        }
        defer { duckdb_destroy_pending(&pending) }
        var result = duckdb_result()
        if duckdb_execute_pending(pending, &result) != DuckDBSuccess {
            let message = duckdb_result_error(&result).map { String(cString: $0) }
                ?? pending.flatMap { duckdb_pending_error($0) }.map { String(cString: $0) }
                ?? "query failed"
            let type = duckdb_result_error_type(&result)
            duckdb_destroy_result(&result)
            throw DuckDBError(type, message: message)
        }
        return StreamingResult(connection: connection, statement: self, result: result)
    }
}
