import Arrow
import DuckDB
import NIOCore
import XCTest

@testable import PostgresWire

final class TypesMappingTests: XCTestCase {
    func testRowDescriptionTypes() throws {
        let cases: [(LogicalType, String?, UInt32, Int16, Int32)] = [
            (.boolean, nil, 16, 1, -1), (.tinyint, nil, 21, 2, -1), (.smallint, nil, 21, 2, -1), (.integer, nil, 23, 4, -1),
            (.bigint, nil, 20, 8, -1), (.utinyint, nil, 21, 2, -1), (.usmallint, nil, 23, 4, -1), (.uinteger, nil, 20, 8, -1),
            (.ubigint, nil, 1700, -1, -1), (.hugeint, nil, 1700, -1, -1), (.uhugeint, nil, 1700, -1, -1), (.bignum, nil, 1700, -1, -1),
            (.float, nil, 700, 4, -1), (.double, nil, 701, 8, -1), (.decimal(width: 18, scale: 3), nil, 1700, -1, (18 << 16 | 3) + 4),
            (.varchar, nil, 25, -1, -1), (.varchar, "JSON", 114, -1, -1), (.blob, nil, 17, -1, -1), (.date, nil, 1082, 4, -1),
            (.time, nil, 1083, 8, -1), (.timeNS, nil, 1083, 8, -1), (.timestamp, nil, 1114, 8, -1), (.timestampS, nil, 1114, 8, -1),
            (.timestampMS, nil, 1114, 8, -1), (.timestampNS, nil, 1114, 8, -1), (.timestampTZ, nil, 1184, 8, -1),
            (.interval, nil, 1186, 16, -1), (.uuid, nil, 2950, 16, -1), (.enum(["a"]), nil, 25, -1, -1),
            (.list(.integer), nil, 1007, -1, -1), (.array(.double, size: 3), nil, 1022, -1, -1), (.list(.varchar), nil, 1009, -1, -1),
            (.list(.decimal(width: 5, scale: 2)), nil, 1231, -1, -1), (.list(.uuid), nil, 2951, -1, -1), (.list(.blob), nil, 1001, -1, -1),
            (.list(.timestampTZ), nil, 1185, -1, -1), (.list(.interval), nil, 1187, -1, -1), (.list(.date), nil, 1182, -1, -1),
            (.list(.time), nil, 1183, -1, -1), (.list(.timestamp), nil, 1115, -1, -1), (.list(.boolean), nil, 1000, -1, -1),
            (.list(.smallint), nil, 1005, -1, -1), (.list(.bigint), nil, 1016, -1, -1), (.list(.float), nil, 1021, -1, -1),
            (.list(.bit), nil, 1009, -1, -1), (.list(.list(.integer)), nil, 25, -1, -1), (.struct([("a", .integer)]), nil, 25, -1, -1),
            (.map(key: .varchar, value: .integer), nil, 25, -1, -1), (.union([("a", .integer)]), nil, 25, -1, -1),
            (.bit, nil, 25, -1, -1), (.timeTZ, nil, 25, -1, -1), (.sqlNull, nil, 25, -1, -1), (.other(99), nil, 25, -1, -1),
        ]
        for (type, alias, oid, typlen, typmod) in cases {
            let t = PostgresTypeMapping.postgresType(for: ColumnDescription(name: "c", type: type, alias: alias))
            XCTAssertEqual(t.oid, oid, "\(type)")
            XCTAssertEqual(t.typlen, typlen, "\(type)")
            XCTAssertEqual(t.typmod, typmod, "\(type)")
        }
    }

    func testRowDescriptionOfARealQuery() throws {
        let c = try TypesTestDB.connection()
        let stmt = try c.prepare("SELECT 1::DECIMAL(10,2) AS d, '{}'::JSON AS j, [1] AS l, {'a': 1} AS s")
        XCTAssertEqual(stmt.columns.map { PostgresTypeMapping.postgresType(for: $0) },
                       [.numeric(precision: 10, scale: 2), .json, .int4Array, .text])
    }

    func testParameterOIDs() {
        let cases: [(UInt32, LogicalType?)] = [
            (0, nil), (705, nil), (16, .boolean), (17, .blob), (20, .bigint), (21, .smallint), (23, .integer), (25, .varchar),
            (1043, .varchar), (19, .varchar), (114, .varchar), (3802, .varchar), (700, .float), (701, .double),
            (1700, .decimal(width: 38, scale: 10)), (1082, .date), (1083, .time), (1114, .timestamp), (1184, .timestampTZ),
            (1186, .interval), (2950, .uuid), (1007, .list(.integer)), (1009, .list(.varchar)), (1016, .list(.bigint)),
            (1231, .list(.decimal(width: 38, scale: 10))), (2951, .list(.uuid)), (1185, .list(.timestampTZ)), (99999, nil),
        ]
        for (oid, expected) in cases {
            XCTAssertEqual(PostgresTypeMapping.duckDBType(forParameterOID: oid), expected, "OID \(oid)")
        }
    }

    func testArrayTypeTable() {
        XCTAssertEqual(PostgresType.int4.arrayType, .int4Array)
        XCTAssertEqual(PostgresType.int4Array.elementType, .int4)
        XCTAssertEqual(PostgresType.jsonb.arrayType?.oid, 3807)
        XCTAssertEqual(PostgresType.json.arrayType?.oid, 199)
        XCTAssertNil(PostgresType.int4Array.arrayType)
        XCTAssertEqual(PostgresType.known(oid: 1266), .timetz)
    }

    func testDocumentationTable() {
        let md = PostgresTypeMapping.documentationMarkdown
        XCTAssertTrue(md.hasPrefix("| DuckDB | Arrow (from DuckDB) | PostgreSQL | OID | Notes |"))
        XCTAssertTrue(md.contains("| DECIMAL(p,s) |"))
        XCTAssertEqual(md.split(separator: "\n").count, PostgresTypeMapping.documentationTable.count + 2)
    }

    /// NULL of every type is a -1 length, in both formats, at the top level and in arrays.
    func testNullsOfEveryType() throws {
        let types = [
            "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "HUGEINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL(5,2)", "DECIMAL(38,10)", "VARCHAR", "JSON", "BLOB", "DATE",
            "TIME", "TIME_NS", "TIMETZ", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMPTZ",
            "INTERVAL", "UUID", "ENUM('a')", "BIT", "BIGNUM", "INTEGER[]", "VARCHAR[2]", "INTEGER[][]",
            "STRUCT(a INTEGER)", "MAP(VARCHAR, INTEGER)", "UNION(a INTEGER, b VARCHAR)",
        ]
        let sql = "SELECT " + types.map { "NULL::\($0)" }.joined(separator: ", ")
        for format in [PostgresFormat.text, .binary] {
            let cols = try encodeQuery(sql, format: format)
            XCTAssertEqual(cols.count, types.count)
            for (t, c) in zip(types, cols) {
                XCTAssertEqual(c.values.count, 1, t)
                XCTAssertNil(c.values[0], "\(t) \(format)")
            }
        }
        // The raw DataRow bytes of a NULL are exactly Int32 -1.
        let c = try TypesTestDB.connection()
        let result = try c.query("SELECT NULL::INTEGER")
        let batch = try result.nextArrowBatch()!
        let encoder = try ColumnValueEncoder(column: result.columns[0], field: try result.arrowSchema().fields[0], format: .binary)
        var out = ByteBufferAllocator().buffer(capacity: 8)
        encoder.encode(batch.columns[0], row: 0, into: &out)
        XCTAssertEqual(out.readableBytesView.map { $0 }, [0xFF, 0xFF, 0xFF, 0xFF])
    }

    func testNullElements() throws {
        let sql = """
            SELECT [NULL::BOOLEAN], [NULL::DOUBLE, 1], [NULL::DATE], [NULL::UUID], [NULL::VARCHAR, 'x'], [NULL::DECIMAL(4,2)],
                   [NULL::ENUM('a')], [NULL::INTERVAL], [NULL::BLOB]
            """
        XCTAssertEqual(try firstRowTexts(sql), ["{NULL}", "{NULL,1}", "{NULL}", "{NULL}", "{NULL,x}", "{NULL}", "{NULL}", "{NULL}", "{NULL}"])
        let binary = try firstRowBinary("SELECT [NULL::DOUBLE, 1]")[0]
        XCTAssertEqual(binary, beBytes(Int32(1)) + beBytes(Int32(1)) + beBytes(UInt32(701)) + beBytes(Int32(2)) + beBytes(Int32(1))
                        + beBytes(Int32(-1)) + beBytes(Int32(8)) + beBytes(Double(1).bitPattern))
    }
}
