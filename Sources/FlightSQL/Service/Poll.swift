import Arrow
import FlightProtocol
import Foundation
import GRPCCore
import Scheduler
import Synchronization

/// Queries started by PollFlightInfo that have not answered yet, by poll id. A client polls
/// again with the descriptor it was given until the FlightInfo is complete, or cancels.
final class PollRegistry: Sendable {
    final class Entry: Sendable {
        let owner: LeaseOwner
        let task: Task<Arrow_Flight_Protocol_FlightInfo, any Error>
        private let lastPolled: Mutex<ContinuousClock.Instant>

        init(owner: LeaseOwner, task: Task<Arrow_Flight_Protocol_FlightInfo, any Error>) {
            self.owner = owner
            self.task = task
            self.lastPolled = Mutex(.now)
        }

        func touch() { lastPolled.withLock { $0 = .now } }
        var idleSince: ContinuousClock.Instant { lastPolled.withLock { $0 } }
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// An unpolled query is cancelled after this long (the ticket lifetime).
    let lifetime: Duration

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    /// Our poll descriptors are command descriptors with this prefix and the poll id.
    static let prefix = Data("tavana.poll:".utf8)

    static func id(of descriptor: Arrow_Flight_Protocol_FlightDescriptor) -> String? {
        guard descriptor.type == .cmd, descriptor.cmd.starts(with: prefix) else { return nil }
        return String(decoding: descriptor.cmd.dropFirst(prefix.count), as: UTF8.self)
    }

    static func descriptor(_ id: String) -> Arrow_Flight_Protocol_FlightDescriptor {
        var d = Arrow_Flight_Protocol_FlightDescriptor()
        d.type = .cmd
        d.cmd = prefix + Data(id.utf8)
        return d
    }

    func add(_ entry: Entry) -> String {
        let id = TicketRegistry.newID()
        entries.withLock { $0[id] = entry }
        return id
    }

    /// The caller's entry (only its owner finds it).
    func entry(_ id: String, owner: LeaseOwner) -> Entry? {
        guard let e = entries.withLock({ $0[id] }), e.owner.user == owner.user else { return nil }
        e.touch()
        return e
    }

    func remove(_ id: String) { entries.withLock { _ = $0.removeValue(forKey: id) } }

    /// Cancels the query a poll id names; false when unknown or already answered.
    func cancel(_ id: String) -> Bool {
        guard let e = entries.withLock({ $0.removeValue(forKey: id) }) else { return false }
        e.task.cancel()
        return true
    }

    /// Cancels queries nobody polled within the lifetime.
    func expire(now: ContinuousClock.Instant = .now) {
        let old = entries.withLock { all -> [Entry] in
            let gone = all.filter { $0.value.idleSince + lifetime <= now }
            for k in gone.keys { all[k] = nil }
            return Array(gone.values)
        }
        for e in old { e.task.cancel() }
    }

    func cancelAll() {
        let all = entries.withLock { e -> [Entry] in
            defer { e = [:] }
            return Array(e.values)
        }
        for e in all { e.task.cancel() }
    }
}

/// PollFlightInfo: a query that does not answer at once is left running and the client
/// polls for it (ADBC's incremental execution), so it can also cancel it before its first
/// rows. A poll waits up to `pollWait` for the answer before saying "not yet".
extension FlightSQLService {
    static let pollWait: Duration = .milliseconds(200)

    func pollFlightInfo(
        request: Arrow_Flight_Protocol_FlightDescriptor,
        context: ServerContext
    ) async throws -> Arrow_Flight_Protocol_PollInfo {
        let owner = owner(context)
        do {
            let id: String
            let entry: PollRegistry.Entry
            if let pollID = PollRegistry.id(of: request) {
                guard let known = polls.entry(pollID, owner: owner) else {
                    throw RPCError(code: .notFound, message: "unknown, finished or expired poll")
                }
                (id, entry) = (pollID, known)
            } else {
                let command = try command(of: request)
                let service = self
                let task = Task { try await service.flightInfo(for: command, descriptor: request, owner: owner) }
                entry = PollRegistry.Entry(owner: owner, task: task)
                id = polls.add(entry)
            }
            // A client that gives up on a poll (its deadline, a cancel) gives up the query,
            // as with GetFlightInfo; one that polls again finds it still running.
            let polls = self.polls
            let answered = try await withTaskCancellationHandler {
                try await answer(entry, within: Self.pollWait)
            } onCancel: {
                _ = polls.cancel(id)
            }
            if let info = answered {
                polls.remove(id)
                var done = Arrow_Flight_Protocol_PollInfo()
                done.info = info
                done.progress = 1
                return done
            }
            // Not yet: the next poll names this query; CancelFlightInfo with this info finds it too.
            var pending = Arrow_Flight_Protocol_PollInfo()
            pending.info.flightDescriptor = PollRegistry.descriptor(id)
            pending.info.totalRecords = -1
            pending.info.totalBytes = -1
            pending.flightDescriptor = PollRegistry.descriptor(id)
            pending.expirationTime = .init(date: Date().addingTimeInterval(Double(polls.lifetime.components.seconds)))
            return pending
        } catch {
            throw logged(error, "PollFlightInfo")
        }
    }

    /// The query's FlightInfo if it is ready within `wait`; nil if not yet; its error if it
    /// failed. (The query goes on either way: a poll only stops waiting for it.)
    func answer(_ entry: PollRegistry.Entry, within wait: Duration) async throws -> Arrow_Flight_Protocol_FlightInfo? {
        let result: Result<Arrow_Flight_Protocol_FlightInfo, any Error>? = await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            let task = entry.task
            Task { once.resume(await task.result) }
            Task {
                try? await Task.sleep(for: wait)
                once.resume(nil)
            }
        }
        return try result?.get()
    }
}

/// Resumes a continuation with the first value it is given; later ones are dropped.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>

    init(_ continuation: CheckedContinuation<T, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: T) {
        let c = continuation.withLock { c -> CheckedContinuation<T, Never>? in
            defer { c = nil }
            return c
        }
        c?.resume(returning: value)
    }
}
