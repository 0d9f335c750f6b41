import DequeModule

/// The rules of admission as a value: which query runs when a slot frees, which waits, which
/// is refused. It holds plain values (ids, users, instants) and no continuations, so that
/// every rule is tested without tasks or clocks (`AdmissionQueueTests`); the
/// `AdmissionController` drives it and resumes the waiters it names.
///
/// - At most `limits.slots` queries run at once, and at most `limits.runningPerUser` of one
///   user's.
/// - Waiting queries are FIFO within a user and taken round-robin across users: one user's
///   thousand queued queries do not starve another user's one.
/// - At most `limits.queued` wait in all and `limits.queuedPerUser` for one user; beyond
///   that a query is refused at once.
/// - A query that has waited `limits.maxWait` is taken out of the queue (the controller
///   fails it with the wait in the message).
public struct AdmissionQueue: Sendable {
    public struct Limits: Sendable, Equatable {
        public var slots: Int
        public var runningPerUser: Int
        public var queued: Int
        public var queuedPerUser: Int
        /// nil: wait as long as it takes.
        public var maxWait: Duration?

        public init(slots: Int, runningPerUser: Int? = nil, queued: Int, queuedPerUser: Int? = nil, maxWait: Duration? = nil) {
            self.slots = max(1, slots)
            self.runningPerUser = max(1, min(runningPerUser ?? slots, slots))
            self.queued = max(0, queued)
            self.queuedPerUser = max(0, min(queuedPerUser ?? queued, queued))
            self.maxWait = maxWait
        }

        /// The same rules with `slots` slots. A per-user limit below the old slot count stays;
        /// one equal to it (all slots) follows the new count.
        public func resized(slots newSlots: Int) -> Limits {
            var l = self
            l.slots = max(1, newSlots)
            l.runningPerUser = runningPerUser >= slots ? l.slots : min(runningPerUser, l.slots)
            return l
        }
    }

    public typealias ID = UInt64

    public enum Arrival: Sendable, Equatable {
        case admitted
        case queued
        case refused(Refusal)
    }

    public enum Refusal: Sendable, Equatable {
        /// The queue holds `limit` queries.
        case queueFull(limit: Int)
        /// This user has `limit` queries waiting.
        case userQueueFull(limit: Int)
    }

    public struct Waiter: Sendable, Equatable {
        public let id: ID
        public let user: String
        public let enqueued: ContinuousClock.Instant
    }

    private(set) public var limits: Limits
    private(set) public var running = 0
    private var runningByUser: [String: Int] = [:]
    private var waitingByUser: [String: Deque<Waiter>] = [:]
    /// Users with waiting queries, in the order they will be served.
    private var rotation = Deque<String>()
    private(set) public var queued = 0

    public init(limits: Limits) {
        self.limits = limits
    }

    public func running(of user: String) -> Int { runningByUser[user] ?? 0 }
    public func queued(of user: String) -> Int { waitingByUser[user]?.count ?? 0 }

    /// The longest-waiting query's arrival, nil when none waits.
    public var oldestEnqueued: ContinuousClock.Instant? {
        waitingByUser.values.compactMap { $0.first?.enqueued }.min()
    }

    /// A query of `user` asks for a slot. It runs now if a slot is free, the user is under
    /// its running limit and has nobody waiting ahead; otherwise it queues if there is room.
    public mutating func arrive(_ id: ID, user: String, now: ContinuousClock.Instant) -> Arrival {
        if running < limits.slots && running(of: user) < limits.runningPerUser && queued(of: user) == 0 {
            start(user)
            return .admitted
        }
        if queued >= limits.queued { return .refused(.queueFull(limit: limits.queued)) }
        if queued(of: user) >= limits.queuedPerUser { return .refused(.userQueueFull(limit: limits.queuedPerUser)) }
        if waitingByUser[user, default: []].isEmpty { rotation.append(user) }
        waitingByUser[user, default: []].append(Waiter(id: id, user: user, enqueued: now))
        queued += 1
        return .queued
    }

    /// A query of `user` finished; returns the waiters that run now (in this order).
    public mutating func finish(user: String) -> [Waiter] {
        // A lease is released once (SlotLease makes sure); were the books ever off, the
        // slot is not given back twice rather than trapping.
        guard running > 0, running(of: user) > 0 else { return admitWaiting() }
        running -= 1
        runningByUser[user] = running(of: user) - 1
        if runningByUser[user] == 0 { runningByUser[user] = nil }
        return admitWaiting()
    }

    /// Takes a waiting query out (cancelled, or its client gone); nil when it is not waiting
    /// (it already runs, or was never queued).
    public mutating func remove(_ id: ID) -> Waiter? {
        for (user, waiters) in waitingByUser {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { continue }
            let waiter = waitingByUser[user]!.remove(at: index)
            dequeued(user)
            return waiter
        }
        return nil
    }

    /// Takes out every query that has waited `limits.maxWait` by `now`.
    public mutating func expire(now: ContinuousClock.Instant) -> [Waiter] {
        guard let maxWait = limits.maxWait else { return [] }
        var expired: [Waiter] = []
        for user in Array(waitingByUser.keys) {
            // FIFO within a user: the expired ones are at the front.
            while let first = waitingByUser[user]?.first, first.enqueued + maxWait <= now {
                waitingByUser[user]!.removeFirst()
                dequeued(user)
                expired.append(first)
            }
        }
        return expired.sorted { $0.enqueued < $1.enqueued }
    }

    private mutating func start(_ user: String) {
        running += 1
        runningByUser[user, default: 0] += 1
    }

    private mutating func dequeued(_ user: String) {
        queued -= 1
        if waitingByUser[user]?.isEmpty == true {
            waitingByUser[user] = nil
            rotation.removeAll { $0 == user }
        }
    }

    /// Changes the number of slots (cluster mode: the workers' slots as they come and go).
    /// Returns the queries that more slots admit now; fewer slots take effect as queries end.
    public mutating func resize(slots: Int) -> [Waiter] {
        limits = limits.resized(slots: slots)
        return admitWaiting()
    }

    /// Fills free slots from the queue: the first user in the rotation who may run another
    /// query gets its oldest waiter admitted and goes to the back of the rotation.
    private mutating func admitWaiting() -> [Waiter] {
        var admitted: [Waiter] = []
        while running < limits.slots,
              let index = rotation.firstIndex(where: { running(of: $0) < limits.runningPerUser }) {
            let user = rotation.remove(at: index)
            let waiter = waitingByUser[user]!.removeFirst()
            queued -= 1
            if waitingByUser[user]!.isEmpty {
                waitingByUser[user] = nil
            } else {
                rotation.append(user)
            }
            start(user)
            admitted.append(waiter)
        }
        return admitted
    }
}
