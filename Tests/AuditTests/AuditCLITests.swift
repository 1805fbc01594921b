import Audit
import Foundation
import Testing

/// The `edgecell` binary built next to the test bundle (`swift build --build-tests` builds it).
func edgecellBinary() throws -> String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("edgecell").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw AuditError(.io, "no edgecell binary next to \(me): build the package (swift build) first")
}

/// Runs `edgecell` with `arguments` in a cell whose state directory is `state`; returns status and output.
func edgecell(_ arguments: [String], state: String) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try edgecellBinary())
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["EDGECELL_STATE_DIR"] = state
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

@Suite struct AuditCLITests {
    /// Two `edgecell` processes record e-stop events into one log at the same time: every event lands, in one
    /// valid chain; `audit verify` then names a removed line and exits 1.
    @Test func twoProcessesAppendAndVerifyNamesTheBadLine() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        let each = 12
        let binary = try edgecellBinary()
        let shells = try (0..<2).map { _ in
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = [
                "-c", "for i in $(seq \(each)); do \"$0\" estop --reset >/dev/null || exit 1; done", binary,
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["EDGECELL_STATE_DIR"] = state
            shell.environment = environment
            try shell.run()
            return shell
        }
        for shell in shells {
            shell.waitUntilExit()
            #expect(shell.terminationStatus == 0)
        }
        let log = AuditLog(path: state + "/audit.log")
        #expect(try log.verify().entries == 2 * each)
        #expect(try log.entries().allSatisfy { $0.event == "estop.reset" && $0.fields["was_engaged"] == "false" })
        #expect(Set(try log.entries().compactMap { $0.fields["pid"] }).count == 2 * each)

        let (ok, text) = try edgecell(["audit", "verify"], state: state)
        #expect(ok == 0 && text.contains("intact, \(2 * each) entries"))
        var lines = try lines(log)
        lines.remove(at: 6)
        try write(lines, to: log)
        let (status, message) = try edgecell(["audit", "verify"], state: state)
        #expect(status == 1 && message.contains("line 7"))
    }
}
