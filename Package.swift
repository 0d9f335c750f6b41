// swift-tools-version:6.0
import Foundation
import PackageDescription

// libduckdb is not built here: scripts/fetch-duckdb.sh installs the pinned release into a
// cache outside the repository. The linker and the run-time loader both find it there
// through an absolute -L/-rpath, so `swift build`, `swift run` and `swift test` need no
// LD_LIBRARY_PATH.
let duckdbVersion = "1.5.5"
let duckdbHome: String = {
    let env = ProcessInfo.processInfo.environment
    if let explicit = env["TAVANA_DUCKDB_HOME"], !explicit.isEmpty { return explicit }
    let home = env["HOME"] ?? NSHomeDirectory()
    return "\(home)/.cache/tavana/duckdb-\(duckdbVersion)"
}()
let duckdbLibDir = "\(duckdbHome)/lib"

// `make fuzz` sets TAVANA_FUZZ=1 (in a build folder of its own): Tavana's own modules are
// then compiled with libFuzzer's coverage instrumentation and AddressSanitizer, and with
// testing enabled so that the fuzz targets reach internal entry points. Dependencies are
// built as usual.
let fuzzing = ProcessInfo.processInfo.environment["TAVANA_FUZZ"] == "1"
let sanitizers = "-sanitize=fuzzer,address"

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]
    + (fuzzing ? [.unsafeFlags([sanitizers, "-enable-testing"])] : [])

let package = Package(
    name: "tavana",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tavana", targets: ["tavana"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .target(
            name: "CDuckDB",
            dependencies: ["CArrowABI"],
            linkerSettings: [
                .linkedLibrary("duckdb"),
                .unsafeFlags(["-L", duckdbLibDir, "-Xlinker", "-rpath", "-Xlinker", duckdbLibDir]),
            ]
        ),
        .target(name: "CArrowABI"),
        .target(name: "Arrow", dependencies: ["CArrowABI"], swiftSettings: strict),
        .target(
            name: "DuckDB",
            dependencies: ["CDuckDB", "CArrowABI", "Arrow"],
            swiftSettings: strict
        ),
        .target(
            name: "Worker",
            dependencies: [
                "DuckDB", "Arrow",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Temporary cloud credentials Tavana obtains itself where DuckDB's credential chains
        // fall short (docs/object-storage.md): AWS web identity through STS.
        .target(
            name: "CloudCredentials",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Test support (never linked into tavana): a seeded random generator, and a worker
        // without DuckDB for front-door and Scheduler tests.
        .target(name: "TestSupport", swiftSettings: strict),
        .target(name: "WorkerTesting", dependencies: ["Worker", "DuckDB", "Arrow"], swiftSettings: strict),
        .target(
            name: "Scheduler",
            dependencies: [
                "Worker", "DuckDB", "Arrow",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PostgresWire",
            dependencies: [
                "Scheduler", "Worker", "DuckDB", "Arrow",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Flight and Flight SQL's generated messages and services, and FlightData framing:
        // shared by the front door and (in cluster mode) the worker endpoint.
        .target(
            name: "FlightProtocol",
            dependencies: [
                "Arrow",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FlightSQL",
            dependencies: [
                "FlightProtocol", "Scheduler", "Worker", "DuckDB", "Arrow",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Cluster mode's gateway↔worker protocol (protos/worker.proto): generated messages and
        // service, and the seam's values on the wire.
        .target(
            name: "WorkerProtocol",
            dependencies: [
                "FlightProtocol", "Worker", "DuckDB", "Arrow",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        // The worker side: serves a WorkerService to gateways (`tavana worker`).
        .target(
            name: "WorkerEndpoint",
            dependencies: [
                "WorkerProtocol", "Worker", "Scheduler", "DuckDB", "Arrow",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The gateway side: the worker seam over the network (`tavana gateway`).
        .target(
            name: "RemoteWorker",
            dependencies: [
                "WorkerProtocol", "Worker", "DuckDB", "Arrow",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The HTTP port: health, readiness and Prometheus metrics.
        .target(
            name: "Observability",
            dependencies: [
                "Scheduler", "PostgresWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TavanaServer",
            dependencies: [
                "PostgresWire", "FlightSQL", "Scheduler", "Worker", "DuckDB", "Observability",
                "WorkerEndpoint", "RemoteWorker", "WorkerProtocol", "CloudCredentials",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tavana",
            dependencies: [
                "DuckDB", "Arrow", "TavanaServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ArrowTests", dependencies: ["Arrow", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DuckDBTests", dependencies: ["DuckDB", "Arrow"], swiftSettings: strict),
        .testTarget(
            name: "PostgresWireTests",
            dependencies: [
                "PostgresWire", "Scheduler", "Worker", "WorkerTesting", "TestSupport", "DuckDB", "Arrow",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FlightSQLTests",
            dependencies: [
                "FlightSQL", "FlightProtocol", "Scheduler", "Worker", "WorkerTesting", "Arrow", "DuckDB",
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "Worker", "WorkerTesting", "TestSupport", "DuckDB", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .testTarget(name: "CloudCredentialsTests", dependencies: ["CloudCredentials"], swiftSettings: strict),
        .testTarget(
            name: "TavanaServerTests",
            dependencies: [
                "TavanaServer", "Scheduler", "PostgresWire", "FlightSQL", "DuckDB", "Observability", "WorkerTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "WorkerEndpoint", "RemoteWorker", "WorkerProtocol", "Worker", "WorkerTesting", "Scheduler", "DuckDB", "Arrow",
                "TestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "WorkerTests",
            dependencies: ["Worker", "TestSupport", "DuckDB", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

if fuzzing {
    package.products.append(.executable(name: "tavana-fuzz", targets: ["TavanaFuzz"]))
    package.targets += [
        .target(name: "CFuzzDriver", path: "fuzz/Sources/CFuzzDriver"),
        .executableTarget(
            name: "TavanaFuzz",
            dependencies: [
                "CFuzzDriver", "PostgresWire", "FlightSQL", "FlightProtocol", "Scheduler", "Worker", "DuckDB", "Arrow",
                "WorkerProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "fuzz/Sources/TavanaFuzz",
            swiftSettings: strict,
            // gold fails on this link (an internal error in its DWARF reader); lld does not.
            linkerSettings: [.unsafeFlags([sanitizers, "-use-ld=lld"])]
        ),
    ]
}
