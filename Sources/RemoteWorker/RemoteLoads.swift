import Arrow
import AsyncAlgorithms
import Foundation
import GRPCCore
import Synchronization
import Worker
import WorkerProtocol

/// A bulk load on a remote worker: one bidirectional call. The first message names the
/// target and the worker answers once the load has begun (so a conflict is raised here, as
/// the in-process worker raises it); data follows through a channel whose `send` waits until
/// the call has taken the previous part; the last reply holds the rows loaded. An error the
/// worker meets while loading surfaces at `finish()`. The worker keeps a load only when it
/// is told to (`finish`); a stream that ends otherwise is an abort.
final class RemoteLoadCall<Request: Sendable>: Sendable {
    typealias Reply = Tavana_Worker_V1_LoadReply
    typealias Invoke = @Sendable (
        RemoteWorker.Stub,
        @escaping @Sendable (RPCWriter<Request>) async throws -> Void,
        @escaping @Sendable (StreamingClientResponse<Reply>) async throws -> Reply?
    ) async throws -> Reply?

    /// The parts after the first, taken by the call's producer one at a time.
    private let parts: AsyncChannel<Request>
    private let call: Task<Reply?, any Error>
    let session: RemoteSession

    /// The message that tells the worker to keep the load.
    private let finishPart: Request

    private init(session: RemoteSession, call: Task<Reply?, any Error>, parts: AsyncChannel<Request>, finishPart: Request) {
        self.finishPart = finishPart
        self.session = session
        self.call = call
        self.parts = parts
    }

    static func start(
        _ first: Request, finish: Request, session: RemoteSession, invoke: @escaping Invoke
    ) async throws -> RemoteLoadCall {
        let outgoing = AsyncChannel<Request>()
        let (started, signal) = AsyncStream<Reply?>.makeStream()
        let worker = session.worker
        session.callStarted()
        let call = Task<Reply?, any Error> {
            defer {
                session.callEnded()
                signal.finish()
                // Parts sent after the call ended return at once; the error is raised by finish().
                outgoing.finish()
            }
            do {
                return try await invoke(worker.stub, { writer in
                    try await writer.write(first)
                    for await part in outgoing { try await writer.write(part) }
                }, { response in
                    var replies = 0
                    var last: Reply?
                    for try await reply in response.messages {
                        replies += 1
                        if replies == 1 { signal.yield(reply) } else { last = reply }
                        if reply.hasFailure { last = reply }
                    }
                    return last
                })
            } catch {
                throw worker.unavailable(error)
            }
        }
        var iterator = started.makeAsyncIterator()
        let first = await withTaskCancellationHandler {
            await iterator.next() ?? nil
        } onCancel: {
            call.cancel()
        }
        do {
            guard let first else {
                _ = try await call.value
                throw WorkerUnavailable("worker \(worker.address) ended the load without an answer")
            }
            session.noted(first.pins)
            if first.hasFailure { throw first.failure.error }
            return RemoteLoadCall(session: session, call: call, parts: outgoing, finishPart: finish)
        } catch {
            outgoing.finish()
            call.cancel()
            throw error
        }
    }

    func send(_ part: Request) async throws {
        try Task.checkCancellation()
        await parts.send(part)
    }

    func finish() async throws -> Int {
        await parts.send(finishPart)
        parts.finish()
        guard let last = try await call.value else {
            throw WorkerUnavailable("worker \(session.address) ended the load without its result")
        }
        session.noted(last.pins)
        if last.hasFailure { throw last.failure.error }
        return Int(clamping: last.rows)
    }

    /// Ends the data without `finish`, which the worker takes for an abort, and waits until
    /// the worker has undone the load, so that the session's next call comes after it.
    /// (A worker that does not answer within 30 s has its call cancelled.)
    func abort() async {
        parts.finish()
        let call = self.call
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            call.cancel()
        }
        _ = try? await call.value
        watchdog.cancel()
    }
}

final class RemoteArrowLoad: ArrowLoad {
    private let call: RemoteLoadCall<Tavana_Worker_V1_LoadArrowRequest>
    /// Dictionary ids carry across the load's batches.
    private let writer: Mutex<IPCStreamWriter>

    private init(call: RemoteLoadCall<Tavana_Worker_V1_LoadArrowRequest>, schema: Schema) {
        self.call = call
        self.writer = Mutex(IPCStreamWriter(schema: schema))
    }

    static func start(_ first: Tavana_Worker_V1_LoadArrowRequest, schema: Schema, session: RemoteSession) async throws -> RemoteArrowLoad {
        var finish = Tavana_Worker_V1_LoadArrowRequest()
        finish.finish = true
        let call = try await RemoteLoadCall.start(first, finish: finish, session: session) { stub, producer, onResponse in
            try await stub.loadArrow(options: RemoteWorker.statement, requestProducer: producer, onResponse: onResponse)
        }
        return RemoteArrowLoad(call: call, schema: schema)
    }

    func append(_ batch: RecordBatch) async throws {
        let messages = try writer.withLock { try $0.messages(for: batch) }
        var part = Tavana_Worker_V1_LoadArrowRequest()
        part.batch = WireBatch(messages)
        try await call.send(part)
    }

    func finish() async throws -> Int { try await call.finish() }
    func abort() async { await call.abort() }
}

final class RemoteCSVLoad: CSVLoad {
    private let call: RemoteLoadCall<Tavana_Worker_V1_LoadCSVRequest>

    private init(call: RemoteLoadCall<Tavana_Worker_V1_LoadCSVRequest>) {
        self.call = call
    }

    static func start(_ first: Tavana_Worker_V1_LoadCSVRequest, session: RemoteSession) async throws -> RemoteCSVLoad {
        var finish = Tavana_Worker_V1_LoadCSVRequest()
        finish.finish = true
        let call = try await RemoteLoadCall.start(first, finish: finish, session: session) { stub, producer, onResponse in
            try await stub.loadCSV(options: RemoteWorker.statement, requestProducer: producer, onResponse: onResponse)
        }
        return RemoteCSVLoad(call: call)
    }

    func write(_ bytes: [UInt8]) async throws {
        var part = Tavana_Worker_V1_LoadCSVRequest()
        part.data = Data(bytes)
        try await call.send(part)
    }

    func finish() async throws -> Int { try await call.finish() }
    func abort() async { await call.abort() }
}
