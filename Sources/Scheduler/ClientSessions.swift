import Synchronization

/// Sessions a client keeps across calls under a name of its choosing: the Flight SQL session
/// cookie. A Flight client's statements otherwise each run in a session of their own; one
/// that holds a session cookie gets its temporary tables, settings, catalog and schema from
/// one statement to the next (and in cluster mode that session stays on its worker while it
/// holds such state, as a PostgreSQL session does).
///
/// A session belongs to the user who opened it; another user's call with the same name finds
/// nothing. A session idle for `idleLifetime` is closed, and so is every session at shutdown.
/// How many may be open is bounded per user and in all, so a client that mints names cannot
/// exhaust the server: one more is RESOURCE_EXHAUSTED (53300).
public final class ClientSessions: Sendable {
    public struct Limits: Sendable, Equatable {
        public var perUser: Int
        public var total: Int
        public init(perUser: Int = 64, total: Int = 4096) {
            self.perUser = perUser
            self.total = total
        }
    }

    private struct Entry {
        let session: Session
        let user: String
        var lastUsed: ContinuousClock.Instant
        /// The client has come back with the name: it keeps cookies. Until then the session
        /// lives only `unconfirmedLifetime` (a client without cookies that sets an option
        /// opens a session it can never reach again).
        var confirmed: Bool
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let scheduler: Scheduler
    let door: FrontDoor
    public let idleLifetime: Duration
    public let unconfirmedLifetime: Duration
    public let limits: Limits

    public init(scheduler: Scheduler, idleLifetime: Duration, unconfirmedLifetime: Duration = .seconds(60),
                door: FrontDoor = .flight, limits: Limits = Limits()) {
        self.scheduler = scheduler
        self.idleLifetime = idleLifetime
        self.unconfirmedLifetime = unconfirmedLifetime
        self.door = door
        self.limits = limits
    }

    /// The caller's open session `name`, which the client sent back; using it keeps it from
    /// idling out.
    public func session(_ name: String, user: String, now: ContinuousClock.Instant = .now) -> Session? {
        entries.withLock { e in
            guard let entry = e[name], entry.user == user else { return nil }
            e[name]!.lastUsed = now
            e[name]!.confirmed = true
            return entry.session
        }
    }

    /// The caller's session `name`, opened if it is not open yet. `sentByClient`: the name
    /// came from the client's cookie (else the server just handed it out).
    public func open(_ name: String, user: String, sentByClient: Bool = true,
                     now: ContinuousClock.Instant = .now) async throws -> Session {
        if sentByClient, let open = session(name, user: user, now: now) { return open }
        let refusal = entries.withLock { e -> QueryError? in
            if e[name] != nil { return Self.taken }
            if e.count >= limits.total {
                return QueryError(.queueFull(limit: limits.total), "too many client sessions are open (\(limits.total))")
            }
            if e.values.filter({ $0.user == user }).count >= limits.perUser {
                return QueryError(.queueFull(limit: limits.perUser),
                                  "user \(user) has \(limits.perUser) client sessions open already; close one (CloseSession)")
            }
            return nil
        }
        if let refusal { throw refusal }
        let fresh = try await scheduler.openSession(user: user, door: door)
        // Another call opened it meanwhile: keep that one.
        let kept = entries.withLock { e -> Session in
            if let raced = e[name] { return raced.session }
            e[name] = Entry(session: fresh, user: user, lastUsed: now, confirmed: sentByClient)
            return fresh
        }
        if kept !== fresh { fresh.close() }
        guard entries.withLock({ $0[name]?.user == user }) else { throw Self.taken }
        return kept
    }

    /// Closes the caller's session `name`; false when it has none by that name.
    @discardableResult
    public func close(_ name: String, user: String) -> Bool {
        let taken = entries.withLock { e -> Session? in
            guard let entry = e[name], entry.user == user else { return nil }
            e[name] = nil
            return entry.session
        }
        taken?.close()
        return taken != nil
    }

    /// Closes sessions idle for longer than `idleLifetime`; returns how many.
    @discardableResult
    public func expire(now: ContinuousClock.Instant = .now) -> Int {
        let idle = idleLifetime, unconfirmed = unconfirmedLifetime
        let old = entries.withLock { e -> [Session] in
            let names = e.filter { $0.value.lastUsed + ($0.value.confirmed ? idle : unconfirmed) <= now }.map(\.key)
            return names.compactMap { e.removeValue(forKey: $0)?.session }
        }
        for session in old { session.close() }
        return old.count
    }

    public func closeAll() {
        let all = entries.withLock { e -> [Session] in
            defer { e = [:] }
            return e.values.map(\.session)
        }
        for session in all { session.close() }
    }

    public var count: Int { entries.withLock { $0.count } }

    static let taken = QueryError(.unknownHandle, "that session belongs to another user")
}
