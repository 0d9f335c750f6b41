import Arrow
import DuckDB
import Synchronization
import Worker

/// A worker without DuckDB, for front-door and Scheduler tests: statements are answered
/// from a script of SQL text → result, every call is recorded, and transactions, pins and
/// interrupts behave as the seam promises. Tests of the real engine use `EmbeddedWorker`.
public final class FakeWorker: WorkerService {
    /// What a statement does when it runs.
    public struct Script: Sendable {
        public var description: StatementDescription
        public var batches: [RecordBatch]
        public var rowsChanged: Int?
        /// Thrown by prepare instead of describing the statement.
        public var prepareError: DuckDBError?
        /// Thrown by execute.
        public var executeError: DuckDBError?
        /// How long execute takes before its first rows (a slow query); cancelling the
        /// task that waits for it ends the wait.
        public var executeDelay: Duration?

        public init(description: StatementDescription, batches: [RecordBatch] = [], rowsChanged: Int? = nil,
                    prepareError: DuckDBError? = nil, executeError: DuckDBError? = nil) {
            self.description = description
            self.batches = batches
            self.rowsChanged = rowsChanged
            self.prepareError = prepareError
            self.executeError = executeError
        }

        /// A query returning one BIGINT column `name` with these values.
        public static func integers(_ name: String, _ values: [Int64]) -> Script {
            let schema = Schema([Field(name, .int(bitWidth: 64, signed: true), nullable: true)])
            let data = values.withUnsafeBytes { Buffer(copying: Array($0)) }
            let column = ArrayData(type: .int(bitWidth: 64, signed: true), length: values.count, nullCount: 0,
                                   buffers: [.empty, data])
            return Script(
                description: StatementDescription(statementType: .select, parameterTypes: [],
                                                  columns: [ColumnDescription(name: name, type: .bigint)], arrowSchema: schema),
                batches: values.isEmpty ? [] : [RecordBatch(schema: schema, columns: [column], length: values.count)])
        }

        /// A statement without rows (DDL, DML), of DuckDB statement type `type`.
        public static func command(_ type: StatementType, rowsChanged: Int? = nil) -> Script {
            Script(description: StatementDescription(statementType: type, parameterTypes: [], columns: [], arrowSchema: Schema([])),
                   rowsChanged: rowsChanged)
        }

        /// A statement DuckDB refuses when preparing it.
        public static func failing(_ error: DuckDBError) -> Script {
            Script(description: StatementDescription(statementType: .invalid, parameterTypes: [], columns: [], arrowSchema: nil),
                   prepareError: error)
        }
    }

    public enum Call: Sendable, Equatable {
        case open(user: String, setup: [String])
        case prepare(String)
        case execute(String, parameters: [DuckDBValue])
        case run(String)
        case closeStatement(String)
        case begin, commit, rollback, interrupt, close
    }

    private struct State {
        var scripts: [String: Script] = [:]
        var calls: [Call] = []
        var vocabulary = FakeWorker.defaultVocabulary
    }

    private let state = Mutex(State())

    public init(_ scripts: [String: Script] = [:]) {
        state.withLock { $0.scripts = scripts }
    }

    public func script(_ sql: String, _ script: Script) {
        state.withLock { $0.scripts[sql] = script }
    }

    /// Every call any session made, in order.
    public var calls: [Call] { state.withLock { $0.calls } }

    func record(_ call: Call) { state.withLock { $0.calls.append(call) } }

    func lookup(_ sql: String) -> Script? { state.withLock { $0.scripts[sql] } }

    public func openSession(_ options: SessionOptions) async throws -> any WorkerSession {
        record(.open(user: options.user, setup: options.setup))
        return FakeSession(worker: self, user: options.user)
    }

    /// A few words of each kind, and casts among integers and text only.
    public static let defaultVocabulary: EngineVocabulary = {
        var v = EngineVocabulary()
        v.keywords = ["SELECT", "FROM", "QUALIFY"]
        v.numericFunctions = ["abs"]
        v.stringFunctions = ["lower"]
        v.systemFunctions = ["version"]
        v.datetimeFunctions = ["now"]
        v.typeNames = ["INTEGER", "BIGINT", "VARCHAR"]
        v.casts = ["INTEGER": ["BIGINT", "VARCHAR"], "BIGINT": ["INTEGER", "VARCHAR"], "VARCHAR": ["VARCHAR"]]
        return v
    }()

    public var engineVocabulary: EngineVocabulary {
        get { state.withLock { $0.vocabulary } }
        set { state.withLock { $0.vocabulary = newValue } }
    }

    public func vocabulary() async throws -> EngineVocabulary { engineVocabulary }
}

/// A session of `FakeWorker`. Unknown SQL fails as DuckDB's parser would fail it.
public final class FakeSession: WorkerSession {
    let worker: FakeWorker
    public let user: String

    private struct State {
        var nextID: UInt64 = 0
        var open: [UInt64: String] = [:]
        var pins: SessionPins = []
    }

    private let state = Mutex(State())

    init(worker: FakeWorker, user: String) {
        self.worker = worker
        self.user = user
    }

    public func prepare(_ sql: String) async throws -> StatementHandle {
        worker.record(.prepare(sql))
        guard let script = worker.lookup(sql) else {
            throw DuckDBError(.parser, "Parser Error: syntax error at or near \"\(sql.prefix(10))\"")
        }
        if let error = script.prepareError { throw error }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.open[s.nextID] = sql
            s.pins.insert(.preparedStatements)
            return s.nextID
        }
        return StatementHandle(id: id, description: script.description)
    }

    public func execute(_ statement: StatementHandle, parameters: [DuckDBValue]) async throws -> any ResultStream {
        guard let sql = state.withLock({ $0.open[statement.id] }), let script = worker.lookup(sql) else {
            throw DuckDBError(.invalidInput, "statement \(statement.id) is not open")
        }
        worker.record(.execute(sql, parameters: parameters))
        if let error = script.executeError { throw error }
        if let delay = script.executeDelay { try await Task.sleep(for: delay) }
        let upper = sql.uppercased()
        state.withLock { s in
            if upper.hasPrefix("BEGIN") { s.pins.insert(.transaction) }
            if upper.hasPrefix("COMMIT") || upper.hasPrefix("ROLLBACK") { s.pins.remove(.transaction) }
        }
        return FakeResultStream(script: script)
    }

    public func run(_ sql: String) async throws -> Int? {
        worker.record(.run(sql))
        guard let script = worker.lookup(sql) else {
            throw DuckDBError(.parser, "Parser Error: syntax error at or near \"\(sql.prefix(10))\"")
        }
        if let error = script.executeError ?? script.prepareError { throw error }
        return script.rowsChanged
    }

    public func closeStatement(_ statement: StatementHandle) async {
        let sql = state.withLock { s -> String? in
            let sql = s.open.removeValue(forKey: statement.id)
            if s.open.isEmpty { s.pins.remove(.preparedStatements) }
            return sql
        }
        if let sql { worker.record(.closeStatement(sql)) }
    }

    /// The statements this session has open (prepared and not closed), by SQL.
    public var openStatements: [String] { state.withLock { s in s.open.keys.sorted().compactMap { s.open[$0] } } }

    public func beginTransaction() async throws {
        worker.record(.begin)
        state.withLock { _ = $0.pins.insert(.transaction) }
    }

    public func commit() async throws {
        worker.record(.commit)
        state.withLock { _ = $0.pins.remove(.transaction) }
    }

    public func rollback() async throws {
        worker.record(.rollback)
        state.withLock { _ = $0.pins.remove(.transaction) }
    }

    public func loadArrow(_ request: ArrowLoadRequest) async throws -> any ArrowLoad {
        throw DuckDBError(.notImplemented, "Not implemented Error: the fake worker does not load Arrow")
    }

    public func loadCSV(_ request: CSVLoadRequest) async throws -> any CSVLoad {
        FakeCSVLoad()
    }

    public var pins: SessionPins { state.withLock { $0.pins } }

    public func interrupt() { worker.record(.interrupt) }

    public func close() async { worker.record(.close) }
}

final class FakeResultStream: ResultStream {
    let script: FakeWorker.Script
    private let position = Mutex(0)

    init(script: FakeWorker.Script) { self.script = script }

    var columns: [ColumnDescription] { script.description.columns }
    var statementType: StatementType { script.description.statementType }
    var rowsChanged: Int? { script.rowsChanged }

    func schema() async throws -> Schema { script.description.arrowSchema ?? Schema([]) }

    func next() async throws -> RecordBatch? {
        position.withLock { i -> RecordBatch? in
            guard i < script.batches.count else { return nil }
            defer { i += 1 }
            return script.batches[i]
        }
    }

    func nextMessages() async throws -> [IPCMessage]? {
        guard let batch = try await next() else { return nil }
        var writer = IPCStreamWriter(schema: try await schema())
        return try writer.messages(for: batch)
    }

    func close() { position.withLock { $0 = Int.max } }
}

/// Collects COPY bytes; `finish` reports one row per line.
public final class FakeCSVLoad: CSVLoad {
    private let bytes = Mutex<[UInt8]>([])

    public func write(_ data: [UInt8]) async throws { bytes.withLock { $0 += data } }

    public func finish() async throws -> Int { bytes.withLock { $0.filter { $0 == 0x0A }.count } }

    public func abort() async {}
}
