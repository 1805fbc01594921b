import Foundation

/// Helpers for tests that run the built `edgecell` command (shared by the test targets that drive the CLI).

/// Why a CLI test cannot run.
public struct CLITestSupportError: Error, CustomStringConvertible {
    public let description: String
}

/// The `edgecell` binary built next to the test bundle (`swift build --build-tests` builds it).
public func edgecellBinary() throws -> String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("edgecell").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw CLITestSupportError(description: "no edgecell binary next to \(me): build the package (swift build) first")
}

/// Runs `edgecell` with `arguments` in a cell whose state directory is `state` (plus `environment`); returns the
/// exit status and the output (standard output and error together).
public func edgecell(
    _ arguments: [String],
    state: String,
    environment extra: [String: String] = [:]
) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try edgecellBinary())
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["EDGECELL_STATE_DIR"] = state
    environment.merge(extra) { $1 }
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
