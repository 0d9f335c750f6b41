import Logging
import Observability
import Scheduler
import WorkerTesting
import XCTest

/// The metrics the scheduler feeds, read back from the Prometheus exposition.
final class MetricsTests: XCTestCase {
    func value(_ text: String, _ series: String) -> Double? {
        for l in text.split(separator: "\n") where l.hasPrefix(series + " ") {
            return Double(l.dropFirst(series.count + 1))
        }
        return nil
    }

    func testStatementsAreCountedByDoorAndSQLStateClass() async throws {
        let metrics = TavanaMetrics()
        let worker = FakeWorker(["SELECT v": .integers("v", [1, 2, 3])])
        let scheduler = Scheduler(worker: worker, admission: .init(slots: 2, queued: 10), observer: metrics, logger: Logger(label: "t"))
        let session = try await scheduler.openSession(user: "a", door: .postgres)
        let result = try await session.execute(try await session.prepare("SELECT v"))
        while try await result.next() != nil {}
        do { _ = try await session.prepare("nonsense") } catch {}
        metrics.sent(door: .flight, bytes: 123)
        let text = String(decoding: metrics.exposition(scheduler: scheduler, workers: (healthy: 1, unhealthy: 0)), as: UTF8.self)
        XCTAssertEqual(value(text, #"tavana_queries_total{door="postgres",outcome="00"}"#), 1, text)
        XCTAssertEqual(value(text, #"tavana_queries_total{door="postgres",outcome="42"}"#), 1, "a parser error is class 42")
        XCTAssertEqual(value(text, #"tavana_rows_sent_total{door="postgres"}"#), 3)
        XCTAssertEqual(value(text, #"tavana_bytes_sent_total{door="flight"}"#), 123)
        XCTAssertEqual(value(text, "tavana_queue_wait_seconds_count"), 1)
        XCTAssertEqual(value(text, "tavana_worker_slots"), 2)
        XCTAssertEqual(value(text, "tavana_sessions"), 1)
        XCTAssertEqual(value(text, #"tavana_workers{state="healthy"}"#), 1)
        XCTAssertEqual(value(text, "tavana_queue_depth"), 0)
        XCTAssertTrue(text.contains("# TYPE tavana_query_duration_seconds histogram"), text)
        session.close()
    }

    func testRefusalsAndTimeoutsAreCounted() async throws {
        let metrics = TavanaMetrics()
        let scheduler = Scheduler(
            worker: FakeWorker(), admission: .init(slots: 1, queued: 1, maxWait: .milliseconds(100)), observer: metrics,
            logger: Logger(label: "t"))
        let held = try await scheduler.admission.acquire(AdmissionTicket(user: "a"))
        let waiter = Task { try await scheduler.admission.acquire(AdmissionTicket(user: "b")) }
        while scheduler.admission.snapshot.queued == 0 { await Task.yield() }
        do { _ = try await scheduler.admission.acquire(AdmissionTicket(user: "c")); XCTFail("the queue is full") } catch {}
        do { _ = try await waiter.value; XCTFail("expected the wait to end") } catch {}
        held.release()
        let text = String(decoding: metrics.exposition(scheduler: scheduler, workers: (healthy: 1, unhealthy: 0)), as: UTF8.self)
        XCTAssertEqual(value(text, "tavana_queue_rejected_total"), 1, text)
        XCTAssertEqual(value(text, "tavana_queue_timeouts_total"), 1, text)
    }

    func testOutcomeIsTheSQLStateClass() {
        XCTAssertEqual(TavanaMetrics.outcome(nil), "00")
        XCTAssertEqual(TavanaMetrics.outcome(QueryError(.queueTimeout, "m")), "53")
        XCTAssertEqual(TavanaMetrics.outcome(.cancelled), "57")
        XCTAssertEqual(TavanaMetrics.outcome(QueryError(.engine(.catalog), "Table with name x does not exist!")), "42")
    }

    func testReadinessNeedsEveryListenerAndEndsWithTheDrain() {
        let r = Readiness(required: ["postgres", "flight"])
        XCTAssertEqual(r.notReadyReason, "not listening yet: flight, postgres")
        r.listening("postgres")
        XCTAssertEqual(r.notReadyReason, "not listening yet: flight")
        r.listening("flight")
        XCTAssertNil(r.notReadyReason)
        r.draining()
        XCTAssertEqual(r.notReadyReason, "draining")
    }
}
