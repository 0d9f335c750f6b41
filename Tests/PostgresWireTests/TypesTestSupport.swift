import Arrow
import DuckDB
import NIOCore
import XCTest

@testable import PostgresWire

/// One result column, encoded the way the PostgreSQL front door sends it.
struct EncodedColumn {
    var column: ColumnDescription
    var field: Field
    var type: PostgresType
    /// The field bytes of each row (nil for NULL).
    var values: [[UInt8]?]

    var texts: [String?] { values.map { $0.map { String(decoding: $0, as: UTF8.self) } } }
    var text: String? { texts.first ?? nil }
    var bytes: [UInt8]? { values.first ?? nil }
}

enum TypesTestDB {
    /// One in-memory database for all type tests; each test opens its own connection.
    static let database: Database = {
        do { return try Database() } catch { fatalError("cannot open DuckDB: \(error)") }
    }()

    /// A database whose Arrow export is lossless (`arrow_lossless_conversion` is a global
    /// setting, so it gets a database of its own).
    static let losslessDatabase: Database = {
        do {
            let db = try Database()
            try db.connect().execute("SET arrow_lossless_conversion = true")
            return db
        } catch { fatalError("cannot open DuckDB: \(error)") }
    }()

    static func connection(lossless: Bool = false) throws -> Connection {
        let c = try (lossless ? losslessDatabase : database).connect()
        try c.execute("SET TimeZone = 'UTC'")
        return c
    }
}

/// Runs `sql` on a real DuckDB and encodes every column of every row in `format`.
func encodeQuery(
    _ sql: String, _ parameters: [DuckDBValue] = [], format: PostgresFormat, connection: Connection? = nil,
    file: StaticString = #filePath, line: UInt = #line
) throws -> [EncodedColumn] {
    let conn = try connection ?? TypesTestDB.connection()
    let result = try conn.query(sql, parameters)
    let schema = try result.arrowSchema()
    var columns: [EncodedColumn] = []
    var encoders: [ColumnValueEncoder] = []
    for (i, c) in result.columns.enumerated() {
        let encoder = try ColumnValueEncoder(column: c, field: schema.fields[i], format: format)
        XCTAssertEqual(encoder.type, PostgresTypeMapping.postgresType(for: c), "encoder and RowDescription disagree", file: file, line: line)
        encoders.append(encoder)
        columns.append(EncodedColumn(column: c, field: schema.fields[i], type: encoder.type, values: []))
    }
    while let batch = try result.nextArrowBatch() {
        for (i, encoder) in encoders.enumerated() {
            var buffer = ByteBufferAllocator().buffer(capacity: 64)
            for row in 0..<batch.length {
                encoder.encode(batch.columns[i], row: row, into: &buffer)
            }
            // Split the DataRow fields back apart: Int32 length (or -1), then the bytes.
            for _ in 0..<batch.length {
                let length: Int32 = buffer.readInteger()!
                columns[i].values.append(length < 0 ? nil : buffer.readBytes(length: Int(length))!)
            }
            XCTAssertEqual(buffer.readableBytes, 0, "trailing bytes", file: file, line: line)
        }
    }
    return columns
}

/// The text-format values of the first row, one per column.
func firstRowTexts(_ sql: String, _ parameters: [DuckDBValue] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [String?] {
    try encodeQuery(sql, parameters, format: .text, file: file, line: line).map { $0.text }
}

/// The binary-format values of the first row, one per column.
func firstRowBinary(_ sql: String, _ parameters: [DuckDBValue] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [[UInt8]?] {
    try encodeQuery(sql, parameters, format: .binary, file: file, line: line).map { $0.bytes }
}

/// Big-endian bytes, to write expected binary values by hand.
func beBytes<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(s.utf8.filter { $0 != 0x20 })
    while chars.count >= 2 {
        out.append(UInt8(String(decoding: chars[0..<2], as: UTF8.self), radix: 16)!)
        chars.removeFirst(2)
    }
    return out
}

func pgBuffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
func pgBuffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
