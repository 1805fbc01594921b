import ArgumentParser

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
            DoctorCommand.self, EstopCommand.self,
        ]
    )
}
