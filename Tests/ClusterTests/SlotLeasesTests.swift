import TestSupport
import WorkerEndpoint
import XCTest

/// The division of a worker's slots among gateways, with plain values.
final class SlotLeasesTests: XCTestCase {
    let t0 = ContinuousClock.now

    func leases(_ slots: Int, ttl: Duration = .seconds(10)) -> SlotLeases {
        SlotLeases(slots: slots, ttl: ttl, worker: "w1")
    }

    func testAGatewayAloneHoldsEverySlotWhateverItWants() throws {
        var l = leases(4)
        XCTAssertEqual(try l.renew(gateway: "a", epoch: 1, wanted: 0, now: t0), 4)
        XCTAssertEqual(try l.renew(gateway: "a", epoch: 1, wanted: 1, now: t0), 4)
        XCTAssertEqual(try l.renew(gateway: "a", epoch: 1, wanted: 99, now: t0), 4)
    }

    func testTwoBusyGatewaysSplitTheSlotsAndNeverOverbook() throws {
        var l = leases(4)
        _ = try l.renew(gateway: "a", epoch: 1, wanted: 10, now: t0)
        _ = try l.renew(gateway: "b", epoch: 1, wanted: 10, now: t0)
        XCTAssertEqual(l.grants(), ["a": 2, "b": 2])
        var odd = leases(5)
        _ = try odd.renew(gateway: "a", epoch: 1, wanted: 10, now: t0)
        _ = try odd.renew(gateway: "b", epoch: 1, wanted: 10, now: t0)
        XCTAssertEqual(odd.grants().values.sorted(), [2, 3])
    }

    func testAnIdleGatewayLeavesItsShareToABusyOne() throws {
        var l = leases(4)
        _ = try l.renew(gateway: "busy", epoch: 1, wanted: 10, now: t0)
        XCTAssertEqual(try l.renew(gateway: "idle", epoch: 1, wanted: 0, now: t0), 0)
        XCTAssertEqual(l.grants(), ["busy": 4, "idle": 0])
        // It asks for one: it gets one, the busy one keeps the rest.
        XCTAssertEqual(try l.renew(gateway: "idle", epoch: 1, wanted: 1, now: t0), 1)
        XCTAssertEqual(l.grants()["busy"], 3)
    }

    func testMaxMinFairnessGivesSmallWantsInFull() throws {
        var l = leases(10)
        _ = try l.renew(gateway: "a", epoch: 1, wanted: 1, now: t0)
        _ = try l.renew(gateway: "b", epoch: 1, wanted: 3, now: t0)
        _ = try l.renew(gateway: "c", epoch: 1, wanted: 50, now: t0)
        XCTAssertEqual(l.grants(), ["a": 1, "b": 3, "c": 6])
    }

    func testSlotsNobodyWantsGoRoundSoTheSharesAlwaysAddUp() throws {
        var generator = SplitMix(seed: 0x5EED)
        for _ in 0..<500 {
            let slots = Int(generator.next() % 17)
            var l = leases(slots)
            let gateways = Int(generator.next() % 6) + 1
            for g in 0..<gateways {
                _ = try l.renew(gateway: "g\(g)", epoch: 1, wanted: Int(generator.next() % 20), now: t0)
            }
            let grants = l.grants()
            XCTAssertEqual(grants.values.reduce(0, +), slots, "\(grants) of \(slots)")
            XCTAssertTrue(grants.values.allSatisfy { $0 >= 0 })
        }
    }

    func testADeadGatewaysLeaseLapsesAndARestartedOnesOldEpochIsRefused() throws {
        var l = leases(4, ttl: .seconds(10))
        _ = try l.renew(gateway: "a", epoch: 1, wanted: 4, now: t0)
        _ = try l.renew(gateway: "b", epoch: 1, wanted: 4, now: t0)
        XCTAssertEqual(l.grants()["a"], 2)
        // b goes silent; after the TTL a holds everything again.
        XCTAssertEqual(try l.renew(gateway: "a", epoch: 1, wanted: 4, now: t0 + .seconds(11)), 4)
        XCTAssertEqual(l.holderCount, 1)
        // a restarts: the new epoch replaces its lease, the old one is refused.
        XCTAssertEqual(try l.renew(gateway: "a", epoch: 2, wanted: 4, now: t0 + .seconds(12)), 4)
        XCTAssertThrowsError(try l.renew(gateway: "a", epoch: 1, wanted: 4, now: t0 + .seconds(12))) { error in
            XCTAssertEqual(error as? SlotLeases.Refusal, .staleEpoch(newest: 2))
        }
        XCTAssertEqual(l.holderCount, 1)
    }

    func testADrainingWorkerGrantsNothing() throws {
        var l = leases(4)
        XCTAssertEqual(try l.renew(gateway: "a", epoch: 1, wanted: 4, now: t0, draining: true), 0)
    }

    func testTiesGoToDifferentGatewaysOnDifferentWorkers() throws {
        // Two idle gateways on workers of one slot: which one holds it depends on the worker,
        // so that over many workers each gateway holds some.
        var winners: [String: Int] = [:]
        for w in 0..<32 {
            var l = SlotLeases(slots: 1, ttl: .seconds(10), worker: "worker-\(w)")
            _ = try l.renew(gateway: "a", epoch: 1, wanted: 0, now: t0)
            _ = try l.renew(gateway: "b", epoch: 1, wanted: 0, now: t0)
            let winner = l.grants().first { $0.value == 1 }!.key
            winners[winner, default: 0] += 1
        }
        XCTAssertGreaterThan(winners["a"] ?? 0, 4, "\(winners)")
        XCTAssertGreaterThan(winners["b"] ?? 0, 4, "\(winners)")
    }
}
