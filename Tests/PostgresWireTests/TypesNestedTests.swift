import Arrow
import DuckDB
import NIOCore
import TestSupport
import XCTest

@testable import PostgresWire

/// Types PostgreSQL has no equivalent for are sent as text spelled the way DuckDB casts them
/// to VARCHAR. DuckDB itself is the oracle here: each value is encoded from Arrow and
/// compared with DuckDB's own `::VARCHAR` of the same value.
final class TypesNestedTests: XCTestCase {
    /// Encodes column 0 and compares every row with column 1 (DuckDB's VARCHAR cast).
    private func assertRendersLikeDuckDB(
        _ values: [String], type: String? = nil, connection: Connection? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cast = type.map { "::\($0)" } ?? ""
        let rows = values.map { "(\($0)\(cast))" }.joined(separator: ", ")
        let sql = "SELECT v, v::VARCHAR FROM (VALUES \(rows)) t(v)"
        for format in [PostgresFormat.text, .binary] {
            let cols = try encodeQuery(sql, format: format, connection: connection, file: file, line: line)
            XCTAssertEqual(cols[0].type, .text, "\(cols[0].column.type) should be sent as text", file: file, line: line)
            XCTAssertEqual(cols[0].values.count, values.count, file: file, line: line)
            for (k, (ours, duck)) in zip(cols[0].texts, cols[1].texts).enumerated() {
                XCTAssertEqual(ours, duck, "row \(k): \(values[k]) (\(format))", file: file, line: line)
            }
        }
    }

    func testListsOfNestedTypes() throws {
        try assertRendersLikeDuckDB(["[[1, 2], [3]]", "[[], NULL, [NULL]]", "[]", "NULL"], type: "INTEGER[][]")
        try assertRendersLikeDuckDB(["[['a,b', '', 'NULL', ' x', 'y ', 'q''t', 'b\\s', 'plain', 'a b']]", "[[NULL]]"], type: "VARCHAR[][]")
        try assertRendersLikeDuckDB(["[{'a': 1, 'b': 'x'}, NULL, {'a': NULL, 'b': '{}'}]"])
        try assertRendersLikeDuckDB(["[MAP {1: 'a', 2: NULL}]", "[MAP {}]"])
        try assertRendersLikeDuckDB(["[[1.5, 1e20, 0.1, 1e-7, 'nan', '-inf', 123456789012345678, 1e15, 1e16]]"], type: "DOUBLE[][]")
        try assertRendersLikeDuckDB(["[[1.5, 1e20, 0.1, 16777216, 3.4028235e38, 1e7]]"], type: "FLOAT[][]")
    }

    func testStructs() throws {
        try assertRendersLikeDuckDB(["{'x': 1, 'y': 'z'}", "{'x': NULL, 'y': ''}", "{'x': 3, 'y': 'a,b'}", "NULL"])
        try assertRendersLikeDuckDB(["{'l': [1, 2], 's': {'t': 'u'}, 'm': MAP {'k': 7}}"])
        try assertRendersLikeDuckDB(["{'d': DATE '2024-02-29', 't': TIME '01:02:03.25', 'ts': TIMESTAMP '2024-02-29 13:14:15.5', 'i': INTERVAL '1 year 2 months 3 days 04:05:06.5', 'b': TRUE, 'dec': 1.50::DECIMAL(5,2), 'h': 170141183460469231731687303715884105727::HUGEINT, 'u': UUID '550e8400-e29b-41d4-a716-446655440000', 'blob': from_hex('00ff6127225c20')}"])
        try assertRendersLikeDuckDB(["{'tz': TIMESTAMPTZ '2024-02-29 13:14:15.5+00', 'ns': TIMESTAMP_NS '2024-02-29 13:14:15.123456789', 's': TIMESTAMP_S '2024-02-29 13:14:15', 'ms': TIMESTAMP_MS '2024-02-29 13:14:15.25', 'neg': INTERVAL '-1 day', 'zero': INTERVAL '0 seconds'}"])
        try assertRendersLikeDuckDB(["{'bc': '0044-03-15 (BC)'::DATE, 'inf': 'infinity'::DATE, 'tinf': '-infinity'::TIMESTAMP, 'e': 'b c'::ENUM('a', 'b c')}"])
        try assertRendersLikeDuckDB(["{'ut': 255::UTINYINT, 'us': 65535::USMALLINT, 'ui': 4294967295::UINTEGER, 'ub': 18446744073709551615::UBIGINT, 'uh': 340282366920938463463374607431768211455::UHUGEINT, 'ti': (-128)::TINYINT}"])
        try assertRendersLikeDuckDB(["{'bit': '10110'::BIT, 'big': (-12345678901234567890123)::BIGNUM, 'tns': '01:02:03.1234567'::TIME_NS}"])
        try assertRendersLikeDuckDB(["(1, 'a,b')", "(NULL, 'x')"])
    }

    /// Strings full of the characters DuckDB's quoting cares about, in every nested position.
    func testQuotingOfGeneratedStrings() throws {
        var rng = SplitMix(seed: 42)
        let alphabet: [String] = ["a", "b", " ", "\"", "'", "\\", ",", ":", "=", "(", ")", "[", "]", "{", "}", "n", "u", "l", "N", "\t", "é"]
        var strings: [String] = ["", "null", "NULL", "Null", " x", "x ", " "]
        for _ in 0..<300 {
            let n = Int(rng.next() % 5)
            strings.append((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined())
        }
        func lit(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        var values: [String] = []
        for i in stride(from: 0, to: strings.count - 2, by: 3) {
            let (a, b, c) = (lit(strings[i]), lit(strings[i + 1]), lit(strings[i + 2]))
            values.append("{'l': [\(a), \(b)], 's': \(c), 'm': MAP {\(a): \(b)}}")
        }
        try assertRendersLikeDuckDB(values)
    }

    /// Doubles from random bit patterns render with DuckDB's shortest spelling.
    func testGeneratedDoubles() throws {
        var rng = SplitMix(seed: 7)
        var values: [String] = []
        while values.count < 400 {
            let d = Double(bitPattern: rng.next())
            guard d.isFinite else { continue }
            values.append("{'x': \(d.description)::DOUBLE}")
        }
        try assertRendersLikeDuckDB(values)
    }

    func testStructKeysAreQuotedAndEscaped() throws {
        let cols = try encodeQuery(#"SELECT {'my key': 1, 'q''k': 'v', 'b\s': 2}"#, format: .text)
        XCTAssertEqual(cols[0].text, #"{'my key': 1, 'q\'k': v, 'b\\s': 2}"#)
    }

    func testMaps() throws {
        try assertRendersLikeDuckDB(["MAP {'k': 7}", "MAP {'a b': NULL, 'c=d': 1}", "MAP {}", "NULL"])
        try assertRendersLikeDuckDB(["MAP {[1]: {'a': 'x'}}"])
        try assertRendersLikeDuckDB(["MAP {'a,b': ['c,d']}"])
    }

    func testUnions() throws {
        let sql = """
            SELECT v, v::VARCHAR FROM (VALUES (union_value(a := 1)::UNION(a INT, b VARCHAR)),
            (union_value(b := 'a,b')::UNION(a INT, b VARCHAR)), (NULL::UNION(a INT, b VARCHAR))) t(v)
            """
        let cols = try encodeQuery(sql, format: .text)
        XCTAssertEqual(cols[0].texts, ["1", "a,b", nil])
        XCTAssertEqual(cols[0].texts, cols[1].texts)
        try assertRendersLikeDuckDB(["[union_value(b := 'a,b')::UNION(a INT, b VARCHAR), NULL, union_value(a := 2)::UNION(a INT, b VARCHAR)]"])
        try assertRendersLikeDuckDB(["{'u': union_value(b := 'x y')::UNION(a INT, b VARCHAR)}"])
    }

    func testScalarsDuckDBShowsAsText() throws {
        try assertRendersLikeDuckDB(["'101'::BIT", "'0'::BIT", "'1111111100'::BIT", "'00000000'::BIT"])
        XCTAssertEqual(try firstRowTexts("SELECT '10110'::BIT, NULL::BIT"), ["10110", nil])
    }

    func testGeometryIsWellKnownText() throws {
        try assertRendersLikeDuckDB([
            "'POINT(1 2)'", "'POINT(1.5 -2.25)'", "'POINT EMPTY'", "'POINT Z (1 2 3)'", "'POINT M (1 2 3)'", "'POINT ZM (1 2 3 4)'",
            "'LINESTRING(0 0, 1 1, 2 0.5)'", "'LINESTRING EMPTY'", "'LINESTRING Z (0 0 1, 1 1 2)'",
            "'POLYGON((0 0, 1 0, 1 1, 0 0), (0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))'", "'POLYGON EMPTY'",
            "'MULTIPOINT((1 2), (3 4))'", "'MULTILINESTRING((0 0, 1 1), (2 2, 3 3))'",
            "'MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))'",
            "'GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1), GEOMETRYCOLLECTION(POINT(3 4)))'", "'GEOMETRYCOLLECTION EMPTY'",
            "'POINT(1e20 0.1)'", "'POINT(123456789.123 1e-7)'", "NULL",
        ], type: "GEOMETRY")
        try assertRendersLikeDuckDB(["{'g': 'POINT(1 2)'::GEOMETRY, 'l': ['LINESTRING(0 0, 1 1)'::GEOMETRY]}"])
        let cols = try encodeQuery("SELECT ['POINT(1 2)'::GEOMETRY, NULL]", format: .text)
        XCTAssertEqual(cols[0].type, .textArray)
        XCTAssertEqual(cols[0].text, #"{"POINT (1 2)",NULL}"#)
    }

    func testEveryValueOfALongResult() throws {
        // Several Arrow batches (DuckDB's chunks hold 2048 rows).
        let cols = try encodeQuery(
            "SELECT {'i': i::INTEGER, 's': 'v' || i::VARCHAR}, [[i]] FROM range(5000) r(i)", format: .text)
        XCTAssertEqual(cols[0].values.count, 5000)
        XCTAssertEqual(cols[0].texts[4321], "{'i': 4321, 's': v4321}")
        XCTAssertEqual(cols[1].texts[4999], "[[4999]]")
    }

    func testTimeWithTimeZone() throws {
        // DuckDB's default Arrow export keeps only the local time of a TIMETZ.
        XCTAssertEqual(try firstRowTexts("SELECT '01:02:03.5+05'::TIMETZ"), ["01:02:03.5"])
        XCTAssertEqual(PostgresTypeMapping.postgresType(for: .timeTZ), .text)
        // With lossless Arrow conversion the offset arrives, and the text is DuckDB's.
        let c = try TypesTestDB.connection(lossless: true)
        try assertRendersLikeDuckDB(["'01:02:03+05'::TIMETZ", "'23:59:59.999999-05:30'::TIMETZ", "'00:00:00+00'::TIMETZ"], connection: c)
    }
}
