import DuckDB
import Logging
import NIOCore
import NIOEmbedded
import Scheduler
import WorkerTesting
import XCTest

@testable import PostgresWire

/// The connection handler over an in-memory channel, with the fake worker behind the
/// Scheduler: what a client sees, without sockets or DuckDB.
final class ConnectionHandlerTests: XCTestCase {
    /// A running connection: bytes go in, backend messages come out.
    final class Harness {
        let channel: NIOAsyncTestingChannel
        let worker: FakeWorker
        let task: Task<Void, Never>
        var pending = ByteBuffer()

        init(worker: FakeWorker) async throws {
            self.worker = worker
            let channel = NIOAsyncTestingChannel()
            self.channel = channel
            try await channel.pipeline.addHandler(ByteToMessageHandler(FrontendMessageDecoder(maxMessageSize: 1 << 20)))
            try await channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 5432))
            let scheduler = Scheduler(worker: worker, slots: 1, maxQueued: 10, logger: Logger(label: "test"))
            let context = PostgresServerContext(scheduler: scheduler, authentication: .trust(), logger: Logger(label: "test"))
            let async = try await channel.eventLoop.submit {
                try NIOAsyncChannel<FrontendMessage, ByteBuffer>(wrappingChannelSynchronously: channel)
            }.get()
            task = Task {
                try? await async.executeThenClose { inbound, outbound in
                    let handler = PostgresConnectionHandler(context: context, channel: channel)
                    await handler.run(inbound: inbound, outbound: outbound)
                }
            }
        }

        func send(_ bytes: [UInt8]) async throws {
            try await channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        /// Backend messages until one of `kinds` (type bytes) arrives, that one included.
        func read(until kinds: String = "Z") async throws -> [(Character, ByteBuffer)] {
            var messages: [(Character, ByteBuffer)] = []
            while true {
                while let message = nextMessage() {
                    messages.append(message)
                    if kinds.contains(message.0) { return messages }
                }
                var more = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
                pending.writeBuffer(&more)
            }
        }

        private func nextMessage() -> (Character, ByteBuffer)? {
            guard pending.readableBytes >= 5,
                  let length = pending.getInteger(at: pending.readerIndex + 1, as: Int32.self),
                  pending.readableBytes >= 1 + Int(length) else { return nil }
            let type = Character(Unicode.Scalar(pending.readInteger(as: UInt8.self)!))
            pending.moveReaderIndex(forwardBy: 4)
            return (type, pending.readSlice(length: Int(length) - 4)!)
        }

        func close() async throws {
            try await channel.close()
            await task.value
        }
    }

    static func startup(user: String = "alice") -> [UInt8] {
        var body = ByteBuffer()
        body.writeInteger(Int32(196_608))
        for s in ["user", user, "database", "d", ""] { body.writePostgresString(s) }
        var b = ByteBuffer()
        b.writeInteger(Int32(body.readableBytes + 4))
        b.writeBuffer(&body)
        return Array(b.readableBytesView)
    }

    static func message(_ type: Character, _ body: [UInt8] = []) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(type.asciiValue!)
        b.writeInteger(Int32(body.count + 4))
        b.writeBytes(body)
        return Array(b.readableBytesView)
    }

    static func query(_ sql: String) -> [UInt8] { message("Q", Array(sql.utf8) + [0]) }

    static func cstring(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    func status(_ messages: [(Character, ByteBuffer)]) -> String? {
        guard let last = messages.last, last.0 == "Z" else { return nil }
        return String(Unicode.Scalar(last.1.getInteger(at: last.1.readerIndex, as: UInt8.self)!))
    }

    func sqlState(_ messages: [(Character, ByteBuffer)]) -> String? {
        guard var body = messages.first(where: { $0.0 == "E" })?.1 else { return nil }
        while let code = body.readInteger(as: UInt8.self), code != 0 {
            let value = (try? body.readPostgresString()) ?? nil
            if code == UInt8(ascii: "C") { return value }
        }
        return nil
    }

    func started(_ worker: FakeWorker) async throws -> Harness {
        let h = try await Harness(worker: worker)
        try await h.send(Self.startup())
        let hello = try await h.read()
        XCTAssertEqual(hello.first?.0, "R")
        XCTAssertTrue(hello.contains { $0.0 == "K" })
        XCTAssertEqual(status(hello), "I")
        return h
    }

    func testStartupOpensASessionWithTheCompatibilitySetup() async throws {
        let worker = FakeWorker()
        let h = try await started(worker)
        guard case .open(let user, let setup)? = worker.calls.first else { return XCTFail("\(worker.calls)") }
        XCTAssertEqual(user, "alice")
        XCTAssertTrue(setup.contains { $0.contains("MACRO version()") })
        try await h.close()
    }

    func testSimpleQueryStreamsRowsAndClosesItsStatement() async throws {
        let worker = FakeWorker(["SELECT v": .integers("v", [1, 2, 3])])
        let h = try await started(worker)
        try await h.send(Self.query("SELECT v"))
        let reply = try await h.read()
        XCTAssertEqual(reply.map(\.0), ["T", "D", "D", "D", "C", "Z"])
        XCTAssertEqual(try reply[4].1.getPostgresString(), "SELECT 3")
        XCTAssertTrue(worker.calls.contains(.closeStatement("SELECT v")), "the statement is freed explicitly")
        try await h.close()
    }

    func testAnErrorSkipsTheExtendedSequenceUntilSync() async throws {
        let worker = FakeWorker(["SELECT 1": .integers("x", [1])])
        let h = try await started(worker)
        var parse = Self.cstring("") + Self.cstring("SELEC nonsense")
        parse += [0, 0]
        let bind = Self.cstring("") + Self.cstring("") + [0, 0, 0, 0, 0, 0]
        let execute = Self.cstring("") + [0, 0, 0, 0]
        try await h.send(Self.message("P", parse) + Self.message("B", bind) + Self.message("E", execute) + Self.message("S"))
        let reply = try await h.read()
        XCTAssertEqual(reply.map(\.0), ["E", "Z"], "Bind and Execute are skipped after the error")
        XCTAssertEqual(sqlState(reply), "42601")
        // The next sequence works.
        try await h.send(Self.query("SELECT 1"))
        let r1 = try await h.read()

        XCTAssertEqual(r1.map(\.0), ["T", "D", "C", "Z"])
        try await h.close()
    }

    func testTransactionStatusComesFromTheSession() async throws {
        let worker = FakeWorker([
            "BEGIN": .command(.transaction), "COMMIT": .command(.transaction),
            "SELECT nosuch": .failing(DuckDBError(.binder, "Binder Error: Referenced column \"nosuch\" not found")),
        ])
        let h = try await started(worker)
        try await h.send(Self.query("BEGIN"))
        let s7075 = try await h.read()
        XCTAssertEqual(status(s7075), "T")
        try await h.send(Self.query("SELECT nosuch"))
        let failed = try await h.read()
        XCTAssertEqual(sqlState(failed), "42703")
        XCTAssertEqual(status(failed), "E")
        try await h.send(Self.query("SELECT 1"))
        let refused = try await h.read()
        XCTAssertEqual(sqlState(refused), "25P02")
        XCTAssertFalse(worker.calls.contains(.prepare("SELECT 1")), "refused before the worker sees it")
        try await h.send(Self.query("COMMIT"))
        let ended = try await h.read()
        XCTAssertEqual(try ended.first?.1.getPostgresString(), "ROLLBACK")
        XCTAssertEqual(status(ended), "I")
        XCTAssertEqual(worker.calls.last, .rollback)
        try await h.close()
    }

    func testCopyFromStdinHandsTheDataToTheWorkersLoad() async throws {
        let worker = FakeWorker()
        let h = try await started(worker)
        try await h.send(Self.query("COPY t FROM STDIN"))
        let r2 = try await h.read(until: "G")

        XCTAssertEqual(r2.map(\.0), ["G"])
        try await h.send(Self.message("d", Array("1\ta\n2\t".utf8)) + Self.message("d", Array("b\n".utf8)) + Self.message("c"))
        let done = try await h.read()
        XCTAssertEqual(done.map(\.0), ["C", "Z"])
        XCTAssertEqual(try done[0].1.getPostgresString(), "COPY 2")
        try await h.close()
    }

    func testNamedStatementsStayUntilClosed() async throws {
        let worker = FakeWorker(["SELECT 1": .integers("x", [1])])
        let h = try await started(worker)
        let parse = Self.cstring("s1") + Self.cstring("SELECT 1") + [0, 0]
        try await h.send(Self.message("P", parse) + Self.message("S"))
        let r3 = try await h.read()

        XCTAssertEqual(r3.map(\.0), ["1", "Z"])
        XCTAssertFalse(worker.calls.contains(.closeStatement("SELECT 1")))
        try await h.send(Self.message("C", [UInt8(ascii: "S")] + Self.cstring("s1")) + Self.message("S"))
        let r4 = try await h.read()

        XCTAssertEqual(r4.map(\.0), ["3", "Z"])
        XCTAssertTrue(worker.calls.contains(.closeStatement("SELECT 1")))
        try await h.close()
    }
}

extension ByteBuffer {
    func getPostgresString() throws -> String? {
        var copy = self
        return try copy.readPostgresString()
    }
}
