import TestSupport
import XCTest

@testable import Scheduler

/// The admission rules as plain values: no tasks, no clocks beyond instants made here.
final class AdmissionQueueTests: XCTestCase {
    let t0 = ContinuousClock.now

    func queue(slots: Int = 1, runningPerUser: Int? = nil, queued: Int = 100, queuedPerUser: Int? = nil,
               maxWait: Duration? = nil) -> AdmissionQueue {
        AdmissionQueue(limits: .init(slots: slots, runningPerUser: runningPerUser, queued: queued,
                                     queuedPerUser: queuedPerUser, maxWait: maxWait))
    }

    func testASlotIsTakenAtOnceWhenFree() {
        var q = queue(slots: 2)
        XCTAssertEqual(q.arrive(1, user: "a", now: t0), .admitted)
        XCTAssertEqual(q.arrive(2, user: "b", now: t0), .admitted)
        XCTAssertEqual(q.arrive(3, user: "a", now: t0), .queued)
        XCTAssertEqual(q.running, 2)
        XCTAssertEqual(q.queued, 1)
    }

    func testMoreSlotsAdmitWaitingQueriesAtOnceAndFewerTakeEffectAsQueriesEnd() {
        var q = queue(slots: 1)
        XCTAssertEqual(q.arrive(1, user: "a", now: t0), .admitted)
        XCTAssertEqual(q.arrive(2, user: "a", now: t0), .queued)
        XCTAssertEqual(q.arrive(3, user: "b", now: t0), .queued)
        // A worker joins: both waiters start (the per-user limit was "all slots", so it grows too).
        XCTAssertEqual(q.resize(slots: 3).map(\.id).sorted(), [2, 3])
        XCTAssertEqual(q.running, 3)
        // Two workers leave: nothing is stopped, but nothing new starts until below one.
        XCTAssertEqual(q.resize(slots: 1), [])
        XCTAssertEqual(q.arrive(4, user: "c", now: t0), .queued)
        XCTAssertEqual(q.finish(user: "a"), [])
        XCTAssertEqual(q.finish(user: "a"), [])
        XCTAssertEqual(q.finish(user: "b").map(\.id), [4])
    }

    func testAnExplicitPerUserLimitSurvivesAResize() {
        var q = queue(slots: 4, runningPerUser: 1)
        _ = q.resize(slots: 8)
        XCTAssertEqual(q.limits.runningPerUser, 1)
        XCTAssertEqual(q.limits.slots, 8)
        XCTAssertEqual(q.arrive(1, user: "a", now: t0), .admitted)
        XCTAssertEqual(q.arrive(2, user: "a", now: t0), .queued)
    }

    func testOneUsersBacklogDoesNotStarveAnother() {
        var q = queue(slots: 1, queued: 2000)
        XCTAssertEqual(q.arrive(0, user: "a", now: t0), .admitted)
        for id in 1...1000 { XCTAssertEqual(q.arrive(UInt64(id), user: "a", now: t0), .queued) }
        XCTAssertEqual(q.arrive(5000, user: "b", now: t0 + .seconds(1)), .queued)
        // a's running query ends: a's next is first in the rotation (a queued first)...
        XCTAssertEqual(q.finish(user: "a").map(\.id), [1])
        // ...and then b's one query, before the other 999 of a's.
        XCTAssertEqual(q.finish(user: "a").map(\.id), [5000])
        XCTAssertEqual(q.finish(user: "b").map(\.id), [2])
        XCTAssertEqual(q.queued, 998)
    }

    func testRoundRobinAcrossUsersFIFOWithinOne() {
        var q = queue(slots: 1)
        XCTAssertEqual(q.arrive(0, user: "x", now: t0), .admitted)
        for (id, user) in [(1, "a"), (2, "a"), (3, "b"), (4, "c"), (5, "a"), (6, "b")] {
            XCTAssertEqual(q.arrive(UInt64(id), user: user, now: t0), .queued)
        }
        var order: [AdmissionQueue.ID] = []
        var last = "x"
        while q.queued > 0 || q.running > 0 {
            let next = q.finish(user: last)
            guard let w = next.first else { break }
            order.append(w.id)
            last = w.user
        }
        XCTAssertEqual(order, [1, 3, 4, 2, 6, 5])
    }

    func testAUserAtItsRunningLimitLetsOthersRun() {
        var q = queue(slots: 3, runningPerUser: 2)
        XCTAssertEqual(q.arrive(1, user: "a", now: t0), .admitted)
        XCTAssertEqual(q.arrive(2, user: "a", now: t0), .admitted)
        XCTAssertEqual(q.arrive(3, user: "a", now: t0), .queued, "a holds its two slots; the third waits")
        XCTAssertEqual(q.arrive(4, user: "b", now: t0), .admitted, "the free slot goes to b")
        XCTAssertEqual(q.finish(user: "b"), [], "a's waiter may not take b's slot: a is at its limit")
        XCTAssertEqual(q.running, 2)
        XCTAssertEqual(q.finish(user: "a").map(\.id), [3])
        XCTAssertEqual(q.running(of: "a"), 2)
    }

    func testQueueLimitsRefuse() {
        var q = queue(slots: 1, queued: 3, queuedPerUser: 2)
        XCTAssertEqual(q.arrive(1, user: "a", now: t0), .admitted)
        XCTAssertEqual(q.arrive(2, user: "a", now: t0), .queued)
        XCTAssertEqual(q.arrive(3, user: "a", now: t0), .queued)
        XCTAssertEqual(q.arrive(4, user: "a", now: t0), .refused(.userQueueFull(limit: 2)))
        XCTAssertEqual(q.arrive(5, user: "b", now: t0), .queued)
        XCTAssertEqual(q.arrive(6, user: "c", now: t0), .refused(.queueFull(limit: 3)))
        XCTAssertEqual(q.queued, 3)
    }

    func testRemovedWaitersAreGoneAndUnknownIdsAreNil() {
        var q = queue(slots: 1)
        _ = q.arrive(1, user: "a", now: t0)
        _ = q.arrive(2, user: "b", now: t0)
        _ = q.arrive(3, user: "b", now: t0)
        XCTAssertEqual(q.remove(2)?.user, "b")
        XCTAssertNil(q.remove(2))
        XCTAssertNil(q.remove(1), "a running query is not in the queue")
        XCTAssertEqual(q.finish(user: "a").map(\.id), [3])
        XCTAssertEqual(q.queued, 0)
    }

    func testWaitersExpireAfterTheMaximumWaitOldestFirst() {
        var q = queue(slots: 1, maxWait: .seconds(30))
        _ = q.arrive(1, user: "a", now: t0)
        _ = q.arrive(2, user: "b", now: t0 + .seconds(1))
        _ = q.arrive(3, user: "a", now: t0 + .seconds(2))
        _ = q.arrive(4, user: "c", now: t0 + .seconds(20))
        XCTAssertEqual(q.expire(now: t0 + .seconds(30)), [])
        XCTAssertEqual(q.oldestEnqueued, t0 + .seconds(1))
        XCTAssertEqual(q.expire(now: t0 + .seconds(32)).map(\.id), [2, 3])
        XCTAssertEqual(q.queued, 1)
        XCTAssertEqual(q.finish(user: "a").map(\.id), [4])
        XCTAssertNil(q.oldestEnqueued)
    }

    func testNoWaitLimitMeansNoExpiry() {
        var q = queue(slots: 1)
        _ = q.arrive(1, user: "a", now: t0)
        _ = q.arrive(2, user: "a", now: t0)
        XCTAssertEqual(q.expire(now: t0 + .seconds(86_400)), [])
    }

    func testAFinishWithoutARunningQueryChangesNothing() {
        var q = queue(slots: 1)
        XCTAssertEqual(q.finish(user: "ghost"), [])
        XCTAssertEqual(q.running, 0)
        XCTAssertEqual(q.arrive(1, user: "a", now: t0), .admitted)
    }

    /// Seeded random arrivals, finishes, removals and expiries: the books always balance,
    /// no user runs beyond its limit, no slot stays free while someone who may run waits.
    func testRandomScheduleKeepsTheInvariants() {
        var rng = SplitMix(seed: 20261202)
        var q = queue(slots: 3, runningPerUser: 2, queued: 20, queuedPerUser: 8, maxWait: .seconds(10))
        let users = ["a", "b", "c", "d"]
        var running: [AdmissionQueue.ID: String] = [:]
        var waiting: Set<AdmissionQueue.ID> = []
        var now = t0
        for id in UInt64(1)...5000 {
            now = now + .milliseconds(Int.random(in: 0...500, using: &rng))
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let user = users.randomElement(using: &rng)!
                switch q.arrive(id, user: user, now: now) {
                case .admitted: running[id] = user
                case .queued: waiting.insert(id)
                case .refused: break
                }
            case 5..<8:
                guard let (done, user) = running.randomElement(using: &rng) else { continue }
                running[done] = nil
                for w in q.finish(user: user) {
                    XCTAssertNotNil(waiting.remove(w.id))
                    running[w.id] = w.user
                }
            case 8:
                guard let gone = waiting.randomElement(using: &rng) else { continue }
                XCTAssertNotNil(q.remove(gone))
                waiting.remove(gone)
            default:
                for w in q.expire(now: now) {
                    XCTAssertNotNil(waiting.remove(w.id))
                    XCTAssertGreaterThanOrEqual(now - w.enqueued, .seconds(10))
                }
            }
            XCTAssertEqual(q.running, running.count)
            XCTAssertEqual(q.queued, waiting.count)
            XCTAssertLessThanOrEqual(q.running, 3)
            for user in users {
                XCTAssertEqual(q.running(of: user), running.values.filter { $0 == user }.count)
                XCTAssertLessThanOrEqual(q.running(of: user), 2)
                if q.running < 3 && q.queued(of: user) > 0 {
                    XCTAssertEqual(q.running(of: user), 2, "a free slot while \(user) could run")
                }
            }
        }
    }
}
