import DequeModule
import Foundation

/// Admission control: at most `slots` queries run at once; the rest wait in FIFO order, up
/// to `maxQueued`, beyond which new queries are refused at once. Wait times and the queue
/// depth are what the autoscaler watches.
public final class AdmissionController: @unchecked Sendable {
    public enum AdmissionError: Error, Sendable, Equatable {
        case queueFull(limit: Int)
        case cancelled
    }

    public struct Snapshot: Sendable, Equatable {
        public var slots: Int
        public var running: Int
        public var queued: Int
        public var admittedTotal: UInt64
        public var rejectedTotal: UInt64
        public var waitSecondsTotal: Double
        /// Age of the oldest waiting query, 0 if none waits.
        public var oldestWaitSeconds: Double
    }

    private struct Waiter {
        let ticket: AdmissionTicket
        let enqueued: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    public let slots: Int
    public let maxQueued: Int
    private let lock = NSLock()
    private var running = 0
    private var waiters = Deque<Waiter>()
    private var admittedTotal: UInt64 = 0
    private var rejectedTotal: UInt64 = 0
    private var waitSecondsTotal: Double = 0

    public init(slots: Int, maxQueued: Int) {
        precondition(slots > 0, "at least one slot")
        self.slots = slots
        self.maxQueued = max(0, maxQueued)
    }

    /// Waits for a slot. The returned lease must be released exactly once.
    public func acquire(_ ticket: AdmissionTicket) async throws -> SlotLease {
        let start = ContinuousClock.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            lock.lock()
            if ticket.isCancelled {
                lock.unlock()
                continuation.resume(throwing: AdmissionError.cancelled)
            } else if running < slots && waiters.isEmpty {
                running += 1
                admittedTotal += 1
                lock.unlock()
                continuation.resume()
            } else if waiters.count >= maxQueued {
                rejectedTotal += 1
                lock.unlock()
                continuation.resume(throwing: AdmissionError.queueFull(limit: maxQueued))
            } else {
                waiters.append(Waiter(ticket: ticket, enqueued: start, continuation: continuation))
                ticket.attach(self)
                lock.unlock()
            }
        }
        return SlotLease(controller: self, waited: ContinuousClock.now - start)
    }

    fileprivate func release() {
        lock.lock()
        if let next = waiters.popFirst() {
            // The slot passes straight to the oldest waiter.
            admittedTotal += 1
            waitSecondsTotal += (ContinuousClock.now - next.enqueued).seconds
            lock.unlock()
            next.continuation.resume()
        } else {
            running -= 1
            lock.unlock()
        }
    }

    /// Removes a waiting ticket from the queue (its acquire throws `.cancelled`).
    fileprivate func cancel(_ ticket: AdmissionTicket) {
        lock.lock()
        guard let index = waiters.firstIndex(where: { $0.ticket === ticket }) else {
            lock.unlock()
            return
        }
        let waiter = waiters.remove(at: index)
        waitSecondsTotal += (ContinuousClock.now - waiter.enqueued).seconds
        lock.unlock()
        waiter.continuation.resume(throwing: AdmissionError.cancelled)
    }

    public var snapshot: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        return Snapshot(
            slots: slots, running: running, queued: waiters.count, admittedTotal: admittedTotal,
            rejectedTotal: rejectedTotal, waitSecondsTotal: waitSecondsTotal,
            oldestWaitSeconds: waiters.first.map { (now - $0.enqueued).seconds } ?? 0)
    }
}

/// Identifies one query's place in the queue, so that a cancel can take it out.
public final class AdmissionTicket: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private weak var controller: AdmissionController?

    public init() {}

    var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    fileprivate func attach(_ controller: AdmissionController) {
        lock.lock()
        self.controller = controller
        lock.unlock()
    }

    /// Cancels the wait if the query is queued (no effect once it runs).
    public func cancel() {
        lock.lock()
        cancelled = true
        let controller = self.controller
        lock.unlock()
        controller?.cancel(self)
    }
}

/// A running query's hold on a slot.
public final class SlotLease: @unchecked Sendable {
    private let lock = NSLock()
    private var controller: AdmissionController?
    public let waited: Duration

    fileprivate init(controller: AdmissionController, waited: Duration) {
        self.controller = controller
        self.waited = waited
    }

    public func release() {
        lock.lock()
        let c = controller
        controller = nil
        lock.unlock()
        c?.release()
    }

    deinit { release() }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
