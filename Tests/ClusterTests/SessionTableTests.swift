import TestSupport
import WorkerEndpoint
import XCTest

/// The worker's record of which gateway owns which session, tested with plain values: a
/// session is a name, and every instant is one base instant plus a duration.
final class SessionTableTests: XCTestCase {
    typealias Table = SessionTable<String>
    typealias Owner = Table.Owner

    let base = ContinuousClock.now
    func at(_ seconds: Int) -> ContinuousClock.Instant { base + .seconds(seconds) }

    let g1e1 = Owner(gatewayID: "g1", epoch: 1)
    let g1e2 = Owner(gatewayID: "g1", epoch: 2)
    let g1e3 = Owner(gatewayID: "g1", epoch: 3)
    let g2e1 = Owner(gatewayID: "g2", epoch: 1)

    /// The refusal `body` meets; nil if it meets none.
    func refusal(_ body: () throws -> Void) -> Table.Refusal? {
        do {
            try body()
            return nil
        } catch {
            XCTAssertTrue(error is Table.Refusal, "\(error)")
            return error as? Table.Refusal
        }
    }

    func testAGatewaysFirstCallIsAdmittedAndClosesNothing() throws {
        var table = Table(ttl: .seconds(10))
        XCTAssertEqual(try table.admit(g1e1, now: at(0)), [])
        XCTAssertEqual(try table.admit(g1e1, now: at(1)), [], "a repeated call of the same epoch closes nothing")
        XCTAssertEqual(table.count, 0)
    }

    func testACallThatNamesNoGatewayIsRefused() {
        var table = Table(ttl: .seconds(10))
        XCTAssertEqual(refusal { _ = try table.admit(Owner(gatewayID: "", epoch: 1), now: at(0)) }, .missingGateway)
    }

    func testASessionIsFoundOnlyByItsOwnGatewayAndEpoch() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        _ = try table.admit(g2e1, now: at(0))
        let a = table.add("a", owner: g1e1)
        let b = table.add("b", owner: g2e1)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(try table.session(a, owner: g1e1), "a")
        XCTAssertEqual(try table.session(b, owner: g2e1), "b")
        // Another gateway guessing an id learns nothing: the refusal is the same as for an
        // id that does not exist.
        XCTAssertEqual(refusal { _ = try table.session(a, owner: g2e1) }, .unknownSession(a))
        XCTAssertEqual(refusal { _ = try table.session(a, owner: g1e2) }, .unknownSession(a))
        XCTAssertEqual(refusal { _ = try table.session(999, owner: g1e1) }, .unknownSession(999))
    }

    func testAnOlderEpochIsRefusedAndNamesTheNewest() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e2, now: at(0))
        let s = table.add("s", owner: g1e2)
        XCTAssertEqual(refusal { _ = try table.admit(g1e1, now: at(1)) }, .staleEpoch(newest: 2))
        // The refusal leaves the current epoch's sessions alone.
        XCTAssertEqual(try table.session(s, owner: g1e2), "s")
        XCTAssertEqual(table.count, 1)
    }

    func testANewerEpochClosesTheOlderEpochsSessionsOfThatGatewayOnly() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        _ = try table.admit(g2e1, now: at(0))
        let a = table.add("a", owner: g1e1)
        let other = table.add("other gateway's", owner: g2e1)
        let b = table.add("b", owner: g1e1)

        // The restarted gateway's first call hands back what its earlier run left, in the
        // order the sessions were opened.
        XCTAssertEqual(try table.admit(g1e2, now: at(1)), ["a", "b"])
        XCTAssertEqual(refusal { _ = try table.session(a, owner: g1e1) }, .unknownSession(a))
        XCTAssertEqual(refusal { _ = try table.session(b, owner: g1e1) }, .unknownSession(b))
        XCTAssertEqual(try table.session(other, owner: g2e1), "other gateway's")
        XCTAssertEqual(table.count, 1)
        // ...once: later calls of the new epoch close nothing more.
        XCTAssertEqual(try table.admit(g1e2, now: at(2)), [])
        // And the old epoch, still talking, is now refused.
        XCTAssertEqual(refusal { _ = try table.admit(g1e1, now: at(3)) }, .staleEpoch(newest: 2))
    }

    func testAJumpOverSeveralEpochsClosesEveryOlderOne() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        _ = table.add("e1", owner: g1e1)
        _ = try table.admit(g1e2, now: at(0))
        _ = table.add("e2", owner: g1e2)
        XCTAssertEqual(try table.admit(g1e3, now: at(0)), ["e2"], "epoch 1's session was closed when epoch 2 arrived")
        XCTAssertEqual(table.count, 0)
    }

    func testRemoveTakesOnlyTheOwnersSessionAndOnlyOnce() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        let a = table.add("a", owner: g1e1)
        XCTAssertNil(table.remove(a, owner: g2e1), "another gateway cannot close it")
        XCTAssertNil(table.remove(a, owner: g1e2), "nor another epoch of its own gateway")
        XCTAssertEqual(table.count, 1)
        XCTAssertEqual(table.remove(a, owner: g1e1), "a")
        XCTAssertNil(table.remove(a, owner: g1e1), "a second close finds nothing")
        XCTAssertEqual(table.count, 0)
    }

    func testIDsAreNotReusedAfterASessionCloses() throws {
        // A gateway holding a stale id must never reach somebody else's new session.
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        let first = table.add("first", owner: g1e1)
        _ = table.remove(first, owner: g1e1)
        let second = table.add("second", owner: g1e1)
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(refusal { _ = try table.session(first, owner: g1e1) }, .unknownSession(first))
    }

    func testOnlyGatewaysSilentForLongerThanTheTTLExpire() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        _ = try table.admit(g2e1, now: at(8))
        _ = table.add("g1 a", owner: g1e1)
        let kept = table.add("g2", owner: g2e1)
        _ = table.add("g1 b", owner: g1e1)

        XCTAssertEqual(table.expire(now: at(10)), [], "silent for exactly the TTL is not yet too long")
        XCTAssertEqual(table.expire(now: at(11)), ["g1 a", "g1 b"])
        XCTAssertEqual(try table.session(kept, owner: g2e1), "g2")
        XCTAssertEqual(table.expire(now: at(18)), [])
        XCTAssertEqual(table.expire(now: at(19)), ["g2"])
        XCTAssertEqual(table.count, 0)
    }

    func testEveryCallIsASignOfLife() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        _ = table.add("s", owner: g1e1)
        _ = try table.admit(g1e1, now: at(9))
        XCTAssertEqual(table.expire(now: at(15)), [], "the call at 9 s keeps the session until 19 s")
        XCTAssertEqual(table.expire(now: at(20)), ["s"])
    }

    func testALateArrivingOlderInstantDoesNotShortenTheGatewaysLife() throws {
        // Calls run concurrently; one that took its instant earlier may be admitted later.
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(9))
        _ = table.add("s", owner: g1e1)
        _ = try table.admit(g1e1, now: at(0))
        XCTAssertEqual(table.expire(now: at(15)), [])
    }

    func testAnExpiredGatewayThatComesBackStartsAfresh() throws {
        // A gateway cut off for longer than the TTL has lost its sessions, but is served again.
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        let old = table.add("old", owner: g1e1)
        XCTAssertEqual(table.expire(now: at(30)), ["old"])
        XCTAssertEqual(try table.admit(g1e1, now: at(31)), [])
        XCTAssertEqual(refusal { _ = try table.session(old, owner: g1e1) }, .unknownSession(old))
        let new = table.add("new", owner: g1e1)
        XCTAssertEqual(try table.session(new, owner: g1e1), "new")
        XCTAssertEqual(table.expire(now: at(40)), [], "its new life counts from its return")
    }

    func testRemoveAllHandsBackEverySessionInOrder() throws {
        var table = Table(ttl: .seconds(10))
        _ = try table.admit(g1e1, now: at(0))
        _ = try table.admit(g2e1, now: at(0))
        _ = table.add("1", owner: g1e1)
        _ = table.add("2", owner: g2e1)
        _ = table.add("3", owner: g1e1)
        XCTAssertEqual(table.removeAll(), ["1", "2", "3"])
        XCTAssertEqual(table.count, 0)
        XCTAssertEqual(table.removeAll(), [])
    }

    /// Random calls from three gateways over a few epochs: every session opened is handed
    /// back (to be closed) exactly once, by whichever rule comes first, and a session is
    /// reachable exactly while it has not been handed back.
    func testEverySessionIsHandedBackExactlyOnce() throws {
        for seed in UInt64(1)...20 {
            var random = SplitMix(seed: seed)
            var table = SessionTable<Int>(ttl: .seconds(5))
            var clock = 0
            var live: [UInt64: (session: Int, owner: SessionTable<Int>.Owner)] = [:]
            var handedBack = Set<Int>()
            var opened = 0

            func takeBack(_ sessions: [Int], _ why: String) {
                for s in sessions {
                    XCTAssertTrue(handedBack.insert(s).inserted, "seed \(seed): session \(s) handed back twice (\(why))")
                }
                live = live.filter { !sessions.contains($0.value.session) }
            }

            for _ in 0..<400 {
                clock += Int.random(in: 0...2, using: &random)
                let now = base + .seconds(clock)
                let owner = SessionTable<Int>.Owner(
                    gatewayID: ["g1", "g2", "g3"].randomElement(using: &random)!, epoch: UInt64.random(in: 1...4, using: &random))
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<5:
                    do {
                        takeBack(try table.admit(owner, now: now), "admit")
                        XCTAssertFalse(
                            live.values.contains { $0.owner.gatewayID == owner.gatewayID && $0.owner.epoch < owner.epoch },
                            "seed \(seed): an older epoch's session outlived the newer epoch's first call")
                        opened += 1
                        let id = table.add(opened, owner: owner)
                        XCTAssertNil(live[id], "seed \(seed): id \(id) given twice")
                        live[id] = (opened, owner)
                    } catch .staleEpoch(let newest) {
                        XCTAssertLessThan(owner.epoch, newest)
                    } catch {
                        XCTFail("seed \(seed): \(error)")
                    }
                case 5..<8:
                    guard let (id, entry) = live.randomElement(using: &random) else { continue }
                    XCTAssertEqual(table.remove(id, owner: entry.owner), entry.session)
                    takeBack([entry.session], "remove")
                default:
                    takeBack(table.expire(now: now), "expire")
                }
                XCTAssertEqual(table.count, live.count, "seed \(seed)")
                for (id, entry) in live {
                    XCTAssertEqual(try table.session(id, owner: entry.owner), entry.session, "seed \(seed)")
                }
            }
            takeBack(table.removeAll(), "removeAll")
            XCTAssertEqual(handedBack.count, opened, "seed \(seed)")
            XCTAssertEqual(table.count, 0)
        }
    }
}
