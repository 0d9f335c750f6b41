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
/// packet, or after it), then handled as the connection handles each message, minus
/// DuckDB: authentication, statements through the probe, Bind parameters through the
/// decoder with the OIDs their Parse declared, COPY data through the converter.
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
        var expectingStartup = flags & 1 == 1
        let auth = [CredentialStore.trust(), scram, md5, password][Int(flags >> 1) & 3]
        var buffer = ByteBuffer(bytes: input.rest())
        var state = ConnectionModel(auth: auth)
        while true {
            do {
                guard let message = try FrontendMessageDecoder.decodeOne(
                    from: &buffer, expectingStartup: &expectingStartup, maxMessageSize: 1 << 20) else { return }
                state.handle(message)
            } catch {
                StatementProbe.render(error, sql: nil)
                return
            }
        }
    }

    struct ConnectionModel {
        var authentication: AuthenticationStateMachine?
        let auth: CredentialStore
        var statements: [String: [UInt32]] = [:]
        var copy: TextToCSV?

        init(auth: CredentialStore) { self.auth = auth }

        mutating func handle(_ message: FrontendMessage) {
            switch message {
            case .startup(let startup):
                var machine = AuthenticationStateMachine(configuration: auth, user: startup.user ?? "u")
                _ = machine.start()
                authentication = machine
            case .password(let body):
                _ = authentication?.receive(body)
            case .query(let sql):
                for statement in SQLSplitter.split(sql) { prepare(statement) }
            case .parse(let parse):
                if SQLSplitter.split(parse.query).count <= 1 { prepare(parse.query) }
                statements[parse.name] = parse.parameterTypes
            case .bind(let bind):
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
            case .copyDataBytes(let data):
                do { _ = try copy?.convert(Array(data.readableBytesView)) } catch { copy = nil }
            case .copyDone:
                _ = try? copy?.finish()
                copy = nil
            case .describe, .execute, .sync, .flush, .close, .terminate, .copyFail, .functionCall, .sslRequest,
                 .gssEncRequest, .cancelRequest:
                break
            }
        }

        mutating func prepare(_ sql: String) {
            if let command = StatementProbe.analyze(sql), case .in = command.direction {
                copy = TextToCSV(copy: command, maxLineBytes: 1 << 16)
            }
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
