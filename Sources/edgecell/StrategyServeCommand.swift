import ArgumentParser
import DemandMetrics
import Dispatch
import Foundation
import LinkSecurity
import StrategyModel
import Synchronization
import ZeroMQ

/// `edgecell strategy serve`: receives demand reports from many runtimes and keeps the live fleet.
struct StrategyServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Receive demand reports from runtimes (edgecell run --strategy-endpoint), keep a live fleet view.",
        discussion: """
            Each report is read with the strict decoder; a malformed or future-version report is refused with a \
            log line naming what is wrong (and the sender is told), and the server keeps running. With --out, \
            each cell's latest report is written to OUT/cells/<cell>.json and, with --scenario, the strategy \
            report (report.html, .json, .csv) for the live fleet (the scenario's cells replaced by the fleet, \
            equal shares) every --write-every seconds and on SIGINT/SIGTERM, which also stop the server. \
            With the cell's CURVE keys (`edgecell keys generate`) every link is encrypted and only allow-listed \
            clients (`edgecell keys allow`) get in, each accept and refusal going to the audit log; without keys the \
            server refuses to bind an endpoint other machines can reach (docs/SECURITY.md).
            """
    )

    @Option(help: "ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:6000 (tcp://127.0.0.1:* picks a free port).")
    var bind: String

    @Option(help: "Folder for the cells' latest reports and the strategy report.")
    var out: String?

    @Option(help: "Scenario whose fleet driver, modules and shocks the live report uses (needs --out).")
    var scenario: String?

    @Option(help: "Seconds between two fleet tables (and report writes with --scenario); 0: only at the end.")
    var writeEvery: Double = 10

    @Option(help: "Stop after this many seconds (default: run until SIGINT or SIGTERM).")
    var duration: Double?

    @Flag(help: "Development only: serve a loopback or ipc:// endpoint without CURVE when this machine has no keys.")
    var devPlaintext = false

    func validate() throws {
        if self.scenario != nil && self.out == nil { throw ValidationError("--scenario needs --out DIR") }
        guard self.writeEvery >= 0 else { throw ValidationError("--write-every must be ≥ 0") }
    }

    func run() throws {
        let scenario: Scenario?
        do { scenario = try self.scenario.map(StrategyReportCommand.load) } catch {
            FileHandle.standardError.write(Data("error: \(self.scenario!): \(error)\n".utf8))
            throw ExitCode(2)
        }
        let context = try ZMQContext()
        let security = try LinkSetup.server(bind: self.bind, context: context, plaintext: self.devPlaintext) {
            Self.say($0)
        }
        defer { security?.handler.stop() }
        let receiver: DemandReceiver
        do { receiver = try DemandReceiver(context: context, bind: self.bind, curve: security?.keyPair) } catch {
            FileHandle.standardError.write(Data("error: cannot bind \(self.bind): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let security {
            security.authenticator.endpoint = receiver.endpoint
            Self.say(
                "strategy serve: CURVE on; server public key (give it to runtimes as --strategy-key): "
                    + PublicKeyLine(key: security.keyPair.publicKey).text
            )
            Self.say(
                "strategy serve: \(security.authenticator.allowList.count) allowed clients "
                    + "(\(security.store.allowListPath); `edgecell keys allow` adds one)"
            )
        }
        if let out = self.out {
            try FileManager.default.createDirectory(
                atPath: (out as NSString).appendingPathComponent("cells"),
                withIntermediateDirectories: true
            )
        }
        Self.say("strategy serve: listening on \(receiver.endpoint)")
        let stop = StopFlag()
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.value.store(true, ordering: .relaxed) }
            source.resume()
            sources.append(source)
        }
        defer { for source in sources { source.cancel() } }

        var fleet = Fleet()
        var paths: [String: String] = [:]
        var accepted = 0
        var rejected = 0
        var changed = false
        let started = Date()
        var nextWrite = Date().addingTimeInterval(self.writeEvery)
        while !stop.value.load(ordering: .relaxed) {
            if let duration = self.duration, Date().timeIntervalSince(started) >= duration { break }
            let event: DemandReceiver.Event?
            do { event = try receiver.next(timeout: 0.2) } catch {
                Self.say("error: receiving: \(error)")
                throw ExitCode(1)
            }
            switch event {
            case .accepted(let report, let peer):
                accepted += 1
                let latest = fleet.add(report)
                changed = true
                Self.say(
                    "accepted report from cell '\(report.cellId)' (peer \(peer)): \(report.model.name) "
                        + "\(report.model.precision), \(report.inference.count) inferences, window ending "
                        + "\(ISO8601DateFormatter().string(from: report.window.end))"
                        + (latest ? "" : " (older than the cell's latest; kept for the count only)")
                )
                if latest, let out = self.out {
                    let path = (out as NSString).appendingPathComponent("cells/\(Self.fileName(report.cellId)).json")
                    do {
                        try StrategyReportAtomic.write(report.encoded(), to: path)
                        paths[report.cellId] = path
                    } catch { Self.say("error: cannot write \(path): \(error)") }
                }
            case .rejected(let error, let peer):
                rejected += 1
                Self.say("rejected a demand report from peer \(peer): \(error.message)")
            case nil:
                break
            }
            if self.writeEvery > 0, Date() >= nextWrite {
                nextWrite = Date().addingTimeInterval(self.writeEvery)
                if changed {
                    changed = false
                    self.show(fleet, accepted: accepted, rejected: rejected)
                    self.writeReport(fleet, scenario: scenario, paths: paths)
                }
            }
        }
        self.show(fleet, accepted: accepted, rejected: rejected)
        self.writeReport(fleet, scenario: scenario, paths: paths)
        Self.say("strategy serve: stopped (\(accepted) reports accepted, \(rejected) refused)")
    }

    func show(_ fleet: Fleet, accepted: Int, rejected: Int) {
        Self.say("fleet: \(fleet.ids.count) cells, \(accepted) reports accepted, \(rejected) refused")
        if !fleet.ids.isEmpty { Self.say(fleet.table()) }
    }

    func writeReport(_ fleet: Fleet, scenario: Scenario?, paths: [String: String]) {
        guard let scenario, let out = self.out, !fleet.ids.isEmpty else { return }
        let report = StrategyReport(scenario.replacingCells(with: fleet, paths: paths))
        do {
            let files = try report.write(to: out)
            Self.say("wrote the strategy report for \(fleet.ids.count) cells: " + files.joined(separator: ", "))
        } catch { Self.say("error: cannot write the report to \(out): \(error)") }
    }

    /// A cell id as a file name (anything but letters, digits, '-', '_' and '.' becomes '_').
    static func fileName(_ id: String) -> String {
        String(id.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
    }

    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// Raised by SIGINT or SIGTERM.
private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// Temp file, fsync, rename.
enum StrategyReportAtomic {
    static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        let fd = open(temporary, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
