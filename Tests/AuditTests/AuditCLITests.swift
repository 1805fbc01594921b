import Audit
import CLITestSupport
import Foundation
import Testing

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
