import ArgumentParser
import CellRuntime
import Foundation
import LinkSecurity
import Teach
import TwinProtocol
import ZeroMQ

extension WaypointProgram.Motion: ExpressibleByArgument {}

/// `edgecell teach program`: write and edit waypoint program files, the teach-pendant way.
struct TeachProgramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "program",
        abstract: "Create and edit waypoint program files (named Cartesian or joint waypoints).",
        discussion: """
            A program plays back with `edgecell run --program FILE` or records demonstrations with `edgecell \
            teach record --source program --program FILE`. Every edit checks the whole program and replaces the \
            file atomically; a refused edit leaves it untouched. Units: metres and radians.
            """,
        subcommands: [New.self, Add.self, List.self, Show.self, Edit.self, Remove.self]
    )

    /// `new FILE --name N`.
    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty program file.")

        @Argument(help: "The program file to create, e.g. programs/pick-red.json.")
        var file: String

        @Option(help: "The program's name (default: the file's name without extension).")
        var name: String?

        func run() throws {
            let console = Console()
            try TeachRecord.orExit(console) { () throws(TeachError) in
                guard !FileManager.default.fileExists(atPath: self.file) else {
                    throw TeachError(.usage, "exists already; refusing to overwrite it", path: self.file)
                }
                let name = self.name ?? ((self.file as NSString).lastPathComponent as NSString).deletingPathExtension
                try TeachProgram(name: name).save(self.file)
            }
            console.line("created \(self.file)")
        }
    }

    /// The options that describe a waypoint.
    struct WaypointOptions: ParsableArguments {
        @Option(help: "TCP position x,y,z (m, world frame) with an optional yaw (rad): the tool points down.")
        var pose: String?

        @Option(help: "With --pose x,y,z: the full tool orientation as a unit quaternion w,x,y,z.")
        var quaternion: String?

        @Option(help: "Joint positions a,b,c,d,e,f (rad).")
        var joints: String?

        @Flag(
            help: """
                The cell's joint positions after a reset (protocol v1 cannot read a posture without resetting \
                or stepping; to capture jogged poses, press p while teaching at the keyboard with --program).
                """
        )
        var here = false

        @Option(help: "With --here: a running cell's endpoint (default: start a local twin).")
        var twin: String?

        @Option(
            parsing: .unconditional,
            help: "With --twin: the cell's CURVE public key (Z85, key line or file; needed off this machine)."
        )
        var twinKey: String?

        @Flag(help: "With --twin on loopback or ipc:// and no --twin-key: development only, connect without CURVE.")
        var devPlaintext = false

        @Option(help: "With --here: the task to reset (default: the cell's).")
        var task: String?

        @Option(help: "With --here: the seed to reset.")
        var seed: UInt64 = 0

        @Option(help: "joint (fastest, curved TCP path) or linear (straight TCP line).")
        var motion: WaypointProgram.Motion?

        @Option(help: "Speed scale of the joint limits, (0, 1].")
        var speed: Double?

        @Option(help: "After arriving: open, close, an aperture in metres, or none.")
        var gripper: String?

        @Option(help: "Seconds to wait after arriving (and after the gripper).")
        var dwell: Double?

        @Option(help: "Place the waypoint right after this one (default: at the end; edit: where it is).")
        var after: String?

        var hasTarget: Bool { self.pose != nil || self.joints != nil || self.here }

        func target(console: Console) throws(TeachError) -> TeachProgram.Target? {
            let given = [self.pose != nil, self.joints != nil, self.here].filter { $0 }.count
            guard given <= 1 else { throw TeachError(.usage, "give one of --pose, --joints and --here") }
            if self.quaternion != nil && self.pose == nil {
                throw TeachError(.usage, "--quaternion goes with --pose x,y,z")
            }
            if let pose = self.pose {
                let values = try TeachProgram.numbers(
                    pose,
                    option: "--pose",
                    count: self.quaternion == nil ? 3...4 : 3...3
                )
                let p = SIMD3(values[0], values[1], values[2])
                if let quaternion = self.quaternion {
                    let q = try TeachProgram.numbers(quaternion, option: "--quaternion", count: 4...4)
                    return .orientedPose(position: p, orientation: Quaternion(w: q[0], x: q[1], y: q[2], z: q[3]))
                }
                return .pose(position: p, yaw: values.count == 4 ? values[3] : 0)
            }
            if let joints = self.joints {
                return .joints(try TeachProgram.numbers(joints, option: "--joints", count: 1...8))
            }
            if self.here { return .joints(try self.readHere(console: console)) }
            return nil
        }

        func gripperAction() throws(TeachError) -> TeachProgram.GripperAction?? {
            guard let gripper = self.gripper else { return .none }
            if gripper.lowercased() == "none" { return .some(nil) }
            return .some(try TeachProgram.gripperAction(gripper))
        }

        func validate() throws {
            if let twin = self.twin, self.twinKey == nil, LinkPolicy.reach(of: twin) == .network {
                throw ValidationError(LinkPolicy.clientWithoutServerKey(endpoint: twin, option: "--twin-key"))
            }
            if self.twinKey != nil && self.twin == nil { throw ValidationError("--twin-key goes with --twin") }
        }

        /// Resets the cell and reads its joint positions.
        func readHere(console: Console) throws(TeachError) -> [Double] {
            var process: TwinProcess?
            defer { process?.terminate() }
            do throws(RuntimeError) {
                let endpoint: String
                var curve: CurveClientKeys?
                if let twin = self.twin {
                    endpoint = twin
                    if let twinKey = self.twinKey {
                        do throws(KeyStoreError) {
                            let server = try KeyStore.publicKey(argument: twinKey)
                            curve = CurveClientKeys(keyPair: try KeyStore.cell.keyPair(), serverKey: server.key)
                        } catch {
                            throw RuntimeError(.configuration, error.message)
                        }
                    } else if self.devPlaintext {
                        LinkSetup.warn(LinkPolicy.plaintextWarning(endpoint: twin))
                    } else {
                        throw RuntimeError(
                            .configuration,
                            LinkPolicy.plaintextNotConfigured(endpoint: twin, option: "--twin-key")
                        )
                    }
                } else {
                    // As `edgecell run`: the local twin admits only this process, with keys made for the call.
                    var options = TwinProcess.Options(python: TwinProcess.locatePython())
                    let twinKeys: CurveKeyPair
                    let ownKeys: CurveKeyPair
                    do { (twinKeys, ownKeys) = (try CurveKeyPair.generate(), try CurveKeyPair.generate()) } catch {
                        throw RuntimeError(.system, "cannot make CURVE keys for the local twin: \(error)")
                    }
                    options.arguments =
                        ["--cameras", "none", "--curve-secret-key", "-", "--curve-allow-key=" + ownKeys.publicKey.z85]
                        + (self.task.map { ["--task", $0] } ?? [])
                    options.standardInput = "edgecell-curve-secret-v1 \(twinKeys.publicKey.z85) \(twinKeys.secretZ85)\n"
                    options.echoLog = false
                    process = try TwinProcess(options: options)
                    endpoint = process!.endpoint
                    curve = CurveClientKeys(keyPair: ownKeys, serverKey: twinKeys.publicKey)
                }
                let context: ZMQContext
                do { context = try ZMQContext() } catch { throw RuntimeError(.system, "\(error)") }
                var linkOptions = TwinLink.Options(endpoint: endpoint)
                linkOptions.curve = curve
                let link = try TwinLink(context: context, options: linkOptions)
                let welcome = try link.handshake()
                let episode = try link.reset(task: self.task ?? "", seed: self.seed)
                let q = Array(episode.observation.jointPositions.prefix(welcome.joints.count))
                let tcp = episode.observation.tcpPose.position
                console.line(
                    String(
                        format: "here: %@ seed %llu after reset, joints [%@], TCP (%.3f, %.3f, %.3f) m",
                        episode.task,
                        self.seed,
                        q.map { String(format: "%.4f", $0) }.joined(separator: ", "),
                        tcp.x,
                        tcp.y,
                        tcp.z
                    )
                )
                return q
            } catch {
                throw TeachError(.cell, "--here: \(error)")
            }
        }
    }

    /// `add FILE NAME …`.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a waypoint (at the end, or --after another).")

        @Argument(help: "The program file.") var file: String
        @Argument(help: "The waypoint's name (unique in the program).") var name: String
        @OptionGroup var waypoint: WaypointOptions

        func run() throws {
            let console = Console()
            try TeachRecord.orExit(console) { () throws(TeachError) in
                var program = try TeachProgram.load(self.file)
                guard self.waypoint.hasTarget else {
                    throw TeachError(.usage, "give the waypoint's target: --pose x,y,z[,yaw], --joints … or --here")
                }
                let target = try self.waypoint.target(console: console)!
                var w = TeachProgram.Waypoint(name: self.name, target: target)
                if let motion = self.waypoint.motion { w.motion = motion }
                if let speed = self.waypoint.speed { w.speed = speed }
                if let dwell = self.waypoint.dwell { w.dwell = dwell }
                if let gripper = try self.waypoint.gripperAction() { w.gripper = gripper }
                try program.add(w, after: self.waypoint.after)
                try program.save(self.file)
                console.line("added \(ProgramText.line(w, index: program.waypoints.firstIndex(of: w)! + 1))")
            }
        }
    }

    /// `list FILE`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a program's waypoints.")

        @Argument(help: "The program file.") var file: String

        func run() throws {
            let console = Console()
            let program = try TeachRecord.orExit(console) { () throws(TeachError) in try TeachProgram.load(self.file) }
            console.line("program '\(program.name)' (\(self.file)): \(program.waypoints.count) waypoints")
            for (k, w) in program.waypoints.enumerated() { console.line("  " + ProgramText.line(w, index: k + 1)) }
        }
    }

    /// `show FILE NAME`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one waypoint in full.")

        @Argument(help: "The program file.") var file: String
        @Argument(help: "The waypoint's name.") var name: String

        func run() throws {
            let console = Console()
            let (program, w) = try TeachRecord.orExit(console) { () throws(TeachError) in
                let program = try TeachProgram.load(self.file)
                return (program, try program.waypoint(self.name))
            }
            let index = program.waypoints.firstIndex(of: w)! + 1
            console.line("waypoint '\(w.name)' (\(index) of \(program.waypoints.count) in '\(program.name)')")
            switch w.target {
            case .pose(let p, let yaw):
                console.line(
                    String(
                        format: "  target:  TCP at (%.4f, %.4f, %.4f) m, tool down, yaw %.4f rad (%.1f°)",
                        p.x,
                        p.y,
                        p.z,
                        yaw,
                        yaw * 180 / .pi
                    )
                )
            case .orientedPose(let p, let q):
                console.line(
                    String(
                        format: "  target:  TCP at (%.4f, %.4f, %.4f) m, orientation (w %.4f, x %.4f, y %.4f, z %.4f)",
                        p.x,
                        p.y,
                        p.z,
                        q.w,
                        q.x,
                        q.y,
                        q.z
                    )
                )
            case .joints(let q):
                console.line(
                    "  target:  joints [" + q.map { String(format: "%.4f", $0) }.joined(separator: ", ") + "] rad"
                )
            }
            console.line("  motion:  \(w.motion.rawValue), speed \(w.speed)")
            console.line("  gripper: \(ProgramText.gripper(w.gripper) ?? "unchanged")")
            console.line(String(format: "  dwell:   %g s", w.dwell))
        }
    }

    /// `edit FILE NAME …`.
    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a waypoint: the options given replace its values (--rename, --after to move it)."
        )

        @Argument(help: "The program file.") var file: String
        @Argument(help: "The waypoint's name.") var name: String
        @Option(help: "A new name.") var rename: String?
        @OptionGroup var waypoint: WaypointOptions

        func run() throws {
            let console = Console()
            try TeachRecord.orExit(console) { () throws(TeachError) in
                var program = try TeachProgram.load(self.file)
                var w = try program.waypoint(self.name)
                if let target = try self.waypoint.target(console: console) { w.target = target }
                if let motion = self.waypoint.motion { w.motion = motion }
                if let speed = self.waypoint.speed { w.speed = speed }
                if let dwell = self.waypoint.dwell { w.dwell = dwell }
                if let gripper = try self.waypoint.gripperAction() { w.gripper = gripper }
                if let rename = self.rename { w.name = rename }
                try program.replace(self.name, with: w, after: self.waypoint.after)
                try program.save(self.file)
                console.line("changed \(ProgramText.line(w, index: program.waypoints.firstIndex(of: w)! + 1))")
            }
        }
    }

    /// `remove FILE NAME`.
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a waypoint.")

        @Argument(help: "The program file.") var file: String
        @Argument(help: "The waypoint's name.") var name: String

        func run() throws {
            let console = Console()
            let left = try TeachRecord.orExit(console) { () throws(TeachError) in
                var program = try TeachProgram.load(self.file)
                try program.remove(self.name)
                try program.save(self.file)
                return program.waypoints.count
            }
            console.line("removed '\(self.name)' (\(left) waypoints left)")
        }
    }
}

/// Waypoints in one line.
enum ProgramText {
    static func line(_ w: TeachProgram.Waypoint, index: Int) -> String {
        var text =
            String(format: "%2ld  ", index)
            + w.name.padding(toLength: max(14, w.name.count), withPad: " ", startingAt: 0) + " "
        switch w.target {
        case .pose(let p, let yaw):
            text += String(format: "pose (%.3f, %.3f, %.3f) yaw %.3f", p.x, p.y, p.z, yaw)
        case .orientedPose(let p, let q):
            text += String(
                format: "pose (%.3f, %.3f, %.3f) q (%.3f, %.3f, %.3f, %.3f)",
                p.x,
                p.y,
                p.z,
                q.w,
                q.x,
                q.y,
                q.z
            )
        case .joints(let q):
            text += "joints [" + q.map { String(format: "%.3f", $0) }.joined(separator: ", ") + "]"
        }
        text += "  \(w.motion.rawValue) \(String(format: "%.2f", w.speed))"
        if let gripper = Self.gripper(w.gripper) { text += "  gripper \(gripper)" }
        if w.dwell > 0 { text += String(format: "  dwell %g s", w.dwell) }
        return text
    }

    static func gripper(_ action: TeachProgram.GripperAction?) -> String? {
        switch action {
        case .open: "open"
        case .close: "close"
        case .aperture(let a): String(format: "%.4f m", a)
        case nil: nil
        }
    }
}
