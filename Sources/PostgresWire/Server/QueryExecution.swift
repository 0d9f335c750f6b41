import Arrow
import Foundation
import DuckDB
import NIOCore
import Scheduler

extension PostgresConnection {
    // MARK: - Simple query

    func simpleQuery(_ sql: String, _ outbound: Outbound) async {
        let statements = SQLSplitter.split(sql)
        if statements.isEmpty {
            out.writeBackendMessage(.emptyQueryResponse)
            return
        }
        // Several statements in one string run in one implicit transaction, as in
        // PostgreSQL, unless they manage transactions themselves.
        let implicit = statements.count > 1 && transaction == .idle
            && statements.allSatisfy { StatementClassifier.transactionEffect($0) == .none && !StatementClassifier.isSavepointCommand($0) }
        if implicit, let session {
            do {
                try await materializeOpenPortals()
                try await session.run { try $0.execute("BEGIN TRANSACTION") }
            } catch {
                report(error, sql: nil)
                return
            }
        }
        for text in statements {
            do {
                // statement_timeout covers parsing too, as in PostgreSQL.
                let done = try await withStatementTimeout { () async throws -> Bool in
                    let info = try await prepare(text, parameterOIDs: [])
                    let portal = Portal(info: info, parameters: [], resultFormats: [])
                    if try await beginTransactionGate(info, portal, outbound) { return false }
                    try await executePortal(portal, maxRows: 0, describe: true, outbound)
                    portal.close()
                    return true
                }
                if !done { continue }
            } catch {
                if channel.isActive == false { return }
                report(error, sql: text)
                if implicit, let session { _ = try? await session.run { try $0.execute("ROLLBACK") } }
                return
            }
        }
        if implicit, let session {
            do {
                try await session.run { try $0.execute("COMMIT") }
            } catch {
                report(error, sql: nil)
            }
        }
    }

    /// Runs `body` under the session's statement_timeout: when it expires, the statement is
    /// cancelled and fails with 57014, as in PostgreSQL.
    func withStatementTimeout<T>(_ body: () async throws -> T) async throws -> T {
        guard statementTimeout > 0, let session else { return try await body() }
        let fired = TimeoutFlag()
        let ms = statementTimeout
        let timer = Task {
            try await Task.sleep(for: .milliseconds(ms))
            fired.fire()
            session.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await body()
        } catch {
            if fired.hasFired {
                throw ErrorFields(sqlState: SQLState.queryCanceled, message: "canceling statement due to statement timeout")
            }
            throw error
        }
    }

    /// Handles statements in a failed transaction block and transaction control.
    /// Returns true when the statement was fully answered here.
    func beginTransactionGate(_ info: PreparedInfo, _ portal: Portal, _ outbound: Outbound) async throws -> Bool {
        guard transaction == .failed else { return false }
        switch StatementClassifier.transactionEffect(info.sql) {
        case .commit, .rollback:
            // Ending a failed block rolls it back (COMMIT reports ROLLBACK, as in PostgreSQL).
            guard let session else { return true }
            _ = try? await session.run { try $0.execute("ROLLBACK") }
            transaction = .idle
            out.writeBackendMessage(.commandComplete("ROLLBACK"))
            return true
        default:
            throw ErrorFields(sqlState: SQLState.inFailedSQLTransaction,
                              message: "current transaction is aborted, commands ignored until end of transaction block")
        }
    }

    // MARK: - Preparing

    func prepare(_ sql: String, parameterOIDs: [UInt32]) async throws -> PreparedInfo {
        guard let session else { throw ProtocolViolation("no session") }
        if SQLSplitter.isBlank(sql) { return PreparedInfo(sql: sql, statement: nil, clientParameterOIDs: parameterOIDs) }
        if let copy = try CopyCommand.parse(sql) {
            var statement: PreparedStatement?
            if case .out(let query) = copy.direction {
                try await materializeOpenPortals()
                guard case .run(let rewritten) = compatibility.rewrite(query) else {
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY needs a query that returns rows")
                }
                statement = try await session.prepare(rewritten)
            }
            return try checked(PreparedInfo(sql: sql, statement: statement, clientParameterOIDs: parameterOIDs, copy: copy))
        }
        if let command = try CursorCommand.parse(sql) {
            var statement: PreparedStatement?
            if case .declare(_, _, _, let query) = command {
                try await materializeOpenPortals()
                guard case .run(let rewritten) = compatibility.rewrite(query) else {
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "a cursor needs a query that returns rows")
                }
                statement = try await session.prepare(rewritten)
            }
            return try checked(PreparedInfo(sql: sql, statement: statement, clientParameterOIDs: parameterOIDs, cursor: command))
        }
        switch compatibility.rewrite(sql) {
        case .answer(let answer):
            return PreparedInfo(sql: sql, statement: nil, clientParameterOIDs: parameterOIDs, compat: answer)
        case .error(let fields):
            throw fields
        case .run(let rewritten):
            try await materializeOpenPortals()
            let statement = try await session.prepare(rewritten)
            return try checked(PreparedInfo(sql: sql, statement: statement, clientParameterOIDs: parameterOIDs))
        }
    }

    private func checked(_ info: PreparedInfo) throws -> PreparedInfo {
        try info.checkShape()
        return info
    }

    // MARK: - Extended query

    func parse(_ parse: FrontendMessage.Parse) async throws {
        if !parse.name.isEmpty, extended.statements[parse.name] != nil {
            throw ErrorFields(sqlState: SQLState.duplicatePreparedStatement, message: "prepared statement \"\(parse.name)\" already exists")
        }
        let splits = SQLSplitter.split(parse.query)
        if splits.count > 1 {
            throw ErrorFields(sqlState: SQLState.syntaxError, message: "cannot insert multiple commands into a prepared statement")
        }
        let info = try await withStatementTimeout {
            try await prepare(splits.first ?? "", parameterOIDs: parse.parameterTypes)
        }
        extended.statements[parse.name] = info
        out.writeBackendMessage(.parseComplete)
    }

    func bind(_ bind: FrontendMessage.Bind) async throws {
        guard let info = extended.statements[bind.statement] else {
            throw ErrorFields(sqlState: SQLState.undefinedPreparedStatement, message: "prepared statement \"\(bind.statement)\" does not exist")
        }
        if !bind.portal.isEmpty, extended.portals[bind.portal] != nil {
            throw ErrorFields(sqlState: "42P03", message: "portal \"\(bind.portal)\" already exists")
        }
        let expected = info.parameterTypes.count
        guard bind.parameters.count == expected else {
            throw ErrorFields(sqlState: SQLState.protocolViolation,
                              message: "bind message supplies \(bind.parameters.count) parameters, but prepared statement \"\(bind.statement)\" requires \(expected)")
        }
        let formats = bind.parameterFormats
        guard formats.count <= 1 || formats.count == bind.parameters.count else {
            throw ErrorFields(sqlState: SQLState.protocolViolation, message: "bind message has \(formats.count) parameter formats but \(bind.parameters.count) parameters")
        }
        var values: [DuckDBValue] = []
        for (i, raw) in bind.parameters.enumerated() {
            let f: Int16 = formats.isEmpty ? 0 : (formats.count == 1 ? formats[0] : formats[i])
            guard f == 0 || f == 1 else { throw ErrorFields(sqlState: SQLState.protocolViolation, message: "invalid parameter format code \(f)") }
            let oid = i < info.clientParameterOIDs.count ? info.clientParameterOIDs[i] : 0
            values.append(try ParameterDecoder.decode(raw, format: f == 1 ? .binary : .text, oid: oid, target: info.parameterTypes[i]))
        }
        for f in bind.resultFormats where f != 0 && f != 1 {
            throw ErrorFields(sqlState: SQLState.protocolViolation, message: "invalid result format code \(f)")
        }
        extended.closePortal(bind.portal)
        extended.portals[bind.portal] = Portal(info: info, parameters: values, resultFormats: bind.resultFormats)
        out.writeBackendMessage(.bindComplete)
    }

    func describe(_ target: FrontendMessage.DescribeTarget, _ name: String) async throws {
        switch target {
        case .statement:
            guard let info = extended.statements[name] else {
                throw ErrorFields(sqlState: SQLState.undefinedPreparedStatement, message: "prepared statement \"\(name)\" does not exist")
            }
            out.writeBackendMessage(.parameterDescription(info.parameterOIDs))
            if case .fetch(let cursorName, _, false)? = info.cursor {
                let target = try cursorPortal(cursorName)
                try await start(target)
                out.writeBackendMessage(.rowDescription(rowDescription(target, formats: [])))
            } else if info.sendsRows && !info.isEmpty && info.compat == nil {
                let columns = info.columns.map { c in descriptor(c, format: .text) }
                out.writeBackendMessage(.rowDescription(columns))
            } else {
                out.writeBackendMessage(.noData)
            }
        case .portal:
            guard let portal = extended.portals[name] else {
                throw ErrorFields(sqlState: SQLState.invalidCursorName, message: "portal \"\(name)\" does not exist")
            }
            if case .fetch(let cursorName, _, false)? = portal.info.cursor {
                let target = try cursorPortal(cursorName)
                try await start(target)
                out.writeBackendMessage(.rowDescription(rowDescription(target, formats: portal.resultFormats)))
                return
            }
            guard !portal.info.isEmpty, portal.info.compat == nil, portal.info.cursor == nil else {
                out.writeBackendMessage(.noData)
                return
            }
            // Parameter types can change result types; the running result knows for sure.
            if portal.columns.contains(where: { $0.type == .invalid }) { try await start(portal) }
            if portal.sendsRows {
                out.writeBackendMessage(.rowDescription(rowDescription(portal)))
            } else {
                out.writeBackendMessage(.noData)
            }
        }
    }

    func execute(portal name: String, maxRows: Int, _ outbound: Outbound) async throws {
        guard let portal = extended.portals[name] else {
            throw ErrorFields(sqlState: SQLState.invalidCursorName, message: "portal \"\(name)\" does not exist")
        }
        if portal.info.isEmpty {
            out.writeBackendMessage(.emptyQueryResponse)
            return
        }
        if portal.finished {
            // Executing a completed portal again returns no more rows.
            out.writeBackendMessage(.commandComplete(commandTag(portal)))
            return
        }
        if !portal.started, try await beginTransactionGate(portal.info, portal, outbound) { return }
        try await withStatementTimeout {
            try await executePortal(portal, maxRows: maxRows, describe: false, outbound)
        }
    }

    /// Runs a portal to completion or `maxRows`: the common path of simple and extended
    /// queries. `describe` sends RowDescription first (simple query protocol).
    func executePortal(_ portal: Portal, maxRows: Int, describe: Bool, _ outbound: Outbound) async throws {
        if case .command(let tag, let status)? = portal.info.compat {
            for (k, v) in status { out.writeBackendMessage(.parameterStatus(k, v)) }
            out.writeBackendMessage(.commandComplete(tag))
            portal.finished = true
            return
        }
        if case .savepoint(let tag)? = portal.info.compat {
            portal.finished = true
            guard transaction != .idle else {
                throw ErrorFields(sqlState: "25P01", message: "\(tag) can only be used in transaction blocks")
            }
            out.writeBackendMessage(.commandComplete(tag))
            return
        }
        if case .statementTimeout(let ms)? = portal.info.compat {
            portal.finished = true
            statementTimeout = ms
            out.writeBackendMessage(.commandComplete("SET"))
            return
        }
        if case .deallocate(let name)? = portal.info.compat {
            portal.finished = true
            if let name {
                if extended.statements[name] != nil {
                    extended.closeStatement(name)
                } else if let session {
                    // A statement made with SQL PREPARE lives in DuckDB.
                    try await materializeOpenPortals()
                    try await session.execute("DEALLOCATE \(SQLText.identifier(name))")
                }
                out.writeBackendMessage(.commandComplete("DEALLOCATE"))
            } else {
                extended.statements = [:]
                out.writeBackendMessage(.commandComplete("DEALLOCATE ALL"))
            }
            return
        }
        if let command = portal.info.cursor {
            try await executeCursorCommand(command, portal, describe: describe, outbound)
            return
        }
        if let copy = portal.info.copy {
            try await executeCopy(copy, portal, outbound)
            return
        }
        try await start(portal)
        if describe && portal.sendsRows { out.writeBackendMessage(.rowDescription(rowDescription(portal))) }
        let (_, exhausted) = try await pump(portal, maxRows: maxRows, formats: portal.resultFormats, send: true, outbound)
        if !exhausted {
            out.writeBackendMessage(.portalSuspended)
            return
        }
        applyTransactionEffect(portal.info.sql)
        out.writeBackendMessage(.commandComplete(commandTag(portal)))
    }

    func cursorPortal(_ name: String) throws -> Portal {
        guard let portal = extended.portals[name] else {
            throw ErrorFields(sqlState: SQLState.invalidCursorName, message: "cursor \"\(name)\" does not exist")
        }
        return portal
    }

    func executeCursorCommand(_ command: CursorCommand, _ portal: Portal, describe: Bool, _ outbound: Outbound) async throws {
        portal.finished = true
        switch command {
        case .declare(let name, let binary, let hold, let query):
            if !hold && transaction == .idle {
                throw ErrorFields(sqlState: "25P01", message: "DECLARE CURSOR can only be used in transaction blocks")
            }
            if extended.portals[name] != nil {
                throw ErrorFields(sqlState: "42P03", message: "cursor \"\(name)\" already exists")
            }
            guard let statement = portal.info.statement else { throw ProtocolViolation("cursor without a query") }
            let info = PreparedInfo(sql: query, statement: statement, clientParameterOIDs: portal.info.clientParameterOIDs)
            let cursor = Portal(info: info, parameters: portal.parameters, resultFormats: binary ? [1] : [])
            cursor.holdable = hold
            extended.portals[name] = cursor
            out.writeBackendMessage(.commandComplete("DECLARE CURSOR"))
        case .fetch(let name, let count, let move):
            let target = try cursorPortal(name)
            try await start(target)
            let formats = describe ? target.resultFormats : portal.resultFormats
            if describe && !move { out.writeBackendMessage(.rowDescription(rowDescription(target, formats: formats))) }
            let (sent, _) = try await pump(target, maxRows: count ?? 0, formats: formats, send: !move, outbound)
            out.writeBackendMessage(.commandComplete("\(move ? "MOVE" : "FETCH") \(sent)"))
        case .close(let name):
            if let name {
                _ = try cursorPortal(name)
                extended.closePortal(name)
            } else {
                extended.closeAllPortals()
            }
            out.writeBackendMessage(.commandComplete("CLOSE CURSOR"))
        }
    }

    // MARK: - Running and streaming

    /// Starts the portal's query (admission, bind, execute) unless it already runs.
    func start(_ portal: Portal) async throws {
        guard !portal.started else { return }
        portal.started = true
        guard let session, let statement = portal.info.statement else { return }
        try await materializeOpenPortals(except: portal)
        let parameters = portal.parameters
        let cursor = try await session.startQuery { _ in
            try statement.bind(parameters)
            return try statement.execute()
        }
        portal.cursor = cursor
        portal.columns = cursor.result.columns
        try PreparedInfo.checkShape(columns: portal.columns.count, parameters: 0)
        if !portal.sendsRows {
            // DML and DDL: the count arrives as a one-row result.
            portal.rowsChanged = cursor.result.rowsChanged
            if let batch = try await cursor.next(), batch.length > 0, let first = batch.columns.first,
               case .int(64, _) = first.type, first.isValid(0) {
                portal.rowsChanged = Int(first.value(0, as: Int64.self))
            }
            while try await cursor.next() != nil {}
            cursor.close()
            portal.finished = true
        }
    }

    /// Sends up to `maxRows` rows (all if 0) of a started portal as DataRows in `formats`
    /// (or skips them when `send` is false). Returns the rows handled and whether the
    /// result is exhausted. Pulls the next batch only after the previous one was written.
    func pump(_ portal: Portal, maxRows: Int, formats: [Int16], send: Bool, _ outbound: Outbound) async throws -> (Int, Bool) {
        var sentNow = 0
        while !portal.finished {
            if maxRows > 0 && sentNow >= maxRows { return (sentNow, false) }
            if portal.pending == nil || portal.pendingRow >= portal.pending!.length {
                let next: RecordBatch?
                if !portal.buffered.isEmpty {
                    next = portal.buffered.removeFirst()
                } else if let cursor = portal.cursor {
                    next = try await cursor.next()
                } else {
                    next = nil
                }
                guard let batch = next else {
                    portal.finished = true
                    portal.cursor?.close()
                    break
                }
                portal.pending = batch
                portal.pendingRow = 0
            }
            let batch = portal.pending!
            // maxRows comes from the client (FETCH 9223372036854775807): the rows still to
            // send are counted down, never added to an index.
            let available = batch.length - portal.pendingRow
            let limit = portal.pendingRow + (maxRows > 0 ? min(available, maxRows - sentNow) : available)
            if send {
                let encoders = try encoders(portal, batch.schema, formats)
                for row in portal.pendingRow..<limit {
                    let start = out.writerIndex
                    out.writeInteger(UInt8(ascii: "D"))
                    let lengthIndex = out.writerIndex
                    out.writeInteger(Int32(0))
                    out.writeInteger(Int16(truncatingIfNeeded: encoders.count))
                    for (c, encoder) in encoders.enumerated() { encoder.encode(batch.columns[c], row: row, into: &out) }
                    let length = out.writerIndex - lengthIndex
                    guard length <= Self.maxRowBytes else {
                        out.moveWriterIndex(to: start)
                        throw ErrorFields(sqlState: SQLState.programLimitExceeded,
                                          message: "row \(portal.rowsSent + row - portal.pendingRow + 1) is \(length) bytes, more than a DataRow may hold (\(Self.maxRowBytes))")
                    }
                    out.setInteger(Int32(length), at: lengthIndex)
                    if out.readableBytes >= flushThreshold { try await flush(outbound) }
                }
            }
            sentNow += limit - portal.pendingRow
            portal.rowsSent += limit - portal.pendingRow
            portal.pendingRow = limit
        }
        portal.pending = nil
        return (sentNow, true)
    }

    /// PostgreSQL allocates at most 1 GB for one value; a row beyond that is refused (54000)
    /// rather than framed with a length that does not fit the protocol's Int32.
    static let maxRowBytes = 1 << 30

    func encoders(_ portal: Portal, _ schema: Schema, _ formats: [Int16]) throws -> [ColumnValueEncoder] {
        if let cached = portal.encoders, cached.formats == formats { return cached.encoders }
        let made = try portal.columns.indices.map { i in
            try ColumnValueEncoder(column: portal.columns[i], field: schema.fields[i], format: Portal.format(formats, i))
        }
        portal.encoders = (formats, made)
        return made
    }

    func commandTag(_ portal: Portal) -> String {
        StatementClassifier.commandTag(
            sql: portal.info.sql, type: portal.info.statementType, rowCount: portal.rowsSent, rowsChanged: portal.rowsChanged)
    }

    func applyTransactionEffect(_ sql: String) {
        switch StatementClassifier.transactionEffect(sql) {
        case .begin: transaction = .inTransaction
        case .commit, .rollback: transaction = .idle
        case .none: break
        }
    }

    func rowDescription(_ portal: Portal, formats: [Int16]? = nil) -> [BackendMessage.ColumnDescriptor] {
        let formats = formats ?? portal.resultFormats
        return portal.columns.indices.map { descriptor(portal.columns[$0], format: Portal.format(formats, $0)) }
    }

    func descriptor(_ column: ColumnDescription, format: PostgresFormat) -> BackendMessage.ColumnDescriptor {
        let t = PostgresTypeMapping.postgresType(for: column)
        return .init(name: column.name, typeOID: t.oid, typeSize: t.typlen, typeModifier: t.typmod, format: format.rawValue)
    }

    /// DuckDB runs one result per connection at a time. Before another statement starts,
    /// the rest of any suspended portal is read into memory so that it stays usable.
    func materializeOpenPortals(except keep: Portal? = nil) async throws {
        for portal in extended.portals.values where portal !== keep {
            guard let cursor = portal.cursor, !portal.finished else { continue }
            while let batch = try await cursor.next() { portal.buffered.append(batch) }
            cursor.close()
            portal.cursor = nil
        }
    }
}

/// Set once by the statement_timeout timer.
final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    func fire() { lock.withLock { fired = true } }
    var hasFired: Bool { lock.withLock { fired } }
}

/// Tavana's own version, reported to clients.
public enum TavanaBuild {
    public static let version = "0.1.0"
}
