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

    /// A run with --config records the file it used: `config.changed` the first time the log sees it and whenever
    /// its contents change (with the previous SHA-256), `config.loaded` when it is unchanged.
    @Test func configurationFilesAndTheirChangesAreAudited() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        let config = dir.path + "/cell.yaml"
        try Data("control-rate: 250\nrun:\n  episodes: 3\n".utf8).write(to: URL(fileURLWithPath: config))
        // The program file does not exist: the run stops after parsing and before starting a twin, which is all
        // this test needs.
        let run = ["run", "--config", config, "--program", dir.path + "/missing.yaml"]
        for _ in 0..<2 { _ = try edgecell(run, state: state) }
        try Data("control-rate: 500\nrun:\n  episodes: 3\n".utf8).write(to: URL(fileURLWithPath: config))
        _ = try edgecell(run, state: state)
        let entries = try AuditLog(path: state + "/audit.log").entries().filter { $0.event.hasPrefix("config.") }
        #expect(entries.map(\.event) == ["config.changed", "config.loaded", "config.changed"])
        #expect(entries[0].fields["previous_sha256"] == "none")
        #expect(entries[1].fields["sha256"] == entries[0].fields["sha256"])
        #expect(entries[2].fields["previous_sha256"] == entries[0].fields["sha256"])
        #expect(entries[2].fields["sha256"] != entries[0].fields["sha256"])
        #expect(entries.allSatisfy { $0.fields["file"] == config && $0.fields["command"] == "run" })
        #expect(entries[0].fields["applied"] == "control-rate,episodes")
    }

    /// Limit violations reach the log once per episode, after it, with the count the run summary prints: the
    /// untrained fixture's random chunks exceed the joint velocity limit, and the supervisor clamps them.
    @Test func safetyLimitViolationsAreAuditedPerEpisode() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/tiny").path
        let (status, text) = try edgecell(
            [
                "run", "--controller", "policy", "--model", fixture, "--allow-unsigned-model", "--episodes", "1",
                "--time-limit", "0.3", "--no-realtime", "--pin", "none",
            ],
            state: state
        )
        #expect(status != 1, "\(text)")
        let printed = try #require(
            text.firstMatch(of: /safety: (\d+) commands clamped/).map { String($0.output.1) },
            "\(text)"
        )
        let entries = try AuditLog(path: state + "/audit.log").entries().filter { $0.event.hasPrefix("safety.") }
        #expect(entries.count == 1)
        #expect(entries.first?.fields["clamped_commands"] == printed)
        #expect(entries.first?.fields["limits"]?.contains("joint velocity limit") == true)
        #expect(entries.first?.fields["task"] == "bin-red" && entries.first?.fields["seed"] == "0")
    }
}
