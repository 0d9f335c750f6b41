import Arrow
import DuckDB
import NIOCore
import XCTest

@testable import PostgresWire

final class TypesParameterTests: XCTestCase {
    private func text(_ s: String, _ target: LogicalType, oid: UInt32 = 0) throws -> DuckDBValue {
        try ParameterDecoder.decode(pgBuffer(s), format: .text, oid: oid, target: target)
    }

    private func binary(_ bytes: [UInt8], oid: UInt32, _ target: LogicalType = .invalid) throws -> DuckDBValue {
        try ParameterDecoder.decode(pgBuffer(bytes), format: .binary, oid: oid, target: target)
    }

    private func assertSQLState(
        _ expected: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual((error as? PostgresTypeError)?.sqlState, expected, "\(error)", file: file, line: line)
        }
    }

    // MARK: Text format

    func testNull() throws {
        XCTAssertEqual(try ParameterDecoder.decode(nil, format: .text, oid: 23, target: .integer), .null)
        XCTAssertEqual(try ParameterDecoder.decode(nil, format: .binary, oid: 0, target: .invalid), .null)
    }

    func testUnknownTypesBindAsVarcharOrTheDeclaredType() throws {
        XCTAssertEqual(try text("42", .invalid), .varchar("42"))
        XCTAssertEqual(try text("42", .invalid, oid: 23), .int32(42))
        XCTAssertEqual(try text("42", .invalid, oid: 20), .int64(42))
        XCTAssertEqual(try text("12.340", .invalid, oid: 1700), .decimal(unscaled: 12340, width: 5, scale: 3))
        XCTAssertEqual(try text("-0.5", .invalid, oid: 1700), .decimal(unscaled: -5, width: 1, scale: 1))
        XCTAssertEqual(try text("1e3", .invalid, oid: 1700), .decimal(unscaled: 1000, width: 4, scale: 0))
        XCTAssertEqual(try text("x", .invalid, oid: 99999), .varchar("x"))
    }

    func testBoolean() throws {
        for s in ["t", "true", "TRUE", " yes ", "on", "1", "tr", "y"] { XCTAssertEqual(try text(s, .boolean), .bool(true), s) }
        for s in ["f", "false", "no", "off", "0", "of", "N"] { XCTAssertEqual(try text(s, .boolean), .bool(false), s) }
        assertSQLState("22P02") { try self.text("maybe", .boolean) }
        assertSQLState("22P02") { try self.text("o", .boolean) }
    }

    func testIntegers() throws {
        XCTAssertEqual(try text("42", .integer), .int32(42))
        XCTAssertEqual(try text(" -7 ", .integer), .int32(-7))
        XCTAssertEqual(try text("+7", .smallint), .int16(7))
        XCTAssertEqual(try text("-128", .tinyint), .int8(-128))
        XCTAssertEqual(try text("-9223372036854775808", .bigint), .int64(Int64.min))
        XCTAssertEqual(try text("255", .utinyint), .uint8(255))
        XCTAssertEqual(try text("18446744073709551615", .ubigint), .uint64(UInt64.max))
        XCTAssertEqual(try text("-170141183460469231731687303715884105728", .hugeint), .hugeint(Int128.min))
        XCTAssertEqual(try text("340282366920938463463374607431768211455", .uhugeint), .uhugeint(UInt128.max))
        assertSQLState("22003") { try self.text("32768", .smallint) }
        assertSQLState("22003") { try self.text("9223372036854775808", .bigint) }
        assertSQLState("22003") { try self.text("99999999999999999999999999999999999999999999", .integer) }
        assertSQLState("22003") { try self.text("-1", .utinyint) }
        assertSQLState("22003") { try self.text("340282366920938463463374607431768211456", .uhugeint) }
        assertSQLState("22P02") { try self.text("abc", .integer) }
        assertSQLState("22P02") { try self.text("1.5", .integer) }
        assertSQLState("22P02") { try self.text("", .integer) }
        assertSQLState("22P02") { try self.text("-", .bigint) }
    }

    func testFloats() throws {
        XCTAssertEqual(try text("1.5", .double), .double(1.5))
        XCTAssertEqual(try text(" -2.5e-3 ", .double), .double(-0.0025))
        XCTAssertEqual(try text("Infinity", .double), .double(.infinity))
        XCTAssertEqual(try text("-inf", .double), .double(-.infinity))
        guard case .double(let nan) = try text("NaN", .double) else { return XCTFail() }
        XCTAssertTrue(nan.isNaN)
        XCTAssertEqual(try text("3.25", .float), .float(3.25))
        assertSQLState("22003") { try self.text("1e400", .double) }
        assertSQLState("22003") { try self.text("1e-400", .double) }
        assertSQLState("22003") { try self.text("1e39", .float) }
        assertSQLState("22P02") { try self.text("0x10", .double) }
        assertSQLState("22P02") { try self.text("one", .float) }
    }

    func testDecimals() throws {
        XCTAssertEqual(try text("123.45", .decimal(width: 5, scale: 2)), .decimal(unscaled: 12345, width: 5, scale: 2))
        XCTAssertEqual(try text("123.456", .decimal(width: 6, scale: 2)), .decimal(unscaled: 12346, width: 6, scale: 2))
        XCTAssertEqual(try text("-0.005", .decimal(width: 5, scale: 2)), .decimal(unscaled: -1, width: 5, scale: 2))
        XCTAssertEqual(try text("0.004", .decimal(width: 5, scale: 2)), .decimal(unscaled: 0, width: 5, scale: 2))
        XCTAssertEqual(try text("1.5e2", .decimal(width: 5, scale: 2)), .decimal(unscaled: 15000, width: 5, scale: 2))
        XCTAssertEqual(try text(".5", .decimal(width: 3, scale: 1)), .decimal(unscaled: 5, width: 3, scale: 1))
        XCTAssertEqual(try text("12345678901234567890.123456789012345678", .decimal(width: 38, scale: 18)),
                       .decimal(unscaled: Int128("12345678901234567890123456789012345678")!, width: 38, scale: 18))
        assertSQLState("22003") { try self.text("1000", .decimal(width: 5, scale: 2)) }
        assertSQLState("22003") { try self.text("999.995", .decimal(width: 5, scale: 2)) }
        assertSQLState("22P02") { try self.text("1.2.3", .decimal(width: 5, scale: 2)) }
        assertSQLState("22P02") { try self.text("NaN", .decimal(width: 5, scale: 2)) }
    }

    func testStringsAndBytes() throws {
        XCTAssertEqual(try text("héllo", .varchar), .varchar("héllo"))
        XCTAssertEqual(try text(#"\x00ff"#, .blob), .blob([0x00, 0xFF]))
        XCTAssertEqual(try text(#"\x 00 FF"#, .blob), .blob([0x00, 0xFF]))
        XCTAssertEqual(try text(#"a\\b\001"#, .blob), .blob([0x61, 0x5C, 0x62, 0x01]))
        XCTAssertEqual(try text("b", .enum(["a", "b"])), .varchar("b"))
        assertSQLState("22P02") { try self.text(#"\xzz"#, .blob) }
        assertSQLState("22P02") { try self.text(#"\x0"#, .blob) }
        assertSQLState("22P02") { try self.text(#"a\q"#, .blob) }
        assertSQLState("22021") { try ParameterDecoder.decode(pgBuffer([0x61, 0xFF]), format: .text, oid: 25, target: .varchar) }
    }

    func testDatesAndTimes() throws {
        XCTAssertEqual(try text("2024-02-29", .date), .date(19782))
        XCTAssertEqual(try text("1970-01-01", .date), .date(0))
        XCTAssertEqual(try text("0044-03-15 BC", .date), .date(-735_160))
        XCTAssertEqual(try text("infinity", .date), .date(Int32.max))
        XCTAssertEqual(try text("-infinity", .date), .date(-Int32.max))
        XCTAssertEqual(try text("2024-02-29 13:00:00", .date), .date(19782))
        XCTAssertEqual(try text("13:14:15.5", .time), .time(47_655_500_000))
        XCTAssertEqual(try text("13:14", .time), .time(47_640_000_000))
        XCTAssertEqual(try text("24:00:00", .time), .time(86_400_000_000))
        XCTAssertEqual(try text("00:00:00.0000005", .time), .time(1))
        let us = Int64(19782) * 86_400_000_000 + 47_655_500_000
        XCTAssertEqual(try text("2024-02-29 13:14:15.5", .timestamp), .timestamp(us))
        XCTAssertEqual(try text("2024-02-29T13:14:15.5", .timestamp), .timestamp(us))
        XCTAssertEqual(try text("2024-02-29 13:14:15.5+02", .timestamp), .timestamp(us))  // zone ignored, as in PostgreSQL
        XCTAssertEqual(try text("2024-02-29 15:14:15.5+02", .timestampTZ), .timestampTZ(us))
        XCTAssertEqual(try text("2024-02-29 10:44:15.5-02:30", .timestampTZ), .timestampTZ(us))
        XCTAssertEqual(try text("2024-02-29T13:14:15.5Z", .timestampTZ), .timestampTZ(us))
        XCTAssertEqual(try text("2024-02-29 13:14:15.5 UTC", .timestampTZ), .timestampTZ(us))
        XCTAssertEqual(try text("2024-02-29", .timestamp), .timestamp(Int64(19782) * 86_400_000_000))
        XCTAssertEqual(try text("0044-03-15 01:02:03.5 BC", .timestamp), .timestamp(Int64(-735_160) * 86_400_000_000 + 3_723_500_000))
        XCTAssertEqual(try text("infinity", .timestampTZ), .timestampTZ(Int64.max))
        // A zone name is left to DuckDB.
        XCTAssertEqual(try text("2024-02-29 13:14:15 Europe/Paris", .timestampTZ), .varchar("2024-02-29 13:14:15 Europe/Paris"))
        assertSQLState("22008") { try self.text("2024-02-30", .date) }
        assertSQLState("22008") { try self.text("2023-13-01", .date) }
        assertSQLState("22008") { try self.text("0000-01-01", .date) }
        assertSQLState("22008") { try self.text("25:00:00", .time) }
        assertSQLState("22008") { try self.text("12:60:00", .time) }
        assertSQLState("22007") { try self.text("yesterday-ish", .date) }
        XCTAssertEqual(try text("2024-02-29 13:14:15 xyz", .timestamp), .varchar("2024-02-29 13:14:15 xyz"))
        assertSQLState("22007") { try self.text("2024-02-29 13:14:15 +", .timestamp) }
        assertSQLState("22007") { try self.text("2024-02-29 13:14:15.5.5", .timestamp) }
        assertSQLState("22007") { try self.text("", .timestamp) }
    }

    func testIntervals() throws {
        XCTAssertEqual(try text("1 year 2 mons 3 days 04:05:06.5", .interval), .interval(months: 14, days: 3, micros: 14_706_500_000))
        XCTAssertEqual(try text("-1 days +02:00:00", .interval), .interval(months: 0, days: -1, micros: 7_200_000_000))
        XCTAssertEqual(try text("1 day -00:00:00.000001", .interval), .interval(months: 0, days: 1, micros: -1))
        XCTAssertEqual(try text("00:00:00", .interval), .interval(months: 0, days: 0, micros: 0))
        XCTAssertEqual(try text("@ 3 days ago", .interval), .interval(months: 0, days: -3, micros: 0))
        XCTAssertEqual(try text("1.5 hours", .interval), .interval(months: 0, days: 0, micros: 5_400_000_000))
        XCTAssertEqual(try text("1.5 months", .interval), .interval(months: 1, days: 15, micros: 0))
        XCTAssertEqual(try text("2 weeks 10 minutes 30 seconds", .interval), .interval(months: 0, days: 14, micros: 630_000_000))
        XCTAssertEqual(try text("P1Y2M3DT4H5M6.5S", .interval), .interval(months: 14, days: 3, micros: 14_706_500_000))
        XCTAssertEqual(try text("PT36H", .interval), .interval(months: 0, days: 0, micros: 129_600_000_000))
        XCTAssertEqual(try text("10", .interval), .interval(months: 0, days: 0, micros: 10_000_000))
        XCTAssertEqual(try text("1 2:03:04", .interval), .interval(months: 0, days: 1, micros: 7_384_000_000))
        assertSQLState("22007") { try self.text("1 fortnight", .interval) }
        assertSQLState("22007") { try self.text("", .interval) }
        assertSQLState("22008") { try self.text("3000000000 days", .interval) }
    }

    func testUUID() throws {
        let u = UInt128(0x550e8400_e29b_41d4) << 64 | UInt128(0xa716_4466_5544_0000)
        XCTAssertEqual(try text("550e8400-e29b-41d4-a716-446655440000", .uuid), .uuid(u))
        XCTAssertEqual(try text("550E8400E29B41D4A716446655440000", .uuid), .uuid(u))
        XCTAssertEqual(try text("{550e8400-e29b-41d4-a716-446655440000}", .uuid), .uuid(u))
        XCTAssertEqual(try text("550e-8400-e29b-41d4-a716-4466-5544-0000", .uuid), .uuid(u))
        assertSQLState("22P02") { try self.text("550e8400-e29b-41d4-a716-44665544000", .uuid) }
        assertSQLState("22P02") { try self.text("550e8400-e29b-41d4-a716-4466554400000", .uuid) }
        assertSQLState("22P02") { try self.text("g50e8400-e29b-41d4-a716-446655440000", .uuid) }
    }

    func testArraysText() throws {
        XCTAssertEqual(try text("{1,2,NULL}", .list(.integer)), .list([.int32(1), .int32(2), .null], element: .integer))
        XCTAssertEqual(try text(" { 1 , 2 } ", .list(.bigint)), .list([.int64(1), .int64(2)], element: .bigint))
        XCTAssertEqual(try text("{}", .list(.integer)), .list([], element: .integer))
        XCTAssertEqual(try text(#"{"a b","",NULL,"NULL",x,"q\"t","b\\s", c d }"#, .list(.varchar)),
                       .list([.varchar("a b"), .varchar(""), .null, .varchar("NULL"), .varchar("x"), .varchar("q\"t"), .varchar("b\\s"), .varchar("c d")], element: .varchar))
        XCTAssertEqual(try text("[1:2]={5,6}", .list(.integer)), .list([.int32(5), .int32(6)], element: .integer))
        XCTAssertEqual(try text(#"{2024-01-01,"0044-03-15 BC"}"#, .list(.date)), .list([.date(19723), .date(-735_160)], element: .date))
        // DECIMAL elements go as text; DuckDB casts the list when it binds it.
        XCTAssertEqual(try text("{1.50,-0.05}", .list(.decimal(width: 5, scale: 2))), .list([.varchar("1.50"), .varchar("-0.05")], element: .varchar))
        XCTAssertEqual(try text("{1,2}", .array(.integer, size: 2)), .list([.int32(1), .int32(2)], element: .integer))
        XCTAssertEqual(try text("{1,2}", .invalid, oid: 1007), .list([.int32(1), .int32(2)], element: .integer))
        assertSQLState("0A000") { try self.text("{{1,2},{3,4}}", .list(.integer)) }
        // DuckDB's list spelling and lists of nested types are cast by DuckDB.
        XCTAssertEqual(try text("[1, 2]", .list(.integer)), .varchar("[1, 2]"))
        XCTAssertEqual(try text("[[1], [2, 3]]", .list(.list(.integer))), .varchar("[[1], [2, 3]]"))
        assertSQLState("22P02") { try self.text("1,2", .list(.integer)) }
        assertSQLState("22P02") { try self.text("{1,2", .list(.integer)) }
        assertSQLState("22P02") { try self.text("{1,,2}", .list(.integer)) }
        assertSQLState("22P02") { try self.text("{1,2} x", .list(.integer)) }
        assertSQLState("22P02") { try self.text("{1,x}", .list(.integer)) }
    }

    func testTypesOnlyDuckDBCanReadGoAsText() throws {
        XCTAssertEqual(try text("101", .bit), .varchar("101"))
        XCTAssertEqual(try text("01:02:03+05", .timeTZ), .varchar("01:02:03+05"))
        XCTAssertEqual(try text("{'a': 1}", .struct([("a", .integer)])), .varchar("{'a': 1}"))
    }

    // MARK: Binary format

    func testBinaryScalars() throws {
        XCTAssertEqual(try binary([1], oid: 16), .bool(true))
        XCTAssertEqual(try binary(beBytes(Int16(-2)), oid: 21), .int16(-2))
        XCTAssertEqual(try binary(beBytes(Int32(42)), oid: 23), .int32(42))
        XCTAssertEqual(try binary(beBytes(Int64.min), oid: 20), .int64(Int64.min))
        XCTAssertEqual(try binary(beBytes(UInt32(7)), oid: 26), .uint32(7))
        XCTAssertEqual(try binary(beBytes(Float(1.5).bitPattern), oid: 700), .float(1.5))
        XCTAssertEqual(try binary(beBytes(Double(0.1).bitPattern), oid: 701), .double(0.1))
        XCTAssertEqual(try binary(Array("héllo".utf8), oid: 25), .varchar("héllo"))
        XCTAssertEqual(try binary(Array("x".utf8), oid: 1043), .varchar("x"))
        XCTAssertEqual(try binary([1] + Array(#"{"a":1}"#.utf8), oid: 3802), .varchar(#"{"a":1}"#))
        XCTAssertEqual(try binary([0, 0xFF], oid: 17), .blob([0, 0xFF]))
        XCTAssertEqual(try binary(beBytes(Int32(8825)), oid: 1082), .date(19782))
        XCTAssertEqual(try binary(beBytes(Int32.max), oid: 1082), .date(Int32.max))
        XCTAssertEqual(try binary(beBytes(Int32.min), oid: 1082), .date(-Int32.max))
        XCTAssertEqual(try binary(beBytes(Int64(47_655_500_000)), oid: 1083), .time(47_655_500_000))
        XCTAssertEqual(try binary(beBytes(Int64(0)), oid: 1114), .timestamp(946_684_800_000_000))
        XCTAssertEqual(try binary(beBytes(Int64(-1)), oid: 1184), .timestampTZ(946_684_799_999_999))
        XCTAssertEqual(try binary(beBytes(Int64.min), oid: 1114), .timestamp(-Int64.max))
        XCTAssertEqual(try binary(beBytes(Int64(1)) + beBytes(Int32(2)) + beBytes(Int32(3)), oid: 1186), .interval(months: 3, days: 2, micros: 1))
        XCTAssertEqual(try binary(hexBytes("550e8400e29b41d4a716446655440000"), oid: 2950),
                       .uuid(UInt128(0x550e8400_e29b_41d4) << 64 | UInt128(0xa716_4466_5544_0000)))
        XCTAssertEqual(try binary(beBytes(Int64(3_723_500_000)) + beBytes(Int32(-18000)), oid: 1266), .varchar("01:02:03.5+05"))
        XCTAssertEqual(try binary(beBytes(Int32(5)) + [0b1011_0000], oid: 1562), .varchar("10110"))
    }

    func testBinaryNumeric() throws {
        // 123.45: ndigits 2, weight 0, +, dscale 2, digits 123 4500.
        let n12345 = beBytes(Int16(2)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(2)) + beBytes(Int16(123)) + beBytes(Int16(4500))
        XCTAssertEqual(try binary(n12345, oid: 1700), .decimal(unscaled: 12345, width: 5, scale: 2))
        XCTAssertEqual(try binary(n12345, oid: 1700, .decimal(width: 10, scale: 1)), .decimal(unscaled: 1235, width: 10, scale: 1))
        XCTAssertEqual(try binary(n12345, oid: 1700, .integer), .int32(123))
        XCTAssertEqual(try binary(n12345, oid: 1700, .double), .double(123.45))
        // -0.05: one digit 500 of weight -1.
        XCTAssertEqual(try binary(beBytes(Int16(1)) + beBytes(Int16(-1)) + beBytes(UInt16(0x4000)) + beBytes(Int16(2)) + beBytes(Int16(500)), oid: 1700),
                       .decimal(unscaled: -5, width: 2, scale: 2))
        // 1000000 with dscale 0: one digit 100 of weight 1.
        XCTAssertEqual(try binary(beBytes(Int16(1)) + beBytes(Int16(1)) + beBytes(UInt16(0)) + beBytes(Int16(0)) + beBytes(Int16(100)), oid: 1700),
                       .decimal(unscaled: 1_000_000, width: 7, scale: 0))
        XCTAssertEqual(try binary(beBytes(Int16(0)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(3)), oid: 1700), .decimal(unscaled: 0, width: 3, scale: 3))
        guard case .double(let nan) = try binary(beBytes(Int16(0)) + beBytes(Int16(0)) + beBytes(UInt16(0xC000)) + beBytes(Int16(0)), oid: 1700) else { return XCTFail() }
        XCTAssertTrue(nan.isNaN)
        assertSQLState("08P01") { try self.binary(beBytes(Int16(2)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(2)) + beBytes(Int16(123)), oid: 1700) }
        assertSQLState("22P03") { try self.binary(beBytes(Int16(0)) + beBytes(Int16(0)) + beBytes(UInt16(0x1234)) + beBytes(Int16(0)), oid: 1700) }
        assertSQLState("22003") { try self.binary(n12345, oid: 1700, .decimal(width: 3, scale: 1)) }
    }

    func testBinaryConversionsToTheInferredType() throws {
        XCTAssertEqual(try binary(beBytes(Int64(42)), oid: 20, .integer), .int32(42))
        XCTAssertEqual(try binary(beBytes(Int32(42)), oid: 23, .bigint), .int64(42))
        XCTAssertEqual(try binary(beBytes(Int32(42)), oid: 23, .double), .double(42))
        XCTAssertEqual(try binary(beBytes(Int32(42)), oid: 23, .decimal(width: 5, scale: 2)), .decimal(unscaled: 4200, width: 5, scale: 2))
        XCTAssertEqual(try binary(beBytes(Double(2.5).bitPattern), oid: 701, .integer), .int32(2))  // half to even, like PostgreSQL
        XCTAssertEqual(try binary(beBytes(Double(3.5).bitPattern), oid: 701, .integer), .int32(4))
        XCTAssertEqual(try binary(beBytes(Int32(42)), oid: 23, .varchar), .varchar("42"))
        XCTAssertEqual(try binary(Array("17".utf8), oid: 25, .integer), .int32(17))
        XCTAssertEqual(try binary(beBytes(Int32(8825)), oid: 1082, .timestamp), .timestamp(Int64(19782) * 86_400_000_000))
        XCTAssertEqual(try binary(beBytes(Int64(0)), oid: 1114, .timestampTZ), .timestampTZ(946_684_800_000_000))
        // No OID declared: the binary format of the inferred type.
        XCTAssertEqual(try binary(beBytes(Int32(42)), oid: 0, .integer), .int32(42))
        XCTAssertEqual(try binary(Array("abc".utf8), oid: 0, .invalid), .varchar("abc"))
        assertSQLState("22003") { try self.binary(beBytes(Int64(1) << 40), oid: 20, .integer) }
        assertSQLState("22003") { try self.binary(beBytes(Int32(-1)), oid: 23, .utinyint) }
        assertSQLState("22003") { try self.binary(beBytes(Double.nan.bitPattern), oid: 701, .bigint) }
    }

    func testBinaryWrongLengthIsAProtocolViolation() {
        assertSQLState("08P01") { try self.binary([0, 0, 1], oid: 23) }
        assertSQLState("08P01") { try self.binary([0, 0, 0, 0, 1], oid: 23) }
        assertSQLState("08P01") { try self.binary([], oid: 16) }
        assertSQLState("08P01") { try self.binary([0, 0, 0, 0], oid: 20) }
        assertSQLState("08P01") { try self.binary(Array(repeating: 0, count: 15), oid: 2950) }
        assertSQLState("08P01") { try self.binary(Array(repeating: 0, count: 12), oid: 1186) }
        assertSQLState("08P01") { try self.binary([0, 0], oid: 1082) }
        assertSQLState("0A000") { try self.binary([0], oid: 600) }  // point
    }

    func testBinaryArrays() throws {
        let header = beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(UInt32(23)) + beBytes(Int32(3)) + beBytes(Int32(1))
        let body = beBytes(Int32(4)) + beBytes(Int32(1)) + beBytes(Int32(-1)) + beBytes(Int32(4)) + beBytes(Int32(3))
        XCTAssertEqual(try binary(header + body, oid: 1007), .list([.int32(1), .null, .int32(3)], element: .integer))
        XCTAssertEqual(try binary(header + body, oid: 1007, .list(.bigint)), .list([.int64(1), .null, .int64(3)], element: .bigint))
        XCTAssertEqual(try binary(beBytes(Int32(0)) + beBytes(Int32(0)) + beBytes(UInt32(25)), oid: 1009), .list([], element: .varchar))
        let text = beBytes(Int32(1)) + beBytes(Int32(0)) + beBytes(UInt32(25)) + beBytes(Int32(2)) + beBytes(Int32(1)) + beBytes(Int32(2)) + Array("ab".utf8) + beBytes(Int32(0))
        XCTAssertEqual(try binary(text, oid: 1009), .list([.varchar("ab"), .varchar("")], element: .varchar))
        // numeric[] into DECIMAL[]: elements go as text, DuckDB casts.
        let num = beBytes(Int32(1)) + beBytes(Int32(0)) + beBytes(UInt32(1700)) + beBytes(Int32(1)) + beBytes(Int32(1))
            + beBytes(Int32(12)) + beBytes(Int16(2)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(2)) + beBytes(Int16(123)) + beBytes(Int16(4500))
        XCTAssertEqual(try binary(num, oid: 1231, .list(.decimal(width: 5, scale: 2))), .list([.varchar("123.45")], element: .varchar))
        let twoDims = beBytes(Int32(2)) + beBytes(Int32(0)) + beBytes(UInt32(23)) + beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(Int32(4)) + beBytes(Int32(1))
        assertSQLState("0A000") { try self.binary(twoDims, oid: 1007) }
        assertSQLState("08P01") { try self.binary(header + beBytes(Int32(4)) + beBytes(Int32(1)), oid: 1007) }
        assertSQLState("08P01") { try self.binary(header + beBytes(Int32(4)) + beBytes(Int32(1)) + beBytes(Int32(-1)) + beBytes(Int32(2)) + beBytes(Int16(3)), oid: 1007) }
    }

    // MARK: Round trips through DuckDB

    /// Text in → decode → bind → run → encode → the same text out; then the binary encoding
    /// of the result, decoded and bound again, comes out as the same bytes.
    private func assertRoundTrip(
        _ sql: String, _ input: String, oid: UInt32, expected: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let c = try TypesTestDB.connection()
        let stmt = try c.prepare(sql)
        let target = stmt.parameterTypes[0]
        let value = try ParameterDecoder.decode(pgBuffer(input), format: .text, oid: oid, target: target)
        try stmt.bind([value])
        let out = try encodeQuery(sql, [value], format: .text, connection: c, file: file, line: line)[0]
        XCTAssertEqual(out.text, expected ?? input, "\(sql) with \(input) (bound as \(value))", file: file, line: line)
        XCTAssertEqual(out.type.oid, oid, "\(sql)", file: file, line: line)

        let binaryOut = try encodeQuery(sql, [value], format: .binary, connection: c, file: file, line: line)[0]
        let bytes = try XCTUnwrap(binaryOut.bytes, file: file, line: line)
        let again = try ParameterDecoder.decode(pgBuffer(bytes), format: .binary, oid: binaryOut.type.oid, target: target)
        let binaryAgain = try encodeQuery(sql, [again], format: .binary, connection: c, file: file, line: line)[0]
        XCTAssertEqual(binaryAgain.bytes, bytes, "\(sql) binary round trip (bound as \(again))", file: file, line: line)
        // And with no inferred type, only the declared OID.
        let untyped = try ParameterDecoder.decode(pgBuffer(bytes), format: .binary, oid: binaryOut.type.oid, target: .invalid)
        let textAgain = try encodeQuery(sql, [untyped], format: .text, connection: c, file: file, line: line)[0]
        XCTAssertEqual(textAgain.text, expected ?? input, "\(sql) from binary without a target (bound as \(untyped))", file: file, line: line)
    }

    func testRoundTripsScalars() throws {
        try assertRoundTrip("SELECT $1::BOOLEAN", "t", oid: 16)
        try assertRoundTrip("SELECT $1::SMALLINT", "-32768", oid: 21)
        try assertRoundTrip("SELECT $1::INTEGER", "42", oid: 23)
        try assertRoundTrip("SELECT $1::BIGINT", "-9223372036854775808", oid: 20)
        try assertRoundTrip("SELECT $1::HUGEINT", "-170141183460469231731687303715884105728", oid: 1700)
        try assertRoundTrip("SELECT $1::UBIGINT", "18446744073709551615", oid: 1700)
        try assertRoundTrip("SELECT $1::DOUBLE", "0.1", oid: 701)
        try assertRoundTrip("SELECT $1::DOUBLE", "1e+15", oid: 701)
        try assertRoundTrip("SELECT $1::DOUBLE", "-Infinity", oid: 701)
        try assertRoundTrip("SELECT $1::DOUBLE", "NaN", oid: 701)
        try assertRoundTrip("SELECT $1::FLOAT", "1.5", oid: 700)
        try assertRoundTrip("SELECT $1::DECIMAL(10,3)", "-12.340", oid: 1700)
        try assertRoundTrip("SELECT $1::DECIMAL(38,18)", "12345678901234567890.123456789012345678", oid: 1700)
        try assertRoundTrip("SELECT $1::VARCHAR", "héllo, wörld", oid: 25)
        try assertRoundTrip("SELECT $1::JSON", #"{"a": [1, 2]}"#, oid: 114)
        try assertRoundTrip("SELECT $1::BLOB", #"\x00ff41"#, oid: 17)
        try assertRoundTrip("SELECT $1::UUID", "550e8400-e29b-41d4-a716-446655440000", oid: 2950)
    }

    func testRoundTripsDatesAndTimes() throws {
        try assertRoundTrip("SELECT $1::DATE", "2024-02-29", oid: 1082)
        try assertRoundTrip("SELECT $1::DATE", "0044-03-15 BC", oid: 1082)
        try assertRoundTrip("SELECT $1::DATE", "infinity", oid: 1082)
        try assertRoundTrip("SELECT $1::TIME", "13:14:15.5", oid: 1083)
        try assertRoundTrip("SELECT $1::TIMESTAMP", "2024-02-29 13:14:15.123456", oid: 1114)
        try assertRoundTrip("SELECT $1::TIMESTAMP", "-infinity", oid: 1114)
        try assertRoundTrip("SELECT $1::TIMESTAMPTZ", "2024-02-29 13:14:15.5+00", oid: 1184)
        try assertRoundTrip("SELECT $1::TIMESTAMPTZ", "2024-02-29 15:14:15.5+02", oid: 1184, expected: "2024-02-29 13:14:15.5+00")
        try assertRoundTrip("SELECT $1::INTERVAL", "1 year 2 mons 3 days 04:05:06.5", oid: 1186)
        try assertRoundTrip("SELECT $1::INTERVAL", "-1 days +02:00:00", oid: 1186)
        try assertRoundTrip("SELECT $1::INTERVAL", "P1DT1H", oid: 1186, expected: "1 day 01:00:00")
    }

    func testRoundTripsArrays() throws {
        try assertRoundTrip("SELECT $1::INTEGER[]", "{1,2,NULL}", oid: 1007)
        try assertRoundTrip("SELECT $1::BIGINT[]", "{}", oid: 1016)
        try assertRoundTrip("SELECT $1::VARCHAR[]", #"{"a b","",NULL,x,"q\"t","NULL"}"#, oid: 1009)
        try assertRoundTrip("SELECT $1::DOUBLE[]", "{1.5,NaN,-Infinity}", oid: 1022)
        try assertRoundTrip("SELECT $1::DATE[]", #"{2024-01-01,"0044-03-15 BC"}"#, oid: 1182)
        try assertRoundTrip("SELECT $1::TIMESTAMP[]", #"{"2024-01-01 00:00:00"}"#, oid: 1115)
        try assertRoundTrip("SELECT $1::UUID[]", "{550e8400-e29b-41d4-a716-446655440000}", oid: 2951)
        try assertRoundTrip("SELECT $1::BOOLEAN[]", "{t,f,NULL}", oid: 1000)
        try assertRoundTrip("SELECT $1::DECIMAL(5,2)[]", "{1.50,-0.05}", oid: 1231)
        try assertRoundTrip("SELECT $1::INTERVAL[]", #"{"1 day",00:00:00}"#, oid: 1187)
        try assertRoundTrip("SELECT $1::BLOB[]", #"{"\\x00ff"}"#, oid: 1001)
    }

    func testNestedParametersAreCastByDuckDB() throws {
        let c = try TypesTestDB.connection()
        let sql = "SELECT $1::INTEGER[][], $2::STRUCT(a INTEGER, b VARCHAR)"
        let stmt = try c.prepare(sql)
        let types = stmt.parameterTypes
        let values = [
            try ParameterDecoder.decode(pgBuffer("[[1, 2], [3]]"), format: .text, oid: 0, target: types[0]),
            try ParameterDecoder.decode(pgBuffer("{'a': 1, 'b': x}"), format: .binary, oid: 0, target: types[1]),
        ]
        XCTAssertEqual(try encodeQuery(sql, values, format: .text, connection: c).map(\.text), ["[[1, 2], [3]]", "{'a': 1, 'b': x}"])
    }

    func testParameterInAWhereClause() throws {
        let c = try TypesTestDB.connection()
        let sql = "SELECT count(*)::INTEGER FROM range(100) r(i) WHERE i < $1"
        let stmt = try c.prepare(sql)
        XCTAssertEqual(stmt.parameterTypes, [.bigint])
        let v = try ParameterDecoder.decode(pgBuffer(beBytes(Int32(10))), format: .binary, oid: 23, target: stmt.parameterTypes[0])
        XCTAssertEqual(v, .int64(10))
        XCTAssertEqual(try encodeQuery(sql, [v], format: .text, connection: c)[0].text, "10")
    }
}
