import DequeModule
import Foundation
import Synchronization

/// Admission control: the rules of `AdmissionQueue` (slots, per-user limits, FIFO within a
/// user and round-robin across users, queue limits, a maximum wait) applied to queries that
/// wait as suspended tasks. Wait times and the queue depth are what the autoscaler watches.
public final class AdmissionController: Sendable {
    public enum AdmissionError: Error, Sendable, Equatable {
        case queueFull(limit: Int)
        case userQueueFull(limit: Int)
        /// Waited `limit` without getting a slot.
        case waitedTooLong(limit: Duration)
        case cancelled
    }

    public struct Snapshot: Sendable, Equatable {
        public var slots: Int
        public var running: Int
        public var queued: Int
        public var admittedTotal: UInt64
        public var rejectedTotal: UInt64
        /// Queries that gave up after the maximum wait.
        public var timedOutTotal: UInt64
        public var waitSecondsTotal: Double
        /// Age of the oldest waiting query, 0 if none waits.
        public var oldestWaitSeconds: Double
    }

    private struct Waiting {
        let ticket: AdmissionTicket
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// The queue's rules now (`resize` changes the slots).
    public var limits: AdmissionQueue.Limits { state.withLock { $0.queue.limits } }
    /// Told each wait that ended in a slot (the queue-wait histogram).
    let onAdmitted: (@Sendable (Duration) -> Void)?
    /// Told each query that got none (true: it waited the maximum wait).
    let onNotAdmitted: (@Sendable (Bool) -> Void)?
    public var slots: Int { limits.slots }
    public var maxQueued: Int { limits.queued }

    private struct State {
        var queue: AdmissionQueue
        var waiting: [AdmissionQueue.ID: Waiting] = [:]
        var nextID: AdmissionQueue.ID = 0
        var admittedTotal: UInt64 = 0
        var rejectedTotal: UInt64 = 0
        var timedOutTotal: UInt64 = 0
        var waitSecondsTotal: Double = 0
    }

    private let state: Mutex<State>

    public init(
        limits: AdmissionQueue.Limits, onAdmitted: (@Sendable (Duration) -> Void)? = nil,
        onNotAdmitted: (@Sendable (Bool) -> Void)? = nil
    ) {
        self.onAdmitted = onAdmitted
        self.onNotAdmitted = onNotAdmitted
        self.state = Mutex(State(queue: AdmissionQueue(limits: limits)))
    }

    public convenience init(slots: Int, maxQueued: Int) {
        self.init(limits: AdmissionQueue.Limits(slots: slots, queued: maxQueued))
    }

    /// Waits for a slot for `ticket.user`. The returned lease must be released exactly once.
    public func acquire(_ ticket: AdmissionTicket) async throws -> SlotLease {
        let start = ContinuousClock.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Outcome { case admitted, queued, refused(AdmissionError), cancelled }
            let outcome = state.withLock { s -> Outcome in
                if ticket.isCancelled { return .cancelled }
                s.nextID += 1
                let id = s.nextID
                switch s.queue.arrive(id, user: ticket.user, now: start) {
                case .admitted:
                    s.admittedTotal += 1
                    return .admitted
                case .refused(let refusal):
                    s.rejectedTotal += 1
                    switch refusal {
                    case .queueFull(let limit): return .refused(.queueFull(limit: limit))
                    case .userQueueFull(let limit): return .refused(.userQueueFull(limit: limit))
                    }
                case .queued:
                    ticket.id = id
                    s.waiting[id] = Waiting(ticket: ticket, continuation: continuation)
                    return .queued
                }
            }
            switch outcome {
            case .admitted: continuation.resume()
            case .refused(let error):
                onNotAdmitted?(false)
                continuation.resume(throwing: error)
            case .cancelled: continuation.resume(throwing: AdmissionError.cancelled)
            case .queued:
                ticket.attach(self)
                if let maxWait = limits.maxWait {
                    Task { [weak self] in
                        try? await Task.sleep(for: maxWait)
                        self?.expireWaiting()
                    }
                }
            }
        }
        let waited = ContinuousClock.now - start
        onAdmitted?(waited)
        return SlotLease(controller: self, user: ticket.user, waited: waited)
    }

    fileprivate func release(user: String) {
        let now = ContinuousClock.now
        let admitted = state.withLock { s -> [Waiting] in
            s.queue.finish(user: user).compactMap { waiter in
                s.admittedTotal += 1
                s.waitSecondsTotal += (now - waiter.enqueued).seconds
                return s.waiting.removeValue(forKey: waiter.id)
            }
        }
        for w in admitted { w.continuation.resume() }
    }

    /// Changes the number of slots; queries waiting for the new ones start now.
    public func resize(slots: Int) {
        let now = ContinuousClock.now
        let admitted = state.withLock { s -> [Waiting] in
            guard s.queue.limits.slots != max(1, slots) else { return [] }
            return s.queue.resize(slots: slots).compactMap { waiter in
                s.admittedTotal += 1
                s.waitSecondsTotal += (now - waiter.enqueued).seconds
                return s.waiting.removeValue(forKey: waiter.id)
            }
        }
        for w in admitted { w.continuation.resume() }
    }

    /// Removes a waiting ticket from the queue (its acquire throws `.cancelled`).
    fileprivate func cancel(_ ticket: AdmissionTicket) {
        let now = ContinuousClock.now
        let removed = state.withLock { s -> Waiting? in
            guard let id = ticket.id, let waiter = s.queue.remove(id) else { return nil }
            s.waitSecondsTotal += (now - waiter.enqueued).seconds
            return s.waiting.removeValue(forKey: id)
        }
        removed?.continuation.resume(throwing: AdmissionError.cancelled)
    }

    /// Fails the queries that have waited the maximum wait.
    func expireWaiting(now: ContinuousClock.Instant = .now) {
        guard let maxWait = limits.maxWait else { return }
        let expired = state.withLock { s -> [Waiting] in
            s.queue.expire(now: now).compactMap { waiter in
                s.timedOutTotal += 1
                s.waitSecondsTotal += (now - waiter.enqueued).seconds
                return s.waiting.removeValue(forKey: waiter.id)
            }
        }
        for w in expired {
            onNotAdmitted?(true)
            w.continuation.resume(throwing: AdmissionError.waitedTooLong(limit: maxWait))
        }
    }

    public var snapshot: Snapshot {
        state.withLock { s in
            let now = ContinuousClock.now
            return Snapshot(
                slots: s.queue.limits.slots, running: s.queue.running, queued: s.queue.queued, admittedTotal: s.admittedTotal,
                rejectedTotal: s.rejectedTotal, timedOutTotal: s.timedOutTotal, waitSecondsTotal: s.waitSecondsTotal,
                oldestWaitSeconds: s.queue.oldestEnqueued.map { (now - $0).seconds } ?? 0)
        }
    }
}

/// Identifies one query's place in the queue, so that a cancel can take it out.
public final class AdmissionTicket: Sendable {
    /// Whose query it is: the queue is fair across users.
    public let user: String
    private struct State {
        var cancelled = false
        var id: AdmissionQueue.ID?
        weak var controller: AdmissionController?
    }

    private let state = Mutex(State())

    public init(user: String = "") {
        self.user = user
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Its place in the queue, once queued.
    fileprivate(set) var id: AdmissionQueue.ID? {
        get { state.withLock { $0.id } }
        set { state.withLock { $0.id = newValue } }
    }

    fileprivate func attach(_ controller: AdmissionController) {
        let cancelledMeanwhile = state.withLock { s -> Bool in
            s.controller = controller
            return s.cancelled
        }
        // A cancel that came between queueing and attaching takes the ticket out now.
        if cancelledMeanwhile { controller.cancel(self) }
    }

    /// Cancels the wait if the query is queued (no effect once it runs).
    public func cancel() {
        let controller = state.withLock { s -> AdmissionController? in
            s.cancelled = true
            return s.controller
        }
        controller?.cancel(self)
    }
}

/// A running query's hold on a slot.
public final class SlotLease: Sendable {
    private let controller: Mutex<AdmissionController?>
    let user: String
    public let waited: Duration

    fileprivate init(controller: AdmissionController, user: String, waited: Duration) {
        self.controller = Mutex(controller)
        self.user = user
        self.waited = waited
    }

    /// Gives the slot back (once; later calls do nothing).
    public func release() {
        let c = controller.withLock { c -> AdmissionController? in
            defer { c = nil }
            return c
        }
        c?.release(user: user)
    }

    deinit { release() }
}

extension Duration {
    /// "30 s", "1.5 s": for messages.
    var formattedSeconds: String {
        let s = seconds
        return s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }

    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
