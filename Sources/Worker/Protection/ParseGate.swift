import DequeModule
import Synchronization

/// Admission for the work DuckDB cannot interrupt: parsing, binding and planning a
/// statement. It runs on threads of its own (the parse pool), at most `total` at once and at
/// most `perUser` for any one user, so that one user's slow statements never hold every
/// thread that parses: another user's statement waits for at most one to finish. Waiters
/// are served in arrival order, skipping those whose user is at the limit.
public final class ParseGate: Sendable {
    public let total: Int
    public let perUser: Int

    private struct Waiter {
        let id: UInt64
        let user: String
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var active = 0
        var activeByUser: [String: Int] = [:]
        var waiters = Deque<Waiter>()
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init(total: Int, perUser: Int) {
        self.total = max(1, total)
        self.perUser = min(max(1, perUser), self.total)
    }

    /// A permit to parse; `release()` it exactly once when the parse is over.
    public struct Permit: Sendable {
        let gate: ParseGate
        let user: String
        public func release() { gate.release(user) }
    }

    /// Waits for a permit. Throws `CancellationError` if the task is cancelled while waiting.
    public func acquire(user: String) async throws -> Permit {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case admitted, waiting, cancelled }
                let outcome = state.withLock { s -> Outcome in
                    // Checked under the lock that `withdraw` takes, so a cancel either sees
                    // this waiter queued or is seen here.
                    if Task.isCancelled { return .cancelled }
                    // Waiters still queued are ones that cannot go now (`release` admits
                    // every one that can), so a caller that can go does not jump the queue.
                    if s.active < total, s.activeByUser[user, default: 0] < perUser {
                        s.active += 1
                        s.activeByUser[user, default: 0] += 1
                        return .admitted
                    }
                    s.waiters.append(Waiter(id: id, user: user, continuation: continuation))
                    return .waiting
                }
                switch outcome {
                case .admitted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            self.withdraw(id)
        }
        // Cancelled after being admitted: the permit is ours and must go back.
        if Task.isCancelled {
            release(user)
            throw CancellationError()
        }
        return Permit(gate: self, user: user)
    }

    /// Removes a waiter (its acquire throws CancellationError); nothing if already admitted.
    private func withdraw(_ id: UInt64) {
        let removed = state.withLock { s -> Waiter? in
            guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return s.waiters.remove(at: index)
        }
        removed?.continuation.resume(throwing: CancellationError())
    }

    private func release(_ user: String) {
        let next = state.withLock { s -> [Waiter] in
            s.active -= 1
            let left = s.activeByUser[user, default: 1] - 1
            s.activeByUser[user] = left > 0 ? left : nil
            var admitted: [Waiter] = []
            var index = s.waiters.startIndex
            while s.active < total, index < s.waiters.endIndex {
                let w = s.waiters[index]
                if s.activeByUser[w.user, default: 0] < perUser {
                    s.waiters.remove(at: index)
                    s.active += 1
                    s.activeByUser[w.user, default: 0] += 1
                    admitted.append(w)
                } else {
                    index += 1
                }
            }
            return admitted
        }
        for w in next { w.continuation.resume() }
    }

    public struct Snapshot: Sendable, Equatable {
        public var active: Int
        public var waiting: Int
    }

    public var snapshot: Snapshot {
        state.withLock { Snapshot(active: $0.active, waiting: $0.waiters.count) }
    }
}
