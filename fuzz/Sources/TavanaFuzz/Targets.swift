import Foundation

/// The fuzz targets by name. (Globals outside main.swift initialise lazily, on first use:
/// after main.swift has read the target from the command line, or, in a debug build where
/// libFuzzer's own main runs, on the first input.)
let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
    "pg-messages": PGMessagesTarget.run,
    "pg-parameters": PGParametersTarget.run,
    "pg-copy": PGCopyTarget.run,
    "pg-rewriter": PGRewriterTarget.run,
    "arrow-ipc": ArrowIPCTarget.run,
    "flight-commands": FlightCommandsTarget.run,
    "worker-protocol": WorkerProtocolTarget.run,
]

/// The target of this run, looked up once.
let selected: @Sendable (UnsafeRawBufferPointer) -> Void = {
    let name = ProcessInfo.processInfo.environment["TAVANA_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        FileHandle.standardError.write(Data("tavana-fuzz: set TAVANA_FUZZ_TARGET to one of \(targets.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

