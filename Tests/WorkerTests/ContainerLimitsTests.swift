import Foundation
import XCTest

@testable import Worker

/// Reading a container's limits from cgroup files laid out as the kernel does, in a folder
/// of the test's own; and sizing DuckDB from them.
final class ContainerLimitsTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    func write(_ relative: String, _ text: String) throws {
        let path = "\(root)/\(relative)"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func testCgroupV2AtTheRootAsInAContainer() throws {
        try write("memory.max", "4294967296\n")
        try write("cpu.max", "150000 100000\n")
        let limits = ContainerLimits.read(root: root, selfCgroup: "\(root)/none")
        XCTAssertEqual(limits, ContainerLimits(memoryBytes: 4 << 30, cpus: 1.5))
    }

    func testCgroupV2InTheProcesssOwnCgroup() throws {
        try write("memory.max", "max\n")
        try write("kubepods/pod1/memory.max", "2147483648\n")
        try write("kubepods/pod1/cpu.max", "max 100000\n")
        try write("self", "0::/kubepods/pod1\n")
        let limits = ContainerLimits.read(root: root, selfCgroup: "\(root)/self")
        XCTAssertEqual(limits, ContainerLimits(memoryBytes: 2 << 30, cpus: nil))
    }

    func testCgroupV1PerController() throws {
        try write("memory/docker/abc/memory.limit_in_bytes", "1073741824\n")
        try write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n")
        try write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
        try write("cpu/docker/abc/cpu.cfs_quota_us", "200000\n")
        try write("cpu/docker/abc/cpu.cfs_period_us", "100000\n")
        try write("self", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
        let limits = ContainerLimits.read(root: root, selfCgroup: "\(root)/self")
        XCTAssertEqual(limits, ContainerLimits(memoryBytes: 1 << 30, cpus: 2))
    }

    func testUnlimitedAndMalformedMeanNoLimit() throws {
        try write("memory/memory.limit_in_bytes", "9223372036854771712\n")
        try write("cpu/cpu.cfs_quota_us", "-1\n")
        try write("cpu/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(ContainerLimits.read(root: root, selfCgroup: "\(root)/none"), ContainerLimits())
        try write("memory.max", "lots\n")
        try write("cpu.max", "100000\n")
        XCTAssertEqual(ContainerLimits.read(root: root, selfCgroup: "\(root)/none"), ContainerLimits())
        XCTAssertEqual(ContainerLimits.read(root: "\(root)/missing"), ContainerLimits())
    }

    func testSizingLeavesTheReserveAndRoundsCPUsUp() {
        let big = WorkerSizing(limits: ContainerLimits(memoryBytes: 12 << 30, cpus: 3.5))
        XCTAssertEqual(big.memoryLimitBytes, 11 << 30)
        XCTAssertEqual(big.memoryLimitSetting, "11264MiB")
        XCTAssertEqual(big.threads, 4)
        // A small container keeps half of its memory for DuckDB rather than nothing.
        let small = WorkerSizing(limits: ContainerLimits(memoryBytes: 1 << 30, cpus: 0.25))
        XCTAssertEqual(small.memoryLimitBytes, 512 << 20)
        XCTAssertEqual(small.threads, 1)
        let custom = WorkerSizing(limits: ContainerLimits(memoryBytes: 8 << 30), reserve: 2 << 30)
        XCTAssertEqual(custom.memoryLimitBytes, 6 << 30)
        XCTAssertNil(custom.threads)
        XCTAssertEqual(WorkerSizing(limits: ContainerLimits()), WorkerSizing(limits: ContainerLimits(), reserve: 0))
        XCTAssertNil(WorkerSizing(limits: ContainerLimits()).memoryLimitSetting)
    }
}
