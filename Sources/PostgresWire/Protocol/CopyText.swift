/// The byte-level halves of COPY: fields of COPY TO STDOUT in PostgreSQL's text or CSV
/// format, and COPY FROM STDIN's text format turned into CSV for DuckDB's reader. Pure
/// functions of the bytes, so that they are unit-tested and fuzzed without a connection.

extension CopyCommand {
    /// An option byte as SQL text. Options are single ASCII bytes (checked when parsed).
    static func text(_ byte: UInt8) -> String { String(Unicode.Scalar(byte)) }
}

/// One field of COPY TO output: backslash escapes in text format, quoting in CSV.
struct CopyFieldEncoder {
    let format: CopyCommand.Format
    let delimiter: UInt8
    let quote: UInt8
    let escape: UInt8
    let null: [UInt8]

    init(copy: CopyCommand) {
        format = copy.format
        delimiter = copy.delimiter
        quote = copy.quote
        escape = copy.escape
        null = Array(copy.null.utf8)
    }

    func append(_ value: some Collection<UInt8>, to line: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\")
        switch format {
        case .text:
            for b in value {
                switch b {
                case backslash: line += [backslash, backslash]
                case 0x0A: line += [backslash, UInt8(ascii: "n")]
                case 0x0D: line += [backslash, UInt8(ascii: "r")]
                case 0x09 where delimiter == 0x09: line += [backslash, UInt8(ascii: "t")]
                case delimiter: line += [backslash, b]
                default: line.append(b)
                }
            }
        case .csv:
            let needsQuotes = (value.isEmpty && null.isEmpty)
                || value.contains { $0 == delimiter || $0 == quote || $0 == 0x0A || $0 == 0x0D }
                || value.elementsEqual(null)
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
}

/// PostgreSQL's COPY text format (backslash escapes, \N for NULL) turned into CSV that
/// DuckDB reads unambiguously (NULL unquoted and empty, every value quoted).
/// CSV input passes through unchanged.
///
/// Input arrives in CopyData messages that split lines anywhere. The unfinished line is kept
/// between calls; a line longer than `maxLineBytes` is refused (54000) instead of growing
/// memory without bound, and each call's work is linear in the bytes it is given.
struct TextToCSV {
    let copy: CopyCommand
    let maxLineBytes: Int
    private var pending: [UInt8] = []
    private(set) var rows = 0

    init(copy: CopyCommand, maxLineBytes: Int) {
        self.copy = copy
        self.maxLineBytes = maxLineBytes
    }

    mutating func convert(_ bytes: [UInt8]) throws -> [UInt8] {
        if copy.format == .csv { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + bytes.count / 4)
        var start = 0
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            if pending.isEmpty {
                try appendLine(bytes[start..<newline], to: &output)
            } else {
                pending += bytes[start..<newline]
                try checkLength(pending.count)
                try appendLine(pending[...], to: &output)
                pending.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
        pending += bytes[start...]
        try checkLength(pending.count)
        return output
    }

    mutating func finish() throws -> [UInt8] {
        guard copy.format == .text, !pending.isEmpty else { return [] }
        var output: [UInt8] = []
        try appendLine(pending[...], to: &output)
        pending = []
        return output
    }

    private func checkLength(_ count: Int) throws {
        guard count <= maxLineBytes else {
            throw ErrorFields(sqlState: SQLState.programLimitExceeded,
                              message: "COPY line of more than \(maxLineBytes) bytes",
                              hint: "Lines of COPY data may be at most as long as the largest message (maxMessageSize).")
        }
    }

    private mutating func appendLine(_ raw: ArraySlice<UInt8>, to output: inout [UInt8]) throws {
        var line = raw
        if line.last == 0x0D { line.removeLast() }
        if line.elementsEqual("\\.".utf8) { return }  // end-of-data marker of old clients
        let delimiter = copy.delimiter
        let null = Array(copy.null.utf8)
        var fields: [[UInt8]?] = []
        var current: [UInt8] = []
        var rawField: [UInt8] = []
        var i = line.startIndex
        func endField() {
            fields.append(rawField == null ? nil : current)
            current = []
            rawField = []
        }
        while i < line.endIndex {
            let b = line[i]
            if b == delimiter {
                endField()
                i += 1
                continue
            }
            rawField.append(b)
            if b == UInt8(ascii: "\\"), i + 1 < line.endIndex {
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
