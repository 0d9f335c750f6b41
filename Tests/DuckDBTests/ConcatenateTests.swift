import Arrow
import DuckDB
import XCTest

/// `RecordBatch.concatenate` on DuckDB's own Arrow output, checked by DuckDB: the joined
/// batch is appended to a table through DuckDB's Arrow reader and compared with the source.
final class ConcatenateTests: XCTestCase {
    /// Rows `start ..< start + count` of a batch, as a view (offsets, no copy).
    func slice(_ batch: RecordBatch, _ start: Int, _ count: Int) -> RecordBatch {
        var out = batch
        out.columns = batch.columns.map { column in
            var c = column
            c.offset += start
            c.length = count
            var nulls = 0
            for i in 0..<count where column.isNull(start + i) { nulls += 1 }
            c.nullCount = nulls
            return c
        }
        out.length = count
        return out
    }

    func testJoinedBatchesHoldTheSameRows() throws {
        let conn = try Database(DatabaseConfiguration()).connect()
        // A filter gives chunks of odd sizes; every flat type, with NULLs.
        let sql = """
            SELECT i::INTEGER AS i, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 0.5 END AS d,
                   CASE WHEN i % 5 = 0 THEN NULL ELSE 'value ' || i END AS s, (i % 2 = 0) AS b,
                   CASE WHEN i % 4 = 0 THEN NULL ELSE i % 2 = 1 END AS nb,
                   (i / 7)::DECIMAL(18, 3) AS dec, DATE '2020-01-01' + i::INTEGER AS day,
                   encode('bytes ' || i) AS blob, NULL AS nothing
            FROM range(20000) t(i) WHERE i % 11 <> 4
            """
        let source = try conn.query(sql)
        let schema = try source.arrowSchema()
        var chunks: [RecordBatch] = []
        while let b = try source.nextArrowBatch() { chunks.append(b) }
        XCTAssertTrue(RecordBatch.canConcatenate(schema))
        XCTAssertGreaterThan(chunks.count, 3)
        // Slices at odd offsets too (bitmaps not on byte boundaries).
        var parts: [RecordBatch] = []
        for (n, chunk) in chunks.enumerated() {
            if n % 2 == 1 && chunk.length > 10 {
                parts.append(slice(chunk, 0, 3))
                parts.append(slice(chunk, 3, chunk.length - 3))
            } else {
                parts.append(chunk)
            }
        }
        let joined = try XCTUnwrap(RecordBatch.concatenate(parts))
        XCTAssertEqual(joined.length, chunks.reduce(0) { $0 + $1.length })
        XCTAssertEqual(joined.columns[1].nullCount, parts.reduce(0) { $0 + $1.columns[1].nullCount })
        try conn.execute("CREATE TABLE t AS SELECT * FROM (\(sql)) LIMIT 0")
        let appender = try ArrowAppender(connection: conn, catalog: nil, schema: nil, table: "t", arrowSchema: schema)
        try appender.append(joined)
        try appender.close()
        let count = { (q: String) -> Int64 in try conn.query(q).nextArrowBatch()!.columns[0].value(0, as: Int64.self) }
        XCTAssertEqual(try count("SELECT count(*)::BIGINT FROM t"), Int64(joined.length))
        XCTAssertEqual(try count("SELECT count(*)::BIGINT FROM ((\(sql)) EXCEPT ALL (SELECT * FROM t))"), 0)
        XCTAssertEqual(try count("SELECT count(*)::BIGINT FROM ((SELECT * FROM t) EXCEPT ALL (\(sql)))"), 0)
    }

    func testNestedAndDictionaryColumnsAreNotJoined() throws {
        let conn = try Database(DatabaseConfiguration()).connect()
        let lists = try conn.query("SELECT [i] AS l FROM range(5000) t(i)")
        XCTAssertFalse(RecordBatch.canConcatenate(try lists.arrowSchema()))
        let a = try XCTUnwrap(lists.nextArrowBatch()), b = try XCTUnwrap(lists.nextArrowBatch())
        XCTAssertNil(RecordBatch.concatenate([a, b]))
        try conn.execute("CREATE TYPE e AS ENUM ('x', 'y')")
        XCTAssertFalse(RecordBatch.canConcatenate(try conn.query("SELECT 'x'::e AS v").arrowSchema()))
    }
}
