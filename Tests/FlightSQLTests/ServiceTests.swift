import Arrow
import DuckDB
import FlightProtocol
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Logging
import Scheduler
import SwiftProtobuf
import WorkerTesting
import XCTest

@testable import FlightSQL

/// The Flight SQL service through grpc-swift's in-process transport, over the fake worker:
/// what a Flight client sees, without sockets or DuckDB.
final class ServiceTests: XCTestCase {
    typealias FlightClient = Arrow_Flight_Protocol_FlightService.Client<InProcessTransport.Client>

    func withService(
        _ worker: FakeWorker, slots: Int = 2,
        _ body: @Sendable (FlightClient) async throws -> Void
    ) async throws {
        let scheduler = Scheduler(worker: worker, slots: slots, maxQueued: 10, logger: Logger(label: "test"))
        let service = FlightSQLService(
            scheduler: scheduler, tickets: TicketRegistry(), polls: PollRegistry(lifetime: .seconds(60)),
            leases: SessionLeases(scheduler: scheduler, statementIdleLifetime: .seconds(60)),
            clientSessions: ClientSessions(scheduler: scheduler, idleLifetime: .seconds(60)), serverVersion: "test",
            logger: Logger(label: "test"))
        let transport = InProcessTransport()
        try await withGRPCServer(transport: transport.server, services: [service]) { _ in
            try await withGRPCClient(transport: transport.client) { client in
                try await body(FlightClient(wrapping: client))
            }
        }
    }

    static func command<M: SwiftProtobuf.Message>(_ message: M) throws -> Arrow_Flight_Protocol_FlightDescriptor {
        var d = Arrow_Flight_Protocol_FlightDescriptor()
        d.type = .cmd
        d.cmd = try Google_Protobuf_Any(message: message).serializedData()
        return d
    }

    func testStatementQueryReturnsItsRowsThroughDoGet() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [5, 6, 7])])
        try await withService(worker) { client in
            var query = Arrow_Flight_Protocol_Sql_CommandStatementQuery()
            query.query = "SELECT v"
            let info = try await client.getFlightInfo(try Self.command(query))
            XCTAssertEqual(info.endpoint.count, 1)
            let values: [Int64] = try await client.doGet(info.endpoint[0].ticket) { response in
                var decoder = IPCMessageDecoder()
                var values: [Int64] = []
                for try await data in response.messages {
                    if case .recordBatch(let batch) = try decoder.decode(metadata: Array(data.dataHeader), body: Array(data.dataBody)) {
                        values += (0..<batch.length).map { batch.columns[0].value($0, as: Int64.self) }
                    }
                }
                return values
            }
            XCTAssertEqual(values, [5, 6, 7])
        }
        XCTAssertTrue(worker.calls.contains(.prepare("SELECT v")))
        XCTAssertTrue(worker.calls.contains(.close), "the ticket's own session closes after its DoGet")
    }

    func testSqlInfoReportsTheWorkersVocabulary() async throws {
        let worker = FakeWorker()
        var vocabulary = FakeWorker.defaultVocabulary
        vocabulary.keywords = ["ONLY", "THESE"]
        worker.engineVocabulary = vocabulary
        try await withService(worker) { client in
            var request = Arrow_Flight_Protocol_Sql_CommandGetSqlInfo()
            request.info = [UInt32(Arrow_Flight_Protocol_Sql_SqlInfo.sqlKeywords.rawValue)]
            let info = try await client.getFlightInfo(try Self.command(request))
            let keywords: [String] = try await client.doGet(info.endpoint[0].ticket) { response in
                var decoder = IPCMessageDecoder()
                var out: [String] = []
                for try await data in response.messages {
                    if case .recordBatch(let batch) = try decoder.decode(metadata: Array(data.dataHeader), body: Array(data.dataBody)) {
                        let list = batch.columns[1].children[4]
                        out += list.valueRange(0).map { list.children[0].string($0) }
                    }
                }
                return out
            }
            XCTAssertEqual(keywords, ["ONLY", "THESE"])
        }
        XCTAssertFalse(worker.calls.contains { if case .open = $0 { true } else { false } },
                       "the vocabulary is the worker's: no client session is opened for it")
    }

    static func statementQuery(_ sql: String) throws -> Arrow_Flight_Protocol_FlightDescriptor {
        var query = Arrow_Flight_Protocol_Sql_CommandStatementQuery()
        query.query = sql
        return try Self.command(query)
    }

    func testPollAnswersAQuickQueryAtOnce() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1])])
        try await withService(worker) { client in
            let poll = try await client.pollFlightInfo(try Self.statementQuery("SELECT v"))
            XCTAssertFalse(poll.hasFlightDescriptor, "complete: nothing more to poll")
            XCTAssertEqual(poll.info.endpoint.count, 1)
            XCTAssertEqual(poll.progress, 1)
        }
    }

    func testASlowQueryIsPolledUntilItAnswers() async throws {
        var slow = FakeWorker.Script.integers("v", [1, 2])
        slow.executeDelay = .milliseconds(700)
        let worker = FakeWorker(["SELECT slow": slow])
        try await withService(worker) { client in
            var poll = try await client.pollFlightInfo(try Self.statementQuery("SELECT slow"))
            XCTAssertTrue(poll.hasFlightDescriptor, "not answered within one poll")
            XCTAssertTrue(poll.info.endpoint.isEmpty)
            var polls = 1
            while poll.hasFlightDescriptor {
                poll = try await client.pollFlightInfo(poll.flightDescriptor)
                polls += 1
                XCTAssertLessThan(polls, 20)
            }
            XCTAssertEqual(poll.info.endpoint.count, 1)
            XCTAssertGreaterThan(polls, 1)
            // The poll's id is good for that query only, and gone once answered.
            do {
                var stale = Arrow_Flight_Protocol_FlightDescriptor()
                stale.type = .cmd
                stale.cmd = Data("tavana.poll:nope".utf8)
                _ = try await client.pollFlightInfo(stale)
                XCTFail("expected NOT_FOUND")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .notFound)
            }
        }
    }

    func testCancelFlightInfoStopsAPolledQuery() async throws {
        var slow = FakeWorker.Script.integers("v", [1])
        slow.executeDelay = .seconds(30)
        let worker = FakeWorker(["SELECT slow": slow])
        try await withService(worker) { client in
            let poll = try await client.pollFlightInfo(try Self.statementQuery("SELECT slow"))
            XCTAssertTrue(poll.hasFlightDescriptor)
            var request = Arrow_Flight_Protocol_CancelFlightInfoRequest()
            request.info = poll.info
            var action = Arrow_Flight_Protocol_Action()
            action.type = "CancelFlightInfo"
            action.body = try request.serializedData()
            let status: Arrow_Flight_Protocol_CancelStatus = try await client.doAction(action) { response in
                var status = Arrow_Flight_Protocol_CancelStatus.unspecified
                for try await result in response.messages {
                    status = try Arrow_Flight_Protocol_CancelFlightInfoResult(serializedBytes: result.body).status
                }
                return status
            }
            XCTAssertEqual(status, .cancelled)
            do {
                _ = try await client.pollFlightInfo(poll.flightDescriptor)
                XCTFail("a cancelled poll is gone")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .notFound)
            }
        }
        XCTAssertTrue(worker.calls.contains(.interrupt), "the query was interrupted")
    }

    func testAnUnknownTicketIsNotFound() async throws {
        try await withService(FakeWorker()) { client in
            var ticket = Arrow_Flight_Protocol_Ticket()
            ticket.ticket = Data("nope".utf8)
            do {
                try await client.doGet(ticket) { response in for try await _ in response.messages {} }
                XCTFail("expected NOT_FOUND")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .notFound)
            }
        }
    }

    func testMalformedActionBodiesAreInvalidArgument() async throws {
        try await withService(FakeWorker()) { client in
            for type in ["CreatePreparedStatement", "BeginTransaction", "EndTransaction", "ClosePreparedStatement"] {
                var action = Arrow_Flight_Protocol_Action()
                action.type = type
                action.body = Data([0x01, 0x02, 0x67])
                do {
                    try await client.doAction(action) { response in for try await _ in response.messages {} }
                    XCTFail("expected INVALID_ARGUMENT for \(type)")
                } catch let error as RPCError {
                    XCTAssertEqual(error.code, .invalidArgument, type)
                }
            }
        }
    }

    func testTransactionsBeginAndCommitOnTheirSession() async throws {
        let worker = FakeWorker()
        try await withService(worker) { client in
            var begin = Arrow_Flight_Protocol_Action()
            begin.type = "BeginTransaction"
            begin.body = try Google_Protobuf_Any(message: Arrow_Flight_Protocol_Sql_ActionBeginTransactionRequest()).serializedData()
            let id: Data = try await client.doAction(begin) { response in
                var id = Data()
                for try await result in response.messages {
                    let any = try Google_Protobuf_Any(serializedBytes: result.body)
                    id = try Arrow_Flight_Protocol_Sql_ActionBeginTransactionResult(unpackingAny: any).transactionID
                }
                return id
            }
            XCTAssertFalse(id.isEmpty)
            var end = Arrow_Flight_Protocol_Sql_ActionEndTransactionRequest()
            end.transactionID = id
            end.action = .commit
            var action = Arrow_Flight_Protocol_Action()
            action.type = "EndTransaction"
            action.body = try Google_Protobuf_Any(message: end).serializedData()
            try await client.doAction(action) { response in for try await _ in response.messages {} }
        }
        XCTAssertEqual(worker.calls.filter { $0 == .begin || $0 == .commit }, [.begin, .commit])
    }

    func testAFailingStatementRendersItsQueryErrorAsAStatus() async throws {
        let worker = FakeWorker(["SELECT x": .failing(DuckDBError(.catalog, "Catalog Error: Table with name x does not exist!"))])
        try await withService(worker) { client in
            var query = Arrow_Flight_Protocol_Sql_CommandStatementQuery()
            query.query = "SELECT x"
            do {
                _ = try await client.getFlightInfo(try Self.command(query))
                XCTFail("expected an error")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .invalidArgument)
                XCTAssertEqual(error.message, "Table with name x does not exist!")
            }
        }
    }
}
