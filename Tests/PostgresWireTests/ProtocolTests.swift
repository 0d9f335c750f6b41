import Crypto
import Foundation
import NIOCore
import TestSupport
import XCTest

@testable import PostgresWire
import Scheduler

final class FrontendDecoderTests: XCTestCase {
    func decodeAll(_ bytes: [UInt8], startup: Bool = false, max: Int = 1 << 20) throws -> [FrontendMessage] {
        var buffer = ByteBuffer(bytes: bytes)
        var expectingStartup = startup
        var out: [FrontendMessage] = []
        while let m = try FrontendMessageDecoder.decodeOne(from: &buffer, expectingStartup: &expectingStartup, maxMessageSize: max) {
            out.append(m)
        }
        return out
    }

    func typed(_ type: Character, _ body: [UInt8]) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(type.asciiValue!)
        b.writeInteger(Int32(body.count + 4))
        b.writeBytes(body)
        return Array(b.readableBytesView)
    }

    func testStartupMessageWithParameters() throws {
        var body = ByteBuffer()
        body.writeInteger(Int32(196_608))
        for s in ["user", "alice", "database", "db", ""] { body.writePostgresString(s) }
        var framed = ByteBuffer()
        framed.writeInteger(Int32(body.readableBytes + 4))
        framed.writeBuffer(&body)
        let messages = try decodeAll(Array(framed.readableBytesView), startup: true)
        guard case .startup(let s) = messages.first else { return XCTFail("\(messages)") }
        XCTAssertEqual(s.user, "alice")
        XCTAssertEqual(s.database, "db")
    }

    func testSSLAndCancelRequests() throws {
        var b = ByteBuffer()
        b.writeInteger(Int32(8))
        b.writeInteger(FrontendMessageDecoder.sslRequestCode)
        XCTAssertEqual(try decodeAll(Array(b.readableBytesView), startup: true), [.sslRequest])
        var c = ByteBuffer()
        c.writeInteger(Int32(16))
        c.writeInteger(FrontendMessageDecoder.cancelRequestCode)
        c.writeInteger(Int32(1234))
        c.writeInteger(Int32(-5))
        XCTAssertEqual(try decodeAll(Array(c.readableBytesView), startup: true), [.cancelRequest(processID: 1234, secretKey: -5)])
    }

    /// What one gateway replica sends another decodes as a cancel marked forwarded, so the
    /// receiver never passes it on again.
    func testForwardedCancelRequestsAreMarked() throws {
        let bytes = CancelForwarder.request(processID: 77, secretKey: Int32.min)
        XCTAssertEqual(bytes.count, 16)
        XCTAssertEqual(try decodeAll(bytes, startup: true), [.cancelRequest(processID: 77, secretKey: Int32.min, forwarded: true)])
        // Without its key (length 12): refused, as a short CancelRequest is.
        XCTAssertThrowsError(try decodeAll([0, 0, 0, 12] + Array(bytes[4..<12]), startup: true))
    }

    func testOldProtocolVersionIsRejected() {
        var b = ByteBuffer()
        b.writeInteger(Int32(8))
        b.writeInteger(Int32(2 << 16))
        XCTAssertThrowsError(try decodeAll(Array(b.readableBytesView), startup: true)) { error in
            XCTAssertEqual((error as? ProtocolViolation)?.sqlState, SQLState.featureNotSupported)
        }
    }

    func testQueryParseBindExecuteSync() throws {
        var parse = ByteBuffer()
        parse.writePostgresString("s1")
        parse.writePostgresString("SELECT $1")
        parse.writeInteger(Int16(1))
        parse.writeInteger(UInt32(23))
        var bind = ByteBuffer()
        bind.writePostgresString("")
        bind.writePostgresString("s1")
        bind.writeInteger(Int16(1)); bind.writeInteger(Int16(0))
        bind.writeInteger(Int16(2))
        bind.writeInteger(Int32(2)); bind.writeString("42")
        bind.writeInteger(Int32(-1))
        bind.writeInteger(Int16(0))
        let bytes = typed("Q", Array("SELECT 1\0".utf8)) + typed("P", Array(parse.readableBytesView))
            + typed("B", Array(bind.readableBytesView)) + typed("E", [0, 0, 0, 0, 10]) + typed("S", [])
        let messages = try decodeAll(bytes)
        XCTAssertEqual(messages.count, 5)
        XCTAssertEqual(messages[0], .query("SELECT 1"))
        XCTAssertEqual(messages[1], .parse(.init(name: "s1", query: "SELECT $1", parameterTypes: [23])))
        guard case .bind(let b) = messages[2] else { return XCTFail() }
        XCTAssertEqual(b.statement, "s1")
        XCTAssertEqual(b.parameters.count, 2)
        XCTAssertEqual(b.parameters[0].map { String(buffer: $0) }, "42")
        XCTAssertNil(b.parameters[1])
        XCTAssertEqual(messages[3], .execute(portal: "", maxRows: 10))
        XCTAssertEqual(messages[4], .sync)
    }

    func testPartialMessagesWaitForMoreBytes() throws {
        let full = typed("Q", Array("SELECT 1\0".utf8))
        XCTAssertEqual(try decodeAll(Array(full.prefix(7))), [])
        XCTAssertEqual(try decodeAll(full), [.query("SELECT 1")])
    }

    func testMalformedMessagesThrow() {
        XCTAssertThrowsError(try decodeAll(typed("Z", [])))  // not a frontend message
        XCTAssertThrowsError(try decodeAll([UInt8(ascii: "Q"), 0, 0, 0, 2]))  // length < 4
        XCTAssertThrowsError(try decodeAll(typed("Q", Array("no terminator".utf8))))
        XCTAssertThrowsError(try decodeAll(typed("E", [0])))  // truncated Execute
        XCTAssertThrowsError(try decodeAll(typed("Q", [0xFF, 0xFE, 0]))) { error in
            XCTAssertEqual((error as? ProtocolViolation)?.sqlState, SQLState.characterNotInRepertoire)
        }
        XCTAssertThrowsError(try decodeAll(typed("Q", Array(repeating: 65, count: 100) + [0]), max: 50)) { error in
            XCTAssertEqual((error as? ProtocolViolation)?.sqlState, SQLState.programLimitExceeded)
        }
        XCTAssertThrowsError(try decodeAll(typed("S", [1])))  // trailing bytes
    }

    /// Random bytes, and valid messages with random bytes changed: the decoder yields
    /// messages, asks for more, or throws a ProtocolViolation, and nothing else. Seeded, so a
    /// failure replays (the seed and case are in the message).
    func testRandomAndMutatedBytesYieldMessagesOrProtocolViolations() {
        let seed: UInt64 = 8_2026_12_01
        var generator = SplitMix(seed: seed)
        let valid = typed("P", Array("s\0SELECT $1\0".utf8) + [0, 1, 0, 0, 0, 23]) + typed("S", [])
            + typed("B", Array("\0s\0".utf8) + [0, 1, 0, 1, 0, 1, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0])
        var messages = 0, violations = 0
        for i in 0..<5_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            for startup in [false, true] {
                do {
                    messages += try decodeAll(bytes, startup: startup).count
                } catch is ProtocolViolation {
                    violations += 1
                } catch {
                    XCTFail("seed \(seed) case \(i): \(error) is not a ProtocolViolation")
                }
            }
        }
        // Both outcomes happen, so the test exercises both (a decoder that refused everything,
        // or accepted everything, would fail here).
        XCTAssertGreaterThan(messages, 1000)
        XCTAssertGreaterThan(violations, 1000)
    }
}

final class AuthenticationTests: XCTestCase {
    func config(_ method: AuthenticationMethod, _ secret: String) -> CredentialStore {
        CredentialStore(method: method, users: ["alice": .parse(secret)], saltKey: Array(repeating: 7, count: 32))
    }

    func password(_ s: String) -> ByteBuffer {
        var b = ByteBuffer()
        b.writePostgresString(s)
        return b
    }

    func testCleartextPassword() {
        var sm = AuthenticationStateMachine(configuration: config(.password, "s3cret"), user: "alice")
        XCTAssertEqual(sm.start(), .send(.cleartextPassword))
        XCTAssertEqual(sm.receive(password("s3cret")), .succeed)
        var wrong = AuthenticationStateMachine(configuration: config(.password, "s3cret"), user: "alice")
        _ = wrong.start()
        guard case .fail(let f) = wrong.receive(password("nope")) else { return XCTFail() }
        XCTAssertEqual(f.sqlState, "28P01")
    }

    func testMD5AgainstStoredHash() {
        let stored = "md5" + md5Hex(Array("s3cretalice".utf8))
        var sm = AuthenticationStateMachine(configuration: config(.md5, stored), user: "alice")
        guard case .send(.md5Password(let salt)) = sm.start() else { return XCTFail() }
        let response = "md5" + md5Hex(Array(stored.dropFirst(3).utf8) + salt)
        XCTAssertEqual(sm.receive(password(response)), .succeed)
    }

    func testSCRAMExchangeWithClientSideComputation() throws {
        let verifier = SCRAMVerifier(password: "pencil", salt: Array("saltsaltsalt".utf8), iterations: 4096)
        XCTAssertEqual(SCRAMVerifier(verifier.text), verifier)
        for (pw, expectOK) in [("pencil", true), ("wrong", false)] {
            var sm = AuthenticationStateMachine(configuration: config(.scramSHA256, verifier.text), user: "alice")
            XCTAssertEqual(sm.start(), .send(.sasl(["SCRAM-SHA-256"])))
            let clientFirstBare = "n=,r=clientnonce123"
            var initial = ByteBuffer()
            initial.writePostgresString("SCRAM-SHA-256")
            initial.writeInteger(Int32(("n,," + clientFirstBare).utf8.count))
            initial.writeString("n,," + clientFirstBare)
            guard case .send(.saslContinue(let sf)) = sm.receive(initial) else { return XCTFail() }
            let serverFirst = String(decoding: sf, as: UTF8.self)
            let fields = Dictionary(uniqueKeysWithValues: serverFirst.split(separator: ",").map { ($0.prefix(1), String($0.dropFirst(2))) })
            let nonce = try XCTUnwrap(fields["r"])
            XCTAssertTrue(nonce.hasPrefix("clientnonce123"))
            let salt = [UInt8](try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(fields["s"]))))
            let salted = SCRAM.saltedPassword(pw, salt: salt, iterations: Int(try XCTUnwrap(fields["i"]))!)
            let clientKey = SCRAM.hmac(salted, "Client Key")
            let storedKey = [UInt8](SHA256.hash(data: clientKey))
            let withoutProof = "c=biws,r=\(nonce)"
            let authMessage = "\(clientFirstBare),\(serverFirst),\(withoutProof)"
            let signature = SCRAM.hmac(storedKey, authMessage)
            let proof = zip(clientKey, signature).map { $0 ^ $1 }
            var final = ByteBuffer()
            final.writeString("\(withoutProof),p=\(Data(proof).base64EncodedString())")
            let action = sm.receive(final)
            if expectOK {
                let serverSignature = SCRAM.hmac(SCRAM.hmac(salted, "Server Key"), authMessage)
                XCTAssertEqual(action, .send(.saslFinal(Array("v=\(Data(serverSignature).base64EncodedString())".utf8))))
            } else {
                guard case .fail(let f) = action else { return XCTFail("\(action)") }
                XCTAssertEqual(f.sqlState, "28P01")
            }
        }
    }
}

final class StatementTextTests: XCTestCase {
    func testSplitterRespectsQuotesCommentsAndDollarQuotes() {
        XCTAssertEqual(SQLSplitter.split("SELECT 1; SELECT 2"), ["SELECT 1", "SELECT 2"])
        XCTAssertEqual(SQLSplitter.split("SELECT ';'; SELECT \"a;b\""), ["SELECT ';'", "SELECT \"a;b\""])
        XCTAssertEqual(SQLSplitter.split("SELECT 1 -- ; comment\n; SELECT /* ; */ 2"), ["SELECT 1 -- ; comment", "SELECT /* ; */ 2"])
        XCTAssertEqual(SQLSplitter.split("SELECT $$a;b$$; SELECT $1"), ["SELECT $$a;b$$", "SELECT $1"])
        XCTAssertEqual(SQLSplitter.split("SELECT 'it''s;'"), ["SELECT 'it''s;'"])
        XCTAssertEqual(SQLSplitter.split(" ; ;-- only a comment"), [])
    }

    func testCursorCommands() throws {
        XCTAssertEqual(try CursorCommand.parse("DECLARE \"c1\" BINARY CURSOR WITH HOLD FOR SELECT 1"),
                       .declare(name: "c1", binary: true, hold: true, query: "SELECT 1"))
        XCTAssertEqual(try CursorCommand.parse("declare c NO SCROLL CURSOR WITHOUT HOLD FOR select $1;"),
                       .declare(name: "c", binary: false, hold: false, query: "select $1"))
        XCTAssertEqual(try CursorCommand.parse("FETCH FORWARD 100 FROM \"c1\""), .fetch(name: "c1", count: 100, move: false))
        XCTAssertEqual(try CursorCommand.parse("FETCH ALL IN c"), .fetch(name: "c", count: nil, move: false))
        XCTAssertEqual(try CursorCommand.parse("MOVE 5 c"), .fetch(name: "c", count: 5, move: true))
        XCTAssertEqual(try CursorCommand.parse("CLOSE ALL"), .close(name: nil))
        XCTAssertNil(try CursorCommand.parse("SELECT 1"))
        XCTAssertThrowsError(try CursorCommand.parse("FETCH PRIOR FROM c"))
    }

    func testCommandTagsAndTransactionEffects() {
        XCTAssertEqual(StatementClassifier.commandTag(sql: "insert into t values (1)", type: .insert, rowCount: 0, rowsChanged: 3), "INSERT 0 3")
        XCTAssertEqual(StatementClassifier.commandTag(sql: "SELECT 1", type: .select, rowCount: 1, rowsChanged: nil), "SELECT 1")
        XCTAssertEqual(StatementClassifier.commandTag(sql: "create table t (i int)", type: .create, rowCount: 0, rowsChanged: nil), "CREATE TABLE")
        XCTAssertEqual(StatementClassifier.commandTag(sql: "-- c\nDROP VIEW v", type: .drop, rowCount: 0, rowsChanged: nil), "DROP VIEW")
        XCTAssertEqual(StatementClassifier.transactionEffect("begin"), .begin)
        XCTAssertEqual(StatementClassifier.transactionEffect("START TRANSACTION"), .begin)
        XCTAssertEqual(StatementClassifier.transactionEffect("commit"), .commit)
        XCTAssertEqual(StatementClassifier.transactionEffect("ROLLBACK"), .rollback)
        XCTAssertEqual(StatementClassifier.transactionEffect("SELECT 1"), .none)
    }
}
