import Foundation
import Synchronization

/// A local twin (`python -m edgecell_twin`) started as a child process on a free loopback port.
///
/// The twin prints `edgecell-twin ready: <endpoint> …` once it serves; `start` waits for that line (bounded by
/// `readyTimeout`) and reports the twin's own last words if it exits first. `terminate` sends SIGTERM, then
/// SIGKILL after a grace period; `deinit` does the same, so a twin never outlives its runner.
public final class TwinProcess: @unchecked Sendable {
    /// How to start the twin.
    public struct Options: Sendable {
        /// The Python interpreter with `edgecell_twin` installed.
        public var python: String
        /// Arguments after `python -m edgecell_twin` (`--mode`, `--task`, …); `--bind` is added, and
        /// `--dev-plaintext` when they hold no `--curve-secret-key`: a twin started here without keys is a
        /// development twin on loopback (tests and benchmarks; the CLI always starts its twin with CURVE).
        public var arguments: [String] = []
        /// How long to wait for the ready line, s.
        public var readyTimeout = 120.0
        /// Copy the twin's log lines to standard error, prefixed `[twin]`.
        public var echoLog = true
        /// Extra environment variables.
        public var environment: [String: String] = [:]
        /// Written to the twin's standard input, which is then closed (e.g. a CURVE secret key line for
        /// `--curve-secret-key -`: it reaches the twin through a pipe, never a file, its arguments or environment);
        /// nil: standard input is /dev/null.
        public var standardInput: String?

        /// Options for an interpreter.
        public init(python: String) { self.python = python }
    }

    /// The endpoint the twin bound.
    public let endpoint: String
    /// The ready line, for the log.
    public let readyLine: String
    private let process: Process
    private let log: LogTail

    /// Starts a twin and waits until it serves.
    /// - Throws: `RuntimeError.twinProcess` if it cannot start, exits before it is ready, or takes too long.
    public init(options: Options) throws(RuntimeError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.python)
        // --parent-pid: the twin stops by itself if this process dies without terminating it (SIGKILL, a crash).
        process.arguments =
            ["-m", "edgecell_twin", "--bind", "tcp://127.0.0.1:0", "--parent-pid", String(getpid())]
            + options.arguments
            + (options.arguments.contains { $0.hasPrefix("--curve-secret-key") } ? [] : ["--dev-plaintext"])
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        for (key, value) in options.environment { environment[key] = value }
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let input = options.standardInput.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice
        let log = LogTail(echo: options.echoLog)
        stdout.fileHandleForReading.readabilityHandler = { log.consume($0.availableData, stream: "out") }
        stderr.fileHandleForReading.readabilityHandler = { log.consume($0.availableData, stream: "err") }
        do {
            try process.run()
        } catch {
            throw RuntimeError(
                .twinProcess,
                "cannot start the twin with \(options.python): \(error.localizedDescription)"
                    + " (run the README's setup command, or pass --python / set EDGECELL_PYTHON)"
            )
        }
        if let input, let text = options.standardInput {
            input.fileHandleForWriting.write(Data(text.utf8))
            try? input.fileHandleForWriting.close()
        }
        self.process = process
        self.log = log
        let deadline = Date().addingTimeInterval(options.readyTimeout)
        while true {
            if let line = log.readyLine {
                self.readyLine = line
                let rest = line.components(separatedBy: "ready:").last ?? ""
                self.endpoint = rest.split(separator: " ").first.map(String.init) ?? ""
                break
            }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.1)  // let the pipes drain the last words
                throw RuntimeError(
                    .twinProcess,
                    "the twin exited with status \(process.terminationStatus) before it "
                        + "was ready; its last output:\n" + log.lastLines.joined(separator: "\n")
                )
            }
            if Date() > deadline {
                process.terminate()
                throw RuntimeError(
                    .twinProcess,
                    "the twin was not ready after \(Int(options.readyTimeout)) s; "
                        + "its last output:\n" + log.lastLines.joined(separator: "\n")
                )
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        guard self.endpoint.hasPrefix("tcp://") || self.endpoint.hasPrefix("ipc://") else {
            process.terminate()
            throw RuntimeError(.twinProcess, "cannot read the endpoint from the twin's ready line '\(self.readyLine)'")
        }
    }

    deinit { self.terminate() }

    /// Whether the twin process is alive.
    public var isRunning: Bool { self.process.isRunning }

    /// The process id.
    public var pid: Int32 { self.process.processIdentifier }

    /// How the process ended, e.g. "exited with status 0" or "killed by signal 9"; nil while it runs.
    public var exitDescription: String? {
        guard !self.process.isRunning else { return nil }
        switch self.process.terminationReason {
        case .exit: return "exited with status \(self.process.terminationStatus)"
        case .uncaughtSignal: return "killed by signal \(self.process.terminationStatus)"
        @unknown default: return "ended (status \(self.process.terminationStatus))"
        }
    }

    /// The twin's last log lines.
    public var lastLogLines: [String] { self.log.lastLines }

    /// Stops the twin: SIGTERM, then SIGKILL after `grace` seconds.
    public func terminate(grace: Double = 3) {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while self.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }

    /// Kills the twin at once with SIGKILL (tests of a dead twin).
    public func kill9() {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }

    /// Finds the Python interpreter of the project's venv: `$EDGECELL_PYTHON`, else `.venv/bin/python` in the
    /// first directory holding `Sim/edgecell_twin`, searching up from the working directory and from this
    /// executable; else `python3` on the PATH.
    public static func locatePython() -> String {
        if let python = ProcessInfo.processInfo.environment["EDGECELL_PYTHON"], !python.isEmpty { return python }
        let fm = FileManager.default
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        for start in starts {
            var directory = start.standardizedFileURL
            while true {
                let python = directory.appendingPathComponent(".venv/bin/python").path
                if fm.fileExists(atPath: directory.appendingPathComponent("Sim/edgecell_twin").path),
                    fm.isExecutableFile(atPath: python)
                {
                    return python
                }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where fm.isExecutableFile(atPath: "\(directory)/python3") {
            return "\(directory)/python3"
        }
        return "/usr/bin/python3"
    }
}

/// Collects a child's output lines: remembers the last ones, spots the ready line, optionally echoes.
final class LogTail: @unchecked Sendable {
    private struct State {
        var partial: [String: String] = [:]
        var lines: [String] = []
        var ready: String?
    }
    private let state = Mutex(State())
    private let echo: Bool

    init(echo: Bool) { self.echo = echo }

    func consume(_ data: Data, stream: String) {
        guard !data.isEmpty else { return }
        let text = String(decoding: data, as: UTF8.self)
        var complete: [String] = []
        self.state.withLock { state in
            var buffer = (state.partial[stream] ?? "") + text
            while let newline = buffer.firstIndex(of: "\n") {
                complete.append(String(buffer[..<newline]))
                buffer = String(buffer[buffer.index(after: newline)...])
            }
            state.partial[stream] = buffer
            for line in complete {
                if state.ready == nil, line.contains("edgecell-twin ready:") { state.ready = line }
                state.lines.append(line)
                if state.lines.count > 40 { state.lines.removeFirst(state.lines.count - 40) }
            }
        }
        if self.echo {
            for line in complete where !line.contains("edgecell-twin ready:") {
                FileHandle.standardError.write(Data("[twin] \(line)\n".utf8))
            }
        }
    }

    var readyLine: String? { self.state.withLock { $0.ready } }
    var lastLines: [String] { self.state.withLock { $0.lines } }
}
