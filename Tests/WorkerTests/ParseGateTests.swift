import Synchronization
import XCTest

@testable import Worker

final class ParseGateTests: XCTestCase {
    func testOneUserCannotTakeEveryPermit() async throws {
        let gate = ParseGate(total: 3, perUser: 2)
        let a1 = try await gate.acquire(user: "a")
        let a2 = try await gate.acquire(user: "a")
        // A third permit for "a" waits, although one is free...
        let third = Task { try await gate.acquire(user: "a") }
        while gate.snapshot.waiting < 1 { await Task.yield() }
        // ...and "b" gets it at once.
        let b = try await gate.acquire(user: "b")
        XCTAssertEqual(gate.snapshot, .init(active: 3, waiting: 1))
        a1.release()
        let a3 = try await third.value
        XCTAssertEqual(gate.snapshot, .init(active: 3, waiting: 0))
        for p in [a2, a3, b] { p.release() }
        XCTAssertEqual(gate.snapshot, .init(active: 0, waiting: 0))
    }

    func testWaitersAreServedInOrderSkippingUsersAtTheirLimit() async throws {
        let gate = ParseGate(total: 1, perUser: 1)
        let first = try await gate.acquire(user: "a")
        let order = OrderLog()
        var tasks: [Task<Void, any Error>] = []
        for user in ["b", "c", "d"] {
            tasks.append(Task {
                let p = try await gate.acquire(user: user)
                order.append(user)
                p.release()
            })
            let expected = tasks.count
            while gate.snapshot.waiting < expected { await Task.yield() }
        }
        first.release()
        for t in tasks { try await t.value }
        XCTAssertEqual(order.values, ["b", "c", "d"])
    }

    func testCancelledWaiterLeavesTheQueue() async throws {
        let gate = ParseGate(total: 1, perUser: 1)
        let held = try await gate.acquire(user: "a")
        let waiter = Task { try await gate.acquire(user: "b") }
        while gate.snapshot.waiting < 1 { await Task.yield() }
        waiter.cancel()
        do {
            _ = try await waiter.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        XCTAssertEqual(gate.snapshot, .init(active: 1, waiting: 0))
        held.release()
        let next = try await gate.acquire(user: "b")
        next.release()
        XCTAssertEqual(gate.snapshot.active, 0)
    }
}

final class SessionLockTests: XCTestCase {
    func testTurnsAreTakenInOrderAndCancelledWaitersLeave() async throws {
        let lock = SessionLock()
        try await lock.lock()
        let order = OrderLog()
        let cancelled = Task { try await lock.lock() }
        let waiting = Task {
            try await lock.lock()
            order.append("2")
            lock.unlock()
        }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        do {
            try await cancelled.value
            XCTFail("expected CancellationError")
        } catch is CancellationError {}
        order.append("1")
        lock.unlock()
        try await waiting.value
        XCTAssertEqual(order.values, ["1", "2"])
        try await lock.lock()
        lock.unlock()
    }
}

final class OrderLog: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ s: String) { storage.withLock { $0.append(s) } }
    var values: [String] { storage.withLock { $0 } }
}
