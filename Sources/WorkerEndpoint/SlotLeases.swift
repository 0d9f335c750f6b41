/// How a worker's query slots are shared among the gateways that call it.
///
/// Each gateway's heartbeat (Hello) renews its lease and says how many statements it would
/// like to run here now (its running plus waiting ones); the reply tells it how many slots it
/// holds until the next one. The gateway admits no more statements than it holds across its
/// workers, so several gateways in front of the same workers do not overbook them, and what
/// waits, waits in a gateway's fair queue (and shows in its queue metrics) rather than on a
/// worker.
///
/// The division, the same for the same inputs:
/// 1. max-min fair by want: a gateway that wants less than an equal share gets what it
///    wants, and the rest is shared equally among the others;
/// 2. slots nobody wants go round to every holder, so a gateway alone holds all of them
///    and an idle gateway's first statement need not wait for a heartbeat;
/// 3. ties (equal wants, the last odd slot) go by a stable hash of the worker and gateway
///    names, so that across many workers no one gateway wins every tie.
///
/// A lease lapses when its gateway has not renewed it for `ttl` (a gateway that died); a
/// newer epoch of a gateway replaces its lease at once and an older one is refused (a
/// restarted gateway's leftover lease counts for nothing). A draining worker grants nothing.
/// A plain value: `WorkerEndpoint` keeps it under a lock, tests drive it with plain values.
public struct SlotLeases: Sendable {
    public private(set) var slots: Int
    public let ttl: Duration
    /// Mixed into the tie-break hash: this worker's name.
    let worker: String

    private struct Holder: Sendable {
        var epoch: UInt64
        var wanted: Int
        var renewed: ContinuousClock.Instant
    }

    private var holders: [String: Holder] = [:]

    public init(slots: Int, ttl: Duration, worker: String) {
        self.slots = max(0, slots)
        self.ttl = ttl
        self.worker = worker
    }

    public enum Refusal: Error, Equatable {
        case staleEpoch(newest: UInt64)
    }

    /// Renews the lease of `gateway` at `epoch`, wanting `wanted` slots, and returns what it
    /// holds now.
    public mutating func renew(
        gateway: String, epoch: UInt64, wanted: Int, now: ContinuousClock.Instant, draining: Bool = false
    ) throws(Refusal) -> Int {
        if let known = holders[gateway], epoch < known.epoch { throw .staleEpoch(newest: known.epoch) }
        expire(now: now)
        holders[gateway] = Holder(epoch: epoch, wanted: min(max(0, wanted), slots), renewed: now)
        return draining ? 0 : grants()[gateway] ?? 0
    }

    /// Drops the leases not renewed within the TTL.
    public mutating func expire(now: ContinuousClock.Instant) {
        holders = holders.filter { now - $0.value.renewed <= ttl }
    }

    public mutating func resize(slots: Int) { self.slots = max(0, slots) }

    public var holderCount: Int { holders.count }

    /// Each holder's share of the slots; the shares add up to `slots` when anyone holds a lease.
    public func grants() -> [String: Int] {
        let order = holders.keys.sorted { (holders[$0]!.wanted, tieBreak($0)) < (holders[$1]!.wanted, tieBreak($1)) }
        var granted: [String: Int] = [:]
        var left = slots
        // Max-min fairness: the smallest wants first, each capped at an equal share of what
        // is left.
        for (index, id) in order.enumerated() {
            let share = left / (order.count - index)
            let g = min(holders[id]!.wanted, share)
            granted[id] = g
            left -= g
        }
        // What nobody wants: first to those who want more than they got (when equal shares
        // did not divide evenly), then round to everyone.
        for id in order.reversed() where left > 0 && granted[id]! < holders[id]!.wanted {
            granted[id]! += 1
            left -= 1
        }
        let byTie = holders.keys.sorted { tieBreak($0) < tieBreak($1) }
        while left > 0, !byTie.isEmpty {
            for id in byTie where left > 0 {
                granted[id]! += 1
                left -= 1
            }
        }
        return granted
    }

    /// FNV-1a of the worker's and the gateway's names: stable across processes (Swift's own
    /// hashing is seeded per process).
    func tieBreak(_ gateway: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in worker.utf8 + [0] + gateway.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
