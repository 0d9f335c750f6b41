import Prometheus
import Scheduler

/// A worker's own metrics (`tavana worker`'s `/metrics`): its slots and how many are busy,
/// statements waiting there for a slot, its sessions and whether it drains. Read when scraped.
public final class WorkerMetrics: Sendable {
    public struct Reading: Sendable {
        public var slots: AdmissionController.Snapshot
        public var sessions: Int
        public var draining: Bool
        public init(slots: AdmissionController.Snapshot, sessions: Int, draining: Bool) {
            self.slots = slots
            self.sessions = sessions
            self.draining = draining
        }
    }

    let registry: PrometheusCollectorRegistry
    let slots: Gauge
    let slotsUsed: Gauge
    let waiting: Gauge
    let sessions: Gauge
    let draining: Gauge
    let read: @Sendable () -> Reading

    public init(read: @escaping @Sendable () -> Reading) {
        self.read = read
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: TavanaMetrics.name(name, help))
        }
        slots = gauge("worker_slots", "Statements this worker runs at once.")
        slotsUsed = gauge("worker_slots_used", "Of those, running now.")
        waiting = gauge("worker_queue_depth", "Statements waiting on this worker for a slot.")
        sessions = gauge("sessions", "Gateway sessions open on this worker.")
        draining = gauge("worker_draining", "1 while the worker drains (takes no new sessions).")
    }

    public func exposition() -> [UInt8] {
        let r = read()
        slots.set(Double(r.slots.slots))
        slotsUsed.set(Double(r.slots.running))
        waiting.set(Double(r.slots.queued))
        sessions.set(Double(r.sessions))
        draining.set(r.draining ? 1.0 : 0.0)
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}
