import ArgumentParser
import CellRuntime
import Foundation

/// Runs a subcommand of the project's Python tools (`python -m edgecell_policy …`) with the project's venv,
/// streaming its output; shared by `teach train` and `teach export`.
enum PythonTool {
    /// The interpreter (`--python`, else EDGECELL_PYTHON, else the venv next to Sim/), checked to have
    /// `edgecell_policy`; exits 1 saying how to fix it otherwise.
    static func interpreter(_ given: String?, console: Console) throws -> String {
        let python = given ?? TwinProcess.locatePython()
        guard FileManager.default.isExecutableFile(atPath: python) else {
            console.error(
                "error: no Python interpreter at \(python): run Tools/bootstrap (it creates the venv .venv), or "
                    + "pass --python / set EDGECELL_PYTHON"
            )
            throw ExitCode(1)
        }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = [
            "-c", "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('edgecell_policy') else 3)",
        ]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        do {
            try check.run()
            check.waitUntilExit()
        } catch {
            console.error("error: cannot run \(python): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        guard check.terminationStatus == 0 else {
            console.error(
                "error: \(python) has no module edgecell_policy: run Tools/bootstrap (it installs Tools/ into the "
                    + "venv with pip install -e Tools)"
            )
            throw ExitCode(1)
        }
        return python
    }

    /// Runs `python -m edgecell_policy arguments…` with this process's standard streams; its exit status (128 + N
    /// when signal N ended it). Ctrl-C
    /// reaches the tool too (same process group); this process waits for it to finish.
    static func run(_ python: String, _ arguments: [String], console: Console) throws -> Int32 {
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: python)
        tool.arguments = ["-m", "edgecell_policy"] + arguments
        tool.standardInput = FileHandle.standardInput
        tool.standardOutput = FileHandle.standardOutput
        tool.standardError = FileHandle.standardError
        signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, SIG_DFL) }
        do { try tool.run() } catch {
            console.error("error: cannot start \(python): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        tool.waitUntilExit()
        return tool.terminationReason == .uncaughtSignal ? 128 + tool.terminationStatus : tool.terminationStatus
    }
}
