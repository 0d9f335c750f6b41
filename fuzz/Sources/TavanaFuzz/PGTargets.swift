import DuckDB
import NIOCore
import Scheduler
import Worker

@testable import PostgresWire

/// Every OID the parameter decoder knows, scalar and array, plus a few it does not.
let parameterOIDs: [UInt32] = {
    var oids: [UInt32] = [0, 705, 99_999, 1_000_000]
    for oid in UInt32(0)..<4_000 where PostgresType.known(oid: oid) != nil { oids.append(oid) }
    return oids
}()

/// Types DuckDB infers for parameters, which decoded values are coerced to.
let targetTypes: [LogicalType] = [
    .invalid, .boolean, .tinyint, .smallint, .integer, .bigint, .utinyint, .usmallint, .uinteger, .ubigint, .hugeint,
    .uhugeint, .float, .double, .decimal(width: 4, scale: 2), .decimal(width: 18, scale: 3), .decimal(width: 38, scale: 10),
    .decimal(width: 38, scale: 0), .varchar, .blob, .bit, .date, .time, .timeNS, .timeTZ, .timestamp, .timestampS,
    .timestampMS, .timestampNS, .timestampTZ, .interval, .uuid, .enum(["a", "b"]), .list(.integer), .list(.varchar),
    .list(.decimal(width: 10, scale: 2)), .list(.list(.integer)), .array(.double, size: 3), .list(.timestampTZ),
    .struct([("a", .integer)]), .map(key: .varchar, value: .integer), .other(99),
]

/// The pure steps a statement's text passes through before DuckDB sees it: the screen, the
/// compatibility rewriter, the classifiers and the COPY and cursor parsers. Errors are
/// rendered as ErrorResponse messages, as the connection would.
enum StatementProbe {
    static let compatibility = Compatibility(serverVersion: "15.0", tavanaVersion: "fuzz")
    static let screen = StatementScreen(maxBytes: 1 << 20)

    @discardableResult
    static func analyze(_ sql: String) -> CopyCommand? {
        _ = try? screen.screen(sql)
        _ = StatementClassifier.transactionEffect(sql)
        _ = StatementClassifier.isSavepointCommand(sql)
        for type in [StatementType.select, .insert, .create, .copy] {
            _ = StatementClassifier.commandTag(sql: sql, type: type, rowCount: 3, rowsChanged: 2)
        }
        _ = SQLSplitter.isBlank(sql)
        switch compatibility.rewrite(sql) {
        case .run(let text):
            do { _ = try screen.screen(text) } catch { render(error, sql: sql) }
        case .error(let fields): render(fields, sql: sql)
        case .answer: break
        }
        do { _ = try CursorCommand.parse(sql) } catch { render(error, sql: sql) }
        do {
            let copy = try CopyCommand.parse(sql)
            if let copy, case .out(let query) = copy.direction { _ = compatibility.rewrite(query) }
            return copy
        } catch {
            render(error, sql: sql)
            return nil
        }
    }

    static func render(_ error: any Error, sql: String?) {
        var out = ByteBuffer()
        out.writeBackendMessage(.error(ErrorTranslation.fields(for: error, sql: sql)))
    }
}

/// Bytes as a client sends them: framed into messages by the decoder (from the startup
/// packet, or after it), then handled by the connection's own state machine, with the work
/// it asks for modelled without DuckDB: authentication for real, statements through the
/// probe, Bind parameters through the decoder with the OIDs their Parse declared, COPY data
/// through the converter, and each step's outcome (completed, failed, COPY started) chosen
/// by a generator seeded from the input, so that every path of the state machine is reached.
enum PGMessagesTarget {
    // One PBKDF2 iteration keeps executions fast; the exchange is the same.
    static let key = Array(repeating: UInt8(7), count: 32)
    static let scram = CredentialStore(
        method: .scramSHA256, users: ["u": .scram(SCRAMVerifier(password: "secret", salt: Array(0..<16), iterations: 1))], saltKey: key)
    static let md5 = CredentialStore(method: .md5, users: ["u": StoredSecret.parse("secret")], saltKey: key)
    static let password = CredentialStore(method: .password, users: ["u": StoredSecret.parse("secret")], saltKey: key)

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let flags = input.byte()
        let outcomes = input.uint32()
        let auth = [CredentialStore.trust(), scram, md5, password][Int(flags >> 1) & 3]
        var model = ConnectionModel(auth: auth, seed: UInt64(outcomes))
        var expectingStartup = flags & 1 == 1
        if !expectingStartup { model.skipStartup() }
        var buffer = ByteBuffer(bytes: input.rest())
        while true {
            do {
                guard let message = try FrontendMessageDecoder.decodeOne(
                    from: &buffer, expectingStartup: &expectingStartup, maxMessageSize: 1 << 20) else { return }
                guard model.handle(message) else { return }
            } catch {
                StatementProbe.render(error, sql: nil)
                return
            }
        }
    }

    struct ConnectionModel {
        var machine: ConnectionStateMachine
        var statements: [String: [UInt32]] = [:]
        var copy: TextToCSV?
        var random: UInt64
        var status: BackendMessage.TransactionStatus = .idle

        init(auth: CredentialStore, seed: UInt64) {
            machine = ConnectionStateMachine(credentials: auth) { startup in [("application_name", startup.user ?? "")] }
            random = seed | 1
        }

        /// A connection that is past its startup (the input starts with typed messages).
        mutating func skipStartup() {
            let startup = FrontendMessage.StartupMessage(protocolVersion: 196_608, parameters: [("user", "u")])
            _ = perform(machine.handle(.message(.startup(startup))))
        }

        /// One bit of the step outcomes (xorshift).
        mutating func coin(_ oneIn: UInt64) -> Bool {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            return random % oneIn == 0
        }

        /// Handles one message; false once the connection would close.
        mutating func handle(_ message: FrontendMessage) -> Bool {
            if case .bind(let bind) = message { decodeParameters(bind) }
            if case .parse(let parse) = message {
                statements[parse.name] = parse.parameterTypes
                if SQLSplitter.split(parse.query).count <= 1 { prepare(parse.query) }
            }
            return perform(machine.handle(.message(message)))
        }

        /// Performs actions as the connection handler would, feeding outcomes back.
        mutating func perform(_ first: [ConnectionStateMachine.Action]) -> Bool {
            var actions = first[...]
            var steps = 0
            while let action = actions.popFirst() {
                steps += 1
                precondition(steps < 10_000, "the state machine does not settle")
                var buffer = ByteBuffer()
                switch action {
                case .send(let message): buffer.writeBackendMessage(message)
                case .flush, .endOfSequence, .cancel: break
                case .close: return false
                case .openSession:
                    actions += machine.handle(.sessionOpened(processID: 1, secretKey: 2, status: .idle))
                case .run(let sql):
                    let copyIn = prepare(sql)
                    if copyIn { actions += machine.handle(.copyInStarted) } else { actions += machine.handle(outcome(of: sql)) }
                case .beginImplicitTransaction:
                    status = .inTransaction
                    actions += machine.handle(.stepCompleted(status: status))
                case .endImplicitTransaction, .rollbackFailedTransaction:
                    status = .idle
                    actions += machine.handle(.stepCompleted(status: status))
                case .parse, .bind, .describe, .closeStatement, .closePortal:
                    actions += machine.handle(outcome(of: nil))
                case .execute:
                    actions += machine.handle(coin(8) ? .copyInStarted : outcome(of: nil))
                case .copyData(let data):
                    do { _ = try copy?.convert(Array(data.readableBytesView)) } catch { copy = nil }
                case .copyDone:
                    _ = try? copy?.finish()
                    copy = nil
                    actions += machine.handle(outcome(of: nil))
                case .copyFail(let reason):
                    copy = nil
                    actions += machine.handle(.stepFailed(ErrorFields(sqlState: SQLState.queryCanceled, message: reason), status: status))
                }
            }
            return true
        }

        /// A step's outcome: mostly completed, sometimes failed; a failure inside a
        /// transaction fails it, and statements move the status as their SQL says.
        mutating func outcome(of sql: String?) -> ConnectionStateMachine.Event {
            if coin(4) {
                if status == .inTransaction { status = .failed }
                return .stepFailed(ErrorFields(sqlState: SQLState.syntaxError, message: "modelled failure"), status: status)
            }
            if let sql {
                switch StatementClassifier.transactionEffect(sql) {
                case .begin: status = .inTransaction
                case .commit, .rollback: status = .idle
                case .none: break
                }
            }
            return .stepCompleted(status: status)
        }

        func decodeParameters(_ bind: FrontendMessage.Bind) {
            let oids = statements[bind.statement] ?? []
            for (i, value) in bind.parameters.enumerated() {
                let f: Int16 = bind.parameterFormats.isEmpty ? 0 : (bind.parameterFormats.count == 1 ? bind.parameterFormats[0] : (i < bind.parameterFormats.count ? bind.parameterFormats[i] : 0))
                let oid = i < oids.count ? oids[i] : 0
                let target = targetTypes[(Int(oid) &+ i) % targetTypes.count]
                do {
                    _ = try ParameterDecoder.decode(value, format: f == 1 ? .binary : .text, oid: oid, target: target)
                } catch {
                    StatementProbe.render(error, sql: nil)
                }
            }
        }

        /// The pure work of preparing `sql`; true when it is a COPY FROM STDIN.
        @discardableResult
        mutating func prepare(_ sql: String) -> Bool {
            if let command = StatementProbe.analyze(sql), case .in = command.direction {
                copy = TextToCSV(copy: command, maxLineBytes: 1 << 16)
                return true
            }
            return false
        }
    }
}

/// One Bind parameter: its declared OID (4 bytes), format, inferred type and NULL flag (a
/// byte each) come first, the value is the rest. Every known OID in both formats.
enum PGParametersTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        // A known OID as itself (so seeds can name one), anything else mapped onto the list.
        let raw = input.uint32()
        let oid = raw == 0 || PostgresType.known(oid: raw) != nil ? raw : parameterOIDs[Int(raw % UInt32(parameterOIDs.count))]
        let format: PostgresFormat = input.byte() & 1 == 1 ? .binary : .text
        let target = input.pick(targetTypes)
        let isNull = input.byte() == 0xFF
        let value = input.rest()
        do {
            let decoded = try ParameterDecoder.decode(isNull ? nil : ByteBuffer(bytes: value), format: format, oid: oid, target: target)
            _ = Coercion.textValue(decoded)
        } catch let e as PostgresTypeError {
            precondition(e.sqlState.count == 5, "SQLSTATE \(e.sqlState)")
        } catch {
            StatementProbe.render(error, sql: nil)
        }
    }
}

/// A COPY statement (up to the first NUL) and its data: options through the parser, data
/// through the text-to-CSV converter in chunks of fuzzed sizes, and fields through COPY TO's
/// encoder.
enum PGCopyTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        let sql = String(decoding: bytes[..<split], as: UTF8.self)
        guard let command = StatementProbe.analyze(sql) else { return }
        var rest = FuzzInput(UnsafeRawBufferPointer(rebasing: data[min(split + 1, data.count)...]))
        var converter = TextToCSV(copy: command, maxLineBytes: 4096)
        let encoder = CopyFieldEncoder(copy: command)
        var line: [UInt8] = []
        while !rest.isEmpty {
            let chunk = rest.chunk()
            encoder.append(chunk, to: &line)
            do { _ = try converter.convert(chunk) } catch { return }
        }
        _ = try? converter.finish()
    }
}

/// SQL text through the probe, split into statements first as a simple query is, and a
/// DuckDB-style error message about it through ErrorTranslation's caret arithmetic.
enum PGRewriterTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        let sql = String(decoding: data, as: UTF8.self)
        let statements = SQLSplitter.split(sql)
        for statement in statements { StatementProbe.analyze(statement) }
        // The unsplit text too, as Parse passes it (where it is not one of the above).
        if statements.count != 1 { StatementProbe.analyze(sql) }
        // DuckDB quotes the statement back with a LINE excerpt and a caret; the text after a
        // newline in the input plays that part here.
        let message = "Parser Error: syntax error at or near \"x\"\n\n" + sql
        _ = ErrorTranslation.fields(for: DuckDBError(.parser, message), sql: sql)
    }
}
