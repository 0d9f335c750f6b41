import CFuzzDriver
import Foundation

// One binary, one libFuzzer target per run: `tavana-fuzz TARGET [libFuzzer flags] [corpus...]`.
// The targets live in this folder, one file each; `make fuzz` runs them all.

let targets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "pg-messages": PGMessagesTarget.run,
    "pg-parameters": PGParametersTarget.run,
    "pg-copy": PGCopyTarget.run,
    "pg-rewriter": PGRewriterTarget.run,
    "arrow-ipc": ArrowIPCTarget.run,
    "flight-commands": FlightCommandsTarget.run,
]

nonisolated(unsafe) var selected: (UnsafeRawBufferPointer) -> Void = { _ in }

var arguments = CommandLine.arguments
guard arguments.count >= 2, let target = targets[arguments[1]] else {
    FileHandle.standardError.write(Data("usage: tavana-fuzz TARGET [libFuzzer options] [corpus dirs]\ntargets: \(targets.keys.sorted().joined(separator: ", "))\n".utf8))
    exit(2)
}
selected = target
arguments.remove(at: 1)

var argc = Int32(arguments.count)
var cStrings: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
let status = cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        selected(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
exit(status)
