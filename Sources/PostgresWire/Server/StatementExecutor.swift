import Arrow
import DuckDB
import Foundation
import NIOCore
import Scheduler
import Worker

/// Does the statement work the connection's state machine asks for, through the
/// Scheduler's session: prepares, binds, describes and runs statements, streams their rows
/// as DataRows, answers what the compatibility layer answers itself, keeps the connection's
/// prepared statements, portals and cursors, and runs COPY. Each step ends in the event
/// that the state machine takes next.
final class StatementExecutor {
    typealias Event = ConnectionStateMachine.Event

    let session: Session
    let compatibility: Compatibility
    let writer: MessageWriter
    /// Longest line of COPY text data (the message size limit).
    let maxLineBytes: Int
    var extended = ExtendedQueryState()
    var copyIn: CopyInProgress?

    init(session: Session, compatibility: Compatibility, writer: MessageWriter, maxLineBytes: Int) {
        self.session = session
        self.compatibility = compatibility
        self.writer = writer
        self.maxLineBytes = maxLineBytes
    }

    var status: BackendMessage.TransactionStatus {
        switch session.transactionStatus {
        case .idle: return .idle
        case .inTransaction: return .inTransaction
        case .failed: return .failed
        }
    }

    var completed: Event { .stepCompleted(status: status) }

    /// The event for a failed step: the error in PostgreSQL's terms. Any error fails an open
    /// transaction block, including the front door's own (a parameter it could not decode).
    func failed(_ error: any Error, sql: String?) -> Event {
        session.noteError()
        return .stepFailed(ErrorTranslation.fields(for: error, sql: sql), status: status)
    }

    /// Runs a step, turning any error into its event.
    func step(sql: String? = nil, _ body: () async throws -> Event) async -> Event {
        do {
            return try await body()
        } catch {
            return failed(error, sql: sql)
        }
    }

    // MARK: - Simple query

    /// One statement of a simple query, with its RowDescription.
    func runSimple(_ text: String) async -> Event {
        await step(sql: text) {
            let portal = try await session.withStatementTimeout { () async throws -> Portal in
                // statement_timeout covers parsing too, as in PostgreSQL.
                let info = try await prepare(text, parameterOIDs: [])
                let portal = Portal(info: info, parameters: [], resultFormats: [])
                do {
                    try await executePortal(portal, maxRows: 0, describe: true)
                } catch {
                    await release(portal)
                    throw error
                }
                return portal
            }
            if copyIn != nil { return .copyInStarted }
            await release(portal)
            return completed
        }
    }

    func beginImplicitTransaction() async -> Event {
        await step {
            try await materializeOpenPortals()
            try await session.beginTransaction()
            return completed
        }
    }

    func endImplicitTransaction(commit: Bool) async -> Event {
        await step {
            if commit { try await session.commit() } else { try? await session.rollback() }
            return completed
        }
    }

    /// COMMIT or ROLLBACK of a failed block: rolls it back (COMMIT reports ROLLBACK too).
    func rollbackFailedTransaction() async -> Event {
        await step {
            try? await session.rollback()
            writer.send(.commandComplete("ROLLBACK"))
            return completed
        }
    }

    /// Sync, or the end of a Query.
    func endOfSequence() async {
        await close(extended.closeUnnamedPortal())
        if session.transactionStatus == .idle { await close(extended.closeTransactionPortals()) }
    }

    /// Frees worker statements nothing refers to any more.
    func close(_ handles: [StatementHandle]) async {
        for handle in handles { await session.close(handle) }
    }

    /// A portal of a simple query (not in `extended`): closed with its statement.
    func release(_ portal: Portal) async {
        portal.close()
        await close(extended.unused([portal.info.statement]))
    }

    /// The connection ends: everything it holds goes.
    func closeAll() async {
        copyIn?.abort()
        copyIn = nil
        await close(extended.closeAll())
    }

    // MARK: - Preparing

    func prepare(_ sql: String, parameterOIDs: [UInt32]) async throws -> PreparedInfo {
        if SQLSplitter.isBlank(sql) { return PreparedInfo(sql: sql, statement: nil, clientParameterOIDs: parameterOIDs) }
        if let copy = try CopyCommand.parse(sql) {
            var statement: StatementHandle?
            if case .out(let query) = copy.direction {
                try await materializeOpenPortals()
                guard case .run(let rewritten) = compatibility.rewrite(query) else {
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "COPY needs a query that returns rows")
                }
                statement = try await session.prepare(rewritten)
            }
            return try await checked(PreparedInfo(sql: sql, statement: statement, clientParameterOIDs: parameterOIDs, copy: copy))
        }
        if let command = try CursorCommand.parse(sql) {
            var statement: StatementHandle?
            if case .declare(_, _, _, let query) = command {
                try await materializeOpenPortals()
                guard case .run(let rewritten) = compatibility.rewrite(query) else {
                    throw ErrorFields(sqlState: SQLState.featureNotSupported, message: "a cursor needs a query that returns rows")
                }
                statement = try await session.prepare(rewritten)
            }
            return try await checked(PreparedInfo(sql: sql, statement: statement, clientParameterOIDs: parameterOIDs, cursor: command))
        }
        switch compatibility.rewrite(sql) {
        case .answer(let answer):
            return PreparedInfo(sql: sql, statement: nil, clientParameterOIDs: parameterOIDs, compat: answer)
        case .error(let fields):
            throw fields
        case .run(let rewritten):
            try await materializeOpenPortals()
            let statement = try await session.prepare(rewritten)
            return try await checked(PreparedInfo(sql: sql, statement: statement, clientParameterOIDs: parameterOIDs))
        }
    }

    private func checked(_ info: PreparedInfo) async throws -> PreparedInfo {
        do {
            try info.checkShape()
        } catch {
            if let handle = info.statement { await session.close(handle) }
            throw error
        }
        return info
    }

    // MARK: - Extended query

    func parse(_ parse: FrontendMessage.Parse) async -> Event {
        await step(sql: parse.query) {
            if !parse.name.isEmpty, extended.statements[parse.name] != nil {
                throw ErrorFields(sqlState: SQLState.duplicatePreparedStatement, message: "prepared statement \"\(parse.name)\" already exists")
            }
            let splits = SQLSplitter.split(parse.query)
            if splits.count > 1 {
                throw ErrorFields(sqlState: SQLState.syntaxError, message: "cannot insert multiple commands into a prepared statement")
            }
            let info = try await session.withStatementTimeout {
                try await prepare(splits.first ?? "", parameterOIDs: parse.parameterTypes)
            }
            // Parse of the unnamed statement replaces the one before.
            let replaced = extended.statements[parse.name]
            extended.statements[parse.name] = info
            await close(extended.unused([replaced?.statement]))
            writer.send(.parseComplete)
            return completed
        }
    }

    func bind(_ bind: FrontendMessage.Bind) async -> Event {
        await step {
            guard let info = extended.statements[bind.statement] else {
                throw ErrorFields(sqlState: SQLState.undefinedPreparedStatement, message: "prepared statement \"\(bind.statement)\" does not exist")
            }
            if !bind.portal.isEmpty, extended.portals[bind.portal] != nil {
                throw ErrorFields(sqlState: SQLState.duplicateCursor, message: "portal \"\(bind.portal)\" already exists")
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
            await close(extended.closePortal(bind.portal))
            extended.portals[bind.portal] = Portal(info: info, parameters: values, resultFormats: bind.resultFormats)
            writer.send(.bindComplete)
            return completed
        }
    }

    func describe(_ target: FrontendMessage.DescribeTarget, _ name: String) async -> Event {
        await step {
            switch target {
            case .statement:
                guard let info = extended.statements[name] else {
                    throw ErrorFields(sqlState: SQLState.undefinedPreparedStatement, message: "prepared statement \"\(name)\" does not exist")
                }
                writer.send(.parameterDescription(info.parameterOIDs))
                if case .fetch(let cursorName, _, false)? = info.cursor {
                    let target = try cursorPortal(cursorName)
                    try await start(target)
                    writer.send(.rowDescription(rowDescription(target, formats: [])))
                } else if info.sendsRows && !info.isEmpty && info.compat == nil {
                    writer.send(.rowDescription(info.columns.map { descriptor($0, format: .text) }))
                } else {
                    writer.send(.noData)
                }
            case .portal:
                guard let portal = extended.portals[name] else {
                    throw ErrorFields(sqlState: SQLState.invalidCursorName, message: "portal \"\(name)\" does not exist")
                }
                if case .fetch(let cursorName, _, false)? = portal.info.cursor {
                    let target = try cursorPortal(cursorName)
                    try await start(target)
                    writer.send(.rowDescription(rowDescription(target, formats: portal.resultFormats)))
                    return completed
                }
                guard !portal.info.isEmpty, portal.info.compat == nil, portal.info.cursor == nil else {
                    writer.send(.noData)
                    return completed
                }
                // Parameter types can change result types; the running result knows for sure.
                if portal.columns.contains(where: { $0.type == .invalid }) { try await start(portal) }
                writer.send(portal.sendsRows ? .rowDescription(rowDescription(portal)) : .noData)
            }
            return completed
        }
    }

    func execute(portal name: String, maxRows: Int32) async -> Event {
        await step(sql: extended.portals[name]?.info.sql) {
            guard let portal = extended.portals[name] else {
                throw ErrorFields(sqlState: SQLState.invalidCursorName, message: "portal \"\(name)\" does not exist")
            }
            if portal.info.isEmpty {
                writer.send(.emptyQueryResponse)
                return completed
            }
            if portal.finished {
                // Executing a completed portal again returns no more rows.
                writer.send(.commandComplete(commandTag(portal)))
                return completed
            }
            try await session.withStatementTimeout {
                try await executePortal(portal, maxRows: Int(maxRows), describe: false)
            }
            return copyIn != nil ? .copyInStarted : completed
        }
    }

    func closeStatement(_ name: String) async -> Event {
        await close(extended.closeStatement(name))
        writer.send(.closeComplete)
        return completed
    }

    func closePortal(_ name: String) async -> Event {
        await close(extended.closePortal(name))
        writer.send(.closeComplete)
        return completed
    }

    // MARK: - Running

    /// Runs a portal to completion or `maxRows`: the common path of simple and extended
    /// queries. `describe` sends RowDescription first (simple query protocol).
    func executePortal(_ portal: Portal, maxRows: Int, describe: Bool) async throws {
        if let answer = portal.info.compat {
            try await answerCompatibility(answer, portal)
            return
        }
        if let command = portal.info.cursor {
            try await executeCursorCommand(command, portal, describe: describe)
            return
        }
        if let copy = portal.info.copy {
            try await executeCopy(copy, portal)
            return
        }
        try await start(portal)
        if describe && portal.sendsRows { writer.send(.rowDescription(rowDescription(portal))) }
        let (_, exhausted) = try await pump(portal, maxRows: maxRows, formats: portal.resultFormats, send: true)
        if !exhausted {
            writer.send(.portalSuspended)
            return
        }
        writer.send(.commandComplete(commandTag(portal)))
    }

    func answerCompatibility(_ answer: CompatibilityAnswer, _ portal: Portal) async throws {
        portal.finished = true
        switch answer {
        case .command(let tag, let status):
            for (k, v) in status { writer.send(.parameterStatus(k, v)) }
            writer.send(.commandComplete(tag))
        case .savepoint(let tag):
            guard session.transactionStatus != .idle else {
                throw ErrorFields(sqlState: SQLState.noActiveSQLTransaction, message: "\(tag) can only be used in transaction blocks")
            }
            writer.send(.commandComplete(tag))
        case .statementTimeout(let ms):
            session.statementTimeout = .milliseconds(ms)
            writer.send(.commandComplete("SET"))
        case .deallocate(let name):
            if let name {
                if extended.statements[name] != nil {
                    await close(extended.closeStatement(name))
                } else {
                    // A statement made with SQL PREPARE lives in DuckDB.
                    try await materializeOpenPortals()
                    try await session.run("DEALLOCATE \(SQLText.identifier(name))")
                }
                writer.send(.commandComplete("DEALLOCATE"))
            } else {
                for name in extended.statements.keys { await close(extended.closeStatement(name)) }
                writer.send(.commandComplete("DEALLOCATE ALL"))
            }
        }
    }

    func cursorPortal(_ name: String) throws -> Portal {
        guard let portal = extended.portals[name] else {
            throw ErrorFields(sqlState: SQLState.invalidCursorName, message: "cursor \"\(name)\" does not exist")
        }
        return portal
    }

    func executeCursorCommand(_ command: CursorCommand, _ portal: Portal, describe: Bool) async throws {
        portal.finished = true
        switch command {
        case .declare(let name, let binary, let hold, let query):
            if !hold && session.transactionStatus == .idle {
                throw ErrorFields(sqlState: SQLState.noActiveSQLTransaction, message: "DECLARE CURSOR can only be used in transaction blocks")
            }
            if extended.portals[name] != nil {
                throw ErrorFields(sqlState: SQLState.duplicateCursor, message: "cursor \"\(name)\" already exists")
            }
            guard let statement = portal.info.statement else { throw ProtocolViolation("cursor without a query") }
            let info = PreparedInfo(sql: query, statement: statement, clientParameterOIDs: portal.info.clientParameterOIDs)
            let cursor = Portal(info: info, parameters: portal.parameters, resultFormats: binary ? [1] : [])
            cursor.holdable = hold
            extended.portals[name] = cursor
            writer.send(.commandComplete("DECLARE CURSOR"))
        case .fetch(let name, let count, let move):
            let target = try cursorPortal(name)
            try await start(target)
            let formats = describe ? target.resultFormats : portal.resultFormats
            if describe && !move { writer.send(.rowDescription(rowDescription(target, formats: formats))) }
            let (sent, _) = try await pump(target, maxRows: count ?? 0, formats: formats, send: !move)
            writer.send(.commandComplete("\(move ? "MOVE" : "FETCH") \(sent)"))
        case .close(let name):
            if let name {
                _ = try cursorPortal(name)
                await close(extended.closePortal(name))
            } else {
                await close(extended.closeAllPortals())
            }
            writer.send(.commandComplete("CLOSE CURSOR"))
        }
    }

    /// Starts the portal's query (admission, bind, execute) unless it already runs.
    func start(_ portal: Portal) async throws {
        guard !portal.started else { return }
        portal.started = true
        guard let statement = portal.info.statement else { return }
        try await materializeOpenPortals(except: portal)
        let result = try await session.execute(statement, parameters: portal.parameters)
        portal.cursor = result
        portal.columns = result.columns
        try PreparedInfo.checkShape(columns: portal.columns.count, parameters: 0)
        if !portal.sendsRows {
            // DML and DDL: the count arrives as a one-row result.
            portal.rowsChanged = result.rowsChanged
            if let batch = try await result.next(), batch.length > 0, let first = batch.columns.first,
               case .int(64, _) = first.type, first.isValid(0) {
                portal.rowsChanged = Int(first.value(0, as: Int64.self))
            }
            try await result.drain()
            result.close()
            portal.finished = true
        }
    }

    /// PostgreSQL allocates at most 1 GB for one value; a row beyond that is refused (54000)
    /// rather than framed with a length that does not fit the protocol's Int32.
    static let maxRowBytes = 1 << 30

    /// Sends up to `maxRows` rows (all if 0) of a started portal as DataRows in `formats`
    /// (or skips them when `send` is false). Returns the rows handled and whether the
    /// result is exhausted. Pulls the next batch only after the previous one was written.
    func pump(_ portal: Portal, maxRows: Int, formats: [Int16], send: Bool) async throws -> (Int, Bool) {
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
                    let frame = writer.buffer.beginDataRow(columns: encoders.count)
                    for (c, encoder) in encoders.enumerated() { encoder.encode(batch.columns[c], row: row, into: &writer.buffer) }
                    guard writer.buffer.endDataRow(frame, limit: Self.maxRowBytes) else {
                        throw ErrorFields(sqlState: SQLState.programLimitExceeded,
                                          message: "row \(portal.rowsSent + row - portal.pendingRow + 1) is more than a DataRow may hold (\(Self.maxRowBytes) bytes)")
                    }
                    try await writer.flushIfFull()
                }
            }
            sentNow += limit - portal.pendingRow
            portal.rowsSent += limit - portal.pendingRow
            portal.pendingRow = limit
        }
        portal.pending = nil
        return (sentNow, true)
    }

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
