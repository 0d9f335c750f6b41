import FlightProtocol
import Arrow
import DuckDB
import Foundation
import Logging
import Scheduler
import SwiftProtobuf
import Worker
import XCTest

@testable import FlightSQL

final class MetadataTests: XCTestCase {
    /// A session on an in-memory DuckDB of its own, with `ddl` run in it.
    func connection(_ ddl: [String] = []) async throws -> Session {
        let worker = try EmbeddedWorker(
            configuration: WorkerConfiguration(database: DatabaseConfiguration(), executionThreads: 2, parseThreads: 2,
                                               parseThreadsPerUser: 2, maxStatementBytes: 1 << 20),
            logger: Logger(label: "test"))
        let scheduler = Scheduler(worker: worker, slots: 2, maxQueued: 10, logger: Logger(label: "test"))
        let session = try await scheduler.openSession(user: "test", door: .postgres)
        for statement in ddl { try await session.run(statement) }
        return session
    }

    func rows(_ c: Session, _ command: Command) async throws -> [[String?]] {
        let (sql, params) = try Metadata.query(for: command)
        return try await Metadata.rows(c, "SELECT COLUMNS(*)::VARCHAR FROM (\(sql))", params)
    }

    // MARK: - Commands carry their fields

    func testKeyCommandsKeepTheirFields() throws {
        var cross = Arrow_Flight_Protocol_Sql_CommandGetCrossReference()
        cross.pkTable = "parent"
        cross.pkDbSchema = "s"
        cross.fkTable = "child"
        let decoded = try Command.decode(try Google_Protobuf_Any(message: cross).serializedData())
        guard case .crossReference(let c) = decoded else { return XCTFail("wrong command \(decoded)") }
        XCTAssertEqual([c.pkTable, c.pkDbSchema, c.fkTable], ["parent", "s", "child"])
        XCTAssertFalse(c.hasPkCatalog)
        XCTAssertFalse(c.hasFkDbSchema)

        var types = Arrow_Flight_Protocol_Sql_CommandGetXdbcTypeInfo()
        types.dataType = -5
        guard case .xdbcTypeInfo(let t) = try Command.decode(try Google_Protobuf_Any(message: types).serializedData())
        else { return XCTFail("wrong command") }
        XCTAssertEqual(t.dataType, -5)
    }

    // MARK: - Keys against DuckDB

    static let keysDDL = [
        "CREATE TABLE p (a INTEGER, b INTEGER, u VARCHAR UNIQUE, PRIMARY KEY (a, b))",
        "CREATE TABLE c (x INTEGER, y INTEGER, w VARCHAR REFERENCES P (U), FOREIGN KEY (x, y) REFERENCES p (a, b))",
    ]

    func testPrimaryKeysQuery() async throws {
        let c = try await connection(Self.keysDDL)
        var request = Arrow_Flight_Protocol_Sql_CommandGetPrimaryKeys()
        request.table = "p"
        let keys = try await rows(c, .primaryKeys(request))
        XCTAssertEqual(keys, [
            ["memory", "main", "p", "a", "p_a_b_pkey", "1"],
            ["memory", "main", "p", "b", "p_a_b_pkey", "2"],
        ])
        request.dbSchema = "elsewhere"
        let none = try await rows(c, .primaryKeys(request))
        XCTAssertEqual(none, [])
    }

    func testImportedKeysResolveTheReferencedNames() async throws {
        let c = try await connection(Self.keysDDL)
        var request = Arrow_Flight_Protocol_Sql_CommandGetImportedKeys()
        request.table = "c"
        // `REFERENCES P (U)` was written in upper case; the answer names the stored `p.u`.
        let imported = try await rows(c, .importedKeys(request))
        XCTAssertEqual(imported.map { [$0[2], $0[3], $0[7], $0[8], $0[10]] }, [
            ["p", "a", "x", "1", "p_a_b_pkey"],
            ["p", "b", "y", "2", "p_a_b_pkey"],
            ["p", "u", "w", "1", "p_u_key"],
        ])
    }

    // MARK: - XdbcTypeInfo

    func testXdbcTypesAreFilteredAndOrdered() throws {
        let known: Set<String> = ["BIGINT", "UBIGINT", "VARCHAR", "TIMESTAMP", "TIMESTAMP_NS", "INTEGER"]
        let all = Metadata.xdbcTypes(known: known, dataType: nil)
        XCTAssertEqual(all.map(\.name), ["BIGINT", "UBIGINT", "INTEGER", "VARCHAR", "TIMESTAMP", "TIMESTAMP_NS"])
        XCTAssertEqual(Metadata.xdbcTypes(known: known, dataType: 93).map(\.name), ["TIMESTAMP", "TIMESTAMP_NS"])
        let batch = Metadata.xdbcTypeInfo(all)
        let bytes = try IPCStreamWriter.serialize(schema: batch.schema, batches: [batch])
        var reader = try IPCStreamReader(bytes: bytes)
        XCTAssertEqual(reader.schema, Metadata.xdbcTypeInfoSchema)
        let back = try XCTUnwrap(try reader.next())
        XCTAssertEqual(back.length, 6)
        XCTAssertEqual((0..<6).map { back.columns[1].value($0, as: Int32.self) }, [-5, -5, 4, 12, 93, 93])
    }

    func testTableColumnsGetFlightSQLColumnMetadata() async throws {
        let session = try await connection(["CREATE TABLE t (id INTEGER NOT NULL, amount DECIMAL(12, 3), note VARCHAR)"])
        let schema = try await session.resultSchema("SELECT * FROM t LIMIT 0")
        let described = try await Metadata.describeColumns(schema, catalog: "memory", schema: "main", table: "t", session: session)
        func keys(_ i: Int) -> [String: String] {
            Dictionary(uniqueKeysWithValues: described.fields[i].metadata.map { ($0.key, $0.value) })
        }
        XCTAssertEqual(keys(0)["ARROW:FLIGHT:SQL:TYPE_NAME"], "INTEGER")
        XCTAssertEqual(keys(0)["ARROW:FLIGHT:SQL:TABLE_NAME"], "t")
        XCTAssertFalse(described.fields[0].nullable)
        XCTAssertEqual(keys(1)["ARROW:FLIGHT:SQL:TYPE_NAME"], "DECIMAL(12,3)")
        XCTAssertEqual([keys(1)["ARROW:FLIGHT:SQL:PRECISION"], keys(1)["ARROW:FLIGHT:SQL:SCALE"]], ["12", "3"])
        XCTAssertEqual(keys(2)["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"], "1")
        XCTAssertTrue(described.fields[2].nullable)
        // A table the catalog does not know leaves the schema as it was.
        let unknown = try await Metadata.describeColumns(schema, catalog: "memory", schema: "main", table: "nope", session: session)
        XCTAssertEqual(unknown, schema)
        session.close()
    }

    // MARK: - SqlInfo

    func vocabulary() -> EngineVocabulary {
        var v = EngineVocabulary()
        v.keywords = ["FROM", "SELECT"]
        v.numericFunctions = ["abs"]
        // SqlSupportsConvert: BOOLEAN is 2, BIGINT 0.
        v.casts = ["BOOLEAN": ["BIGINT", "BOOLEAN"], "BIGINT": ["BOOLEAN"]]
        return v
    }

    func testSqlInfoSkipsUnknownIdsAndKeepsTheRequestedOrder() {
        let all = Metadata.infoValues(serverVersion: "t", preparedTimeout: .seconds(60), vocabulary: vocabulary())
        let picked = Metadata.selectInfo([508, 9999, 0, 508], from: all)
        XCTAssertEqual(picked.map(\.0), [508, 0])
        XCTAssertEqual(picked.map(\.1), [.stringList(["FROM", "SELECT"]), .string("Tavana")])
        XCTAssertEqual(Metadata.selectInfo([], from: all).count, all.count)
        XCTAssertEqual(Set(all.map(\.0.rawValue)).count, all.count, "an id is listed twice")
        // Every id of the proto is answered except the Substrait versions (no Substrait).
        let missing = Set(Arrow_Flight_Protocol_Sql_SqlInfo.allCases).subtracting(all.map(\.0))
        XCTAssertEqual(missing, [.flightSqlServerSubstraitMinVersion, .flightSqlServerSubstraitMaxVersion])
    }

    func testSqlInfoUnionRoundTripsThroughIPC() throws {
        let batch = Metadata.sqlInfo([0, 508, 517, 100, 3], serverVersion: "t", preparedTimeout: .seconds(90),
                                     vocabulary: vocabulary())
        let bytes = try IPCStreamWriter.serialize(schema: batch.schema, batches: [batch])
        var reader = try IPCStreamReader(bytes: bytes)
        XCTAssertEqual(reader.schema, Metadata.sqlInfoSchema)
        let back = try XCTUnwrap(try reader.next())
        let union = back.columns[1]
        // A union has no validity buffer: buffers[0] holds the type ids.
        XCTAssertEqual((0..<5).map { union.buffers[0].load(at: $0, as: Int8.self) }, [0, 4, 5, 3, 1])
        // string_list: one row holding both keywords.
        let list = union.children[4]
        XCTAssertEqual(list.valueRange(0), 0..<2)
        XCTAssertEqual([list.children[0].string(0), list.children[0].string(1)], ["FROM", "SELECT"])
        // The map's keys come out sorted: 0 → [2], 2 → [0, 2].
        let map = union.children[5]
        XCTAssertEqual(map.valueRange(0), 0..<2)
        let entries = map.children[0]
        XCTAssertEqual([entries.children[0].value(0, as: Int32.self), entries.children[0].value(1, as: Int32.self)], [0, 2])
        XCTAssertEqual(entries.children[1].valueRange(1), 1..<3)
        // The statement timeout (int32) is the prepared-statement idle time in milliseconds.
        XCTAssertEqual(union.children[3].value(0, as: Int32.self), 90_000)
    }

    func testVocabularyIsReadFromDuckDB() async throws {
        let worker = try EmbeddedWorker(
            configuration: WorkerConfiguration(database: DatabaseConfiguration(), executionThreads: 2, parseThreads: 2,
                                               parseThreadsPerUser: 2, maxStatementBytes: 1 << 20),
            logger: Logger(label: "test"))
        let v = try await worker.vocabulary()
        let again = try await worker.vocabulary()
        XCTAssertEqual(v, again)
        XCTAssertTrue(v.keywords.contains("SELECT"))
        XCTAssertTrue(v.numericFunctions.contains("abs"))
        XCTAssertTrue(v.stringFunctions.contains("lower"))
        XCTAssertTrue(v.systemFunctions.contains("current_schema"))
        XCTAssertTrue(v.datetimeFunctions.contains("date_trunc"))
        XCTAssertTrue(v.typeNames.isSuperset(of: ["INTEGER", "VARCHAR", "TIMESTAMP WITH TIME ZONE"]))
        // Every type casts to VARCHAR (19); DATE (4) does not cast to INTEGER (7).
        let conversions = SupportsConvert.map(v)
        XCTAssertEqual(conversions.count, 20)
        XCTAssertTrue(conversions.values.allSatisfy { $0.contains(19) })
        XCTAssertFalse(try XCTUnwrap(conversions[4]).contains(7))
        XCTAssertTrue(try XCTUnwrap(conversions[7]).contains(0), "INTEGER casts to BIGINT")
    }
}
