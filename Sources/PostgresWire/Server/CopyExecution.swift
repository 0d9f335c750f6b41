import Arrow
import DuckDB
import Foundation
import NIOCore

extension PostgresConnection {
    func executeCopy(_ copy: CopyCommand, _ portal: Portal, _ outbound: Outbound) async throws {
        switch copy.direction {
        case .out: try await copyOut(copy, portal, outbound)
        case .in(let table, let columns): try await copyIn(copy, table: table, columns: columns, outbound)
        }
    }

    // MARK: - COPY ... TO STDOUT

    /// Streams the query's rows as CopyData in PostgreSQL's text or CSV format, one batch of
    /// rows per message, with the same backpressure as ordinary results.
    private func copyOut(_ copy: CopyCommand, _ portal: Portal, _ outbound: Outbound) async throws {
        try await start(portal)
        guard let cursor = portal.cursor else { throw ProtocolViolation("COPY without a result") }
        let columns = portal.columns
        out.writeInteger(UInt8(ascii: "H"))
        out.writeInteger(Int32(4 + 1 + 2 + 2 * columns.count))
        out.writeInteger(UInt8(0))
        out.writeInteger(Int16(truncatingIfNeeded: columns.count))  // checked by PreparedInfo.checkShape
        for _ in columns { out.writeInteger(Int16(0)) }
        let fields = CopyFieldEncoder(copy: copy)
        var line = [UInt8]()
        var chunk = [UInt8]()
        var rows = 0
        if copy.header {
            line = []
            for (i, c) in columns.enumerated() {
                if i > 0 { line.append(copy.delimiter) }
                fields.append(Array(c.name.utf8), to: &line)
            }
            line.append(UInt8(ascii: "\n"))
            writeCopyData(line)
        }
        var encoders: [ColumnValueEncoder]?
        var scratch = channel.allocator.buffer(capacity: 64)
        while let batch = try await cursor.next() {
            if encoders == nil {
                encoders = try columns.indices.map {
                    try ColumnValueEncoder(column: columns[$0], field: batch.schema.fields[$0], format: .text)
                }
            }
            for row in 0..<batch.length {
                let rowStart = chunk.count
                for (c, encoder) in encoders!.enumerated() {
                    if c > 0 { chunk.append(copy.delimiter) }
                    scratch.clear()
                    encoder.encode(batch.columns[c], row: row, into: &scratch)
                    let length = scratch.readInteger(as: Int32.self)!
                    if length < 0 {
                        chunk.append(contentsOf: copy.null.utf8)
                    } else {
                        scratch.withUnsafeReadableBytes { fields.append($0.prefix(Int(length)), to: &chunk) }
                    }
                }
                chunk.append(UInt8(ascii: "\n"))
                guard chunk.count - rowStart <= Self.maxRowBytes else {
                    throw ErrorFields(sqlState: SQLState.programLimitExceeded,
                                      message: "COPY row \(rows + 1) is \(chunk.count - rowStart) bytes, more than a CopyData message may hold (\(Self.maxRowBytes))")
                }
                rows += 1
                // CopyData messages of about 64 KB: rows are never split, and no message
                // grows with the batch (2048 rows of wide values would pass 2 GB).
                if chunk.count >= 64 << 10 {
                    writeCopyData(chunk)
                    chunk.removeAll(keepingCapacity: true)
                    if out.readableBytes >= flushThreshold { try await flush(outbound) }
                }
            }
        }
        if !chunk.isEmpty { writeCopyData(chunk) }
        cursor.close()
        portal.finished = true
        out.writeInteger(UInt8(ascii: "c"))
        out.writeInteger(Int32(4))
        out.writeBackendMessage(.commandComplete("COPY \(rows)"))
    }

    private func writeCopyData(_ bytes: [UInt8]) {
        out.writeInteger(UInt8(ascii: "d"))
        out.writeInteger(Int32(4 + bytes.count))
        out.writeBytes(bytes)
    }

    // MARK: - COPY ... FROM STDIN

    /// Receives CopyData until CopyDone into a temporary CSV file (text format is converted
    /// on the way), then lets DuckDB load it with its own CSV reader.
    private func copyIn(_ copy: CopyCommand, table: String, columns: [String], _ outbound: Outbound) async throws {
        guard let session else { throw ProtocolViolation("no session") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tavana-copy-\(UUID().uuidString).csv").path
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw ErrorFields(sqlState: SQLState.ioError, message: "could not create a temporary file for COPY")
        }
        defer {
            try? file.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        out.writeInteger(UInt8(ascii: "G"))
        let n = max(columns.count, 1)
        out.writeInteger(Int32(4 + 1 + 2 + 2 * n))
        out.writeInteger(UInt8(0))
        out.writeInteger(Int16(n))
        for _ in 0..<n { out.writeInteger(Int16(0)) }
        try await flush(outbound)

        var converter = TextToCSV(copy: copy, maxLineBytes: context.maxMessageSize)
        var failure: ErrorFields?
        receive: while true {
            guard let message = try await nextMessage() else { throw ProtocolViolation("connection closed during COPY") }
            switch message {
            case .copyDataBytes(let data):
                if failure == nil {
                    do {
                        file.write(Data(try converter.convert(Array(data.readableBytesView))))
                    } catch let e as ErrorFields {
                        failure = e
                    }
                }
            case .copyDone:
                break receive
            case .copyFail(let reason):
                throw ErrorFields(sqlState: SQLState.queryCanceled, message: "COPY from stdin failed: \(reason)")
            case .flush, .sync:
                continue
            default:
                throw ProtocolViolation("unexpected message during COPY FROM STDIN")
            }
        }
        if let failure { throw failure }
        file.write(Data(try converter.finish()))
        try file.synchronize()
        let columnList = columns.isEmpty ? "" : "(" + columns.joined(separator: ", ") + ")"
        var options = "FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"'"
        if copy.format == .csv {
            options = "FORMAT csv, HEADER \(copy.header), DELIMITER \(SQLText.literal(CopyCommand.text(copy.delimiter))), "
                + "QUOTE \(SQLText.literal(CopyCommand.text(copy.quote))), ESCAPE \(SQLText.literal(CopyCommand.text(copy.escape))), NULL \(SQLText.literal(copy.null))"
        }
        let sql = "COPY \(table) \(columnList) FROM \(SQLText.literal(path)) (\(options))"
        try await materializeOpenPortals()
        let changed = try await session.execute(sql)
        applyTransactionEffect("")
        out.writeBackendMessage(.commandComplete("COPY \(changed ?? converter.rows)"))
    }
}
