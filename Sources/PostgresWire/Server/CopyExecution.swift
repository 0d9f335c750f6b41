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
        out.writeInteger(Int16(columns.count))
        for _ in columns { out.writeInteger(Int16(0)) }
        var line = [UInt8]()
        var chunk = [UInt8]()
        var rows = 0
        if copy.header {
            line = []
            for (i, c) in columns.enumerated() {
                if i > 0 { line.append(contentsOf: String(copy.delimiter).utf8) }
                appendField(Array(c.name.utf8), copy, to: &line)
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
            chunk.removeAll(keepingCapacity: true)
            for row in 0..<batch.length {
                for (c, encoder) in encoders!.enumerated() {
                    if c > 0 { chunk.append(contentsOf: String(copy.delimiter).utf8) }
                    scratch.clear()
                    encoder.encode(batch.columns[c], row: row, into: &scratch)
                    let length = scratch.readInteger(as: Int32.self)!
                    if length < 0 {
                        chunk.append(contentsOf: copy.null.utf8)
                    } else {
                        appendField(scratch.readBytes(length: Int(length))!, copy, to: &chunk)
                    }
                }
                chunk.append(UInt8(ascii: "\n"))
                rows += 1
            }
            writeCopyData(chunk)
            if out.readableBytes >= flushThreshold { try await flush(outbound) }
        }
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

    /// One field in text format (backslash escapes) or CSV (quoted when needed).
    private func appendField(_ value: [UInt8], _ copy: CopyCommand, to line: inout [UInt8]) {
        let delimiter = UInt8(ascii: copy.delimiter.unicodeScalars.first!)
        switch copy.format {
        case .text:
            for b in value {
                switch b {
                case UInt8(ascii: "\\"): line += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case UInt8(ascii: "\n"): line += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\r"): line += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case UInt8(ascii: "\t") where delimiter == UInt8(ascii: "\t"): line += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case delimiter: line += [UInt8(ascii: "\\"), b]
                default: line.append(b)
                }
            }
        case .csv:
            let quote = UInt8(ascii: copy.quote.unicodeScalars.first!)
            let escape = UInt8(ascii: copy.escape.unicodeScalars.first!)
            let needsQuotes = value.isEmpty && copy.null.isEmpty || value.contains { $0 == delimiter || $0 == quote || $0 == 10 || $0 == 13 }
                || value == Array(copy.null.utf8)
            guard needsQuotes else {
                line += value
                return
            }
            line.append(quote)
            for b in value {
                if b == quote || b == escape { line.append(escape) }
                line.append(b)
            }
            line.append(quote)
        }
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

        var converter = TextToCSV(copy: copy)
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
            options = "FORMAT csv, HEADER \(copy.header), DELIMITER \(SQLText.literal(String(copy.delimiter))), "
                + "QUOTE \(SQLText.literal(String(copy.quote))), ESCAPE \(SQLText.literal(String(copy.escape))), NULL \(SQLText.literal(copy.null))"
        }
        let sql = "COPY \(table) \(columnList) FROM \(SQLText.literal(path)) (\(options))"
        try await materializeOpenPortals()
        let changed = try await session.run { try $0.execute(sql) }
        applyTransactionEffect("")
        out.writeBackendMessage(.commandComplete("COPY \(changed ?? converter.rows)"))
    }
}

/// PostgreSQL's COPY text format (backslash escapes, \N for NULL) turned into CSV that
/// DuckDB reads unambiguously (NULL unquoted and empty, every value quoted).
/// CSV input passes through unchanged.
struct TextToCSV {
    let copy: CopyCommand
    private var pending: [UInt8] = []
    private(set) var rows = 0

    init(copy: CopyCommand) { self.copy = copy }

    mutating func convert(_ bytes: [UInt8]) throws -> [UInt8] {
        if copy.format == .csv { return bytes }
        pending += bytes
        var output: [UInt8] = []
        while let newline = pending.firstIndex(of: 10) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            try appendLine(line, to: &output)
        }
        return output
    }

    mutating func finish() throws -> [UInt8] {
        guard copy.format == .text, !pending.isEmpty else { return [] }
        var output: [UInt8] = []
        try appendLine(pending, to: &output)
        pending = []
        return output
    }

    private mutating func appendLine(_ raw: [UInt8], to output: inout [UInt8]) throws {
        var line = raw
        if line.last == 13 { line.removeLast() }
        if line == Array("\\.".utf8) { return }  // end-of-data marker of old clients
        let delimiter = UInt8(ascii: copy.delimiter.unicodeScalars.first!)
        let null = Array(copy.null.utf8)
        var fields: [[UInt8]?] = []
        var current: [UInt8] = []
        var rawField: [UInt8] = []
        var i = 0
        func endField() {
            fields.append(rawField == null ? nil : current)
            current = []
            rawField = []
        }
        while i < line.count {
            let b = line[i]
            if b == delimiter {
                endField()
                i += 1
                continue
            }
            rawField.append(b)
            if b == UInt8(ascii: "\\"), i + 1 < line.count {
                let e = line[i + 1]
                rawField.append(e)
                i += 2
                switch e {
                case UInt8(ascii: "n"): current.append(10)
                case UInt8(ascii: "r"): current.append(13)
                case UInt8(ascii: "t"): current.append(9)
                case UInt8(ascii: "b"): current.append(8)
                case UInt8(ascii: "f"): current.append(12)
                case UInt8(ascii: "v"): current.append(11)
                default: current.append(e)
                }
                continue
            }
            current.append(b)
            i += 1
        }
        endField()
        for (k, field) in fields.enumerated() {
            if k > 0 { output.append(UInt8(ascii: ",")) }
            guard let field else { continue }
            output.append(UInt8(ascii: "\""))
            for b in field {
                if b == UInt8(ascii: "\"") { output.append(b) }
                output.append(b)
            }
            output.append(UInt8(ascii: "\""))
        }
        output.append(10)
        rows += 1
    }
}
