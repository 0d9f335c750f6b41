import FlightProtocol
import Arrow
import DuckDB
import Foundation
import GRPCCore
import Scheduler
import Worker

/// The Arrow IPC stream of a DoPut (an ingest's rows, a prepared statement's parameters),
/// read one message at a time as it arrives.
struct UploadStream {
    private var decoder = IPCMessageDecoder()
    private var first: FlightData?

    init(first: FlightData) { self.first = first }

    /// Reads until the schema message has arrived; nil if the stream ends first.
    mutating func schema(from rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator) async throws -> Schema? {
        while decoder.schema == nil {
            guard let message = try await nextMessage(&rest) else { return nil }
            if case .recordBatch? = try decode(message) {
                throw RPCError(code: .invalidArgument, message: "a record batch arrived before the Arrow schema")
            }
        }
        return decoder.schema
    }

    /// The next record batch (dictionary batches are applied on the way), nil at the end.
    mutating func nextBatch(from rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator) async throws -> RecordBatch? {
        while let message = try await nextMessage(&rest) {
            if case .recordBatch(let batch)? = try decode(message) { return batch }
        }
        return nil
    }

    /// The rest of the stream as rows of values (prepared-statement parameters: a few rows).
    mutating func parameterRows(from rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator) async throws -> [[DuckDBValue]] {
        var rows: [[DuckDBValue]] = []
        while let batch = try await nextBatch(from: &rest) {
            rows += try ArrowParameters.rows(of: batch, before: rows.count)
        }
        return rows
    }

    private mutating func nextMessage(
        _ rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator
    ) async throws -> FlightData? {
        if let message = first {
            first = nil
            return message
        }
        return try await rest.next()
    }

    private mutating func decode(_ message: FlightData) throws -> IPCMessageDecoder.Decoded? {
        guard !message.dataHeader.isEmpty else { return nil }
        return try decoder.decode(metadata: Buffer(copying: message.dataHeader), body: Buffer(copying: message.dataBody))
    }
}

/// A Flight SQL bulk ingest (`CommandStatementIngest`): the rows go to the worker's Arrow
/// load, which creates, replaces or checks the table as the command's options say.
enum Ingest {
    static func request(_ command: Arrow_Flight_Protocol_Sql_CommandStatementIngest, schema: Schema) throws -> ArrowLoadRequest {
        guard !command.table.isEmpty else { throw RPCError(code: .invalidArgument, message: "ingest without a table name") }
        let options = command.tableDefinitionOptions
        let ifExists: ArrowLoadRequest.IfExists
        switch options.ifExists {
        case .append: ifExists = .append
        case .replace: ifExists = .replace
        default: ifExists = .fail
        }
        // Temporary tables live in DuckDB's `temp.main`.
        return ArrowLoadRequest(
            catalog: command.temporary ? "temp" : (command.hasCatalog ? command.catalog : nil),
            schema: command.hasSchema ? command.schema : (command.temporary ? "main" : nil),
            table: command.table, temporary: command.temporary, ifExists: ifExists,
            ifMissing: options.ifNotExist == .fail ? .fail : .create, arrowSchema: schema)
    }

    static func run(
        _ command: Arrow_Flight_Protocol_Sql_CommandStatementIngest, first: FlightData,
        rest: inout RPCAsyncSequence<FlightData, any Error>.AsyncIterator, scheduler: Scheduler,
        transaction: Session? = nil
    ) async throws -> Int64 {
        guard !command.table.isEmpty else { throw RPCError(code: .invalidArgument, message: "ingest without a table name") }
        var upload = UploadStream(first: first)
        guard let schema = try await upload.schema(from: &rest) else {
            throw RPCError(code: .invalidArgument, message: "ingest without an Arrow schema")
        }
        let request = try request(command, schema: schema)
        // Inside a client's transaction (or session) the rows join it; otherwise the load has
        // a session of its own.
        let session: Session
        if let transaction { session = transaction } else { session = try await scheduler.openSession(user: FlightCaller.user ?? "", door: .flight) }
        defer { if transaction == nil { session.close() } }
        // An ingest is a query as far as admission goes: it holds a slot while it runs.
        let lease = try await session.admitForLoad()
        defer { lease.release() }
        let load = try await session.loadArrow(request)
        do {
            while let batch = try await upload.nextBatch(from: &rest) {
                try await load.append(batch)
            }
            return Int64(try await load.finish())
        } catch {
            await load.abort()
            throw error
        }
    }
}
