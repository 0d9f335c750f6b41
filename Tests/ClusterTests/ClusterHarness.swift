import Arrow
import DuckDB
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOPosix
import Synchronization
import RemoteWorker
import Worker
import WorkerEndpoint
import XCTest

/// A cluster in one process: real workers (an EmbeddedWorker running DuckDB behind a
/// WorkerEndpoint, served over loopback TCP) and gateways talking to them with RemoteWorker.
/// Everything a test starts is stopped in its teardown, in reverse order.

let quietLogger: Logger = {
    var logger = Logger(label: "ClusterTests")
    logger.logLevel = .error
    return logger
}()

func makeEmbeddedWorker(maxStatementBytes: Int = 1 << 20) throws -> EmbeddedWorker {
    try EmbeddedWorker(
        configuration: WorkerConfiguration(
            database: DatabaseConfiguration(threads: 2), executionThreads: 2, parseThreads: 2, parseThreadsPerUser: 2,
            maxStatementBytes: maxStatementBytes),
        logger: quietLogger)
}

/// A worker served on 127.0.0.1 at a port of the system's choosing.
final class LocalWorker: Sendable {
    let embedded: EmbeddedWorker
    let endpoint: WorkerEndpoint
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let serving: Task<Void, any Error>
    let port: Int

    var address: WorkerAddress { WorkerAddress(host: "127.0.0.1", port: port) }

    init(embedded: EmbeddedWorker, endpoint: WorkerEndpoint, server: GRPCServer<HTTP2ServerTransport.Posix>,
         serving: Task<Void, any Error>, port: Int) {
        self.embedded = embedded
        self.endpoint = endpoint
        self.server = server
        self.serving = serving
        self.port = port
    }

    static func start(slots: Int = 4, sessionTTL: Duration = .seconds(30), id: String = "w1") async throws -> LocalWorker {
        let embedded = try makeEmbeddedWorker()
        let endpoint = WorkerEndpoint(
            worker: embedded, slots: slots, sessionTTL: sessionTTL,
            status: .init(workerID: id, memoryLimitBytes: 1 << 30, invalidated: { embedded.invalidatedReason }),
            logger: quietLogger)
        // As `tavana worker` configures it: gateways ping idle connections.
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.connection.keepalive.clientBehavior.allowWithoutCalls = true
        config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(5)
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext, config: config)
        let server = GRPCServer(transport: transport, services: [WorkerEndpointService(endpoint)])
        let serving = Task { try await server.serve() }
        let address = try await transport.listeningAddress
        let port = try XCTUnwrap(address.ipv4?.port)
        return LocalWorker(embedded: embedded, endpoint: endpoint, server: server, serving: serving, port: port)
    }

    /// Stops listening and ends the server (its connections with it).
    func stopServing() async {
        server.beginGracefulShutdown()
        await settle(serving, within: .seconds(5))
    }

    func stop() async {
        await stopServing()
        await endpoint.closeAll()
        try? await embedded.shutdown()
    }
}

/// A gateway's connection to one worker, with its heartbeat running.
final class Gateway: Sendable {
    let remote: RemoteWorker
    let running: Task<Void, any Error>

    init(remote: RemoteWorker, running: Task<Void, any Error>) {
        self.remote = remote
        self.running = running
    }

    func stop() async {
        remote.shutdown()
        await settle(running, within: .seconds(5))
    }
}

extension XCTestCase {
    func startWorker(slots: Int = 4, sessionTTL: Duration = .seconds(30), id: String = "w1") async throws -> LocalWorker {
        let worker = try await LocalWorker.start(slots: slots, sessionTTL: sessionTTL, id: id)
        addTeardownBlock { await worker.stop() }
        return worker
    }

    /// A RemoteWorker to `address`, its connection and heartbeat running, once the worker
    /// has answered a hello (unless `waitForHealth` is false).
    func connect(
        to address: WorkerAddress, as name: GatewayName = GatewayName(id: "g1", epoch: 1),
        heartbeat: Duration = .seconds(2), waitForHealth: Bool = true,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Gateway {
        let remote = try RemoteWorker(address: address, gateway: name, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                                      logger: quietLogger)
        let running = Task { try await remote.run(heartbeat: heartbeat) }
        let gateway = Gateway(remote: remote, running: running)
        addTeardownBlock { await gateway.stop() }
        if waitForHealth {
            let healthy = await eventually(within: .seconds(10)) { await remote.hello() }
            XCTAssertTrue(healthy, "worker \(address) never answered a hello", file: file, line: line)
        }
        return gateway
    }

    /// A session whose teardown closes it (a no-op if the test closed it already).
    func open(_ worker: any WorkerService, user: String = "u") async throws -> any WorkerSession {
        let session = try await worker.openSession(SessionOptions(user: user))
        addTeardownBlock { await session.close() }
        return session
    }
}

/// Waits for `task` to end; after `limit`, cancels it and waits on.
func settle<T: Sendable>(_ task: Task<T, any Error>, within limit: Duration) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask { _ = await task.result }
        group.addTask {
            try? await Task.sleep(for: limit)
            if !Task.isCancelled { task.cancel() }
        }
        await group.next()
        group.cancelAll()
    }
}

/// Polls `condition` until it holds or `limit` passes; whether it held.
func eventually(within limit: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Runs `body`, expecting it to throw an `E`; the error.
func expectError<E: Error>(
    _: E.Type, _ what: String = "", file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws -> Void
) async -> E? {
    do {
        try await body()
        XCTFail("expected \(E.self) \(what), got no error", file: file, line: line)
    } catch let error as E {
        return error
    } catch {
        XCTFail("expected \(E.self) \(what), got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

// MARK: Rows

/// Every batch of a result, read with next().
func readAll(_ stream: any ResultStream) async throws -> [RecordBatch] {
    var batches: [RecordBatch] = []
    while let batch = try await stream.next() { batches.append(batch) }
    return batches
}

/// The first column of a one-row BIGINT result.
func scalar(_ session: any WorkerSession, _ sql: String) async throws -> Int64 {
    let handle = try await session.prepare(sql)
    let stream = try await session.execute(handle, parameters: [])
    let batches = try await readAll(stream)
    await session.closeStatement(handle)
    let batch = try XCTUnwrap(batches.first { $0.length > 0 }, "\(sql) returned no rows")
    XCTAssertEqual(batch.schema.fields.first?.type, .int(bitWidth: 64, signed: true), sql)
    return batch.columns[0].value(0, as: Int64.self)
}

enum Columns {
    static func bitmap(_ valid: [Bool]) -> (Buffer, Int) {
        let nulls = valid.filter { !$0 }.count
        guard nulls > 0 else { return (.empty, 0) }
        var bytes = [UInt8](repeating: 0, count: (valid.count + 7) / 8)
        for (i, v) in valid.enumerated() where v { bytes[i / 8] |= 1 << UInt8(i % 8) }
        return (Buffer(copying: bytes), nulls)
    }

    static func int64(_ values: [Int64?]) -> ArrayData {
        let (validity, nulls) = bitmap(values.map { $0 != nil })
        var bytes: [UInt8] = []
        for v in values { withUnsafeBytes(of: (v ?? 0).littleEndian) { bytes.append(contentsOf: $0) } }
        return ArrayData(type: .int(bitWidth: 64, signed: true), length: values.count, nullCount: nulls,
                         buffers: [validity, Buffer(copying: bytes)])
    }

    static func utf8(_ values: [String?]) -> ArrayData {
        let (validity, nulls) = bitmap(values.map { $0 != nil })
        var offsets: [UInt8] = []
        var data: [UInt8] = []
        func offset(_ n: Int) { withUnsafeBytes(of: Int32(n).littleEndian) { offsets.append(contentsOf: $0) } }
        offset(0)
        for v in values {
            data += Array((v ?? "").utf8)
            offset(data.count)
        }
        return ArrayData(type: .utf8, length: values.count, nullCount: nulls,
                         buffers: [validity, Buffer(copying: offsets), Buffer(copying: data)])
    }
}

/// A flag one task sets and another polls.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
