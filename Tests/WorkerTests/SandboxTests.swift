import DuckDB
import Foundation
import Logging
import XCTest

@testable import Worker

/// The sandbox's statement check with plain strings, its settings against a real DuckDB, and a
/// sandboxed in-process worker.
final class SandboxTests: XCTestCase {
    let sandbox = Sandbox(allowedDirectories: ["/srv/data"], allowsObjectStorageWrites: false, workingDirectory: "/work")

    func refusal(_ sql: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            try sandbox.check(sql)
            return nil
        } catch let e as DuckDBError {
            XCTAssertEqual(e.type, .permission, sql, file: file, line: line)
            return e.message
        } catch {
            XCTFail("\(sql): \(error)", file: file, line: line)
            return nil
        }
    }

    func testOrdinaryStatementsPass() {
        for sql in [
            "SELECT 1", "SELECT * FROM 's3://bucket/t.parquet'", "SELECT * FROM delta_scan('s3://bucket/table')",
            "CREATE TABLE t AS SELECT 42 AS query", "SELECT query FROM pg_stat_activity", "INSERT INTO t VALUES (1); SELECT 2",
            "SET TimeZone = 'Europe/Berlin'", "SET timezone TO 'UTC'", "SET SESSION search_path = 'main'",
            "SET schema = 'main'", "RESET TimeZone", "SET VARIABLE x = 42", "RESET VARIABLE x", "SET TIME ZONE 'UTC'",
            "SET \"TimeZone\" = 'UTC'", "PRAGMA table_info('t')", "PRAGMA show_tables", "PRAGMA version",
            "BEGIN", "COMMIT", "CHECKPOINT", "USE memory", "COPY t FROM '/srv/data/x.csv'", "COPY FROM DATABASE a TO b",
            "SELECT * FROM query('SELECT 42')", "SELECT * FROM query_table('t')", "SELECT 'enable_logging()'",
            "SELECT 'ATTACH' AS a", "EXPLAIN SELECT 1", "PREPARE p AS SELECT $1", "CREATE MACRO m(a) AS a + 1",
            "CREATE TEMP TABLE x (a INT)", "SELECT * FROM duckdb_secrets()", "SELECT * FROM duckdb_settings()",
            "UPDATE t SET a = 1", "DROP TABLE t", "SELECT \"set\" FROM t", "SELECT 12345678901234567890",
        ] {
            XCTAssertNil(refusal(sql), sql)
        }
    }

    func testSettingsEverySessionSharesAreRefused() {
        for sql in ["SET threads = 1", "SET memory_limit = '1GB'", "SET GLOBAL TimeZone = 'UTC'", "RESET threads",
                    "SET enable_external_access = true", "SET allowed_directories = ['/']", "SET lock_configuration = false",
                    "SET temp_directory = '/tmp'", "SET s3_endpoint = '169.254.169.254'", "SET disabled_filesystems = 'LocalFileSystem'",
                    "SET default_null_order = 'nulls_first'", "RESET ALL", "PRAGMA threads = 1", "PRAGMA memory_limit = '1GB'",
                    "SET \"threads\" = 1", "SET LOCAL threads = 1", "select 1; set threads = 1", "SET profiling_output = '/tmp/p'",
                    "SET allow_unredacted_secrets = true", "SET autoinstall_known_extensions = true"] {
            let message = refusal(sql)
            XCTAssertNotNil(message, sql)
        }
        XCTAssertEqual(refusal("SET threads = 1"),
                       "Permission Error: permission denied to set parameter \"threads\": it is not a per-session setting; sessions may set "
                       + Sandbox.sessionSettings.joined(separator: ", ") + " (Tavana's sandbox)")
    }

    func testServerWideStatementsAreRefused() {
        let expected: [(String, String)] = [
            ("INSTALL httpfs", "INSTALL: extensions"), ("LOAD httpfs", "LOAD: extensions"), ("FORCE INSTALL x", "FORCE INSTALL"),
            ("UPDATE EXTENSIONS", "UPDATE EXTENSIONS"), ("ATTACH '/etc/x.db' AS x", "ATTACH"), ("ATTACH ':memory:' AS m", "ATTACH"),
            ("DETACH lake", "DETACH"), ("CREATE SECRET s (TYPE s3)", "CREATE SECRET"),
            ("CREATE OR REPLACE PERSISTENT SECRET s (TYPE s3)", "CREATE SECRET"), ("DROP SECRET tavana_s3", "DROP SECRET"),
            ("DROP TEMPORARY SECRET tavana_s3", "DROP SECRET"), ("IMPORT DATABASE 's3://b/dump'", "IMPORT DATABASE"),
            ("FORCE CHECKPOINT", "FORCE CHECKPOINT"), ("PRAGMA enable_profiling", "enable_profiling"), ("PRAGMA disable_optimizer", "PRAGMA disable_optimizer"),
            ("CALL enable_logging()", "enable_logging"), ("SELECT * FROM duckdb_logs", "duckdb_logs"),
            ("CALL \"enable_logging\"(storage := 'file')", "enable_logging"), ("SELECT * FROM system.main.duckdb_logs", "duckdb_logs"),
            ("CALL enable_object_cache()", "enable_object_cache"), ("CALL load_aws_credentials()", "load_aws_credentials"),
            ("SELECT * FROM postgres_query('x', 'DROP TABLE y')", "postgres_query"),
            ("SELECT * FROM json_execute_serialized_sql('{}')", "json_execute_serialized_sql"),
            ("CALL ducklake_expire_snapshots('lake', older_than => now())", "ducklake_expire_snapshots"),
            ("SELECT * FROM __ducklake_metadata_lake.public.ducklake_snapshot", "metadata database"),
            ("DELETE FROM \"__ducklake_metadata_lake\".ducklake_table", "metadata database"),
            ("SELECT * FROM query('SELECT * FROM enable_logging()')", "enable_logging"),
            ("SELECT * FROM query('SELECT * FROM ' || 'x')", "one string constant"),
            ("SELECT * FROM query_table('__ducklake_metadata_lake.ducklake_table')", "metadata database"),
            ("SELECT * FROM query(x)", "one string constant"),
            ("EXPLAIN ANALYZE CALL enable_logging()", "enable_logging"), ("PREPARE p AS CALL enable_logging()", "enable_logging"),
            ("CREATE VIEW v AS SELECT * FROM duckdb_logs", "duckdb_logs"),
        ]
        for (sql, fragment) in expected {
            guard let message = refusal(sql) else { XCTFail("not refused: \(sql)"); continue }
            XCTAssertTrue(message.contains(fragment), "\(sql): \(message)")
        }
    }

    func testWritesGoToObjectStorageOnlyAndOnlyWhenAllowed() {
        for sql in ["COPY t TO '/tmp/x.csv'", "COPY (SELECT 1) TO 'x.parquet' (FORMAT parquet)", "COPY t TO '/srv/data/x.csv'",
                    "EXPORT DATABASE '/tmp/dump'", "EXPORT DATABASE memory TO '/tmp/dump'", "COPY t TO STDOUT",
                    "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/y.csv'", "COPY t TO 'file:///etc/x'"] {
            guard let message = refusal(sql) else { XCTFail("not refused: \(sql)"); continue }
            XCTAssertTrue(message.contains("COPY TO") || message.contains("EXPORT DATABASE"), message)
        }
        XCTAssertTrue(refusal("COPY t TO 's3://bucket/t.parquet'")?.contains("objectStorageWrites") ?? false)
        let writer = Sandbox(allowsObjectStorageWrites: true)
        XCTAssertNoThrow(try writer.check("COPY t TO 's3://bucket/t.parquet' (FORMAT parquet)"))
        XCTAssertNoThrow(try writer.check("COPY (SELECT 1 AS a) TO 'gs://bucket/a.csv'"))
        XCTAssertNoThrow(try writer.check("EXPORT DATABASE 'az://container/dump'"))
        XCTAssertThrowsError(try writer.check("COPY t TO '/tmp/t.parquet'"))
    }

    func testFoldersResolveAsDuckDBComparesThem() {
        let s = Sandbox(allowedDirectories: ["examples/data", "/srv/a/../b", "/srv/c/", "https://data.example/"], workingDirectory: "/work")
        XCTAssertEqual(s.allowedDirectories, ["/work/examples/data/", "/srv/b/", "/srv/c/", "https://data.example/"])
        let statements = s.databaseStatements(alsoAllowing: ["/spool/x"])
        XCTAssertEqual(statements.last, "SET enable_external_access = false")
        XCTAssertTrue(statements[0].hasPrefix("SET allowed_directories = ['s3://', "), statements[0])
        XCTAssertTrue(statements[0].hasSuffix("'/work/examples/data/', '/srv/b/', '/srv/c/', 'https://data.example/', '/spool/x/']"), statements[0])
    }

    /// DuckDB decides which settings are per-session, not Tavana: each allowed one must stay
    /// in the session that sets it (most of DuckDB's settings apply to every session).
    func testEveryAllowedSettingStaysInItsSession() throws {
        let values: [String: String] = [
            "TimeZone": "'Asia/Tokyo'", "Calendar": "'japanese'", "search_path": "'main,system'", "schema": "'other'",
            "integer_division": "true", "errors_as_json": "true", "ordered_aggregate_threshold": "1000",
            "explain_output": "'all'", "scalar_subquery_error_on_multiple_rows": "false", "ieee_floating_point_ops": "false",
            "late_materialization_max_rows": "7",
        ]
        XCTAssertEqual(Set(values.keys), Set(Sandbox.sessionSettings), "a sample value for every allowed setting")
        let database = try Database(DatabaseConfiguration())
        let setter = try database.connect()
        let other = try database.connect()
        _ = try setter.execute("CREATE SCHEMA other")
        func setting(_ c: Connection, _ name: String) throws -> String? {
            try VocabularyLoader.strings(c, "SELECT current_setting('\(name)')::VARCHAR").first?.first ?? nil
        }
        for name in Sandbox.sessionSettings {
            let before = try setting(other, name)
            _ = try setter.execute("SET \(name) = \(values[name]!)")
            XCTAssertNotEqual(try setting(setter, name), before, "\(name): the sample value changes it")
            XCTAssertEqual(try setting(other, name), before, "\(name) leaked into another session")
        }
    }

    func makeWorker(allowed: [String]) throws -> EmbeddedWorker {
        var configuration = WorkerConfiguration(
            database: DatabaseConfiguration(), executionThreads: 2, parseThreads: 2, parseThreadsPerUser: 1, maxStatementBytes: 1 << 20)
        configuration.sandbox = Sandbox(allowedDirectories: allowed)
        return try EmbeddedWorker(configuration: configuration, logger: Logger(label: "test"))
    }

    func testASandboxedWorkerReadsOnlyWhatIsAllowed() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)")
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID().uuidString).csv")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder); try? FileManager.default.removeItem(at: outside) }
        try "a\n1\n2\n".write(to: folder.appendingPathComponent("in.csv"), atomically: true, encoding: .utf8)
        try "a\n3\n".write(to: outside, atomically: true, encoding: .utf8)
        let worker = try makeWorker(allowed: [folder.path])
        let session = try await worker.openEmbeddedSession(SessionOptions(user: "a"))
        _ = try await session.run("CREATE TABLE t AS SELECT * FROM '\(folder.path)/in.csv'")
        for sql in ["SELECT * FROM '\(outside.path)'", "SELECT * FROM read_text('/etc/passwd')",
                    "SELECT * FROM read_text('\(folder.path)/../\(outside.lastPathComponent)')",
                    "SELECT * FROM glob('/etc/*')", "SELECT * FROM read_text('http://127.0.0.1:1/x')",
                    "SET threads = 1", "COPY t TO '\(folder.path)/out.csv'", "ATTACH '\(folder.path)/x.db' AS x"] {
            do {
                _ = try await session.run(sql)
                XCTFail("not refused: \(sql)")
            } catch let e as DuckDBError {
                XCTAssertEqual(e.type, .permission, "\(sql): \(e.message)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out.csv").path))
        _ = try await session.run("SET TimeZone = 'Europe/Berlin'")
        // COPY FROM STDIN still loads through the sandbox's private spool folder.
        let load = try await session.loadCSV(CSVLoadRequest(
            table: "t", columns: [], header: false, delimiter: UInt8(ascii: ","), quote: UInt8(ascii: "\""),
            escape: UInt8(ascii: "\""), null: ""))
        try await load.write(Array("4\n5\n".utf8))
        let loaded = try await load.finish()
        XCTAssertEqual(loaded, 2)
        XCTAssertTrue(worker.spoolDirectory.contains("tavana-spool-"), worker.spoolDirectory)
        try await worker.shutdown()
        XCTAssertFalse(FileManager.default.fileExists(atPath: worker.spoolDirectory), "the spool folder goes with the worker")
    }
}

