import DequeModule
import Synchronization

/// One session's turn on its DuckDB connection: a FIFO lock awaited asynchronously. DuckDB
/// runs one call per connection at a time; without this, concurrent calls of one session
/// (Flight calls in one transaction) would each hold a pool thread blocked on the
/// connection's own lock. Waiting happens here instead, on no thread at all.
final class SessionLock: Sendable {
    private struct State {
        var held = false
        var waiters = Deque<(id: UInt64, continuation: CheckedContinuation<Void, any Error>)>()
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Waits for the lock; throws `CancellationError` (without taking it) if the task is
    /// cancelled first. The holder calls `unlock()` exactly once.
    func lock() async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case taken, waiting, cancelled }
                let outcome = state.withLock { s -> Outcome in
                    if Task.isCancelled { return .cancelled }
                    if !s.held {
                        s.held = true
                        return .taken
                    }
                    s.waiters.append((id, continuation))
                    return .waiting
                }
                switch outcome {
                case .taken: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            let removed = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index).continuation
            }
            removed?.resume(throwing: CancellationError())
        }
    }

    /// Passes the lock to the next waiter, or frees it.
    func unlock() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if let first = s.waiters.popFirst() { return first.continuation }
            s.held = false
            return nil
        }
        next?.resume()
    }
}
