/// The front door a session came through, as metrics label it.
public enum FrontDoor: String, Sendable, CaseIterable {
    case postgres
    case flight
}

/// What the server's metrics are told (the Scheduler knows nothing of how they are kept).
/// Calls come from many tasks at once and must not block.
public protocol SchedulerObserver: Sendable {
    /// A query got a slot after waiting this long (zero when one was free).
    func admitted(waited: Duration)
    /// A query got no slot: refused (queue full) or gave up after the maximum wait.
    func notAdmitted(timedOut: Bool)
    /// A statement ended: `error` nil when it succeeded; `rows` it produced.
    func statementEnded(door: FrontDoor, error: QueryError?, duration: Duration, rows: Int)
    /// A front door wrote these bytes of results and protocol to a client.
    func sent(door: FrontDoor, bytes: Int)
}
