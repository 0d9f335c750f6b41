import Arrow
import CArrowABI
import DuckDB
import XCTest

/// Arrow batches (as the Flight ingest path decodes them from IPC) appended through DuckDB's
/// Arrow reader: values, NULLs, nested types, dictionaries, slices past DuckDB's chunk size.
final class ArrowAppenderTests: XCTestCase {
    func roundTrip(_ sql: String, create: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let db = try Database(DatabaseConfiguration())
        let conn = try db.connect()
        // DuckDB's own Arrow for the query, through IPC and back (the ingest path's input).
        let source = try conn.query(sql)
        let schema = try source.arrowSchema()
        var batches: [RecordBatch] = []
        while let b = try source.nextArrowBatch() { batches.append(b) }
        let ipc = try IPCStreamWriter.serialize(schema: schema, batches: batches)
        var reader = try IPCStreamReader(bytes: ipc)
        try conn.execute(create)
        let appender = try ArrowAppender(connection: conn, catalog: nil, schema: nil, table: "t", arrowSchema: reader.schema)
        while let batch = try reader.next() { try appender.append(batch) }
        try appender.close()
        // Same rows, same order: compare DuckDB's own rendering of both.
        let mismatches = try conn.query("SELECT count(*)::BIGINT FROM ((\(sql)) EXCEPT ALL (SELECT * FROM t))")
            .nextArrowBatch()!.columns[0].value(0, as: Int64.self)
        let rows = try conn.query("SELECT count(*)::BIGINT FROM t").nextArrowBatch()!.columns[0].value(0, as: Int64.self)
        let expected = try conn.query("SELECT count(*)::BIGINT FROM (\(sql))").nextArrowBatch()!.columns[0].value(0, as: Int64.self)
        XCTAssertEqual(rows, expected, file: file, line: line)
        XCTAssertEqual(mismatches, 0, file: file, line: line)
        XCTAssertEqual(appender.rowsAppended, Int(expected), file: file, line: line)
    }

    func testFlatTypesWithNullsAcrossManyChunks() throws {
        try roundTrip(
            """
            SELECT i::INTEGER AS i, CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1.5 END AS d,
                   CASE WHEN i % 7 = 0 THEN NULL ELSE 'row ' || i END AS s, (i % 2 = 0) AS b,
                   DATE '2024-01-01' + i::INTEGER AS day, TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND AS ts,
                   (i / 3)::DECIMAL(12, 2) AS dec, encode('row ' || i) AS bytes
            FROM range(10000) t(i)
            """,
            create: "CREATE TABLE t (i INTEGER, d DECIMAL(18,1), s VARCHAR, b BOOLEAN, day DATE, ts TIMESTAMP, dec DECIMAL(12,2), bytes BLOB)")
    }

    func testNestedTypes() throws {
        try roundTrip(
            """
            SELECT [i, NULL, i + 1] AS l, {'a': i, 'b': 'x' || i} AS st, MAP {'k' || i: i} AS m,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE [[i], []] END AS ll
            FROM range(3000) t(i)
            """,
            create: "CREATE TABLE t (l BIGINT[], st STRUCT(a BIGINT, b VARCHAR), m MAP(VARCHAR, BIGINT), ll BIGINT[][])")
    }

    func testDictionaryEncodedStrings() throws {
        // DuckDB exports ENUM columns as dictionary-encoded Arrow.
        let db = try Database(DatabaseConfiguration())
        let conn = try db.connect()
        try conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        try conn.execute("CREATE TABLE src AS SELECT (['sad', 'ok', 'happy', NULL])[i % 4 + 1]::mood AS m FROM range(5000) t(i)")
        let source = try conn.query("SELECT * FROM src")
        let schema = try source.arrowSchema()
        XCTAssertNotNil(schema.fields[0].dictionary)
        var batches: [RecordBatch] = []
        while let b = try source.nextArrowBatch() { batches.append(b) }
        try conn.execute("CREATE TABLE t (m VARCHAR)")
        let appender = try ArrowAppender(connection: conn, catalog: nil, schema: nil, table: "t", arrowSchema: schema)
        for b in batches { try appender.append(b) }
        try appender.close()
        let diff = try conn.query("SELECT count(*)::BIGINT FROM ((SELECT m::VARCHAR FROM src) EXCEPT ALL (SELECT m FROM t))")
        XCTAssertEqual(try diff.nextArrowBatch()!.columns[0].value(0, as: Int64.self), 0)
    }

    func testTypeMismatchIsAnErrorNotACrash() throws {
        let db = try Database(DatabaseConfiguration())
        let conn = try db.connect()
        try conn.execute("CREATE TABLE t (a INTEGER)")
        let source = try conn.query("SELECT 'not a number' AS a")
        let schema = try source.arrowSchema()
        let appender = try ArrowAppender(connection: conn, catalog: nil, schema: nil, table: "t", arrowSchema: schema)
        let batch = try source.nextArrowBatch()!
        XCTAssertThrowsError(try appender.append(batch))
        XCTAssertThrowsError(try ArrowAppender(connection: conn, catalog: nil, schema: nil, table: "missing", arrowSchema: schema))
    }
}
