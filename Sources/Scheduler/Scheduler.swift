import Arrow
import DuckDB
import Foundation
import Logging
import Synchronization
import Worker

/// Opens sessions on a worker and admits their queries. In embedded mode there is one
/// in-process worker whose database every session shares; cluster mode puts a remote
/// worker behind the same `WorkerService` seam.
public final class Scheduler: Sendable {
    public let admission: AdmissionController
    let worker: any WorkerService
    public let sessions: SessionRegistry
    /// Metrics, when the server keeps them.
    public let observer: (any SchedulerObserver)?
    let logger: Logger

    public convenience init(worker: any WorkerService, slots: Int, maxQueued: Int, logger: Logger) {
        self.init(worker: worker, admission: AdmissionQueue.Limits(slots: slots, queued: maxQueued), logger: logger)
    }

    public init(
        worker: any WorkerService, admission limits: AdmissionQueue.Limits, observer: (any SchedulerObserver)? = nil,
        logger: Logger
    ) {
        self.worker = worker
        self.observer = observer
        var onAdmitted: (@Sendable (Duration) -> Void)?
        var onNotAdmitted: (@Sendable (Bool) -> Void)?
        if let observer {
            onAdmitted = { observer.admitted(waited: $0) }
            onNotAdmitted = { observer.notAdmitted(timedOut: $0) }
        }
        self.admission = AdmissionController(limits: limits, onAdmitted: onAdmitted, onNotAdmitted: onNotAdmitted)
        self.sessions = SessionRegistry()
        self.logger = logger
    }

    /// Opens a session for `user` (whom it counts against in the parse gate), running
    /// `setup` first; it is registered for cancellation until `close()`.
    public func openSession(user: String, setup: [String] = [], door: FrontDoor) async throws -> Session {
        let workerSession = try await worker.openSession(SessionOptions(user: user, setup: setup))
        let session = Session(worker: workerSession, admission: admission, registry: sessions, door: door, observer: observer)
        sessions.register(session)
        return session
    }

    /// What the worker's engine knows (keywords, functions, types, casts), for front doors
    /// that report it. The worker reads it once, outside the client queue.
    public func vocabulary() async throws -> EngineVocabulary {
        try await worker.vocabulary()
    }
}

/// Live sessions by cancel key (process id and secret).
public final class SessionRegistry: Sendable {
    private struct State {
        var sessions: [Int32: Session] = [:]
        var lastProcessID: Int32 = 1000
    }

    private let state = Mutex(State())

    func nextProcessID() -> Int32 {
        state.withLock { s in
            repeat {
                s.lastProcessID = s.lastProcessID == Int32.max ? 1001 : s.lastProcessID + 1
            } while s.sessions[s.lastProcessID] != nil
            return s.lastProcessID
        }
    }

    func register(_ session: Session) {
        state.withLock { $0.sessions[session.processID] = session }
    }

    func unregister(_ session: Session) {
        state.withLock { s in
            if s.sessions[session.processID] === session { s.sessions[session.processID] = nil }
        }
    }

    /// Cancels the session's query if the key matches; a wrong key does nothing. The
    /// secret is compared in constant time: the process id is public (BackendKeyData).
    @discardableResult
    public func cancel(processID: Int32, secretKey: Int32) -> Bool {
        guard let session = state.withLock({ $0.sessions[processID] }),
              constantTimeEqual(withUnsafeBytes(of: session.secretKey) { Array($0) }, withUnsafeBytes(of: secretKey) { Array($0) })
        else { return false }
        session.cancel()
        return true
    }

    public var count: Int { state.withLock { $0.sessions.count } }
}

