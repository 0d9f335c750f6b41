import NIOCore
import Scheduler
import XCTest

@testable import PostgresWire

/// The protocol rules of a connection, event by event, with plain values: no socket, no
/// session, no DuckDB.
final class ConnectionStateMachineTests: XCTestCase {
    typealias Machine = ConnectionStateMachine
    typealias Action = ConnectionStateMachine.Action

    let startup = FrontendMessage.StartupMessage(protocolVersion: 196_608, parameters: [("user", "alice"), ("database", "db")])

    func machine(_ credentials: CredentialStore = .trust()) -> Machine {
        Machine(credentials: credentials) { _ in [("server_version", "15.0")] }
    }

    /// A machine after a successful trust startup.
    func ready() -> Machine {
        var m = machine()
        _ = m.handle(.message(.startup(startup)))
        _ = m.handle(.sessionOpened(processID: 7, secretKey: 9, status: .idle))
        return m
    }

    func errorState(_ actions: [Action]) -> String? {
        for case .send(.error(let fields)) in actions { return fields.sqlState }
        return nil
    }

    // MARK: Startup

    func testTrustStartupOpensTheSessionThenReportsReady() {
        var m = machine()
        XCTAssertEqual(m.handle(.message(.startup(startup))), [.openSession(startup)])
        XCTAssertEqual(m.handle(.sessionOpened(processID: 7, secretKey: 9, status: .idle)), [
            .send(.authenticationOK), .send(.parameterStatus("server_version", "15.0")),
            .send(.backendKeyData(processID: 7, secretKey: 9)), .send(.readyForQuery(.idle)), .flush,
        ])
        XCTAssertEqual(m.state, .idle)
    }

    func testStartupWithoutUserIsFatal() {
        var m = machine()
        let actions = m.handle(.message(.startup(.init(protocolVersion: 196_608, parameters: [("database", "d")]))))
        XCTAssertEqual(errorState(actions), "28000")
        XCTAssertEqual(actions.last, .close)
        XCTAssertEqual(m.state, .closed)
    }

    func testNewerMinorVersionIsNegotiatedDown() {
        var m = machine()
        let newer = FrontendMessage.StartupMessage(protocolVersion: 196_610, parameters: [("user", "a"), ("_pq_.x", "1")])
        let actions = m.handle(.message(.startup(newer)))
        XCTAssertEqual(actions.first, .send(.negotiateProtocolVersion(newestMinor: 196_608, unrecognized: ["_pq_.x"])))
    }

    func testCleartextPasswordFlow() {
        let store = CredentialStore(method: .password, users: ["alice": .plain("pw")], saltKey: Array(repeating: 1, count: 32))
        var m = machine(store)
        XCTAssertEqual(m.handle(.message(.startup(startup))), [.send(.authenticationCleartextPassword), .flush])
        XCTAssertEqual(m.handle(.message(.query("SELECT 1"))).last, .close, "anything but a password is a violation")

        var ok = machine(store)
        _ = ok.handle(.message(.startup(startup)))
        XCTAssertEqual(ok.handle(.message(.password(ByteBuffer(bytes: Array("pw\0".utf8))))), [.openSession(startup)])

        var bad = machine(store)
        _ = bad.handle(.message(.startup(startup)))
        let refused = bad.handle(.message(.password(ByteBuffer(bytes: Array("nope\0".utf8)))))
        XCTAssertEqual(errorState(refused), "28P01")
        XCTAssertEqual(bad.state, .closed)
    }

    func testCancelRequestCancelsAndCloses() {
        var m = machine()
        XCTAssertEqual(m.handle(.message(.cancelRequest(processID: 3, secretKey: 4))), [.cancel(processID: 3, secretKey: 4), .close])
        var forwarded = machine()
        XCTAssertEqual(forwarded.handle(.message(.cancelRequest(processID: 3, secretKey: 4, forwarded: true))),
                       [.cancel(processID: 3, secretKey: 4, forwarded: true), .close])
    }

    // MARK: Simple query

    func testOneStatementRunsThenReadyForQuery() {
        var m = ready()
        XCTAssertEqual(m.handle(.message(.query("SELECT 1"))), [.endOfSequence, .run("SELECT 1")])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
    }

    func testEmptyQuery() {
        var m = ready()
        XCTAssertEqual(m.handle(.message(.query("  -- nothing\n"))), [.endOfSequence, .send(.emptyQueryResponse), .send(.readyForQuery(.idle)), .flush])
    }

    func testSeveralStatementsRunInOneImplicitTransaction() {
        var m = ready()
        XCTAssertEqual(m.handle(.message(.query("INSERT 1; INSERT 2"))), [.endOfSequence, .beginImplicitTransaction])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.run("INSERT 1")])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.run("INSERT 2")])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.endImplicitTransaction(commit: true)])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
    }

    func testAFailureInAnImplicitTransactionRollsItBackAndSkipsTheRest() {
        var m = ready()
        _ = m.handle(.message(.query("INSERT 1; BAD; INSERT 3")))
        _ = m.handle(.stepCompleted(status: .inTransaction))
        _ = m.handle(.stepCompleted(status: .inTransaction))
        let error = ErrorFields(sqlState: "42601", message: "syntax error")
        XCTAssertEqual(m.handle(.stepFailed(error, status: .failed)), [.send(.error(error)), .endImplicitTransaction(commit: false)])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
    }

    func testStatementsThatManageTransactionsRunOneByOne() {
        var m = ready()
        XCTAssertEqual(m.handle(.message(.query("BEGIN; SELECT 1"))), [.endOfSequence, .run("BEGIN")])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.run("SELECT 1")])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.endOfSequence, .send(.readyForQuery(.inTransaction)), .flush])
    }

    func testAFailedBlockRefusesAllButItsEnd() {
        var m = ready()
        _ = m.handle(.message(.query("BEGIN")))
        _ = m.handle(.stepCompleted(status: .inTransaction))
        _ = m.handle(.message(.query("SELECT nosuch")))
        let error = ErrorFields(sqlState: "42703", message: "no column")
        XCTAssertEqual(m.handle(.stepFailed(error, status: .failed)).last, .flush)
        XCTAssertEqual(m.transaction, .failed)
        // Anything else: 25P02, and ReadyForQuery still says E.
        let refused = m.handle(.message(.query("SELECT 1")))
        XCTAssertEqual(errorState(refused), "25P02")
        XCTAssertEqual(refused.suffix(2), [.send(.readyForQuery(.failed)), .flush])
        // COMMIT ends it as a ROLLBACK.
        XCTAssertEqual(m.handle(.message(.query("COMMIT"))), [.endOfSequence, .rollbackFailedTransaction])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
    }

    // MARK: Extended query

    func testExtendedSequenceAndSync() {
        var m = ready()
        let parse = FrontendMessage.Parse(name: "", query: "SELECT $1", parameterTypes: [23])
        XCTAssertEqual(m.handle(.message(.parse(parse))), [.parse(parse)])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [])
        let bind = FrontendMessage.Bind(portal: "", statement: "", parameterFormats: [], parameters: [ByteBuffer(string: "1")], resultFormats: [])
        XCTAssertEqual(m.handle(.message(.bind(bind))), [.bind(bind)])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [])
        XCTAssertEqual(m.handle(.message(.execute(portal: "", maxRows: 10))), [.execute(portal: "", maxRows: 10)])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [])
        XCTAssertEqual(m.handle(.message(.sync)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
        XCTAssertEqual(m.state, .idle)
    }

    func testAnErrorSkipsEverythingUntilSync() {
        var m = ready()
        _ = m.handle(.message(.parse(.init(name: "", query: "SELEC", parameterTypes: []))))
        let error = ErrorFields(sqlState: "42601", message: "syntax error")
        XCTAssertEqual(m.handle(.stepFailed(error, status: .idle)), [.send(.error(error))])
        XCTAssertEqual(m.state, .skippingUntilSync)
        XCTAssertEqual(m.handle(.message(.bind(.init(portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [])))), [])
        XCTAssertEqual(m.handle(.message(.execute(portal: "", maxRows: 0))), [])
        XCTAssertEqual(m.handle(.message(.describe(.portal, name: ""))), [])
        XCTAssertEqual(m.handle(.message(.sync)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
        XCTAssertEqual(m.handle(.message(.execute(portal: "", maxRows: 0))), [.execute(portal: "", maxRows: 0)])
    }

    func testTerminateWhileSkippingCloses() {
        var m = ready()
        _ = m.handle(.message(.parse(.init(name: "", query: "x", parameterTypes: []))))
        _ = m.handle(.stepFailed(ErrorFields(sqlState: "42601", message: "x"), status: .idle))
        XCTAssertEqual(m.handle(.message(.terminate)), [.close])
    }

    func testExecuteInAFailedBlockIsRefusedUnlessItEndsTheBlock() {
        var m = ready()
        _ = m.handle(.message(.parse(.init(name: "c", query: "COMMIT", parameterTypes: []))))
        _ = m.handle(.stepCompleted(status: .failed))
        _ = m.handle(.message(.bind(.init(portal: "p", statement: "c", parameterFormats: [], parameters: [], resultFormats: []))))
        _ = m.handle(.stepCompleted(status: .failed))
        _ = m.handle(.message(.parse(.init(name: "s", query: "SELECT 1", parameterTypes: []))))
        _ = m.handle(.stepCompleted(status: .failed))
        _ = m.handle(.message(.bind(.init(portal: "q", statement: "s", parameterFormats: [], parameters: [], resultFormats: []))))
        _ = m.handle(.stepCompleted(status: .failed))
        XCTAssertEqual(errorState(m.handle(.message(.execute(portal: "q", maxRows: 0)))), "25P02")
        _ = m.handle(.message(.sync))
        XCTAssertEqual(m.handle(.message(.execute(portal: "p", maxRows: 0))), [.rollbackFailedTransaction])
    }

    // MARK: COPY FROM STDIN

    func testCopyInTakesDataUntilDoneThenTheQueryGoesOn() {
        var m = ready()
        XCTAssertEqual(m.handle(.message(.query("COPY t FROM STDIN; SELECT 2"))), [.endOfSequence, .beginImplicitTransaction])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.run("COPY t FROM STDIN")])
        XCTAssertEqual(m.handle(.copyInStarted), [.flush])
        let data = ByteBuffer(string: "1\n")
        XCTAssertEqual(m.handle(.message(.copyDataBytes(data))), [.copyData(data)])
        XCTAssertEqual(m.handle(.message(.flush)), [], "Flush is ignored during COPY")
        XCTAssertEqual(m.handle(.message(.copyDone)), [.copyDone])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.run("SELECT 2")])
        XCTAssertEqual(m.handle(.stepCompleted(status: .inTransaction)), [.endImplicitTransaction(commit: true)])
        XCTAssertEqual(m.handle(.stepCompleted(status: .idle)), [.endOfSequence, .send(.readyForQuery(.idle)), .flush])
    }

    func testCopyFailEndsTheQueryWithTheError() {
        var m = ready()
        _ = m.handle(.message(.query("COPY t FROM STDIN")))
        _ = m.handle(.copyInStarted)
        XCTAssertEqual(m.handle(.message(.copyFail("no more"))), [.copyFail("no more")])
        let error = ErrorFields(sqlState: "57014", message: "COPY from stdin failed: no more")
        XCTAssertEqual(m.handle(.stepFailed(error, status: .idle)), [.send(.error(error)), .endOfSequence, .send(.readyForQuery(.idle)), .flush])
    }

    func testAnUnexpectedMessageDuringCopyIsAViolation() {
        var m = ready()
        _ = m.handle(.message(.query("COPY t FROM STDIN")))
        _ = m.handle(.copyInStarted)
        let actions = m.handle(.message(.parse(.init(name: "", query: "SELECT 1", parameterTypes: []))))
        XCTAssertEqual(errorState(actions), "08P01")
        XCTAssertEqual(actions.last, .close)
    }

    func testStrayCopyMessagesOutsideCopyAreIgnored() {
        var m = ready()
        XCTAssertEqual(m.handle(.message(.copyDone)), [])
        XCTAssertEqual(m.handle(.message(.copyDataBytes(ByteBuffer(string: "x")))), [])
    }

    // MARK: Violations

    func testStartupPacketsAfterStartupAreViolations() {
        var m = ready()
        XCTAssertEqual(errorState(m.handle(.message(.startup(startup)))), "08P01")
        var n = ready()
        XCTAssertEqual(errorState(n.handle(.message(.password(ByteBuffer())))), "08P01")
    }

    func testFunctionCallIsRefusedAndTheSessionGoesOn() {
        var m = ready()
        let actions = m.handle(.message(.functionCall))
        XCTAssertEqual(errorState(actions), "0A000")
        XCTAssertEqual(m.state, .idle)
    }
}
