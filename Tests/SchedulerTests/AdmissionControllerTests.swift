import XCTest

@testable import Scheduler

final class AdmissionControllerTests: XCTestCase {
    func testAtMostSlotsRunAndWaitersAreServedInOrder() async throws {
        let admission = AdmissionController(slots: 1, maxQueued: 10)
        let first = try await admission.acquire(AdmissionTicket())
        let order = OrderLog()
        var tasks: [Task<Void, any Error>] = []
        for i in 0..<3 {
            tasks.append(Task {
                let lease = try await admission.acquire(AdmissionTicket())
                order.append(i)
                lease.release()
            })
            // Let each waiter enqueue before the next, so FIFO order is defined.
            while admission.snapshot.queued < i + 1 { await Task.yield() }
        }
        XCTAssertEqual(admission.snapshot.running, 1)
        XCTAssertEqual(admission.snapshot.queued, 3)
        XCTAssertTrue(order.values.isEmpty)
        first.release()
        for t in tasks { try await t.value }
        XCTAssertEqual(order.values, [0, 1, 2])
        XCTAssertEqual(admission.snapshot.running, 0)
        XCTAssertEqual(admission.snapshot.admittedTotal, 4)
        XCTAssertGreaterThan(admission.snapshot.waitSecondsTotal, 0)
    }

    func testFullQueueRefusesAtOnce() async throws {
        let admission = AdmissionController(slots: 1, maxQueued: 0)
        let lease = try await admission.acquire(AdmissionTicket())
        do {
            _ = try await admission.acquire(AdmissionTicket())
            XCTFail("expected queueFull")
        } catch let e as AdmissionController.AdmissionError {
            XCTAssertEqual(e, .queueFull(limit: 0))
        }
        XCTAssertEqual(admission.snapshot.rejectedTotal, 1)
        lease.release()
        lease.release()  // idempotent
        XCTAssertEqual(admission.snapshot.running, 0)
    }

    func testCancellingAWaiterTakesItOutOfTheQueue() async throws {
        let admission = AdmissionController(slots: 1, maxQueued: 5)
        let lease = try await admission.acquire(AdmissionTicket())
        let ticket = AdmissionTicket()
        let waiter = Task { try await admission.acquire(ticket) }
        while admission.snapshot.queued == 0 { await Task.yield() }
        ticket.cancel()
        do {
            _ = try await waiter.value
            XCTFail("expected cancelled")
        } catch let e as AdmissionController.AdmissionError {
            XCTAssertEqual(e, .cancelled)
        }
        XCTAssertEqual(admission.snapshot.queued, 0)
        lease.release()
        XCTAssertEqual(admission.snapshot.running, 0)
    }

    func testAnotherUsersQueryOvertakesABacklog() async throws {
        let admission = AdmissionController(slots: 1, maxQueued: 100)
        let first = try await admission.acquire(AdmissionTicket(user: "a"))
        let order = OrderLog()
        var tasks: [Task<Void, any Error>] = []
        for i in 0..<5 {
            let user = i < 4 ? "a" : "b"
            tasks.append(Task {
                let lease = try await admission.acquire(AdmissionTicket(user: user))
                order.append(i)
                lease.release()
            })
            while admission.snapshot.queued < i + 1 { await Task.yield() }
        }
        first.release()
        for t in tasks { try await t.value }
        // a's oldest, then b's only query, then the rest of a's.
        XCTAssertEqual(order.values, [0, 4, 1, 2, 3])
    }

    func testAQueryThatWaitsTooLongFailsWithTheWait() async throws {
        let admission = AdmissionController(limits: .init(slots: 1, queued: 10, maxWait: .milliseconds(200)))
        let lease = try await admission.acquire(AdmissionTicket(user: "a"))
        do {
            _ = try await admission.acquire(AdmissionTicket(user: "b"))
            XCTFail("expected waitedTooLong")
        } catch let e as AdmissionController.AdmissionError {
            XCTAssertEqual(e, .waitedTooLong(limit: .milliseconds(200)))
            XCTAssertEqual(QueryError.from(e)?.kind, .queueTimeout)
        }
        XCTAssertEqual(admission.snapshot.timedOutTotal, 1)
        XCTAssertEqual(admission.snapshot.queued, 0)
        lease.release()
        // The slot is free again: the next query runs at once.
        let next = try await admission.acquire(AdmissionTicket(user: "b"))
        next.release()
        XCTAssertEqual(admission.snapshot.running, 0)
    }
}

final class OrderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _values: [Int] = []
    func append(_ v: Int) { lock.withLock { _values.append(v) } }
    var values: [Int] { lock.withLock { _values } }
}
