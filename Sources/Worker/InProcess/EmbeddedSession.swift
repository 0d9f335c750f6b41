import Arrow
import DuckDB
import Foundation
import Synchronization

/// One session's DuckDB connection in this process. Its calls take turns (`SessionLock`):
/// client SQL is screened and parsed on the parse threads under the parse gate; execution
/// and fetching run on the execution threads.
public final class EmbeddedSession: WorkerSession {
    let connection: Connection
    public let user: String
    let worker: EmbeddedWorker
    let turn = SessionLock()

    private struct State {
        var nextID: UInt64 = 0
        var statements: [UInt64: PreparedStatement] = [:]
        var pins: SessionPins = []
        var closed = false
        /// Waits that `interrupt()` ends: a parse cannot be stopped, but its caller can stop
        /// waiting for it (the session's turn stays taken until the parse is really over).
        var nextHook: UInt64 = 0
        var interruptHooks: [UInt64: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    init(connection: Connection, user: String, worker: EmbeddedWorker) {
        self.connection = connection
        self.user = user
        self.worker = worker
    }

    // MARK: Statements

    public func prepare(_ sql: String) async throws -> StatementHandle {
        let text = try worker.screen.screen(sql)
        // The sandbox's check reads the whole text: it runs as part of the parse, where an
        // interrupt (a statement timeout) ends the wait for it.
        let worker = self.worker
        let (statement, description, effect) = try await parse { connection in
            let effect = try worker.check(text)
            let statement = try connection.prepare(text)
            let description = StatementDescription(
                statementType: statement.statementType, parameterTypes: statement.parameterTypes,
                columns: statement.columns, arrowSchema: try statement.arrowSchema())
            return (statement, description, effect)
        }
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            s.statements[s.nextID] = statement
            s.pins.insert(.preparedStatements)
            return s.nextID
        }
        effects.withLock { $0[id] = effect }
        return StatementHandle(id: id, description: description)
    }

    /// What each open statement does to the session's pins when it runs.
    private let effects = Mutex<[UInt64: SessionEffect]>([:])

    public func execute(_ handle: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        guard let statement = state.withLock({ $0.statements[handle.id] }) else {
            throw DuckDBError(.invalidInput, "prepared statement \(handle.id) is not open in this session")
        }
        let hasParameters = !parameters.isEmpty || statement.parameterCount > 0
        let result = try await perform { _ in
            if hasParameters { try statement.bind(parameters) }
            return try statement.execute()
        }
        if let effect = effects.withLock({ $0[handle.id] }) { apply(effect) }
        return EmbeddedResultStream(result: result, session: self)
    }

    public func run(_ sql: String) async throws -> Int? {
        let text = try worker.screen.screen(sql)
        let worker = self.worker
        let (effect, list) = try await parse { connection in
            (try worker.check(text), try connection.statements(text))
        }
        var changed: Int?
        for index in 0..<list.count {
            let statement = try await parse { _ in try list.prepare(index) }
            changed = try await perform { _ in
                let result = try statement.execute()
                while try result.nextChunk() != nil {}
                return result.rowsChanged
            }
        }
        apply(effect)
        return changed
    }

    public func closeStatement(_ handle: StatementHandle) async {
        let statement = state.withLock { s -> PreparedStatement? in
            let removed = s.statements.removeValue(forKey: handle.id)
            if s.statements.isEmpty { s.pins.remove(.preparedStatements) }
            return removed
        }
        effects.withLock { _ = $0.removeValue(forKey: handle.id) }
        // DuckDB frees it on the session's turn, after any call still using it.
        guard let statement else { return }
        _ = try? await perform { _ in withExtendedLifetime(statement) {} }
    }

    // MARK: Transactions

    public func beginTransaction() async throws {
        try await perform { try $0.execute("BEGIN TRANSACTION") }
        state.withLock { _ = $0.pins.insert(.transaction) }
    }

    public func commit() async throws {
        defer { state.withLock { _ = $0.pins.remove(.transaction) } }
        try await perform { try $0.execute("COMMIT") }
    }

    public func rollback() async throws {
        defer { state.withLock { _ = $0.pins.remove(.transaction) } }
        try await perform { try $0.execute("ROLLBACK") }
    }

    public var pins: SessionPins { state.withLock { $0.pins } }

    func apply(_ effect: SessionEffect) {
        state.withLock { s in
            switch effect {
            case .none, .createsPersistentObject: break
            case .beginsTransaction: s.pins.insert(.transaction)
            case .endsTransaction: s.pins.remove(.transaction)
            case .createsTemporaryObject: s.pins.insert(.temporaryObjects)
            case .changesSettings: s.pins.insert(.settings)
            }
        }
    }

    // MARK: Bulk loads

    public func loadArrow(_ request: ArrowLoadRequest) async throws -> any ArrowLoad {
        if !request.temporary { try worker.check(.createsPersistentObject) }
        let atomic = !pins.contains(.transaction)
        let create = try "CREATE \(request.temporary ? "TEMP " : "")TABLE \(request.qualifiedName) (\(ArrowLoadPlan.columnDefinitions(request.arrowSchema)))"
        let appender = try await perform { connection -> ArrowAppender in
            if atomic { try connection.execute("BEGIN TRANSACTION") }
            do {
                try ArrowLoadPlan.prepareTable(connection, request: request, create: create)
                return try ArrowAppender(connection: connection, catalog: request.catalog, schema: request.schema,
                                         table: request.table, arrowSchema: request.arrowSchema)
            } catch {
                if atomic { _ = try? connection.execute("ROLLBACK") }
                throw error
            }
        }
        if request.temporary { state.withLock { _ = $0.pins.insert(.temporaryObjects) } }
        return EmbeddedArrowLoad(session: self, appender: appender, atomic: atomic)
    }

    public func loadCSV(_ request: CSVLoadRequest) async throws -> any CSVLoad {
        try EmbeddedCSVLoad(session: self, request: request, folder: worker.spoolDirectory)
    }

    // MARK: Interrupt and close

    public func interrupt() {
        connection.interrupt()
        let hooks = state.withLock { Array($0.interruptHooks.values) }
        for hook in hooks { hook() }
    }

    public func close() async {
        let (statements, inTransaction) = state.withLock { s -> ([PreparedStatement], Bool) in
            defer {
                s.statements = [:]
                s.closed = true
            }
            return (Array(s.statements.values), s.pins.contains(.transaction))
        }
        interrupt()
        // The connection closes when the last reference goes; statements go first, on the
        // session's turn, and an open transaction is rolled back.
        _ = try? await perform { connection in
            if inTransaction { _ = try? connection.execute("ROLLBACK") }
            withExtendedLifetime(statements) {}
        }
    }

    // MARK: Turns on the connection

    /// Runs `body` on the worker's execution threads, in this session's turn.
    func perform<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await turn.lock()
        defer { turn.unlock() }
        let connection = self.connection
        do {
            return try await worker.threadPool.runIfActive { try body(connection) }
        } catch {
            worker.observe(error, user: user)
            throw error
        }
    }

    /// One call of work DuckDB cannot interrupt: in this session's turn, holding a parse
    /// permit, on the parse threads. Turn and permit go back when the call really ends;
    /// `interrupt()` (a cancel, a statement timeout, a disconnect) ends the wait at once.
    func parse<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        let connection = self.connection
        let worker = self.worker
        let user = self.user
        let turn = self.turn
        let task = Task { () async throws -> T in
            try await turn.lock()
            let permit: ParseGate.Permit
            do {
                permit = try await worker.parseGate.acquire(user: user)
            } catch {
                turn.unlock()
                throw error
            }
            return try await AbandonableJob.run(on: worker.parsePool, done: {
                permit.release()
                turn.unlock()
            }) {
                try body(connection)
            }
        }
        let id = state.withLock { s -> UInt64 in
            s.nextHook &+= 1
            s.interruptHooks[s.nextHook] = { task.cancel() }
            return s.nextHook
        }
        defer { _ = state.withLock { $0.interruptHooks.removeValue(forKey: id) } }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch is CancellationError {
            throw DuckDBError(.interrupt, "INTERRUPT Error: Interrupted!")
        } catch {
            worker.observe(error, user: user)
            throw error
        }
    }
}

/// How a statement changes what pins its session, read from its leading words (comments
/// already blanked by the screen).
enum SessionEffect: Sendable, Equatable {
    case none, beginsTransaction, endsTransaction, createsTemporaryObject, changesSettings
    /// CREATE of anything that outlives the session (a table, view, schema, macro, ...).
    case createsPersistentObject

    init(of sql: String) {
        var tokens = SQLTokens(Array(sql.utf8))
        var words: [String] = []
        while words.count < 4, let token = tokens.next() {
            if case .word(let w) = token { words.append(w) } else { break }
        }
        switch words.first {
        case "BEGIN", "START": self = .beginsTransaction
        case "COMMIT", "END", "ROLLBACK", "ABORT": self = .endsTransaction
        case "SET", "RESET", "USE", "PRAGMA": self = .changesSettings
        case "CREATE":
            let rest = words.dropFirst().drop { $0 == "OR" || $0 == "REPLACE" }
            self = rest.first == "TEMP" || rest.first == "TEMPORARY" ? .createsTemporaryObject
                : rest.first == "SECRET" || rest.first == "PERSISTENT" ? .none : .createsPersistentObject
        default: self = .none
        }
    }
}
