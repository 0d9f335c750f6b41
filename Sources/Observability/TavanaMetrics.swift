import Foundation
import PostgresWire
import Prometheus
import Scheduler
import Synchronization

/// Tavana's metrics in Prometheus form: what the scheduler reports as it happens (waits,
/// statements, bytes) plus what is read from it when scraped (queue depth, slots, sessions).
/// The names are what the Helm chart's HorizontalPodAutoscaler scales on; docs/metrics.md
/// lists each.
public final class TavanaMetrics: SchedulerObserver {
    public let registry: PrometheusCollectorRegistry

    /// Wait and run times: from a millisecond to the longest a query may wait.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]

    let queueDepth: Gauge
    let queueOldestWait: Gauge
    let queueWait: DurationHistogram
    let queueRejected: Counter
    let queueTimedOut: Counter
    let running: Gauge
    let slots: Gauge
    let slotsUsed: Gauge
    let workersHealthy: Gauge
    let workersUnhealthy: Gauge
    let sessions: Gauge
    let queryDuration: [FrontDoor: DurationHistogram]
    let rowsSent: [FrontDoor: Counter]
    let bytesSent: [FrontDoor: Counter]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: Self.name(name, help), labels: labels)
        }
        queueDepth = gauge("queue_depth", "Queries waiting for a slot.")
        queueOldestWait = gauge("queue_oldest_wait_seconds", "How long the longest-waiting query has waited.")
        queueWait = registry.makeDurationHistogram(
            descriptor: Self.name("queue_wait_seconds", "Time queries waited for a slot."), labels: [],
            buckets: Self.durationBuckets)
        queueRejected = registry.makeCounter(
            descriptor: Self.counter("queue_rejected", "Queries refused because the queue was full."), labels: [])
        queueTimedOut = registry.makeCounter(
            descriptor: Self.counter("queue_timeouts", "Queries that gave up after the maximum queue wait."), labels: [])
        running = gauge("queries_running", "Queries holding a slot now.")
        slots = gauge("worker_slots", "Query slots of all workers.")
        slotsUsed = gauge("worker_slots_used", "Query slots in use.")
        workersHealthy = gauge("workers", "Workers by health.", [("state", "healthy")])
        workersUnhealthy = gauge("workers", "Workers by health.", [("state", "unhealthy")])
        sessions = gauge("sessions", "Client sessions open now.")
        var durations: [FrontDoor: DurationHistogram] = [:]
        var rows: [FrontDoor: Counter] = [:]
        var bytes: [FrontDoor: Counter] = [:]
        for door in FrontDoor.allCases {
            let label = [("door", door.rawValue)]
            durations[door] = registry.makeDurationHistogram(
                descriptor: Self.name("query_duration_seconds", "Statement run time, from its start (queue wait included) to its end."),
                labels: label, buckets: Self.durationBuckets)
            rows[door] = registry.makeCounter(descriptor: Self.counter("rows_sent", "Result rows sent to clients."), labels: label)
            bytes[door] = registry.makeCounter(descriptor: Self.counter("bytes_sent", "Bytes sent to clients."), labels: label)
        }
        queryDuration = durations
        rowsSent = rows
        bytesSent = bytes
    }

    static func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
        // The unit is part of `metric` already (queue_wait_seconds); empty parts are left out.
        MetricNameDescriptor(namespace: "tavana", metricName: metric, unitName: "", helpText: help)
    }

    static func counter(_ metric: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "tavana", metricName: metric, unitName: "total", helpText: help)
    }

    /// The SQLSTATE class a statement ended with: "00" for success, as PostgreSQL clients
    /// see it; Flight's statements are classed the same way (the two renderings agree).
    public static func outcome(_ error: QueryError?) -> String {
        guard let error else { return "00" }
        return String(ErrorTranslation.sqlState(error).prefix(2))
    }

    // MARK: SchedulerObserver

    public func admitted(waited: Duration) {
        queueWait.record(waited)
    }

    public func notAdmitted(timedOut: Bool) {
        (timedOut ? queueTimedOut : queueRejected).increment()
    }

    public func statementEnded(door: FrontDoor, error: QueryError?, duration: Duration, rows: Int) {
        // Created on first use per outcome; the registry hands back the same counter after.
        registry.makeCounter(descriptor: Self.counter("queries", "Statements that ended, by front door and SQLSTATE class."),
                             labels: [("door", door.rawValue), ("outcome", Self.outcome(error))]).increment()
        queryDuration[door]?.record(duration)
        if rows > 0 { rowsSent[door]?.increment(by: Int64(rows)) }
    }

    public func sent(door: FrontDoor, bytes: Int) {
        bytesSent[door]?.increment(by: Int64(bytes))
    }

    // MARK: Scrape

    /// The Prometheus text exposition, with the gauges read from `scheduler` first.
    public func exposition(scheduler: Scheduler, workers: (healthy: Int, unhealthy: Int)) -> [UInt8] {
        let s = scheduler.admission.snapshot
        queueDepth.set(Double(s.queued))
        queueOldestWait.set(s.oldestWaitSeconds)
        running.set(Double(s.running))
        slots.set(Double(s.slots))
        slotsUsed.set(Double(s.running))
        workersHealthy.set(Double(workers.healthy))
        workersUnhealthy.set(Double(workers.unhealthy))
        sessions.set(Double(scheduler.sessions.count))
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}
