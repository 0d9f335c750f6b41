import Arrow
import DuckDB
import Worker
import XCTest

final class ScratchTests: XCTestCase {
    func testScratchAbortedAppendInProcess() async throws {
        let worker = try makeEmbeddedWorker()
        let session = try await worker.openSession(SessionOptions(user: "u"))
        _ = try await session.run("CREATE TABLE t (v BIGINT)")
        let schema = Schema([Field("v", .int(bitWidth: 64, signed: true))])
        let batch = RecordBatch(schema: schema, columns: [Columns.int64([1, 2, 3])], length: 3)
        for round in 0..<5 {
            do {
                let load = try await session.loadArrow(ArrowLoadRequest(
                    catalog: nil, schema: nil, table: "t", temporary: false, ifExists: .append, ifMissing: .fail, arrowSchema: schema))
                try await load.append(batch)
                await load.abort()
            }
            try await Task.sleep(for: .milliseconds(100))
            let n = try await scalar(session, "SELECT count(*)::BIGINT FROM t")
            print("DEBUG round \(round) count \(n)")
        }
        await session.close()
        try await worker.shutdown()
    }
}
