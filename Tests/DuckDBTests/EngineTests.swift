import Arrow
import DuckDB
import Foundation
import XCTest

final class EngineTests: XCTestCase {
    func makeDatabase(_ config: DatabaseConfiguration = DatabaseConfiguration()) throws -> Database {
        try Database(config)
    }

    /// Reads every batch of a query into one list of batches.
    func batches(_ connection: Connection, _ sql: String, _ params: [DuckDBValue] = []) throws -> [RecordBatch] {
        let result = try connection.query(sql, params)
        var out: [RecordBatch] = []
        while let batch = try result.nextArrowBatch() { out.append(batch) }
        return out
    }

    func testLoadedLibraryIsThePinnedRelease() throws {
        XCTAssertEqual(DuckDBLibrary.loadedVersion, "v1.5.5")
        XCTAssertNoThrow(try DuckDBLibrary.checkVersion())
    }

    func testScalarTypesAndNullsThroughArrow() throws {
        let c = try makeDatabase().connect()
        let sql = """
            SELECT * FROM (VALUES
              (true, -8::TINYINT, -16::SMALLINT, -32::INTEGER, -64::BIGINT, 200::UTINYINT, 60000::USMALLINT,
               4000000000::UINTEGER, 18000000000000000000::UBIGINT, 170141183460469231731687303715884105727::HUGEINT,
               1.5::FLOAT, 2.25::DOUBLE, 123.45::DECIMAL(5,2), 'héllo wörld, longer than twelve bytes', '\\x00\\xFF'::BLOB,
               DATE '2024-02-29', TIME '13:14:15.123456', TIMESTAMP '2024-02-29 13:14:15.5', INTERVAL '1 month 2 days 3 seconds'),
              (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
            ) t(b, i8, i16, i32, i64, u8, u16, u32, u64, h, f, d, dec, s, bl, dt, tm, ts, iv)
            """
        let out = try batches(c, sql)
        XCTAssertEqual(out.count, 1)
        let batch = try XCTUnwrap(out.first)
        XCTAssertEqual(batch.length, 2)
        let types = batch.schema.fields.map(\.type)
        XCTAssertEqual(types[0], .bool)
        XCTAssertEqual(types[1], .int(bitWidth: 8, signed: true))
        XCTAssertEqual(types[8], .int(bitWidth: 64, signed: false))
        XCTAssertEqual(types[9], .decimal(precision: 38, scale: 0, bitWidth: 128))
        XCTAssertEqual(types[12], .decimal(precision: 5, scale: 2, bitWidth: 128))
        XCTAssertEqual(types[13], .utf8)
        XCTAssertEqual(types[14], .binary)
        XCTAssertEqual(types[15], .date32)
        XCTAssertEqual(types[16], .time64(.microsecond))
        XCTAssertEqual(types[17], .timestamp(.microsecond, timezone: nil))
        XCTAssertEqual(types[18], .interval(.monthDayNano))

        let col = batch.columns
        XCTAssertTrue(col[0].bool(0))
        XCTAssertEqual(col[1].value(0, as: Int8.self), -8)
        XCTAssertEqual(col[2].value(0, as: Int16.self), -16)
        XCTAssertEqual(col[3].value(0, as: Int32.self), -32)
        XCTAssertEqual(col[4].value(0, as: Int64.self), -64)
        XCTAssertEqual(col[5].value(0, as: UInt8.self), 200)
        XCTAssertEqual(col[6].value(0, as: UInt16.self), 60000)
        XCTAssertEqual(col[7].value(0, as: UInt32.self), 4_000_000_000)
        XCTAssertEqual(col[8].value(0, as: UInt64.self), 18_000_000_000_000_000_000)
        let hugeBytes = col[9].fixedBytes(0)
        XCTAssertEqual(hugeBytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), UInt64.max)
        XCTAssertEqual(hugeBytes.loadUnaligned(fromByteOffset: 8, as: Int64.self), Int64.max)
        XCTAssertEqual(col[10].float32(0), 1.5)
        XCTAssertEqual(col[11].float64(0), 2.25)
        XCTAssertEqual(col[12].fixedBytes(0).loadUnaligned(fromByteOffset: 0, as: Int64.self), 12345)
        XCTAssertEqual(col[13].string(0), "héllo wörld, longer than twelve bytes")
        XCTAssertEqual(Array(col[14].bytes(0)), [0x00, 0xFF])
        XCTAssertEqual(col[15].value(0, as: Int32.self), 19782)  // 2024-02-29
        XCTAssertEqual(col[16].value(0, as: Int64.self), ((13 * 60 + 14) * 60 + 15) * 1_000_000 + 123_456)
        XCTAssertEqual(col[17].value(0, as: Int64.self), 1_709_212_455_500_000)
        let iv = col[18].fixedBytes(0)
        XCTAssertEqual(iv.loadUnaligned(fromByteOffset: 0, as: Int32.self), 1)
        XCTAssertEqual(iv.loadUnaligned(fromByteOffset: 4, as: Int32.self), 2)
        XCTAssertEqual(iv.loadUnaligned(fromByteOffset: 8, as: Int64.self), 3_000_000_000)

        for (i, column) in col.enumerated() {
            XCTAssertTrue(column.isValid(0), "column \(i) row 0 should hold a value")
            XCTAssertTrue(column.isNull(1), "column \(i) row 1 should be NULL")
            XCTAssertEqual(column.nullCount, 1, "column \(i)")
        }
    }

    func testNestedTypesEnumAndUUIDThroughArrow() throws {
        let c = try makeDatabase().connect()
        try c.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        let sql = """
            SELECT 0 AS k, [1, NULL, 3] AS l, [10, 20]::INTEGER[2] AS a, {'x': 1, 'y': 'z'} AS s, MAP {'k': 7} AS m,
                   'happy'::mood AS e, '00112233-4455-6677-8899-aabbccddeeff'::UUID AS u,
                   '{"a": 1}'::JSON AS j, TIMESTAMPTZ '2024-01-01 00:00:00+00' AS tz
            UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
            ORDER BY k
            """
        let full = try XCTUnwrap(try batches(c, sql).first)
        // Drop the ordering key so that indexes below name the columns under test.
        let batch = RecordBatch(
            schema: Schema(Array(full.schema.fields.dropFirst())), columns: Array(full.columns.dropFirst()), length: full.length)
        let fields = batch.schema.fields
        guard case .list(let item) = fields[0].type else { return XCTFail("list expected, got \(fields[0].type)") }
        XCTAssertEqual(item.type, .int(bitWidth: 32, signed: true))
        guard case .fixedSizeList(_, 2) = fields[1].type else { return XCTFail("fixed size list expected") }
        guard case .struct(let members) = fields[2].type else { return XCTFail("struct expected") }
        XCTAssertEqual(members.map(\.name), ["x", "y"])
        guard case .map = fields[3].type else { return XCTFail("map expected") }
        XCTAssertEqual(fields[4].type, .utf8)
        XCTAssertNotNil(fields[4].dictionary)

        let list = batch.columns[0]
        XCTAssertEqual(list.valueRange(0), 0..<3)
        XCTAssertEqual(list.children[0].value(0, as: Int32.self), 1)
        XCTAssertTrue(list.children[0].isNull(1))
        XCTAssertEqual(list.children[0].value(2, as: Int32.self), 3)
        XCTAssertTrue(list.isNull(1))

        let array = batch.columns[1]
        XCTAssertEqual(array.children[0].value(1, as: Int32.self), 20)

        let structCol = batch.columns[2]
        XCTAssertEqual(structCol.children[0].value(0, as: Int32.self), 1)
        XCTAssertEqual(structCol.children[1].string(0), "z")
        XCTAssertTrue(structCol.isNull(1))

        let map = batch.columns[3]
        let entries = map.children[0]
        XCTAssertEqual(entries.children[0].string(0), "k")
        XCTAssertEqual(entries.children[1].value(0, as: Int32.self), 7)

        let e = batch.columns[4]
        let dict = try XCTUnwrap(e.dictionary)
        XCTAssertEqual(dict.values.string(e.dictionaryIndex(0)), "happy")
        XCTAssertTrue(e.isNull(1))

        XCTAssertEqual(batch.columns[5].string(0), "00112233-4455-6677-8899-aabbccddeeff")
        XCTAssertEqual(batch.columns[6].string(0), #"{"a": 1}"#)
        guard case .timestamp(.microsecond, let tz) = fields[7].type else { return XCTFail("timestamptz expected") }
        XCTAssertNotNil(tz)
        XCTAssertEqual(batch.columns[7].value(0, as: Int64.self), 1_704_067_200_000_000)

        for (i, column) in batch.columns.enumerated() {
            XCTAssertTrue(column.isNull(1), "column \(i) row 1 should be NULL")
        }
    }

    func testResultsStreamInChunks() throws {
        let c = try makeDatabase().connect()
        // Ten billion rows: this only finishes because rows are produced as they are read.
        let result = try c.query("SELECT x FROM range(10000000000) t(x)")
        var seen = 0
        for _ in 0..<3 {
            let batch = try XCTUnwrap(try result.nextArrowBatch())
            XCTAssertEqual(batch.columns[0].value(0, as: Int64.self), Int64(seen))
            seen += batch.length
        }
        XCTAssertEqual(seen, 3 * 2048)
    }

    /// An untyped parameter takes the type of what is bound: a typed NULL keeps its type,
    /// an untyped one makes it INTEGER (DuckDB's choice).
    func testATypedNullGivesAnUntypedParameterItsType() throws {
        let c = try makeDatabase().connect()
        let stmt = try c.prepare("SELECT ? AS x")
        for (value, expected) in [(DuckDBValue.typedNull(.varchar), ArrowType.utf8), (.typedNull(.double), .float64),
                                  (.typedNull(.date), .date32), (.null, .int(bitWidth: 32, signed: true))] {
            try stmt.bind([value])
            let batch = try XCTUnwrap(try stmt.execute().nextArrowBatch())
            XCTAssertEqual(batch.columns[0].type, expected, "\(value)")
            XCTAssertTrue(batch.columns[0].isNull(0))
        }
    }

    func testPreparedStatementBindsTypedParameters() throws {
        let c = try makeDatabase().connect()
        let stmt = try c.prepare("SELECT $1::INTEGER + 1, $2::VARCHAR || '!', $3::DOUBLE * 2, $4::DATE, $5::BOOLEAN, $6::DECIMAL(10,3), $7::BLOB, $8::INTEGER[]")
        XCTAssertEqual(stmt.parameterCount, 8)
        XCTAssertEqual(stmt.columns.count, 8)
        try stmt.bind([
            .int32(41), .varchar("hi"), .double(1.25), .date(19782), .bool(true),
            .decimal(unscaled: 12345, width: 10, scale: 3), .blob([1, 2, 3]),
            .list([.int32(5), .null], element: .integer),
        ])
        let result = try stmt.execute()
        let batch = try XCTUnwrap(try result.nextArrowBatch())
        XCTAssertEqual(batch.columns[0].value(0, as: Int32.self), 42)
        XCTAssertEqual(batch.columns[1].string(0), "hi!")
        XCTAssertEqual(batch.columns[2].float64(0), 2.5)
        XCTAssertEqual(batch.columns[3].value(0, as: Int32.self), 19782)
        XCTAssertTrue(batch.columns[4].bool(0))
        XCTAssertEqual(batch.columns[5].fixedBytes(0).loadUnaligned(fromByteOffset: 0, as: Int64.self), 12345)
        XCTAssertEqual(Array(batch.columns[6].bytes(0)), [1, 2, 3])
        XCTAssertEqual(batch.columns[7].valueRange(0).count, 2)
        XCTAssertTrue(batch.columns[7].children[0].isNull(1))

        // Rebinding reuses the statement.
        try stmt.bind([.int32(1), .null, .double(0), .date(0), .bool(false), .null, .null, .null])
        let again = try XCTUnwrap(try stmt.execute().nextArrowBatch())
        XCTAssertEqual(again.columns[0].value(0, as: Int32.self), 2)
        XCTAssertTrue(again.columns[1].isNull(0))

        XCTAssertThrowsError(try stmt.bind([.int32(1)])) { error in
            XCTAssertEqual((error as? DuckDBError)?.type, .invalidInput)
        }
    }

    func testErrorsCarryDuckDBsClassAndMessage() throws {
        let c = try makeDatabase().connect()
        func errorType(_ sql: String) -> DuckDBErrorType? {
            do {
                try c.execute(sql)
                return nil
            } catch let e as DuckDBError {
                XCTAssertFalse(e.message.isEmpty)
                return e.type
            } catch {
                return nil
            }
        }
        XCTAssertEqual(errorType("SELEC 1"), .parser)
        XCTAssertEqual(errorType("SELECT * FROM no_such_table"), .catalog)
        XCTAssertEqual(errorType("SELECT no_such_column FROM range(1)"), .binder)
        XCTAssertEqual(errorType("SELECT 'abc'::INTEGER"), .conversion)
        try c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        try c.execute("INSERT INTO t VALUES (1, 1)")
        XCTAssertEqual(errorType("INSERT INTO t VALUES (1, 2)"), .constraint)
        XCTAssertEqual(errorType("INSERT INTO t VALUES (2, NULL)"), .constraint)
        // The connection is still usable after errors.
        XCTAssertEqual(try c.execute("INSERT INTO t VALUES (3, 3)"), 1)
        XCTAssertEqual(try c.execute("UPDATE t SET v = v + 1"), 2)
    }

    func testInterruptStopsALongQuery() throws {
        let c = try makeDatabase().connect()
        let started = Date()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { c.interrupt() }
        XCTAssertThrowsError(try c.execute("SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3")) { error in
            XCTAssertEqual((error as? DuckDBError)?.type, .interrupt, "\(error)")
        }
        // A hundred billion rows would take minutes; the interrupt ended it.
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
        // And the connection works afterwards.
        try c.execute("CREATE TABLE after_cancel (x INTEGER)")
        XCTAssertEqual(try c.execute("INSERT INTO after_cancel VALUES (1), (2)"), 2)
    }

    func testProgressIsReportedWhileAQueryRuns() throws {
        let c = try makeDatabase(DatabaseConfiguration(threads: 1)).connect()
        // Progress comes from table scans, so scan a real table slowly (md5 per row).
        try c.execute("CREATE TABLE big AS SELECT x FROM range(20000000) t(x)")
        let done = DispatchSemaphore(value: 0)
        let box = ProgressBox()
        let deadline = Date().addingTimeInterval(60)
        DispatchQueue.global().async {
            while done.wait(timeout: .now() + 0.05) == .timedOut {
                box.record(c.progress)
                // Stop as soon as progress was seen (or give up after a minute).
                if box.best.percentage > 0 || Date() > deadline { c.interrupt() }
            }
        }
        _ = try? c.execute("SELECT count(*) FROM big WHERE md5(x::VARCHAR) > 'a'")
        done.signal()
        XCTAssertGreaterThan(box.best.percentage, 0)
        XCTAssertLessThanOrEqual(box.best.percentage, 100)
        XCTAssertGreaterThan(box.best.rowsProcessed, 0)
    }

    func testManyConnectionsOnOneDatabaseConcurrently() async throws {
        let db = try makeDatabase()
        try db.connect().execute("CREATE TABLE numbers AS SELECT x FROM range(100000) t(x)")
        let sums = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
            for worker in 0..<8 {
                group.addTask {
                    let c = try db.connect()
                    var total: Int64 = 0
                    for round in 0..<10 {
                        let batch = try XCTUnwrap(try c.query(
                            "SELECT sum(x)::BIGINT FROM numbers WHERE x % 8 = $1", [.int64(Int64(worker))]
                        ).nextArrowBatch())
                        total += batch.columns[0].value(0, as: Int64.self)
                        try c.execute("CREATE TEMP TABLE scratch_\(round) AS SELECT \(worker) AS w")
                    }
                    return (worker, total)
                }
            }
            var out: [Int: Int64] = [:]
            for try await (w, t) in group { out[w] = t }
            return out
        }
        for worker in 0..<8 {
            let expected = stride(from: Int64(worker), to: 100_000, by: 8).reduce(0, +) * 10
            XCTAssertEqual(sums[worker], expected, "worker \(worker)")
        }
    }

    func testExtensionsLoadFromTheLocalFolderOnly() throws {
        let ext = DuckDBLibrary.defaultExtensionDirectory
        let db = try makeDatabase(DatabaseConfiguration(extensionDirectory: ext, extensions: ["tpch"]))
        let c = try db.connect()
        try c.execute("CALL dbgen(sf = 0)")
        XCTAssertNotNil(try c.query("SELECT count(*) FROM lineitem").nextArrowBatch())

        // Without the extension loaded, DuckDB must not try to fetch it.
        let bare = try makeDatabase(DatabaseConfiguration(extensionDirectory: "/nonexistent"))
        XCTAssertThrowsError(try bare.connect().execute("CALL dbgen(sf = 0)"))
        XCTAssertThrowsError(try makeDatabase(DatabaseConfiguration(extensionDirectory: "/nonexistent", extensions: ["tpch"]))) { error in
            XCTAssertEqual((error as? DuckDBError)?.type, .missingExtension)
        }
    }

    func testSeveralStatementsInOneString() throws {
        let c = try makeDatabase().connect()
        let list = try c.statements("CREATE TABLE s (x INTEGER); INSERT INTO s VALUES (1), (2); SELECT sum(x) FROM s")
        XCTAssertEqual(list.count, 3)
        var last: RecordBatch?
        for i in 0..<list.count {
            let r = try list.prepare(i).execute()
            while let b = try r.nextArrowBatch() { last = b }
        }
        let batch = try XCTUnwrap(last)
        XCTAssertEqual(batch.columns[0].fixedBytes(0).loadUnaligned(fromByteOffset: 0, as: Int64.self), 3)
        XCTAssertEqual(try c.statements("").count, 0)
    }
}

final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _best = QueryProgress(percentage: -1, rowsProcessed: 0, totalRowsToProcess: 0)
    func record(_ p: QueryProgress) {
        lock.lock()
        if p.percentage > _best.percentage { _best = p }
        lock.unlock()
    }
    var best: QueryProgress {
        lock.lock()
        defer { lock.unlock() }
        return _best
    }
}
