/// Which gateway owns each session on a worker, and when a gateway's sessions are orphans.
///
/// A plain value (events in, sessions to close out) so that its rules are tested with plain
/// values; `WorkerEndpoint` keeps it under a lock. Rules:
/// - every call names its gateway (id and epoch) and refreshes that gateway's last sign of
///   life, so heartbeats are just calls;
/// - a call with an older epoch than the newest seen of its gateway id is refused: it comes
///   from a gateway that has restarted since;
/// - the first call of a newer epoch closes the sessions of the older ones (they belonged
///   to the gateway before its restart);
/// - when a gateway shows no sign of life for the TTL, its sessions are closed.
public struct SessionTable<Session>: Sendable where Session: Sendable {
    public struct Owner: Hashable, Sendable {
        public var gatewayID: String
        public var epoch: UInt64
        public init(gatewayID: String, epoch: UInt64) {
            self.gatewayID = gatewayID
            self.epoch = epoch
        }
    }

    public enum Refusal: Error, Sendable, Equatable {
        /// The gateway has restarted since this epoch; newest is the epoch that replaced it.
        case staleEpoch(newest: UInt64)
        /// No session by that id belongs to this gateway (closed, expired, or never its own).
        case unknownSession(UInt64)
        case missingGateway
    }

    private struct Gateway: Sendable {
        var epoch: UInt64
        var lastSeen: ContinuousClock.Instant
    }

    private struct Entry: Sendable {
        var owner: Owner
        var session: Session
    }

    public let ttl: Duration
    private var gateways: [String: Gateway] = [:]
    private var entries: [UInt64: Entry] = [:]
    private var lastID: UInt64 = 0

    public init(ttl: Duration) {
        self.ttl = ttl
    }

    public var count: Int { entries.count }

    /// Notes a call from `owner` at `now`. Returns the sessions of the gateway's older epochs,
    /// which the caller closes.
    public mutating func admit(_ owner: Owner, now: ContinuousClock.Instant) throws(Refusal) -> [Session] {
        guard !owner.gatewayID.isEmpty else { throw .missingGateway }
        if let known = gateways[owner.gatewayID] {
            if owner.epoch < known.epoch { throw .staleEpoch(newest: known.epoch) }
            if owner.epoch == known.epoch {
                gateways[owner.gatewayID]!.lastSeen = max(known.lastSeen, now)
                return []
            }
        }
        gateways[owner.gatewayID] = Gateway(epoch: owner.epoch, lastSeen: now)
        return removeAll { $0.gatewayID == owner.gatewayID && $0.epoch < owner.epoch }
    }

    /// Registers a session of `owner` (admitted first) and names it.
    public mutating func add(_ session: Session, owner: Owner) -> UInt64 {
        lastID &+= 1
        entries[lastID] = Entry(owner: owner, session: session)
        return lastID
    }

    public func session(_ id: UInt64, owner: Owner) throws(Refusal) -> Session {
        guard let entry = entries[id], entry.owner == owner else { throw .unknownSession(id) }
        return entry.session
    }

    public mutating func remove(_ id: UInt64, owner: Owner) -> Session? {
        guard let entry = entries[id], entry.owner == owner else { return nil }
        entries[id] = nil
        return entry.session
    }

    /// The sessions of gateways silent for longer than the TTL, removed; the caller closes them.
    public mutating func expire(now: ContinuousClock.Instant) -> [Session] {
        let silent = Set(gateways.filter { now - $0.value.lastSeen > ttl }.keys)
        guard !silent.isEmpty else { return [] }
        for id in silent { gateways[id] = nil }
        return removeAll { silent.contains($0.gatewayID) }
    }

    /// Every session, removed (the worker is stopping).
    public mutating func removeAll() -> [Session] {
        removeAll { _ in true }
    }

    private mutating func removeAll(where matches: (Owner) -> Bool) -> [Session] {
        let ids = entries.filter { matches($0.value.owner) }.keys.sorted()
        return ids.compactMap { entries.removeValue(forKey: $0)?.session }
    }
}
