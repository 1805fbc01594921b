import ArgumentParser
import Foundation

/// `edgecell`: the operator's command line. Thin: it parses, calls a library, prints.
@main
struct EdgeCell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgecell",
        abstract: "EdgeCell: an edge runtime for learned robot control.",
        discussion: """
            A runtime drives a robot cell (the MuJoCo twin in Sim/, or a real cell bridge) over ZeroMQ \
            (Sim/PROTOCOL.md). Start with `edgecell doctor`, then `edgecell run`.
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self, EvalCommand.self, TeachCommand.self, SimCommand.self, PolicyCommand.self,
            DoctorCommand.self, EstopCommand.self, StrategyCommand.self, AuditCommand.self, ModelCommand.self,
            KeysCommand.self,
        ]
    )

    /// Expands `--config FILE` (run, eval, teach record) before parsing; the command line wins over the file.
    static func main() {
        let arguments: [String]
        do { arguments = try ConfigFile.expand(Array(CommandLine.arguments.dropFirst())) } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(2)
        }
        do {
            var command = try Self.parseAsRoot(arguments)
            ConfigFile.audit()
            try command.run()
        } catch {
            if Self.exitCode(for: error) != .success, let text = ConfigFile.explain(Self.message(for: error)) {
                FileHandle.standardError.write(Data((text + "\n").utf8))
                Foundation.exit(Self.exitCode(for: error).rawValue)
            }
            Self.exit(withError: error)
        }
    }
}
