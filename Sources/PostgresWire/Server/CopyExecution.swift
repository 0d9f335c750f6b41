import Arrow
import DuckDB
import Foundation
import NIOCore
import Scheduler
import Worker

/// A COPY FROM STDIN between its CopyInResponse and its end: data is converted (PostgreSQL's
/// text format to CSV) and handed to the worker's load, which spools it next to DuckDB.
final class CopyInProgress {
    let load: any CSVLoad
    var converter: TextToCSV
    let portal: Portal
    /// A data error is reported at CopyDone, after the client has sent everything.
    var failure: (any Error)?
    let lease: SlotLeaseHolder

    init(load: any CSVLoad, converter: TextToCSV, portal: Portal, lease: SlotLeaseHolder) {
        self.load = load
        self.converter = converter
        self.portal = portal
        self.lease = lease
    }

    func abort() {
        let load = self.load
        lease.release()
        Task { await load.abort() }
    }
}

/// The query slot a COPY FROM STDIN holds from its start to its end, across several steps.
final class SlotLeaseHolder: @unchecked Sendable {
    private var onRelease: (() -> Void)?
    init(_ onRelease: @escaping () -> Void) { self.onRelease = onRelease }
    func release() {
        onRelease?()
        onRelease = nil
    }
}

extension StatementExecutor {
    func executeCopy(_ copy: CopyCommand, _ portal: Portal) async throws {
        switch copy.direction {
        case .out: try await copyOut(copy, portal)
        case .in(let table, let columns): try await startCopyIn(copy, portal, table: table, columns: columns)
        }
    }

    // MARK: - COPY ... TO STDOUT

    /// Streams the query's rows as CopyData in PostgreSQL's text or CSV format, about 64 KB
    /// per message, with the same backpressure as ordinary results.
    private func copyOut(_ copy: CopyCommand, _ portal: Portal) async throws {
        try await start(portal)
        guard let cursor = portal.cursor else { throw ProtocolViolation("COPY without a result") }
        let columns = portal.columns
        writer.send(.copyOutResponse(columns: columns.count))
        let fields = CopyFieldEncoder(copy: copy)
        var chunk = [UInt8]()
        var rows = 0
        if copy.header {
            var line = [UInt8]()
            for (i, c) in columns.enumerated() {
                if i > 0 { line.append(copy.delimiter) }
                fields.append(Array(c.name.utf8), to: &line)
            }
            line.append(UInt8(ascii: "\n"))
            writer.send(.copyData(line))
        }
        var encoders: [ColumnValueEncoder]?
        var scratch = writer.allocator.buffer(capacity: 64)
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
                    writer.send(.copyData(chunk))
                    chunk.removeAll(keepingCapacity: true)
                    try await writer.flushIfFull()
                }
            }
        }
        if !chunk.isEmpty { writer.send(.copyData(chunk)) }
        cursor.close()
        portal.finished = true
        writer.send(.copyDone)
        writer.send(.commandComplete("COPY \(rows)"))
    }

    // MARK: - COPY ... FROM STDIN

    /// Sends CopyInResponse and opens the worker's load; the data arrives as later steps.
    /// The load holds a query slot from here to its end (it is a query for admission).
    private func startCopyIn(_ copy: CopyCommand, _ portal: Portal, table: String, columns: [String]) async throws {
        try await materializeOpenPortals()
        let lease = try await session.admitForLoad()
        let holder = SlotLeaseHolder { lease.release() }
        do {
            let request: CSVLoadRequest
            if copy.format == .csv {
                request = CSVLoadRequest(table: table, columns: columns, header: copy.header, delimiter: copy.delimiter,
                                         quote: copy.quote, escape: copy.escape, null: copy.null)
            } else {
                // TextToCSV writes every value quoted and NULL as nothing.
                request = CSVLoadRequest(table: table, columns: columns, header: false, delimiter: UInt8(ascii: ","),
                                         quote: UInt8(ascii: "\""), escape: UInt8(ascii: "\""), null: "")
            }
            let load = try await session.loadCSV(request)
            writer.send(.copyInResponse(columns: max(columns.count, 1)))
            copyIn = CopyInProgress(load: load, converter: TextToCSV(copy: copy, maxLineBytes: maxLineBytes), portal: portal, lease: holder)
        } catch {
            holder.release()
            throw error
        }
    }

    func copyData(_ data: ByteBuffer) async -> Event? {
        guard let copy = copyIn, copy.failure == nil else { return nil }
        do {
            try await copy.load.write(try copy.converter.convert(Array(data.readableBytesView)))
        } catch {
            copy.failure = error
        }
        return nil
    }

    func copyDone() async -> Event {
        guard let copy = copyIn else { return completed }
        copyIn = nil
        defer { copy.lease.release() }
        return await step {
            if let failure = copy.failure {
                await copy.load.abort()
                throw failure
            }
            do {
                try await copy.load.write(try copy.converter.finish())
                let changed = try await copy.load.finish()
                writer.send(.commandComplete("COPY \(changed)"))
            } catch {
                await copy.load.abort()
                throw error
            }
            await release(copy.portal)
            return completed
        }
    }

    func copyFail(_ reason: String) async -> Event {
        guard let copy = copyIn else { return completed }
        copyIn = nil
        copy.lease.release()
        await copy.load.abort()
        await release(copy.portal)
        return failed(ErrorFields(sqlState: SQLState.queryCanceled, message: "COPY from stdin failed: \(reason)"), sql: nil)
    }
}
