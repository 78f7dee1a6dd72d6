import ChatProtocol
import Foundation

// Coverage-guided fuzzing of what arrives over the network: the payload decoder and the terminal renderer.
// Built with -sanitize=fuzzer (libFuzzer supplies main) and -DFUZZING by scripts/fuzz; built normally it
// replays inputs from files, so a crash the fuzzer found can be rerun under a debugger.

/// Checks every rendering promise for one input and stops the process if one is broken.
func check(_ bytes: [UInt8]) {
    if let violation = RenderingInvariants.violation(for: bytes) {
        fatalError("rendering invariant broken: \(violation); input: \(bytes)")
    }
}

#if FUZZING
    /// What libFuzzer calls with each input.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        check(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }

    /// libFuzzer's entry for programs with their own main (SwiftPM gives every executable one).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzer(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @main
    struct ChatFuzzer {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            let status = runFuzzer(&argc, &argv, fuzzOneInput)
            exit(status)
        }
    }
#else
    @main
    struct ChatFuzzerReplay {
        static func main() throws {
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw CocoaError(.fileNoSuchFile)
                }
                let files =
                    isDirectory.boolValue
                    ? try FileManager.default.contentsOfDirectory(atPath: path).map { path + "/" + $0 } : [path]
                for file in files {
                    check(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                    count += 1
                }
            }
            print("checked \(count) inputs")
        }
    }
#endif
