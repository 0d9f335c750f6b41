import Arrow
import DuckDB
import NIOCore
import XCTest

@testable import PostgresWire

/// Client text and bytes that once trapped the server (arithmetic overflow, a trapping
/// conversion, an allocation sized by the client), each now a typed error with PostgreSQL's
/// SQLSTATE. Each test calls the decoder or rewriter directly, so a regression points at it.
final class ClientInputLimitsTests: XCTestCase {
    private func sqlState(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try body()
            XCTFail("expected an error", file: file, line: line)
            return nil
        } catch let e as PostgresTypeError {
            return e.sqlState
        } catch let e as ErrorFields {
            return e.sqlState
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    // MARK: statement_timeout

    func testStatementTimeoutUnitsAndRange() {
        XCTAssertEqual(Compatibility.milliseconds("250"), .value(250))
        XCTAssertEqual(Compatibility.milliseconds("1.5s"), .value(1500))
        XCTAssertEqual(Compatibility.milliseconds(" 2 min "), .value(120_000))
        XCTAssertEqual(Compatibility.milliseconds("3h"), .value(10_800_000))
        XCTAssertEqual(Compatibility.milliseconds("1d"), .value(86_400_000))
        XCTAssertEqual(Compatibility.milliseconds("1500us"), .value(2))
        XCTAssertEqual(Compatibility.milliseconds("2147483647"), .value(Int(Int32.max)))
        XCTAssertEqual(Compatibility.milliseconds("2147483648"), .outOfRange)
        XCTAssertEqual(Compatibility.milliseconds("9223372036854775807s"), .outOfRange)
        XCTAssertEqual(Compatibility.milliseconds("9999999999999999h"), .outOfRange)
        XCTAssertEqual(Compatibility.milliseconds(String(repeating: "9", count: 60)), .outOfRange)
        XCTAssertEqual(Compatibility.milliseconds("-1"), .negative)
        XCTAssertEqual(Compatibility.milliseconds("abc"), .invalid)
        XCTAssertEqual(Compatibility.milliseconds("10 fortnights"), .invalid)
        XCTAssertEqual(Compatibility.milliseconds(""), .invalid)
        XCTAssertEqual(Compatibility.milliseconds(String(repeating: "9", count: 100)), .invalid)
    }

    func testSetStatementTimeoutOutOfRangeIs22023() {
        let compat = Compatibility(serverVersion: "15.0", tavanaVersion: "test")
        guard case .error(let fields) = compat.rewrite("SET statement_timeout = '9223372036854775807s'") else {
            return XCTFail("expected an error")
        }
        XCTAssertEqual(fields.sqlState, "22023")
        XCTAssertEqual(fields.hint, "Value exceeds integer range.")
        guard case .answer(.statementTimeout(let ms)) = compat.rewrite("SET statement_timeout TO '5s'") else {
            return XCTFail("expected an answer")
        }
        XCTAssertEqual(ms, 5000)
    }

    // MARK: dates, times, intervals

    func testFarTimestampsAreOutOfRange() {
        XCTAssertEqual(sqlState { try DateTimeInput.timestamp("300000-01-01 00:00:00", withZone: false) as Any }, "22008")
        XCTAssertEqual(sqlState { try DateTimeInput.timestamp("999999999-01-01", withZone: true) as Any }, "22008")
        XCTAssertEqual(sqlState { try DateTimeInput.timestamp("999999999-12-31 23:59:59+15", withZone: true) as Any }, "22008")
        XCTAssertEqual(sqlState { try DateTimeInput.date("999999999-01-01") }, "22008")
        XCTAssertEqual(sqlState { try DateTimeInput.timestamp("9999999999-01-01", withZone: false) as Any }, "22007")
        XCTAssertEqual(try DateTimeInput.timestamp("294246-12-31 00:00:00", withZone: false), 9_223_371_158_400_000_000)
    }

    func testIntervalExtremesNeitherTrapNorWrap() throws {
        let (_, _, us) = try IntervalInput.parse("-9223372036854775808 us")
        XCTAssertEqual(us, Int64.min)
        // Negating Int64.min has no answer: an overflow, not a trap.
        XCTAssertEqual(sqlState { try IntervalInput.parse("-9223372036854775808 us ago") }, "22008")
        XCTAssertEqual(sqlState { try IntervalInput.parse("-9223372036854775808:00:00") }, "22008")
        XCTAssertEqual(sqlState { try IntervalInput.parse("99999999999999999999 us") }, "22008")
        XCTAssertEqual(sqlState { try IntervalInput.parse("9223372036854775807 hours") }, "22008")
        XCTAssertEqual(sqlState { try IntervalInput.parse("9223372036854775807 weeks") }, "22008")
        XCTAssertEqual(sqlState { try IntervalInput.parse("P99999999999999999999Y") }, "22008")
        XCTAssertEqual(try IntervalInput.parse("1 week 2 days").1, 9)
    }

    func testBinaryTimetzZoneOffsetExtremes() {
        var value = ByteBuffer()
        value.writeInteger(Int64(0))
        value.writeInteger(Int32.min)
        XCTAssertEqual(sqlState { try ParameterDecoder.decode(value, format: .binary, oid: PostgresType.timetzOID, target: .invalid) }, "22P03")
        var ok = ByteBuffer()
        ok.writeInteger(Int64(3_600_000_000))
        ok.writeInteger(Int32(-7200))
        XCTAssertEqual(try ParameterDecoder.decode(ok, format: .binary, oid: PostgresType.timetzOID, target: .invalid), .varchar("01:00:00+02"))
    }

    func testBinaryTimeOutsideADay() {
        for us in [Int64(-1), 86_400_000_001, Int64.min, Int64.max] {
            var value = ByteBuffer()
            value.writeInteger(us)
            XCTAssertEqual(sqlState { try ParameterDecoder.decode(value, format: .binary, oid: PostgresType.timeOID, target: .invalid) }, "22008", "\(us)")
        }
    }

    /// Found by the pg-parameters fuzz target: a binary date far in the future, bound where
    /// DuckDB wants a timestamp, overflowed the day-to-microseconds product.
    func testBinaryDateBeyondTheTimestampRange() throws {
        var value = ByteBuffer()
        value.writeInteger(Int32(0x0B00_0000))
        XCTAssertEqual(sqlState { try ParameterDecoder.decode(value, format: .binary, oid: PostgresType.dateOID, target: .timestampTZ) }, "22008")
        var near = ByteBuffer()
        near.writeInteger(Int32(0))
        XCTAssertEqual(try ParameterDecoder.decode(near, format: .binary, oid: PostgresType.dateOID, target: .timestamp), .timestamp(946_684_800_000_000))
    }

    // MARK: arrays

    func testBinaryArrayCountIsBoundedByTheBytesSent() {
        var value = ByteBuffer()
        for v: Int32 in [1, 0] { value.writeInteger(v) }
        value.writeInteger(PostgresType.int4OID)
        value.writeInteger(Int32(1_000_000_000))
        value.writeInteger(Int32(1))
        XCTAssertEqual(sqlState { try ParameterDecoder.decode(value, format: .binary, oid: 1007, target: .invalid) }, "08P01")
    }

    func testBinaryArrayOfArraysIsRefused() {
        var value = ByteBuffer()
        for v: Int32 in [1, 0] { value.writeInteger(v) }
        value.writeInteger(UInt32(1007))
        value.writeInteger(Int32(1))
        value.writeInteger(Int32(1))
        XCTAssertEqual(sqlState { try ParameterDecoder.decode(value, format: .binary, oid: 1007, target: .invalid) }, "0A000")
    }

    // MARK: COPY

    func testCopyOptionsMustBeSingleBytes() throws {
        for sql in ["COPY (SELECT 1, 2) TO STDOUT WITH DELIMITER 'é'", "COPY (SELECT 1) TO STDOUT WITH CSV QUOTE 'é'",
                    "COPY (SELECT 1) TO STDOUT WITH CSV ESCAPE 'é'", "COPY t FROM STDIN WITH DELIMITER 'é'",
                    "COPY t FROM STDIN (FORMAT csv, DELIMITER 'e\u{301}')", "COPY t FROM STDIN WITH DELIMITER E'\\r\\n'"] {
            XCTAssertEqual(sqlState { try CopyCommand.parse(sql) as Any }, "0A000", sql)
        }
        let tab = try XCTUnwrap(CopyCommand.parse("COPY t FROM STDIN WITH DELIMITER E'\\t'"))
        XCTAssertEqual(tab.delimiter, 0x09)
        let csv = try XCTUnwrap(CopyCommand.parse("COPY t FROM STDIN (FORMAT csv, DELIMITER ';', QUOTE '''', NULL 'a,b')"))
        XCTAssertEqual([csv.delimiter, csv.quote, csv.escape], [0x3B, 0x27, 0x27])
        XCTAssertEqual(csv.null, "a,b")
    }

    func testCopyOptionCombinationsPostgresRefuses() {
        XCTAssertEqual(sqlState { try CopyCommand.parse("COPY t FROM STDIN WITH DELIMITER E'\\n'") as Any }, "22023")
        XCTAssertEqual(sqlState { try CopyCommand.parse("COPY t FROM STDIN WITH DELIMITER 'x'") as Any }, "22023")
        XCTAssertEqual(sqlState { try CopyCommand.parse("COPY t FROM STDIN (FORMAT csv, QUOTE ',')") as Any }, "22023")
        XCTAssertEqual(sqlState { try CopyCommand.parse("COPY t FROM STDIN WITH QUOTE '\"'") as Any }, "0A000")
        XCTAssertEqual(sqlState { try CopyCommand.parse("COPY t FROM STDIN (FORMAT csv, NULL 'a,b', DELIMITER ',')") as Any }, "22023")
        XCTAssertEqual(sqlState { try CopyCommand.parse("COPY t (\(Array(repeating: "a", count: 2000).joined(separator: ","))) FROM STDIN") as Any }, "54011")
    }

    func testCopyFieldEncoderWithEveryDelimiter() {
        for delimiter in UInt8(0x20)..<0x7F where !Array("\\.abcdefghijklmnopqrstuvwxyz0123456789\"".utf8).contains(delimiter) {
            let text = String(Unicode.Scalar(delimiter))
            let sql = "COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, DELIMITER '\(text == "'" ? "''" : text)')"
            guard let copy = try? CopyCommand.parse(sql) else { continue }
            var line: [UInt8] = []
            CopyFieldEncoder(copy: copy).append([0x61, delimiter, 0x62], to: &line)
            XCTAssertEqual(line.first, copy.quote, sql)
        }
    }

    func testTextToCSVIsLinearAndBoundsLines() throws {
        let copy = try XCTUnwrap(CopyCommand.parse("COPY t FROM STDIN"))
        var converter = TextToCSV(copy: copy, maxLineBytes: 100)
        // Lines split across calls anywhere, including inside an escape.
        var out = try converter.convert(Array("1\t\\".utf8))
        out += try converter.convert(Array("N\t\\N\n2\tb\\".utf8))
        out += try converter.convert(Array("tc\n".utf8))
        out += try converter.finish()
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "\"1\",,\n\"2\",\"b\tc\"\n")
        XCTAssertEqual(converter.rows, 2)
        XCTAssertEqual(sqlState { try converter.convert(Array(repeating: 0x61, count: 101)) }, "54000")
        // 100,000 lines in one message: one pass.
        var big = TextToCSV(copy: copy, maxLineBytes: 1 << 20)
        let many = Array(String(repeating: "7\n", count: 100_000).utf8)
        XCTAssertEqual(try big.convert(many).count, 4 * 100_000)
    }

    // MARK: cursors and results

    func testFetchCountBeyondIntIsASyntaxErrorNotATrap() throws {
        XCTAssertEqual(try CursorCommand.parse("FETCH 9223372036854775807 FROM c"), .fetch(name: "c", count: Int.max, move: false))
        XCTAssertEqual(sqlState { try CursorCommand.parse("FETCH 99999999999999999999 FROM c") as Any }, "42601")
        XCTAssertEqual(sqlState { try CursorCommand.parse("FETCH ٣ FROM c") as Any }, "42601")
    }

    func testResultShapeLimits() {
        XCTAssertNoThrow(try PreparedInfo.checkShape(columns: 32_767, parameters: 65_535))
        XCTAssertEqual(sqlState { try PreparedInfo.checkShape(columns: 32_768, parameters: 0) }, "54011")
        XCTAssertEqual(sqlState { try PreparedInfo.checkShape(columns: 1, parameters: 65_536) }, "54000")
    }
}

/// Found by the arrow-ipc fuzz target: a decimal column described with a precision beyond
/// PostgreSQL's made the typmod arithmetic overflow.
final class TypmodLimitsTests: XCTestCase {
    func testNumericTypmodStaysInRange() {
        XCTAssertEqual(PostgresType.numeric(precision: 10, scale: 2).typmod, (10 << 16 | 2) + 4)
        XCTAssertEqual(PostgresType.numeric(precision: 40_000, scale: 3).typmod, -1)
        XCTAssertEqual(PostgresType.numeric(precision: 5, scale: 9).typmod, -1)
        XCTAssertEqual(PostgresType.numeric(precision: Int.max, scale: Int.min).typmod, -1)
    }
}

/// Found by the arrow-ipc fuzz campaign (heap-buffer-overflow under ASan): a decimal field
/// with a negative scale (Arrow allows them) made the text writer reserve `44 + scale` bytes
/// and then write every digit. DuckDB's decimals have scales 0...38; others are refused.
final class DecimalScaleLimitsTests: XCTestCase {
    func testDecimalFieldsOutsideDuckDBsScalesAreRefused() throws {
        for scale in [-40, -1, 39, Int(Int32.max)] {
            let field = Field("d", .decimal(precision: 38, scale: scale, bitWidth: 128))
            let column = ColumnDescription(name: "d", type: .decimal(width: 38, scale: scale))
            for format in [PostgresFormat.text, .binary] {
                XCTAssertThrowsError(try ColumnValueEncoder(column: column, field: field, format: format), "scale \(scale)")
            }
        }
        let ok = ColumnDescription(name: "d", type: .decimal(width: 38, scale: 0))
        XCTAssertNoThrow(try ColumnValueEncoder(column: ok, field: Field("d", .decimal(precision: 38, scale: 0, bitWidth: 128)), format: .text))
    }
}
