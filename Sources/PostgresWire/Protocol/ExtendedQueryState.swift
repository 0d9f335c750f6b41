import Arrow
import DuckDB
import Scheduler
import Worker

/// A statement as the front door knows it: the worker's statement handle plus what
/// RowDescription and ParameterDescription need.
final class PreparedInfo: @unchecked Sendable {
    let sql: String
    /// nil for an empty query string and for statements answered without DuckDB.
    let statement: StatementHandle?
    let clientParameterOIDs: [UInt32]
    let parameterTypes: [LogicalType]
    let columns: [ColumnDescription]
    let statementType: StatementType
    /// Set for statements the compatibility layer answers itself.
    let compat: CompatibilityAnswer?
    /// Set for DECLARE / FETCH / MOVE / CLOSE (for DECLARE, `statement` is the cursor's query).
    let cursor: CursorCommand?
    /// Set for COPY to or from the client (for COPY TO STDOUT, `statement` is the query).
    let copy: CopyCommand?

    init(sql: String, statement: StatementHandle?, clientParameterOIDs: [UInt32], compat: CompatibilityAnswer? = nil, cursor: CursorCommand? = nil, copy: CopyCommand? = nil) {
        self.copy = copy
        self.sql = sql
        self.statement = statement
        self.clientParameterOIDs = clientParameterOIDs
        self.compat = compat
        self.cursor = cursor
        parameterTypes = statement?.description.parameterTypes ?? []
        columns = compat?.columns ?? statement?.description.columns ?? []
        statementType = statement?.description.statementType ?? .select
    }

    var isEmpty: Bool { statement == nil && compat == nil && cursor == nil && copy == nil }

    /// RowDescription counts columns and ParameterDescription parameters in 16 bits; SQL can
    /// ask for more (`SELECT 1, 1, ...` 40,000 times), which is refused here, before any
    /// message is framed.
    static func checkShape(columns: Int, parameters: Int) throws {
        guard columns <= Int(Int16.max) else {
            throw ErrorFields(sqlState: SQLState.tooManyColumns, message: "target lists can have at most \(Int16.max) entries (the statement returns \(columns) columns)")
        }
        guard parameters <= Int(UInt16.max) else {
            throw ErrorFields(sqlState: SQLState.programLimitExceeded,
                              message: "the statement has \(parameters) parameters; the protocol allows at most \(UInt16.max)")
        }
    }

    func checkShape() throws {
        try Self.checkShape(columns: columns.count, parameters: parameterTypes.count)
    }

    /// The OIDs reported in ParameterDescription: what the client declared, else what
    /// DuckDB inferred, else text (clients then send text that DuckDB casts).
    var parameterOIDs: [UInt32] {
        parameterTypes.indices.map { i in
            if i < clientParameterOIDs.count, clientParameterOIDs[i] != 0 { return clientParameterOIDs[i] }
            let t = parameterTypes[i]
            if t == .invalid || t == .sqlNull { return 25 }
            return PostgresTypeMapping.postgresType(for: ColumnDescription(name: "", type: t)).oid
        }
    }

    /// Whether the statement sends rows to the client. DML and DDL report a count instead
    /// (DuckDB returns it as a one-column "Count" result), unless they have RETURNING.
    var sendsRows: Bool {
        if copy != nil { return false }
        if let cursor {
            if case .fetch(_, _, let move) = cursor { return !move }
            return false
        }
        return Self.sendsRows(statementType, columns)
    }

    static func sendsRows(_ type: StatementType, _ columns: [ColumnDescription]) -> Bool {
        switch type {
        case .select, .explain, .pragma, .call, .execute, .relation, .invalid, .analyze, .extension, .logicalPlan, .multi:
            return !(columns.count == 1 && columns[0].name == "Success" && columns[0].type == .boolean)
        case .insert, .update, .delete, .mergeInto:
            return !(columns.count == 1 && columns[0].name == "Count")
        default:
            return false
        }
    }
}

/// A bound statement (portal) and, once it runs, its open result.
final class Portal: @unchecked Sendable {
    let info: PreparedInfo
    let parameters: [DuckDBValue]
    let resultFormats: [Int16]
    var cursor: QueryResult?
    /// Columns of the running result (may be more precise than the statement's).
    var columns: [ColumnDescription]
    /// Encoders for the result formats last used (FETCH may ask for other formats than Bind).
    var encoders: (formats: [Int16], encoders: [ColumnValueEncoder])?
    /// Declared WITH HOLD: survives the end of the transaction.
    var holdable = false
    var pending: RecordBatch?
    var pendingRow = 0
    /// Batches read ahead when another statement needed the DuckDB connection.
    var buffered: [RecordBatch] = []
    var rowsSent = 0
    var rowsChanged: Int?
    var started = false
    var finished = false

    init(info: PreparedInfo, parameters: [DuckDBValue], resultFormats: [Int16]) {
        self.info = info
        self.parameters = parameters
        self.resultFormats = resultFormats
        self.columns = info.columns
    }

    func format(ofColumn i: Int) -> PostgresFormat { Self.format(resultFormats, i) }

    static func format(_ formats: [Int16], _ i: Int) -> PostgresFormat {
        let raw: Int16 = formats.isEmpty ? 0 : (formats.count == 1 ? formats[0] : (i < formats.count ? formats[i] : 0))
        return raw == 1 ? .binary : .text
    }

    var sendsRows: Bool {
        if info.cursor != nil { return info.sendsRows }
        return PreparedInfo.sendsRows(info.statementType, columns)
    }

    func close() {
        cursor?.close()
        cursor = nil
        pending = nil
        buffered = []
        finished = true
    }
}

/// Named and unnamed prepared statements and portals of one connection. Removing one
/// returns the worker statements nothing refers to any more, which the caller closes
/// (statements are freed explicitly: the worker may be another process).
struct ExtendedQueryState {
    var statements: [String: PreparedInfo] = [:]
    var portals: [String: Portal] = [:]

    mutating func closeStatement(_ name: String) -> [StatementHandle] {
        guard let info = statements.removeValue(forKey: name) else { return [] }
        return unused([info.statement])
    }

    mutating func closePortal(_ name: String) -> [StatementHandle] {
        guard let portal = portals.removeValue(forKey: name) else { return [] }
        portal.close()
        return unused([portal.info.statement])
    }

    mutating func closeUnnamedPortal() -> [StatementHandle] { closePortal("") }

    mutating func closeAllPortals() -> [StatementHandle] {
        let all = Array(portals.values)
        for p in all { p.close() }
        portals = [:]
        return unused(all.map(\.info.statement))
    }

    /// End of a transaction: portals and cursors not declared WITH HOLD close.
    mutating func closeTransactionPortals() -> [StatementHandle] {
        var gone: [StatementHandle?] = []
        for (name, p) in portals where !p.holdable {
            p.close()
            portals[name] = nil
            gone.append(p.info.statement)
        }
        return unused(gone)
    }

    mutating func closeAll() -> [StatementHandle] {
        let handles = statements.values.map(\.statement) + portals.values.map(\.info.statement)
        for p in portals.values { p.close() }
        statements = [:]
        portals = [:]
        return unused(handles)
    }

    /// Of `candidates`, those no statement or portal refers to.
    func unused(_ candidates: [StatementHandle?]) -> [StatementHandle] {
        var result: [StatementHandle] = []
        for case let handle? in candidates where !result.contains(handle) {
            let used = statements.values.contains { $0.statement == handle } || portals.values.contains { $0.info.statement == handle }
            if !used { result.append(handle) }
        }
        return result
    }
}
