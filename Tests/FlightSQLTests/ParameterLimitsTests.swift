import Arrow
import Foundation
import XCTest

@testable import FlightSQL

/// Found by the arrow-ipc fuzz campaign (libFuzzer out-of-memory: an 8 GB allocation from a
/// 722-byte upload): a parameter batch's row count is the client's word, and with no columns
/// no buffer bounds it; binding allocated a row per claimed row.
final class ParameterLimitsTests: XCTestCase {
    func testARowCountNoBufferBoundsIsRefusedBeforeAllocating() throws {
        let huge = RecordBatch(schema: Schema([]), columns: [], length: 1_000_000_000)
        XCTAssertThrowsError(try ArrowParameters.rows(of: huge)) { error in
            XCTAssertTrue("\(error)".contains("at most 1000000"), "\(error)")
        }
        let fine = RecordBatch(schema: Schema([]), columns: [], length: 3)
        XCTAssertEqual(try ArrowParameters.rows(of: fine).count, 3)
        // The limit counts every batch of one DoPut, and an overflowing sum too.
        XCTAssertThrowsError(try ArrowParameters.rows(of: fine, before: ArrowParameters.maxRows - 2))
        XCTAssertThrowsError(try ArrowParameters.rows(of: fine, before: Int.max))
    }

    func testTheFuzzersInputIsRefused() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../fuzz/corpus/arrow-ipc/oom-parameter-rows").standardized.path
        var reader = try IPCStreamReader(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        var refused = false
        while let batch = try? reader.next() {
            do { _ = try ArrowParameters.rows(of: batch) } catch { refused = true }
        }
        XCTAssertTrue(refused, "the oversized batch must be refused, not bound")
    }
}
