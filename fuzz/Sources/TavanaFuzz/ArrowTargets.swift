import Arrow
import DuckDB
import FlightProtocol
import Foundation
import NIOCore

@testable import FlightSQL
@testable import PostgresWire

/// An Arrow IPC stream as a client uploads it (Flight ingest, parameters): read, then each
/// batch used the ways Tavana uses batches: every column encoded as PostgreSQL text and
/// binary (the encoders must hold for any array the reader accepts), converted to parameter
/// values, joined with itself, and written back out as IPC.
enum ArrowIPCTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        guard var reader = try? IPCStreamReader(bytes: Array(data)) else { return }
        var batches: [RecordBatch] = []
        while batches.count < 8, let batch = try? reader.next() {
            batches.append(batch)
        }
        for batch in batches {
            encodeForPostgres(batch)
            _ = try? ArrowParameters.rows(of: batch)
            var writer = IPCStreamWriter(schema: batch.schema)
            _ = try? writer.messages(for: batch)
        }
        if batches.count >= 2 { _ = RecordBatch.concatenate(batches) }
    }

    static func encodeForPostgres(_ batch: RecordBatch) {
        var buffer = ByteBuffer()
        for (c, column) in batch.columns.enumerated() {
            let field = batch.schema.fields[c]
            guard let type = logicalType(field) else { continue }
            let description = ColumnDescription(name: field.name, type: type)
            for format in [PostgresFormat.text, .binary] {
                guard let encoder = try? ColumnValueEncoder(column: description, field: field, format: format) else { continue }
                for row in 0..<min(column.length, 256) {
                    buffer.clear()
                    encoder.encode(column, row: row, into: &buffer)
                }
            }
        }
    }

    /// The DuckDB type whose Arrow export has this field's type: what the PostgreSQL door
    /// would have described the column as.
    static func logicalType(_ field: Field) -> LogicalType? {
        switch field.type {
        case .bool: return .boolean
        case .int(8, true): return .tinyint
        case .int(16, true): return .smallint
        case .int(32, true): return .integer
        case .int(64, true): return .bigint
        case .int(8, false): return .utinyint
        case .int(16, false): return .usmallint
        case .int(32, false): return .uinteger
        case .int(64, false): return .ubigint
        case .float32: return .float
        case .float64: return .double
        case .decimal(let p, let s, _): return .decimal(width: p, scale: s)
        case .utf8, .largeUtf8: return .varchar
        case .binary, .largeBinary: return .blob
        case .fixedSizeBinary(16): return .uuid
        case .date32, .date64: return .date
        case .time32, .time64(.microsecond): return .time
        case .time64(.nanosecond): return .timeNS
        case .timestamp(.second, nil): return .timestampS
        case .timestamp(.millisecond, nil): return .timestampMS
        case .timestamp(.nanosecond, nil): return .timestampNS
        case .timestamp(_, nil): return .timestamp
        case .timestamp(_, _): return .timestampTZ
        case .interval: return .interval
        case .list(let child), .largeList(let child):
            return logicalType(child).map { .list($0) }
        case .fixedSizeList(let child, let size):
            return logicalType(child).map { .array($0, size: size) }
        case .struct(let fields):
            let children = fields.compactMap { f in logicalType(f).map { (name: f.name, type: $0) } }
            return children.count == fields.count ? .struct(children) : nil
        case .map(let entries, _):
            guard case .struct(let kv) = entries.type, kv.count == 2, let k = logicalType(kv[0]), let v = logicalType(kv[1]) else { return nil }
            return .map(key: k, value: v)
        default: return nil
        }
    }
}

/// What a Flight client controls before any SQL runs: the descriptor command, action bodies,
/// tickets, the authorization header, and FlightData messages (protobuf around Arrow IPC).
enum FlightCommandsTarget {
    static let actions = ["CreatePreparedStatement", "ClosePreparedStatement", "BeginTransaction", "EndTransaction",
                          "CancelFlightInfo", "CancelQuery", "Unknown"]
    static let authenticator = FlightAuthenticator(tokenLifetime: 60) { user, password in user == "u" && password == "p" }

    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let choice = input.byte()
        let body = Data(input.rest())
        switch choice % 6 {
        case 0:
            _ = try? Command.decode(body)
        case 1:
            _ = try? ActionRequest.decode(type: actions[Int(choice / 6) % actions.count], body: body)
        case 2:
            _ = FlightSQLService.ticketID(body)
        case 3:
            _ = try? authenticator.authenticate(String(decoding: body, as: UTF8.self))
            _ = try? authenticator.authenticate("Basic " + body.base64EncodedString())
        case 4:
            guard let message = try? Arrow_Flight_Protocol_FlightData(serializedBytes: body) else { return }
            var decoder = IPCMessageDecoder()
            _ = try? decoder.decode(metadata: Array(message.dataHeader), body: Array(message.dataBody))
            if message.hasFlightDescriptor, message.flightDescriptor.type == .cmd {
                _ = try? Command.decode(message.flightDescriptor.cmd)
            }
        default:
            // A DoPut's stream: FlightData messages one after another, length-prefixed here.
            body.withUnsafeBytes { raw in
                var decoder = IPCMessageDecoder()
                var rest = FuzzInput(raw)
                while !rest.isEmpty {
                    let chunk = rest.chunk()
                    guard let message = try? Arrow_Flight_Protocol_FlightData(serializedBytes: chunk) else { continue }
                    if case .recordBatch(let batch)? = try? decoder.decode(metadata: Array(message.dataHeader), body: Array(message.dataBody)) {
                        _ = try? ArrowParameters.rows(of: batch)
                    }
                }
            }
        }
    }
}
