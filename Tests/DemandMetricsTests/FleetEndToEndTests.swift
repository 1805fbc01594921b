import DemandMetrics
import Foundation
import ModelSigning
import Policy
import Synchronization
import Testing
import ZeroMQ

/// End to end through the built CLI (`swift build` first): three `edgecell run` processes, each with its own
/// local twin and model, report to one `edgecell strategy serve`; the aggregated strategy report holds all
/// three, and its per-cell compute figures equal each runtime's own `/metrics`, which equal the kernel's counts.

let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let binary = repository.appendingPathComponent(".build/debug/edgecell").path

/// A child process whose standard output is collected as it comes.
final class Child: Sendable {
    let process: Process
    private final class Output: Sendable { let text = Mutex("") }
    private let output = Output()

    /// Runs `edgecell arguments`, with `state` as the cell's state directory if given.
    init(_ arguments: [String], state: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        if let state { environment["EDGECELL_STATE_DIR"] = state }
        environment["EDGECELL_PYTHON"] =
            environment["EDGECELL_PYTHON"] ?? repository.appendingPathComponent(".venv/bin/python").path
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        self.process = process
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    var text: String { self.output.text.withLock { $0 } }

    /// The first capture of `pattern` in the output, waiting up to `seconds`.
    func first(_ pattern: Regex<(Substring, Substring)>, within seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let match = self.text.firstMatch(of: pattern) { return String(match.output.1) }
            usleep(50_000)
        } while Date() < deadline && self.process.isRunning
        return self.text.firstMatch(of: pattern).map { String($0.output.1) }
    }

    /// SIGTERM, then waits up to `seconds` (SIGKILL after that); the exit status.
    @discardableResult
    func terminate(within seconds: Double = 30) -> Int32 {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(seconds)
        while self.process.isRunning && Date() < deadline { usleep(50_000) }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
        return self.process.terminationStatus
    }
}

/// GET http://127.0.0.1:port/metrics with a plain socket; the body.
func scrape(port: Int) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw CocoaError(.fileReadUnknown) }
    let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
    #expect(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"))
    return String(text[text.range(of: "\r\n\r\n")!.upperBound...])
}

/// The value of an unlabelled (or labelled) sample in an exposition.
func metric(_ text: String, _ name: String, _ labels: String = "") -> Double? {
    let prefix = labels.isEmpty ? "\(name) " : "\(name){\(labels)} "
    return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
}

@Suite(.serialized) struct FleetEndToEndTests {
    struct Cell {
        var id: String
        var model: String
        var variant: WeightVariant
        var arguments: [String]
    }

    @Test func three_runtimes_report_to_one_server_and_the_report_matches_their_metrics() throws {
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build edgecell first: swift build")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("edgecell-e2e-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let state = out + "/state"
        let server = try Child(
            [
                "strategy", "serve", "--bind", "tcp://127.0.0.1:*", "--dev-plaintext", "--out", out, "--scenario",
                repository.appendingPathComponent("docs/scenarios/japan-2030.yaml").path, "--write-every", "0",
            ],
            state: state
        )
        defer { server.terminate() }
        let endpoint = try #require(server.first(/listening on (tcp:\/\/\S+)/, within: 30), "\(server.text)")

        // A malformed and a future-version report: refused, named, and the server keeps running.
        let context = try ZMQContext()
        let sender = try ZMQSocket(context, kind: .dealer)
        try sender.setReceiveTimeout(milliseconds: 10_000)
        try sender.connect(endpoint)
        var future = validReportObject()
        future["version"] = 3
        var malformed = validReportObject()
        malformed.removeValue(forKey: "energy")
        for (payload, expected) in [
            (future, "version 3 is newer than this build reads (1)"), (malformed, "missing field 'energy'"),
        ] {
            try sender.send(frames: [Array("1".utf8), Array(try JSONSerialization.data(withJSONObject: payload))])
            let answer = try #require(try sender.receiveMessage(), "the server did not answer")
            #expect(String(decoding: answer[1], as: UTF8.self).contains(expected))
        }
        // The log names what was wrong (it is written just after the answer).
        #expect(server.first(/(: version 3 is newer than this build reads \(1\); upgrade)/, within: 5) != nil)
        #expect(server.first(/(rejected a demand report from peer \S+: missing field 'energy')/, within: 5) != nil)
        #expect(server.process.isRunning)

        let cells = [
            Cell(id: "e2e-a", model: "tiny2cam", variant: .fp32, arguments: ["--control-rate", "100"]),
            Cell(id: "e2e-b", model: "tiny", variant: .int8, arguments: ["--control-rate", "50"]),
            Cell(
                id: "e2e-c",
                model: "small",
                variant: .fp32,
                arguments: ["--control-rate", "100", "--camera-rate", "5"]
            ),
        ]
        // The runtimes run only signed models: sign copies of the fixtures with a key made for this test.
        let keys = try SigningSecretKey.generate(directory: out + "/keys", comment: "fleet test")
        let secret = try SigningSecretKey.load(keys.secretPath)
        try FileManager.default.createDirectory(atPath: out + "/models", withIntermediateDirectories: true)
        for name in Set(cells.map(\.model)) {
            try FileManager.default.copyItem(
                atPath: repository.appendingPathComponent("Tests/Fixtures/models/\(name)").path,
                toPath: out + "/models/" + name
            )
            try ModelSigner.sign(directory: out + "/models/" + name, key: secret)
        }
        var runtimes: [Child] = []
        defer { for runtime in runtimes { runtime.terminate() } }
        for cell in cells {
            runtimes.append(
                try Child(
                    [
                        "run", "--controller", "policy", "--model", out + "/models/" + cell.model, "--trust",
                        keys.publicPath, "--variant",
                        cell.variant.rawValue, "--episodes", "100000", "--time-limit", "2", "--no-realtime", "--pin",
                        "none",
                        "--metrics-port", "0", "--strategy-endpoint", endpoint, "--dev-plaintext", "--report-every",
                        "0.5", "--cell-id",
                        cell.id,
                    ] + cell.arguments,
                    state: state
                )
            )
        }
        var pages: [String: String] = [:]
        for (cell, runtime) in zip(cells, runtimes) {
            let port = try #require(
                runtime.first(/metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/, within: 60).flatMap { Int($0) },
                "\(runtime.text)"
            )
            // Wait until the server heard from this cell, then scrape.
            let heard = try Regex<(Substring, Substring)>("accepted report from cell '(\(cell.id))'")
            #expect(server.first(heard, within: 90) != nil, "\(runtime.text)")
            let page = try scrape(port: port)
            _ = try Exposition(page)  // well-formed 0.0.4
            pages[cell.id] = page
            // The model figures are the kernel's own counts.
            let policy = try Policy(
                directory: repository.appendingPathComponent("Tests/Fixtures/models/\(cell.model)").path,
                variant: cell.variant
            )
            let work = policy.executedWork
            #expect(metric(page, "edgecell_model_flops_per_inference") == Double(work.map(\.flops).reduce(0, +)))
            #expect(metric(page, "edgecell_model_bytes_per_inference") == Double(work.map(\.bytes).reduce(0, +)))
            for op in work {
                #expect(
                    metric(page, "edgecell_model_operation_flops_per_inference", "operation=\"\(op.operation)\"")
                        == Double(op.flops)
                )
            }
            #expect(metric(page, "edgecell_model_parameters") == Double(policy.parameterCount))
            #expect(metric(page, "edgecell_model_arena_bytes") == Double(policy.arenaBytes))
            #expect(metric(page, "edgecell_model_weight_bytes") == Double(policy.packedWeightBytes))
            #expect((metric(page, "edgecell_inference_latency_seconds_count") ?? 0) > 0)
        }
        for runtime in runtimes { #expect(runtime.terminate() == 130, "\(runtime.text)") }
        #expect(server.terminate(within: 120) == 0, "\(server.text)")

        let data = try #require(FileManager.default.contents(atPath: out + "/report.json"), "\(server.text)")
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let reported = try #require(report["cells"] as? [[String: Any]])
        #expect(Set(reported.compactMap { $0["cell_id"] as? String }) == Set(cells.map(\.id)))
        for cell in reported {
            let id = cell["cell_id"] as! String
            let page = try #require(pages[id])
            for (key, name) in [
                ("flops_per_inference", "edgecell_model_flops_per_inference"),
                ("bytes_per_inference", "edgecell_model_bytes_per_inference"),
                ("required_flops_per_second", "edgecell_required_flops_per_second"),
                ("required_bandwidth_bytes_per_second", "edgecell_required_memory_bandwidth_bytes_per_second"),
                ("policy_hz", "edgecell_policy_rate_hertz"),
                ("measured_control_hz", "edgecell_control_rate_hertz"),
                ("parameters", "edgecell_model_parameters"),
            ] {
                let value = try #require(cell[key] as? NSNumber, "\(key) missing for \(id)").doubleValue
                #expect(value == metric(page, name), "\(id): report \(key) \(value) vs /metrics \(name)")
            }
        }
        // The three cells differ: two models and two control rates.
        #expect(Set(reported.compactMap { $0["model"] as? String }).count == 3)
        #expect(Set(reported.compactMap { ($0["measured_control_hz"] as? NSNumber)?.doubleValue }) == [50, 100])
    }
}
