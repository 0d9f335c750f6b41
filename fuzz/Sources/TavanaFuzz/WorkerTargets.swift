import Arrow
import Foundation
import WorkerProtocol

/// The gateway↔worker protocol's decoding (cluster mode): the messages a worker reads from a
/// gateway (typed parameters, a load's target and batches) and those a gateway reads from a
/// worker (statement descriptions, result headers and batches, failures, the vocabulary).
/// The first byte picks the message; everything decoded must fail cleanly, never trap.
enum WorkerProtocolTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let choice = input.byte()
        let body = Data(input.rest())
        switch choice % 5 {
        case 0:
            guard let request = try? Tavana_Worker_V1_ExecuteRequest(serializedBytes: body) else { return }
            for parameter in request.parameters { _ = try? parameter.decoded() }
        case 1:
            guard let reply = try? Tavana_Worker_V1_PrepareReply(serializedBytes: body) else { return }
            _ = try? reply.description_p.decoded()
            _ = reply.failure.error
        case 2:
            // The gateway's own reader of the Execute stream first, then the generated one.
            if case .batch(let messages)? = try? ExecuteFrameDeserializer().deserialize([UInt8](body)) {
                for m in messages { _ = m.bodyBytes() }
            }
            guard let reply = try? Tavana_Worker_V1_ExecuteReply(serializedBytes: body) else { return }
            switch reply.reply {
            case .header(let header):
                _ = header.columns.map { try? $0.decoded() }
                guard let schema = try? WireSchema.decode(header.arrowSchema) else { return }
                _ = try? IPCMessageDecoder(schema: schema)
            case .batch(let batch):
                decode(batch, schema: nil)
            case .failure(let failure):
                _ = failure.error
            case nil:
                return
            }
        case 3:
            // A load: its target (with the schema), then batches decoded against that schema.
            body.withUnsafeBytes { raw in
                var rest = FuzzInput(raw)
                guard let first = try? Tavana_Worker_V1_LoadArrowRequest(serializedBytes: Data(rest.chunk())),
                      case .target(let target) = first.part,
                      let schema = try? WireSchema.decode(target.arrowSchema)
                else { return }
                while !rest.isEmpty {
                    guard let part = try? Tavana_Worker_V1_LoadArrowRequest(serializedBytes: Data(rest.chunk())),
                          case .batch(let batch) = part.part
                    else { continue }
                    decode(batch, schema: schema)
                }
            }
        default:
            guard let reply = try? Tavana_Worker_V1_VocabularyReply(serializedBytes: body) else { return }
            _ = reply.decoded
        }
    }

    static func decode(_ batch: Tavana_Worker_V1_ResultBatch, schema: Schema?) {
        var decoder = IPCMessageDecoder()
        if let schema { guard let d = try? IPCMessageDecoder(schema: schema) else { return }; decoder = d }
        for message in batch.messages {
            _ = try? decoder.decode(metadata: Buffer(copying: message.metadata), body: Buffer(copying: message.body))
        }
    }
}
