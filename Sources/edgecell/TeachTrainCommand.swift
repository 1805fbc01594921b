import ArgumentParser
import CellRuntime
import Foundation

/// `edgecell teach train`: runs the Python trainer (`python -m edgecell_policy train`) with the project's venv.
struct TeachTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a policy on a dataset with the Python trainer (python -m edgecell_policy train).",
        discussion: """
            A thin wrapper: the options go to the trainer as they are (more trainer options after `--`, e.g. \
            `-- --lr 1e-4 --eval-every 500`), its output (a progress bar on standard error) streams through, and \
            its exit status is this command's. The interpreter is the project's venv \
            (EDGECELL_PYTHON, else .venv/bin/python next to Sim/), or --python.
            """
    )

    @Option(help: "A dataset folder (repeat for several).") var dataset: [String]
    @Option(help: "The model folder to write.") var out: String
    @Option(help: "A model folder to start from.") var base: String?
    @Option(help: "Training steps.") var steps: Int?
    @Option(help: "Batch size.") var batchSize: Int?
    @Option(help: "Seed.") var seed: Int?
    @Option(parsing: .upToNextOption, help: "Train on these tasks only.") var tasks: [String] = []
    @Option(help: "Python interpreter (default: the project's venv).") var python: String?
    @Argument(parsing: .postTerminator, help: "More trainer options, after --.") var extra: [String] = []

    func validate() throws {
        guard !self.dataset.isEmpty else { throw ValidationError("give --dataset DIR") }
    }

    func run() throws {
        let console = Console()
        let python = try PythonTool.interpreter(self.python, console: console)
        var arguments = ["train"] + self.dataset.flatMap { ["--dataset", $0] } + ["--out", self.out]
        if let base = self.base { arguments += ["--base", base] }
        if let steps = self.steps { arguments += ["--steps", String(steps)] }
        if let batchSize = self.batchSize { arguments += ["--batch-size", String(batchSize)] }
        if let seed = self.seed { arguments += ["--seed", String(seed)] }
        if !self.tasks.isEmpty { arguments += ["--tasks"] + self.tasks }
        arguments += self.extra
        let status = try PythonTool.run(python, arguments, console: console)
        if status != 0 { throw ExitCode(status) }
    }
}
