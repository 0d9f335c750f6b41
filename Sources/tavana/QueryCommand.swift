import Arrow
import ArgumentParser
import DuckDB
import Foundation

/// `tavana query`: run one SQL statement on an embedded DuckDB and write the result to
/// standard output as an Arrow IPC stream (or as tab-separated text for people).
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one query on a local DuckDB database and print the result.")

    enum OutputFormat: String, ExpressibleByArgument { case arrow, tsv }

    @Argument(help: "The SQL to run.")
    var sql: String

    @Option(help: "Database file, or :memory:.")
    var database: String = ":memory:"

    @Option(help: "Output format: arrow (IPC stream) or tsv.")
    var format: OutputFormat = .arrow

    @Option(help: "SQL to run first (setup statements, several allowed).")
    var setup: [String] = []

    func run() throws {
        let db = try Database(DatabaseConfiguration(
            path: database, extensionDirectory: DuckDBLibrary.defaultExtensionDirectory))
        let connection = try db.connect()
        for statement in setup { try connection.execute(statement) }
        let result = try connection.query(sql)
        let out = FileHandle.standardOutput
        switch format {
        case .arrow:
            var writer = IPCStreamWriter(schema: try result.arrowSchema())
            out.write(Data(writer.schemaMessage().encapsulated()))
            while let batch = try result.nextArrowBatch() {
                for message in try writer.messages(for: batch) { out.write(Data(message.encapsulated())) }
            }
            out.write(Data(IPCStreamWriter.endOfStream))
        case .tsv:
            out.write(Data((result.columns.map(\.name).joined(separator: "\t") + "\n").utf8))
            while let batch = try result.nextArrowBatch() {
                for row in 0..<batch.length {
                    let line = batch.columns.map { $0.isNull(row) ? "NULL" : debugText($0, row) }.joined(separator: "\t")
                    out.write(Data((line + "\n").utf8))
                }
            }
        }
    }

    private func debugText(_ a: ArrayData, _ row: Int) -> String {
        switch a.type {
        case .utf8, .largeUtf8: return a.string(row)
        case .bool: return a.bool(row) ? "true" : "false"
        case .int(64, true): return String(a.value(row, as: Int64.self))
        case .int(32, true): return String(a.value(row, as: Int32.self))
        case .float64: return String(a.float64(row))
        default: return "<\(a.type)>"
        }
    }
}

/// `tavana arrow-roundtrip`: reads an Arrow IPC stream on standard input with Tavana's
/// reader and writes it back with Tavana's writer. Used by the tests to check the reader
/// against streams written by other Arrow implementations.
struct ArrowRoundTrip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arrow-roundtrip",
        abstract: "Read an Arrow IPC stream from stdin and write it again to stdout (for tests).",
        shouldDisplay: false)

    func run() throws {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        var reader = try IPCStreamReader(bytes: [UInt8](input))
        var writer = IPCStreamWriter(schema: reader.schema)
        var out: [UInt8] = writer.schemaMessage().encapsulated()
        while let batch = try reader.next() {
            for message in try writer.messages(for: batch) { out += message.encapsulated() }
        }
        out += IPCStreamWriter.endOfStream
        FileHandle.standardOutput.write(Data(out))
    }
}
