import CFuzzDriver
import Foundation

// One binary, one libFuzzer target per run, chosen by TAVANA_FUZZ_TARGET (or, in a release
// build, by a first argument naming it): `TAVANA_FUZZ_TARGET=pg-messages tavana-fuzz
// [libFuzzer flags] [corpus dirs]`. The targets live in this folder, one file per kind;
// scripts/fuzz.sh runs them all.
//
// Debug builds rename this file's entry point (SwiftPM does so that tests can link
// executables), so libFuzzer's own main runs there and finds the target through
// `LLVMFuzzerTestOneInput` below; release builds run this main, which hands over to
// libFuzzer's driver.

var arguments = CommandLine.arguments
if arguments.count >= 2, targets[arguments[1]] != nil {
    setenv("TAVANA_FUZZ_TARGET", arguments[1], 1)
    arguments.remove(at: 1)
}
var argc = Int32(arguments.count)
var cStrings: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
let status = cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) }
}
exit(status)
