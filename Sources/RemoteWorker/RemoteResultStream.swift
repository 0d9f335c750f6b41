import Arrow
import AsyncAlgorithms
import DuckDB
import GRPCCore
import GRPCProtobuf
import Synchronization
import Worker
import WorkerProtocol

/// A statement running on a remote worker. The call's replies are handed over one at a time
/// through a channel whose `send` waits for the consumer: the call reads the next reply only
/// when the front door asks for the next batch, and HTTP/2 flow control carries that
/// backpressure to the worker, which then stops pulling from DuckDB.
final class RemoteResultStream: ResultStream {
    typealias Reply = ExecuteFrame

    let columns: [ColumnDescription]
    let statementType: StatementType
    let rowsChanged: Int?
    let arrowSchema: Schema
    private let replies: AsyncThrowingChannel<Reply, any Error>
    private let call: Task<Void, Never>
    private let decoder: Mutex<IPCMessageDecoder>
    private let ended = Mutex(false)

    private init(header: Tavana_Worker_V1_ResultHeader, replies: AsyncThrowingChannel<Reply, any Error>, call: Task<Void, Never>) throws {
        columns = try header.columns.map { try $0.decoded() }
        statementType = StatementType(rawValue: header.statementType) ?? .invalid
        rowsChanged = header.hasRowsChanged_p ? Int(clamping: header.rowsChanged) : nil
        arrowSchema = try WireSchema.decode(header.arrowSchema)
        decoder = Mutex(try IPCMessageDecoder(schema: arrowSchema))
        self.replies = replies
        self.call = call
    }

    deinit {
        call.cancel()
    }

    /// Starts the statement and waits for its header (or its error).
    static func start(_ request: Tavana_Worker_V1_ExecuteRequest, session: RemoteSession) async throws -> RemoteResultStream {
        let channel = AsyncThrowingChannel<Reply, any Error>()
        let worker = session.worker
        session.callStarted()
        let call = Task {
            defer { session.callEnded() }
            do {
                try await worker.client.serverStreaming(
                    request: ClientRequest(message: request), descriptor: Tavana_Worker_V1_Worker.Method.Execute.descriptor,
                    serializer: ProtobufSerializer<Tavana_Worker_V1_ExecuteRequest>(), deserializer: ExecuteFrameDeserializer(),
                    options: RemoteWorker.statement
                ) { response in
                    for try await reply in response.messages {
                        await channel.send(reply)
                        // Cancelled: the consumer closed the stream; ending the call tells the
                        // worker, which interrupts DuckDB.
                        try Task.checkCancellation()
                    }
                }
                channel.finish()
            } catch {
                channel.fail(worker.unavailable(error))
            }
        }
        do {
            let first = try await withTaskCancellationHandler {
                try await Self.next(of: channel)
            } onCancel: {
                call.cancel()
            }
            switch first {
            case .reply(let reply):
                switch reply.reply {
                case .header(let header):
                    session.noted(header.pins)
                    return try RemoteResultStream(header: header, replies: channel, call: call)
                case .failure(let failure):
                    throw failure.error
                case .batch, nil:
                    break
                }
            case .batch, nil:
                break
            }
            throw WorkerUnavailable("worker \(worker.address) ended the statement without a result header")
        } catch {
            call.cancel()
            channel.finish()
            throw error
        }
    }

    private static func next(of channel: AsyncThrowingChannel<Reply, any Error>) async throws -> Reply? {
        // A channel hands each element to one waiting iterator; one consumer at a time asks.
        var iterator = channel.makeAsyncIterator()
        let reply = try await iterator.next()
        if reply == nil { try Task.checkCancellation() }
        return reply
    }

    /// The next batch's IPC messages as the worker sent them; nil at the end.
    private func nextBatch() async throws -> [IPCMessage]? {
        guard !ended.withLock({ $0 }) else { return nil }
        switch try await Self.next(of: replies) {
        case .batch(let messages):
            return messages
        case .reply(let reply):
            switch reply.reply {
            case .batch(let batch):
                // A peer that wrote the batch alongside other fields: still a batch.
                return batch.ipcMessages
            case .failure(let failure):
                close()
                throw failure.error
            case .header, nil:
                close()
                throw WorkerUnavailable("worker sent a second result header")
            }
        case nil:
            close()
            return nil
        }
    }

    func schema() async throws -> Schema { arrowSchema }

    /// The worker encodes and joins the batches (`WorkerEndpoint`): forward them.
    var arrivesEncoded: Bool { true }

    func next() async throws -> RecordBatch? {
        while let batch = try await nextBatch() {
            var result: RecordBatch?
            try decoder.withLock { d in
                for message in batch {
                    let decoded = try d.decode(metadata: Buffer(copying: message.metadata), body: message.bodyParts.first ?? .empty)
                    if case .recordBatch(let b) = decoded { result = b }
                }
            }
            if let result { return result }
        }
        return nil
    }

    func nextMessages() async throws -> [IPCMessage]? {
        try await nextBatch()
    }

    func close() {
        let first = ended.withLock { e -> Bool in
            defer { e = true }
            return !e
        }
        guard first else { return }
        call.cancel()
        replies.finish()
    }
}
