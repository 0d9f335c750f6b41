import DequeModule
import Foundation
import Synchronization

/// Admission control: at most `slots` queries run at once; the rest wait in FIFO order, up
/// to `maxQueued`, beyond which new queries are refused at once. Wait times and the queue
/// depth are what the autoscaler watches.
public final class AdmissionController: Sendable {
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

    private struct State {
        var running = 0
        var waiters = Deque<Waiter>()
        var admittedTotal: UInt64 = 0
        var rejectedTotal: UInt64 = 0
        var waitSecondsTotal: Double = 0
    }

    private let state = Mutex(State())

    public init(slots: Int, maxQueued: Int) {
        precondition(slots > 0, "at least one slot")
        self.slots = slots
        self.maxQueued = max(0, maxQueued)
    }

    /// Waits for a slot. The returned lease must be released exactly once.
    public func acquire(_ ticket: AdmissionTicket) async throws -> SlotLease {
        let start = ContinuousClock.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Outcome { case admitted, queued, full, cancelled }
            let outcome = state.withLock { s -> Outcome in
                if ticket.isCancelled { return .cancelled }
                if s.running < slots && s.waiters.isEmpty {
                    s.running += 1
                    s.admittedTotal += 1
                    return .admitted
                }
                if s.waiters.count >= maxQueued {
                    s.rejectedTotal += 1
                    return .full
                }
                s.waiters.append(Waiter(ticket: ticket, enqueued: start, continuation: continuation))
                return .queued
            }
            switch outcome {
            case .admitted: continuation.resume()
            case .full: continuation.resume(throwing: AdmissionError.queueFull(limit: maxQueued))
            case .cancelled: continuation.resume(throwing: AdmissionError.cancelled)
            case .queued: ticket.attach(self)
            }
        }
        return SlotLease(controller: self, waited: ContinuousClock.now - start)
    }

    fileprivate func release() {
        let next = state.withLock { s -> Waiter? in
            if let next = s.waiters.popFirst() {
                // The slot passes straight to the oldest waiter.
                s.admittedTotal += 1
                s.waitSecondsTotal += (ContinuousClock.now - next.enqueued).seconds
                return next
            }
            s.running -= 1
            return nil
        }
        next?.continuation.resume()
    }

    /// Removes a waiting ticket from the queue (its acquire throws `.cancelled`).
    fileprivate func cancel(_ ticket: AdmissionTicket) {
        let removed = state.withLock { s -> Waiter? in
            guard let index = s.waiters.firstIndex(where: { $0.ticket === ticket }) else { return nil }
            let waiter = s.waiters.remove(at: index)
            s.waitSecondsTotal += (ContinuousClock.now - waiter.enqueued).seconds
            return waiter
        }
        removed?.continuation.resume(throwing: AdmissionError.cancelled)
    }

    public var snapshot: Snapshot {
        state.withLock { s in
            let now = ContinuousClock.now
            return Snapshot(
                slots: slots, running: s.running, queued: s.waiters.count, admittedTotal: s.admittedTotal,
                rejectedTotal: s.rejectedTotal, waitSecondsTotal: s.waitSecondsTotal,
                oldestWaitSeconds: s.waiters.first.map { (now - $0.enqueued).seconds } ?? 0)
        }
    }
}

/// Identifies one query's place in the queue, so that a cancel can take it out.
public final class AdmissionTicket: Sendable {
    private struct State {
        var cancelled = false
        weak var controller: AdmissionController?
    }

    private let state = Mutex(State())

    public init() {}

    var isCancelled: Bool { state.withLock { $0.cancelled } }

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
    public let waited: Duration

    fileprivate init(controller: AdmissionController, waited: Duration) {
        self.controller = Mutex(controller)
        self.waited = waited
    }

    public func release() {
        let c = controller.withLock { c -> AdmissionController? in
            defer { c = nil }
            return c
        }
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
