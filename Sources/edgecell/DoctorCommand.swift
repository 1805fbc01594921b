import ArgumentParser
import CellRuntime
import Foundation
import LinkSecurity
import ZeroMQ

/// `edgecell doctor`: checks what the runtime needs on this machine and says how to fix what is missing.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check libzmq, Eigen, the Python venv, MuJoCo rendering, CPU features and real-time permissions."
    )

    @Option(help: "Python interpreter to check (default: the project's .venv).")
    var python: String?

    func run() throws {
        let python = self.python ?? TwinProcess.locatePython()
        var checks: [DoctorCheck] = []
        let zmq = ZMQContext.version
        checks.append(
            DoctorCheck(
                "libzmq",
                zmq.major == 4 && zmq.minor >= 3,
                "\(zmq.major).\(zmq.minor).\(zmq.patch), CURVE \(ZMQContext.has("curve") ? "yes" : "no")",
                fix: "apt-get install libzmq3-dev"
            )
        )
        let eigen = FileManager.default.fileExists(atPath: "/usr/include/eigen3/Eigen/Dense")
        checks.append(
            DoctorCheck(
                "Eigen headers",
                eigen,
                eigen ? "/usr/include/eigen3" : "not found",
                fix: "apt-get install libeigen3-dev (needed to build CKinematics)"
            )
        )
        checks.append(DoctorCheck.kinematicsSelfTest())
        let venv = DoctorCheck.runPython(
            python,
            """
            import edgecell_twin, mujoco, zmq, numpy
            print(f"edgecell_twin {edgecell_twin.__version__}, mujoco {mujoco.__version__}, pyzmq {zmq.__version__}, numpy {numpy.__version__}")
            """
        )
        checks.append(
            DoctorCheck(
                "Python twin (\(python))",
                venv.ok,
                venv.output,
                fix: "run the README's setup (Tools/bootstrap) or pass --python"
            )
        )
        if venv.ok {
            let render = DoctorCheck.runPython(
                python,
                """
                from edgecell_twin.render import select_backend
                print("offscreen rendering with", select_backend())
                """
            )
            checks.append(
                DoctorCheck(
                    "MuJoCo rendering",
                    render.ok,
                    render.output,
                    fix: "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (EGL) or libosmesa6"
                )
            )
        }
        checks.append(contentsOf: DoctorCheck.cpu())
        checks.append(contentsOf: DoctorCheck.realtime())
        checks.append(DoctorCheck.linkKeys())

        var failed = 0
        for check in checks {
            let mark = check.ok ? "ok  " : (check.essential ? "FAIL" : "warn")
            print("[\(mark)] \(check.name): \(check.detail)")
            if !check.ok, let fix = check.fix { print("       fix: \(fix)") }
            if !check.ok && check.essential { failed += 1 }
        }
        print(failed == 0 ? "\nall essential checks passed" : "\n\(failed) essential check(s) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// One finding of `edgecell doctor`.
struct DoctorCheck {
    let name: String
    let ok: Bool
    let detail: String
    let fix: String?
    var essential = true

    init(_ name: String, _ ok: Bool, _ detail: String, fix: String? = nil, essential: Bool = true) {
        self.name = name
        self.ok = ok
        self.detail = detail
        self.fix = fix
        self.essential = essential
    }

    /// The cell's CURVE keys (docs/SECURITY.md §3): not essential (loopback works without), but links off this
    /// machine are refused until they exist.
    static func linkKeys() -> DoctorCheck {
        let store = KeyStore.cell
        guard store.hasKeyPair else {
            return DoctorCheck(
                "link keys",
                false,
                "none in \(store.directory): links that leave this machine are refused",
                fix: "edgecell keys generate, then edgecell keys allow KEY for each client of this cell's servers",
                essential: false
            )
        }
        do {
            let pair = try store.keyPair()
            let allowed = try store.allowList().count
            return DoctorCheck(
                "link keys",
                true,
                "public key \(pair.publicKey.z85), \(allowed) allowed client\(allowed == 1 ? "" : "s") (\(store.directory))"
            )
        } catch {
            return DoctorCheck("link keys", false, error.message, fix: "see docs/SECURITY.md §3", essential: false)
        }
    }

    static func runPython(_ python: String, _ script: String) -> (ok: Bool, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (false, "cannot run \(python): \(error.localizedDescription)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        let last = lines.last(where: { !$0.isEmpty }) ?? "(no output)"
        return (process.terminationStatus == 0, last)
    }

    static func kinematicsSelfTest() -> DoctorCheck {
        let ok = KinematicsSelfTest.run()
        return DoctorCheck("CKinematics (Eigen)", ok.passed, ok.detail)
    }

    static func cpu() -> [DoctorCheck] {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            info.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        let flagsLine = info.split(separator: "\n").first { $0.hasPrefix("flags") || $0.hasPrefix("Features") } ?? ""
        let flags = Set(flagsLine.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
        let wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "asimd"]
        let present = wanted.filter(flags.contains)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        return [
            DoctorCheck(
                "CPU",
                true,
                String(
                    format: "%@, %d cores, %.0f GiB; SIMD: %@",
                    model,
                    cores,
                    memory,
                    present.isEmpty ? "scalar only" : present.joined(separator: " ")
                )
            )
        ]
    }

    static func realtime() -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let report = RealtimeProbe.run()
        checks.append(
            DoctorCheck(
                "real-time scheduling",
                report.fifo,
                report.fifoDetail,
                fix: "run as root, grant CAP_SYS_NICE, or set an rtprio limit (ulimit -r 90)",
                essential: false
            )
        )
        checks.append(
            DoctorCheck(
                "memory locking",
                report.mlock,
                report.mlockDetail,
                fix: "raise the memlock limit (ulimit -l unlimited) or grant CAP_IPC_LOCK",
                essential: false
            )
        )
        checks.append(
            DoctorCheck(
                "PREEMPT_RT kernel",
                report.preemptRT,
                report.preemptRT ? "yes" : "no: expect millisecond wake-up outliers (lock-step is unaffected)",
                fix: "for a production cell, boot a PREEMPT_RT kernel",
                essential: false
            )
        )
        return checks
    }
}
