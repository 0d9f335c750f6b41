import Arrow
import DuckDB
import Foundation
import FlightProtocol
import GRPCCore
import GRPCProtobuf
import Logging
import Scheduler
import SwiftProtobuf
import Worker

/// DoGet: streaming a ticket's result as Arrow IPC, joined into batches of useful size.
extension FlightSQLService {
    func doGet(
        request: Arrow_Flight_Protocol_Ticket,
        response: RPCWriter<Arrow_Flight_Protocol_FlightData>,
        context: ServerContext
    ) async throws {
        try await doGet(ticket: request, context: context) { message in
            try await response.write(flightData(message))
        }
    }

    /// Streams a ticket's result as Arrow IPC messages through `write` (the generated
    /// `FlightData` path above, or `FlightDoGetFastPath`).
    func doGet(
        ticket request: Arrow_Flight_Protocol_Ticket,
        context: ServerContext,
        write send: @escaping @Sendable (IPCMessage) async throws -> Void
    ) async throws {
        let observer = scheduler.observer
        let write: @Sendable (IPCMessage) async throws -> Void = { message in
            try await send(message)
            observer?.sent(door: .flight, bytes: message.metadata.count + message.bodyLength)
        }
        let id = Self.ticketID(request.ticket)
        guard let pending = tickets.takePending(id) else {
            throw RPCError(code: .notFound, message: "unknown or expired ticket (a ticket is good for one DoGet within \(tickets.ticketTTL))")
        }
        // Take a query slot before anything is sent. If the queue is full the ticket stays
        // valid, so that the client can retry the DoGet.
        if let cursor = pending.source.startedCursor, let session = pending.session {
            do {
                try await session.resume(cursor)
            } catch {
                tickets.putBack(id, pending)
                throw logged(error, "DoGet")
            }
        }
        tickets.setStreaming(id, pending)
        defer {
            tickets.setStreaming(id, nil)
            pending.release()
        }
        do {
            try await withTaskCancellationHandler {
                var writer = IPCStreamWriter(schema: pending.schema)
                try await write(writer.schemaMessage())
                switch pending.source {
                case .cursor(let cursor):
                    try await stream(cursor, with: &writer, to: write)
                case .batches(let batches):
                    for batch in batches {
                        for message in try writer.messages(for: batch) {
                            try await write(message)
                        }
                    }
                case .perParameterRow(let first, let rest, let statement):
                    try await stream(first, with: &writer, to: write)
                    // One run at a time: the finished run's slot goes back before the next
                    // queues for one (with one slot, holding it would deadlock).
                    first.close()
                    guard let session = pending.session else { break }
                    for row in rest {
                        let cursor = try await session.execute(statement, parameters: row)
                        defer { cursor.close() }
                        try await stream(cursor, with: &writer, to: write)
                    }
                }
            } onCancel: {
                pending.session?.cancel()
            }
        } catch {
            throw logged(error, "DoGet")
        }
    }

    /// Writes a running query's batches, joined by `BatchCoalescer`. While one batch is
    /// written the next is pulled and joined (DuckDB chunk → Arrow on the worker's threads),
    /// so the two overlap on separate cores; nothing further is pulled until that write is
    /// done (backpressure: two batches at most). A batch outlives its messages'
    /// serialization, which happens inside `write`.
    func stream(
        _ cursor: QueryResult, with writer: inout IPCStreamWriter,
        to write: @Sendable (IPCMessage) async throws -> Void
    ) async throws {
        if cursor.arrivesEncoded {
            // Cluster mode: the worker joined and encoded the batches; they pass through.
            var current = try await cursor.nextMessages()
            while let messages = current {
                async let following = cursor.nextMessages()
                for message in messages { try await write(message) }
                current = try await following
            }
            return
        }
        let batches = BatchCoalescer { try await cursor.next() }
        var current = try await batches.next()
        while !current.isEmpty {
            async let following = batches.next()
            for batch in current {
                for message in try writer.messages(for: batch) {
                    try await write(message)
                }
            }
            withExtendedLifetime(current) {}
            current = try await following
        }
    }

    /// The registry id a ticket names: our tickets are Any-packed `TicketStatementQuery`s;
    /// plain bytes are accepted as the id itself.
    static func ticketID(_ ticket: Data) -> String {
        if let any = try? Google_Protobuf_Any(serializedBytes: ticket),
           any.isA(Arrow_Flight_Protocol_Sql_TicketStatementQuery.self),
           let t = try? Arrow_Flight_Protocol_Sql_TicketStatementQuery(unpackingAny: any) {
            return String(decoding: t.statementHandle, as: UTF8.self)
        }
        return String(decoding: ticket, as: UTF8.self)
    }

    func flightData(_ message: IPCMessage) -> FlightData {
        var data = FlightData()
        data.dataHeader = Data(message.metadata)
        // One copy from the Arrow buffers (still in DuckDB's memory) into the protobuf field.
        var body = Data()
        body.reserveCapacity(message.bodyLength)
        message.appendBody(to: &body)
        data.dataBody = body
        return data
    }
}

/// Registers DoGet with `FlightDataFrameSerializer`, replacing the generated registration
/// (the router keeps the last handler registered for a method). The generated `doGet`
/// stays as the protocol requires and produces the same bytes, only slower.
struct FlightDoGetFastPath: RegistrableRPCService {
    let service: FlightSQLService

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let service = self.service
        router.registerHandler(
            forMethod: Arrow_Flight_Protocol_FlightService.Method.DoGet.descriptor,
            deserializer: ProtobufDeserializer<Arrow_Flight_Protocol_Ticket>(),
            serializer: FlightDataFrameSerializer(),
            handler: { request, context in
                let ticket = try await ServerRequest(stream: request).message
                return StreamingServerResponse { writer in
                    try await service.doGet(ticket: ticket, context: context) { message in
                        try await writer.write(FlightDataFrame(message: message))
                    }
                    return [:]
                }
            })
    }
}
