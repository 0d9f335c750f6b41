import Arrow
import DuckDB
import NIOCore
import XCTest

@testable import PostgresWire

/// DuckDB results encoded as a PostgreSQL 15 server sends them (DateStyle ISO, TimeZone UTC,
/// IntervalStyle postgres, bytea_output hex, extra_float_digits 1). Expected values are
/// written by hand from PostgreSQL's documented output formats.
final class TypesEncodingTests: XCTestCase {
    private func assertColumn(
        _ expr: String, type: PostgresType, text: String?, binary: [UInt8]?,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let t = try encodeQuery("SELECT \(expr)", format: .text, file: file, line: line)[0]
        XCTAssertEqual(t.type, type, "type of \(expr)", file: file, line: line)
        XCTAssertEqual(t.text, text, "text of \(expr)", file: file, line: line)
        let b = try encodeQuery("SELECT \(expr)", format: .binary, file: file, line: line)[0]
        XCTAssertEqual(b.bytes, binary, "binary of \(expr)", file: file, line: line)
    }

    // MARK: Booleans and integers

    func testBoolean() throws {
        try assertColumn("true", type: .bool, text: "t", binary: [1])
        try assertColumn("false", type: .bool, text: "f", binary: [0])
    }

    func testSignedIntegers() throws {
        try assertColumn("(-128)::TINYINT", type: .int2, text: "-128", binary: beBytes(Int16(-128)))
        try assertColumn("(-32768)::SMALLINT", type: .int2, text: "-32768", binary: [0x80, 0x00])
        try assertColumn("2147483647::INTEGER", type: .int4, text: "2147483647", binary: [0x7F, 0xFF, 0xFF, 0xFF])
        try assertColumn("0::INTEGER", type: .int4, text: "0", binary: [0, 0, 0, 0])
        try assertColumn("(-9223372036854775808)::BIGINT", type: .int8, text: "-9223372036854775808", binary: [0x80, 0, 0, 0, 0, 0, 0, 0])
        try assertColumn("1234567890123::BIGINT", type: .int8, text: "1234567890123", binary: beBytes(Int64(1_234_567_890_123)))
    }

    func testUnsignedIntegersAreWidened() throws {
        try assertColumn("255::UTINYINT", type: .int2, text: "255", binary: [0x00, 0xFF])
        try assertColumn("65535::USMALLINT", type: .int4, text: "65535", binary: [0, 0, 0xFF, 0xFF])
        try assertColumn("4294967295::UINTEGER", type: .int8, text: "4294967295", binary: [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        // 1844 6744 0737 0955 1615 in base 10000: ndigits 5, weight 4, positive, dscale 0.
        try assertColumn(
            "18446744073709551615::UBIGINT", type: .numeric, text: "18446744073709551615",
            binary: beBytes(Int16(5)) + beBytes(Int16(4)) + beBytes(UInt16(0)) + beBytes(Int16(0))
                + beBytes(Int16(1844)) + beBytes(Int16(6744)) + beBytes(Int16(737)) + beBytes(Int16(955)) + beBytes(Int16(1615)))
    }

    func testHugeIntegers() throws {
        try assertColumn(
            "170141183460469231731687303715884105727::HUGEINT", type: .numeric,
            text: "170141183460469231731687303715884105727",
            binary: beBytes(Int16(10)) + beBytes(Int16(9)) + beBytes(UInt16(0)) + beBytes(Int16(0))
                + [170, 1411, 8346, 469, 2317, 3168, 7303, 7158, 8410, 5727].flatMap { beBytes(Int16($0)) })
        try assertColumn(
            "(-170141183460469231731687303715884105727)::HUGEINT - 1", type: .numeric,
            text: "-170141183460469231731687303715884105728",
            binary: beBytes(Int16(10)) + beBytes(Int16(9)) + beBytes(UInt16(0x4000)) + beBytes(Int16(0))
                + [170, 1411, 8346, 469, 2317, 3168, 7303, 7158, 8410, 5728].flatMap { beBytes(Int16($0)) })
        // Above 2^127: DuckDB's Arrow export carries the bits in a decimal128; they are read unsigned.
        try assertColumn(
            "340282366920938463463374607431768211455::UHUGEINT", type: .numeric,
            text: "340282366920938463463374607431768211455",
            binary: beBytes(Int16(10)) + beBytes(Int16(9)) + beBytes(UInt16(0)) + beBytes(Int16(0))
                + [340, 2823, 6692, 938, 4634, 6337, 4607, 4317, 6821, 1455].flatMap { beBytes(Int16($0)) })
        try assertColumn("0::HUGEINT", type: .numeric, text: "0", binary: beBytes(Int16(0)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(0)))
    }

    // MARK: Floating point

    func testFloat8Text() throws {
        let cases: [(String, String)] = [
            ("1.5", "1.5"), ("0.1", "0.1"), ("1e15", "1e+15"), ("123456789012345", "123456789012345"),
            ("1e-5", "1e-05"), ("0.0001", "0.0001"), ("'-0'", "-0"), ("0", "0"), ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"), ("-2.5e-300", "-2.5e-300"),
            ("'nan'", "NaN"), ("'inf'", "Infinity"), ("'-inf'", "-Infinity"), ("100", "100"),
            ("1234567.125", "1234567.125"), ("0.30000000000000004", "0.30000000000000004"), ("1e100", "1e+100"),
            ("4503599627370497", "4.503599627370497e+15"), ("9007199254740993", "9.007199254740992e+15"),
            // The 16-digit 3.760521502549518e+16 lies exactly halfway to the next double: PostgreSQL
            // never prints such a tie, it prints the 17 digits.
            ("37605215025495184", "3.7605215025495184e+16"), ("-56064475566060864", "-5.6064475566060864e+16"),
        ]
        let texts = try firstRowTexts("SELECT " + cases.map { "\($0.0)::DOUBLE" }.joined(separator: ", "))
        XCTAssertEqual(texts, cases.map { $0.1 })
    }

    func testFloat4Text() throws {
        let cases: [(String, String)] = [
            ("1.5", "1.5"), ("0.1", "0.1"), ("1e6", "1e+06"), ("123456", "123456"), ("16777216", "1.6777216e+07"),
            ("3.4028235e38", "3.4028235e+38"), ("1e-45", "1e-45"), ("0.0001", "0.0001"), ("1e-5", "1e-05"),
            ("'nan'", "NaN"), ("'-inf'", "-Infinity"), ("'-0'", "-0"), ("999999", "999999"), ("-1000000", "-1e+06"),
            ("87248656", "8.7248656e+07"), ("130492976", "1.30492976e+08"), ("-351952.875", "-351952.88"),
        ]
        let texts = try firstRowTexts("SELECT " + cases.map { "\($0.0)::FLOAT" }.joined(separator: ", "))
        XCTAssertEqual(texts, cases.map { $0.1 })
    }

    func testFloatBinary() throws {
        try assertColumn("1.5::FLOAT", type: .float4, text: "1.5", binary: [0x3F, 0xC0, 0x00, 0x00])
        try assertColumn("0.1::DOUBLE", type: .float8, text: "0.1", binary: [0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A])
        try assertColumn("'-inf'::DOUBLE", type: .float8, text: "-Infinity", binary: [0xFF, 0xF0, 0, 0, 0, 0, 0, 0])
    }

    // MARK: Exact numbers

    func testDecimalTextKeepsScale() throws {
        let texts = try firstRowTexts("""
            SELECT 123.45::DECIMAL(5,2), (-0.05)::DECIMAL(5,2), 0::DECIMAL(10,3), 1.5::DECIMAL(4,1),
                   1.50::DECIMAL(18,6), (-12345678901234.5678)::DECIMAL(18,4),
                   12345678901234567890.123456789012345678::DECIMAL(38,18), 7::DECIMAL(3,0), 0.001::DECIMAL(3,3)
            """)
        XCTAssertEqual(texts, [
            "123.45", "-0.05", "0.000", "1.5", "1.500000", "-12345678901234.5678",
            "12345678901234567890.123456789012345678", "7", "0.001",
        ])
    }

    func testDecimalBinaryAndTypmod() throws {
        let cols = try encodeQuery("SELECT 123.45::DECIMAL(5,2)", format: .binary)
        XCTAssertEqual(cols[0].type, PostgresType.numeric(precision: 5, scale: 2))
        XCTAssertEqual(cols[0].type.typmod, (5 << 16 | 2) + 4)
        // 123.45 = 0123|4500: ndigits 2, weight 0, positive, dscale 2.
        XCTAssertEqual(cols[0].bytes, beBytes(Int16(2)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(2)) + beBytes(Int16(123)) + beBytes(Int16(4500)))
        // -0.05 = 0.0500: ndigits 1, weight -1, negative, dscale 2.
        XCTAssertEqual(try firstRowBinary("SELECT (-0.05)::DECIMAL(5,2)")[0],
                       beBytes(Int16(1)) + beBytes(Int16(-1)) + beBytes(UInt16(0x4000)) + beBytes(Int16(2)) + beBytes(Int16(500)))
        // Zero keeps its display scale and has no digits.
        XCTAssertEqual(try firstRowBinary("SELECT 0::DECIMAL(10,3)")[0], beBytes(Int16(0)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(3)))
        // 10000.0001: digits 1|0000|0001 → trailing/leading zero groups stripped only at the ends.
        XCTAssertEqual(try firstRowBinary("SELECT 10000.0001::DECIMAL(9,4)")[0],
                       beBytes(Int16(3)) + beBytes(Int16(1)) + beBytes(UInt16(0)) + beBytes(Int16(4)) + beBytes(Int16(1)) + beBytes(Int16(0)) + beBytes(Int16(1)))
        // 1000000 = 100|0000 → one digit of weight 1.
        XCTAssertEqual(try firstRowBinary("SELECT 1000000::DECIMAL(12,2)")[0],
                       beBytes(Int16(1)) + beBytes(Int16(1)) + beBytes(UInt16(0)) + beBytes(Int16(2)) + beBytes(Int16(100)))
    }

    func testBignum() throws {
        try assertColumn(
            "12345678901234567890123::BIGNUM", type: .numeric, text: "12345678901234567890123",
            binary: beBytes(Int16(6)) + beBytes(Int16(5)) + beBytes(UInt16(0)) + beBytes(Int16(0))
                + [123, 4567, 8901, 2345, 6789, 123].flatMap { beBytes(Int16($0)) })
        XCTAssertEqual(try firstRowTexts("SELECT (-1)::BIGNUM, 0::BIGNUM, 255::BIGNUM, (-256)::BIGNUM"), ["-1", "0", "255", "-256"])
    }

    // MARK: Strings and bytes

    func testTextJsonAndBytea() throws {
        try assertColumn("'héllo'", type: .text, text: "héllo", binary: Array("héllo".utf8))
        try assertColumn("''", type: .text, text: "", binary: [])
        try assertColumn(#"'{"a": [1, 2]}'::JSON"#, type: .json, text: #"{"a": [1, 2]}"#, binary: Array(#"{"a": [1, 2]}"#.utf8))
        try assertColumn("from_hex('00ff41')", type: .bytea, text: #"\x00ff41"#, binary: [0x00, 0xFF, 0x41])
        try assertColumn("''::BLOB", type: .bytea, text: #"\x"#, binary: [])
        try assertColumn("'b'::ENUM('a', 'b')", type: .text, text: "b", binary: [0x62])
    }

    func testUUID() throws {
        let bytes: [UInt8] = [0x55, 0x0E, 0x84, 0x00, 0xE2, 0x9B, 0x41, 0xD4, 0xA7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00]
        try assertColumn("UUID '550E8400-E29B-41D4-A716-446655440000'", type: .uuid, text: "550e8400-e29b-41d4-a716-446655440000", binary: bytes)
        // Lossless Arrow export delivers 16 bytes instead of text; the result is the same.
        let c = try TypesTestDB.connection(lossless: true)
        let t = try encodeQuery("SELECT UUID '550e8400-e29b-41d4-a716-446655440000', 1::HUGEINT, '[1]'::JSON", format: .text, connection: c)
        XCTAssertEqual(t.map(\.text), ["550e8400-e29b-41d4-a716-446655440000", "1", "[1]"])
        XCTAssertEqual(t.map(\.type), [.uuid, .numeric, .json])
        XCTAssertEqual(try encodeQuery("SELECT UUID '550e8400-e29b-41d4-a716-446655440000'", format: .binary, connection: c)[0].bytes, bytes)
    }

    /// DuckDB's lossless Arrow export (arrow.bool8, arrow.uuid, arrow.json, opaque HUGEINT...)
    /// is encoded exactly like the default export.
    func testLosslessArrowExportEncodesTheSame() throws {
        let sql = """
            SELECT true, false, NULL::BOOLEAN, [true, NULL, false], {'b': false, 'u': UUID '550e8400-e29b-41d4-a716-446655440000'},
                   (-170141183460469231731687303715884105727)::HUGEINT, 340282366920938463463374607431768211455::UHUGEINT,
                   UUID '550e8400-e29b-41d4-a716-446655440000', [UUID '550e8400-e29b-41d4-a716-446655440000'],
                   '{"a": 1}'::JSON, '101'::BIT, (-12345678901234567890123)::BIGNUM, [1::HUGEINT], 1.5::DECIMAL(4,1),
                   TIMESTAMP_NS '2024-02-29 13:14:15.123456789', '01:02:03.1234567'::TIME_NS, 'a'::ENUM('a', 'b'),
                   MAP {'k': [true]}, union_value(a := true)::UNION(a BOOLEAN, b VARCHAR)
            """
        for format in [PostgresFormat.text, .binary] {
            let plain = try encodeQuery(sql, format: format)
            let lossless = try encodeQuery(sql, format: format, connection: try TypesTestDB.connection(lossless: true))
            XCTAssertEqual(plain.map(\.type), lossless.map(\.type))
            for (k, (p, l)) in zip(plain, lossless).enumerated() {
                XCTAssertEqual(p.values, l.values, "column \(k) \(p.column.type) (\(format)), lossless Arrow type \(l.field.type)")
            }
        }
        XCTAssertEqual(try encodeQuery("SELECT [true, false, NULL]", format: .text, connection: try TypesTestDB.connection(lossless: true))[0].text, "{t,f,NULL}")
    }

    // MARK: Dates and times

    func testDate() throws {
        // 2024-02-29 is day 8825 after 2000-01-01.
        try assertColumn("DATE '2024-02-29'", type: .date, text: "2024-02-29", binary: beBytes(Int32(8825)))
        try assertColumn("DATE '1999-12-31'", type: .date, text: "1999-12-31", binary: beBytes(Int32(-1)))
        try assertColumn("DATE '0044-03-15 (BC)'", type: .date, text: "0044-03-15 BC", binary: beBytes(Int32(-746_117)))
        try assertColumn("DATE '0001-01-01'", type: .date, text: "0001-01-01", binary: beBytes(Int32(-730_119)))
        try assertColumn("DATE '12345-06-07'", type: .date, text: "12345-06-07", binary: beBytes(Int32(3_778_591)))
        try assertColumn("'infinity'::DATE", type: .date, text: "infinity", binary: beBytes(Int32.max))
        try assertColumn("'-infinity'::DATE", type: .date, text: "-infinity", binary: beBytes(Int32.min))
    }

    func testTime() throws {
        try assertColumn("TIME '13:14:15.123456'", type: .time, text: "13:14:15.123456", binary: beBytes(Int64(47_655_123_456)))
        try assertColumn("TIME '13:14:15.5'", type: .time, text: "13:14:15.5", binary: beBytes(Int64(47_655_500_000)))
        try assertColumn("TIME '13:14:15.000100'", type: .time, text: "13:14:15.0001", binary: beBytes(Int64(47_655_000_100)))
        try assertColumn("TIME '00:00:00'", type: .time, text: "00:00:00", binary: beBytes(Int64(0)))
        try assertColumn("'24:00:00'::TIME", type: .time, text: "24:00:00", binary: beBytes(Int64(86_400_000_000)))
        // TIME_NS is rounded to microseconds, as DuckDB's cast to TIME does.
        try assertColumn("'01:02:03.1234567'::TIME_NS", type: .time, text: "01:02:03.123457", binary: beBytes(Int64(3_723_123_457)))
    }

    func testTimestamps() throws {
        // µs since 2000-01-01: 8825 days + 13:14:15.5.
        let us = Int64(8825) * 86_400_000_000 + 47_655_500_000
        try assertColumn("TIMESTAMP '2024-02-29 13:14:15.5'", type: .timestamp, text: "2024-02-29 13:14:15.5", binary: beBytes(us))
        try assertColumn("TIMESTAMPTZ '2024-02-29 13:14:15.5+00'", type: .timestamptz, text: "2024-02-29 13:14:15.5+00", binary: beBytes(us))
        try assertColumn("TIMESTAMPTZ '2024-02-29 15:14:15.5+02'", type: .timestamptz, text: "2024-02-29 13:14:15.5+00", binary: beBytes(us))
        try assertColumn("TIMESTAMP_MS '2024-02-29 13:14:15.5'", type: .timestamp, text: "2024-02-29 13:14:15.5", binary: beBytes(us))
        try assertColumn("TIMESTAMP_S '2024-02-29 13:14:15'", type: .timestamp, text: "2024-02-29 13:14:15", binary: beBytes(us - 500_000))
        try assertColumn("TIMESTAMP_NS '2024-02-29 13:14:15.123456789'", type: .timestamp, text: "2024-02-29 13:14:15.123456",
                         binary: beBytes(us - 500_000 + 123_456))
        try assertColumn("TIMESTAMP '2000-01-01 00:00:00'", type: .timestamp, text: "2000-01-01 00:00:00", binary: beBytes(Int64(0)))
        try assertColumn("TIMESTAMP '1999-12-31 23:59:59.999999'", type: .timestamp, text: "1999-12-31 23:59:59.999999", binary: beBytes(Int64(-1)))
        try assertColumn("make_timestamp(-43, 3, 15, 1, 2, 3.5)", type: .timestamp, text: "0044-03-15 01:02:03.5 BC",
                         binary: beBytes(Int64(-746_117) * 86_400_000_000 + 3_723_500_000))
        try assertColumn("make_timestamp(-43, 3, 15, 1, 2, 3.5)::TIMESTAMPTZ", type: .timestamptz, text: "0044-03-15 01:02:03.5+00 BC",
                         binary: beBytes(Int64(-746_117) * 86_400_000_000 + 3_723_500_000))
        try assertColumn("'infinity'::TIMESTAMP", type: .timestamp, text: "infinity", binary: beBytes(Int64.max))
        try assertColumn("'-infinity'::TIMESTAMPTZ", type: .timestamptz, text: "-infinity", binary: beBytes(Int64.min))
    }

    func testInterval() throws {
        func iv(_ us: Int64, _ days: Int32, _ months: Int32) -> [UInt8] { beBytes(us) + beBytes(days) + beBytes(months) }
        try assertColumn("INTERVAL '1 year 2 months 3 days 04:05:06.5'", type: .interval, text: "1 year 2 mons 3 days 04:05:06.5",
                         binary: iv(14_706_500_000, 3, 14))
        try assertColumn("INTERVAL '-1 day'", type: .interval, text: "-1 days", binary: iv(0, -1, 0))
        try assertColumn("INTERVAL '1 day'", type: .interval, text: "1 day", binary: iv(0, 1, 0))
        try assertColumn("INTERVAL '0 seconds'", type: .interval, text: "00:00:00", binary: iv(0, 0, 0))
        try assertColumn("to_days(-1) + to_hours(2)", type: .interval, text: "-1 days +02:00:00", binary: iv(7_200_000_000, -1, 0))
        try assertColumn("to_months(-14)", type: .interval, text: "-1 years -2 mons", binary: iv(0, 0, -14))
        try assertColumn("to_months(12) + to_days(-3)", type: .interval, text: "1 year -3 days", binary: iv(0, -3, 12))
        try assertColumn("INTERVAL '36 hours'", type: .interval, text: "36:00:00", binary: iv(129_600_000_000, 0, 0))
        try assertColumn("to_days(1) - to_microseconds(1)", type: .interval, text: "1 day -00:00:00.000001", binary: iv(-1, 1, 0))
        try assertColumn("to_months(-1) + to_days(2)", type: .interval, text: "-1 mons +2 days", binary: iv(0, 2, -1))
        try assertColumn("to_microseconds(-1500000)", type: .interval, text: "-00:00:01.5", binary: iv(-1_500_000, 0, 0))
    }

    // MARK: Arrays

    func testArraysText() throws {
        let texts = try firstRowTexts(#"""
            SELECT [1, 2, NULL], ['a b', '', 'NULL', 'null', NULL, 'x"y', 'a\b', 'plain', '{}', 'a,b', 'tab' || chr(9) || 'here'],
                   [1.5::DOUBLE, 'nan'], [1.50::DECIMAL(5,2)], [DATE '2024-01-01', DATE '0044-03-15 (BC)'],
                   [TIMESTAMP '2024-01-01 00:00:00'], [INTERVAL '1 day', INTERVAL '0 seconds'], [from_hex('00ff')],
                   [true, false], [UUID '550e8400-e29b-41d4-a716-446655440000'], []::INTEGER[], [1, 2]::INTEGER[2],
                   ['a'::ENUM('a', 'b c'), 'b c'], [TIME '01:02:03'], [TIMESTAMPTZ '2024-01-01 00:00:00+00'], [NULL]::INTEGER[]
            """#)
        XCTAssertEqual(texts, [
            "{1,2,NULL}", #"{"a b","","NULL","null",NULL,"x\"y","a\\b",plain,"{}","a,b","tab\#there"}"#,
            "{1.5,NaN}", "{1.50}", #"{2024-01-01,"0044-03-15 BC"}"#,
            #"{"2024-01-01 00:00:00"}"#, #"{"1 day",00:00:00}"#, #"{"\\x00ff"}"#,
            "{t,f}", "{550e8400-e29b-41d4-a716-446655440000}", "{}", "{1,2}",
            #"{a,"b c"}"#, "{01:02:03}", #"{"2024-01-01 00:00:00+00"}"#, "{NULL}",
        ])
    }

    func testArrayTypes() throws {
        let cols = try encodeQuery("""
            SELECT [true], [1::TINYINT], [1::SMALLINT], [1], [1::BIGINT], ['a'], [1.5::FLOAT], [1.5::DOUBLE], [1.5::DECIMAL(3,1)],
                   [DATE '2024-01-01'], [TIME '00:00:00'], [TIMESTAMP '2024-01-01'], [TIMESTAMPTZ '2024-01-01'], [INTERVAL '1 day'],
                   [UUID '550e8400-e29b-41d4-a716-446655440000'], [from_hex('00')], [1::UBIGINT], [1::HUGEINT], [1::UTINYINT],
                   [1::UINTEGER], ['a'::ENUM('a')], ['101'::BIT], [[1]], [{'a': 1}]
            """, format: .text)
        XCTAssertEqual(cols.map(\.type.oid), [
            1000, 1005, 1005, 1007, 1016, 1009, 1021, 1022, 1231,
            1182, 1183, 1115, 1185, 1187,
            2951, 1001, 1231, 1231, 1005,
            1016, 1009, 1009, 25, 25,
        ])
        XCTAssertEqual(cols[21].text, "{101}")
    }

    func testArraysBinary() throws {
        // ndim 1, has-null flag, element OID, length, lower bound 1, then length-prefixed elements.
        XCTAssertEqual(try firstRowBinary("SELECT [1, 2, NULL]")[0],
                       beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(UInt32(23)) + beBytes(Int32(3)) + beBytes(Int32(1))
                        + beBytes(Int32(4)) + beBytes(Int32(1)) + beBytes(Int32(4)) + beBytes(Int32(2)) + beBytes(Int32(-1)))
        XCTAssertEqual(try firstRowBinary("SELECT ['ab', '']")[0],
                       beBytes(Int32(1)) + beBytes(Int32(0)) + beBytes(UInt32(25)) + beBytes(Int32(2)) + beBytes(Int32(1))
                        + beBytes(Int32(2)) + [0x61, 0x62] + beBytes(Int32(0)))
        // An empty array has no dimensions.
        XCTAssertEqual(try firstRowBinary("SELECT []::BIGINT[]")[0], beBytes(Int32(0)) + beBytes(Int32(0)) + beBytes(UInt32(20)))
        XCTAssertEqual(try firstRowBinary("SELECT [1.5::DECIMAL(3,1)]")[0],
                       beBytes(Int32(1)) + beBytes(Int32(0)) + beBytes(UInt32(1700)) + beBytes(Int32(1)) + beBytes(Int32(1))
                        + beBytes(Int32(12)) + beBytes(Int16(2)) + beBytes(Int16(0)) + beBytes(UInt16(0)) + beBytes(Int16(1)) + beBytes(Int16(1)) + beBytes(Int16(5000)))
        XCTAssertEqual(try firstRowBinary("SELECT [DATE '2000-01-02']::DATE[1]")[0],
                       beBytes(Int32(1)) + beBytes(Int32(0)) + beBytes(UInt32(1082)) + beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(Int32(4)) + beBytes(Int32(1)))
        XCTAssertEqual(try firstRowBinary("SELECT ['x'::ENUM('x')]")[0],
                       beBytes(Int32(1)) + beBytes(Int32(0)) + beBytes(UInt32(25)) + beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(Int32(1)) + [0x78])
        // Nested types fall back to text, which is also their binary form.
        XCTAssertEqual(try firstRowBinary("SELECT [[1, 2]], {'a': 1}"), [Array("[[1, 2]]".utf8), Array("{'a': 1}".utf8)])
    }

    func testListsInManyRowsAndSlices() throws {
        let cols = try encodeQuery("SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE [i, NULL, i + 1] END FROM range(3000) r(i)", format: .text)
        XCTAssertEqual(cols[0].values.count, 3000)
        XCTAssertNil(cols[0].texts[2997])
        XCTAssertEqual(cols[0].texts[2998], "{2998,NULL,2999}")
        XCTAssertEqual(cols[0].texts[2050], "{2050,NULL,2051}")
    }

    /// Arrays that start at a non-zero offset (as slices of IPC batches do) read the right slots.
    func testOffsets() throws {
        let ints: [Int32] = [10, 20, 30, 40]
        let values = ints.withUnsafeBytes { Buffer(copying: $0) }
        let array = ArrayData(type: .int(bitWidth: 32, signed: true), length: 2, nullCount: 0, offset: 2, buffers: [.empty, values])
        let encoder = try ColumnValueEncoder(
            column: ColumnDescription(name: "x", type: .integer), field: Field("x", .int(bitWidth: 32, signed: true)), format: .text)
        XCTAssertEqual(encoder.encodedValue(array, row: 0), Array("30".utf8))
        XCTAssertEqual(encoder.encodedValue(array, row: 1), Array("40".utf8))
    }

    func testRejectsUnexpectedArrowLayout() {
        XCTAssertThrowsError(try ColumnValueEncoder(
            column: ColumnDescription(name: "x", type: .integer), field: Field("x", .utf8), format: .text)
        ) { error in
            XCTAssertEqual((error as? PostgresTypeError)?.sqlState, "0A000")
        }
    }
}
