import Foundation

/// What the container (its cgroup) lets this process use. Kubernetes enforces a pod's
/// `resources.limits` this way; DuckDB's own defaults look at the machine instead (80% of its
/// RAM, one thread per host core), which in a container means the kernel's OOM killer and
/// CPU throttling instead of DuckDB spilling and pacing itself.
public struct ContainerLimits: Sendable, Equatable {
    /// Bytes; nil when unlimited.
    public var memoryBytes: UInt64?
    /// CPUs (quota / period); nil when unlimited.
    public var cpus: Double?

    public init(memoryBytes: UInt64? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
    }

    /// Reads cgroup v2 (`memory.max`, `cpu.max`) or, failing that, v1
    /// (`memory/memory.limit_in_bytes`, `cpu/cpu.cfs_quota_us` and `cpu.cfs_period_us`)
    /// under `root`, in this process's own cgroup (from `/proc/self/cgroup`) when that
    /// exists below `root`, else at `root` itself (a container's cgroup namespace puts its
    /// own cgroup there). Files that are missing or unreadable mean no limit.
    public static func read(root: String = "/sys/fs/cgroup", selfCgroup: String = "/proc/self/cgroup") -> ContainerLimits {
        let paths = (try? String(contentsOfFile: selfCgroup, encoding: .utf8)).map(parseSelfCgroup) ?? [:]
        func file(_ controller: String?, _ name: String) -> String? {
            let base = controller.map { "\(root)/\($0)" } ?? root
            // v2 lists its one hierarchy as "0::/path"; v1 one line per controller.
            let own = paths[controller ?? ""].map { "\(base)\($0)/\(name)" }
            for path in [own, "\(base)/\(name)"].compactMap({ $0 }) {
                if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                    return text.trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            return nil
        }
        var limits = ContainerLimits()
        if let max = file(nil, "memory.max") {
            limits.memoryBytes = parseMemory(max)
        } else if let v1 = file("memory", "memory.limit_in_bytes") {
            limits.memoryBytes = parseMemory(v1)
        }
        if let max = file(nil, "cpu.max") {
            let parts = max.split(separator: " ")
            if parts.count == 2 { limits.cpus = parseCPUs(quota: String(parts[0]), period: String(parts[1])) }
        } else if let quota = file("cpu", "cpu.cfs_quota_us"), let period = file("cpu", "cpu.cfs_period_us") {
            limits.cpus = parseCPUs(quota: quota, period: period)
        }
        return limits
    }

    /// `/proc/self/cgroup` lines "id:controllers:path" → controller → path ("" for v2).
    static func parseSelfCgroup(_ text: String) -> [String: String] {
        var paths: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2] != "/" else { continue }
            for controller in fields[1].split(separator: ",", omittingEmptySubsequences: false) {
                paths[String(controller)] = String(fields[2])
            }
        }
        return paths
    }

    /// "max", v1's "unlimited" (a page-rounded Int64.max), or bytes.
    static func parseMemory(_ text: String) -> UInt64? {
        guard let bytes = UInt64(text), bytes > 0, bytes < (1 << 62) else { return nil }
        return bytes
    }

    /// v2 "max" or v1 "-1" quota is no limit.
    static func parseCPUs(quota: String, period: String) -> Double? {
        guard let q = UInt64(quota), let p = UInt64(period), q > 0, p > 0 else { return nil }
        return Double(q) / Double(p)
    }
}

/// How big a worker makes DuckDB when it is not told: from the container's limits.
public struct WorkerSizing: Sendable, Equatable {
    /// DuckDB's `memory_limit` in bytes; nil leaves DuckDB's default.
    public var memoryLimitBytes: UInt64?
    /// DuckDB's `threads`; nil leaves DuckDB's default (every core it sees).
    public var threads: Int?

    /// DuckDB allocates outside its limit (Arrow batches on their way to clients, the
    /// catalog, connection buffers, the allocator's own caching), so the limit leaves this
    /// much of the container's memory to the rest of the process.
    public static let defaultReserve: UInt64 = 1 << 30

    /// `memory_limit` = the container's limit minus `reserve`, but never below half of it
    /// (a small container keeps a useful DuckDB); threads = the CPU limit rounded up.
    public init(limits: ContainerLimits, reserve: UInt64 = WorkerSizing.defaultReserve) {
        if let memory = limits.memoryBytes {
            let (left, underflow) = memory.subtractingReportingOverflow(reserve)
            memoryLimitBytes = max(underflow ? 0 : left, memory / 2)
        }
        if let cpus = limits.cpus {
            threads = max(1, Int(min(cpus.rounded(.up), 4096)))
        }
    }

    /// `memory_limit` as DuckDB reads it.
    public var memoryLimitSetting: String? {
        memoryLimitBytes.map { "\($0 / (1 << 20))MiB" }
    }
}
