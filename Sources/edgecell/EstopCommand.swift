import ArgumentParser
import CellRuntime
import Foundation

/// The e-stop latch and the registry of running runtimes, in the cell's state directory:
/// `$EDGECELL_STATE_DIR`, else `/run/edgecell` for root, else `$XDG_RUNTIME_DIR/edgecell`, else
/// `/tmp/edgecell-<uid>`. `estop` (the latch) holds who engaged it and why; `runtimes/<pid>` names each process
/// driving a cell.
enum EstopLatch {
    static var directory: String {
        let environment = ProcessInfo.processInfo.environment
        if let dir = environment["EDGECELL_STATE_DIR"], !dir.isEmpty { return dir }
        if getuid() == 0 { return "/run/edgecell" }
        if let dir = environment["XDG_RUNTIME_DIR"], !dir.isEmpty { return dir + "/edgecell" }
        return "/tmp/edgecell-\(getuid())"
    }
    static var latchPath: String { directory + "/estop" }
    static var runtimesPath: String { directory + "/runtimes" }

    /// The latch's contents if engaged.
    static func engaged() -> String? {
        guard let data = FileManager.default.contents(atPath: latchPath) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func makeDirectories() throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: runtimesPath, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError(.configuration, "cannot create the state directory \(runtimesPath): \(error)")
        }
    }

    /// Engages the latch (atomically) and signals every registered runtime that is alive. Returns their pids.
    static func engage(reason: String) throws(RuntimeError) -> [Int32] {
        try makeDirectories()
        let formatter = ISO8601DateFormatter()
        let text = "engaged \(formatter.string(from: Date())) by pid \(getpid()) (uid \(getuid())): \(reason)\n"
        try AtomicFile.write(Data(text.utf8), to: latchPath)
        var signalled: [Int32] = []
        for pid in registered() where pid != getpid() {
            if kill(pid, SIGUSR1) == 0 { signalled.append(pid) } else { unregister(pid) }
        }
        return signalled.sorted()
    }

    /// Releases the latch. Returns whether it was engaged.
    static func release() throws(RuntimeError) -> Bool {
        guard FileManager.default.fileExists(atPath: latchPath) else { return false }
        do { try FileManager.default.removeItem(atPath: latchPath) } catch {
            throw RuntimeError(.configuration, "cannot remove \(latchPath): \(error)")
        }
        return true
    }

    static func registered() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runtimesPath)) ?? []
        return names.compactMap { Int32($0) }
    }

    static func register() throws(RuntimeError) {
        try makeDirectories()
        try AtomicFile.write(Data("\(getpid())\n".utf8), to: runtimesPath + "/\(getpid())")
    }

    static func unregister(_ pid: Int32 = getpid()) {
        try? FileManager.default.removeItem(atPath: runtimesPath + "/\(pid)")
    }
}

/// `edgecell estop`: stops every runtime on this machine now and keeps them from starting until released.
struct EstopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estop",
        abstract: "Emergency stop: brake every running runtime's arm to standstill and latch until --reset.",
        discussion: """
            Engages the e-stop latch in the cell's state directory ($EDGECELL_STATE_DIR, else /run/edgecell for \
            root, else $XDG_RUNTIME_DIR/edgecell) and sends SIGUSR1 to every running `edgecell run`, `eval` or \
            `teach record`: each brakes its arm to standstill through the safety supervisor within a control \
            period, ends its episode and exits with status 4. While the latch is engaged no runtime starts. \
            `edgecell estop --reset` releases it (docs/SAFETY.md).
            """
    )

    @Flag(help: "Release the latch (after the cause has been dealt with).")
    var reset = false

    @Option(help: "Why (recorded in the latch).")
    var reason = "operator e-stop"

    func run() throws {
        let console = Console()
        if self.reset {
            let was = try console.orExit { () throws(RuntimeError) in try EstopLatch.release() }
            AuditTrail.record("estop.reset", ["was_engaged": "\(was)"])
            console.line(was ? "e-stop released: runtimes may start again" : "e-stop was not engaged")
            return
        }
        let reason = self.reason
        let pids = try console.orExit { () throws(RuntimeError) in try EstopLatch.engage(reason: reason) }
        // Recorded after the runtimes were signalled: the log's fsync never delays the stop.
        AuditTrail.record(
            "estop.engaged",
            ["reason": reason, "signalled_pids": pids.map(String.init).joined(separator: ",")]
        )
        console.line(
            "e-stop engaged (\(EstopLatch.latchPath)); "
                + (pids.isEmpty
                    ? "no runtime is running"
                    : "stopping \(pids.count) runtime\(pids.count == 1 ? "" : "s"): pid "
                        + pids.map(String.init).joined(separator: ", "))
                + ". Release with `edgecell estop --reset`."
        )
    }
}
