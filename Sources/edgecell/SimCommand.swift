import ArgumentParser
import CellRuntime
import Foundation

/// `edgecell sim`: starts the digital twin in the foreground (it replaces this process).
struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run the MuJoCo digital twin (python -m edgecell_twin) in the foreground.",
        discussion: "Stop it with Ctrl-C. Options not listed here can follow `--` and go to the twin as they are."
    )

    @Option(help: "Endpoint to bind; port 0 picks a free port.")
    var bind = "tcp://127.0.0.1:5555"

    @Option(help: "lockstep (the runtime paces the physics) or realtime (the twin runs on its own clock).")
    var mode: TwinModeOption = .lockstep

    @Option(help: "Task of the first episode.")
    var task = "bin-red"

    @Option(help: "Seed of the first episode.")
    var seed: UInt64 = 0

    @Option(help: "Cameras to render: scene,wrist, or none.")
    var cameras = "scene,wrist"

    @Option(help: "Image size, N or WxH.")
    var imageSize = "96"

    @Option(help: "Control rate, Hz.")
    var controlRate: Double = 100

    @Flag(
        help: ArgumentHelp(
            "Development only: serve a loopback or ipc:// --bind without CURVE.",
            discussion: """
                Without it the twin needs its keys after `--`: --curve-secret-key FILE --curve-allow FILE \
                (docs/SECURITY.md §3).
                """
        )
    )
    var devPlaintext = false

    @Option(help: "Python interpreter with edgecell_twin installed (default: the project's .venv).")
    var python: String?

    @Argument(parsing: .postTerminator, help: "More twin options.")
    var extra: [String] = []

    func run() throws {
        let python = self.python ?? TwinProcess.locatePython()
        let arguments =
            [
                python, "-m", "edgecell_twin", "--bind", self.bind, "--mode", self.mode.rawValue,
                "--task", self.task, "--seed", String(self.seed), "--cameras", self.cameras,
                "--image-size", self.imageSize, "--control-rate", String(self.controlRate),
            ] + (self.devPlaintext ? ["--dev-plaintext"] : []) + self.extra
        let argv = arguments.map { strdup($0) } + [nil]
        execv(python, argv)
        throw ValidationError(
            "cannot run \(python): \(String(cString: strerror(errno))); run the README's setup "
                + "command or pass --python"
        )
    }
}

/// The twin's modes, as the CLI spells them.
enum TwinModeOption: String, ExpressibleByArgument, CaseIterable {
    case lockstep, realtime
}
