import Foundation

/// Energy of the CPU package from Linux's powercap RAPL counters (`/sys/class/powercap/intel-rapl:N/energy_uj`;
/// AMD processors appear under the same driver name since Linux 5.8). The counters are root-only on most
/// kernels since 5.10 (CVE-2020-8694), so `init` returns nil unless every package counter is readable.
public struct RAPLMeter: Sendable {
    /// One package domain: its folder, name, and the counter's wrap-around range.
    public struct Domain: Sendable {
        public var path: String
        public var name: String
        public var maxMicrojoules: Double
    }

    public let domains: [Domain]
    private let start: [Double]

    /// Opens the package domains under `root`; nil if there are none or one cannot be read.
    public init?(root: String = "/sys/class/powercap") {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        // Top-level domains only (intel-rapl:0, not intel-rapl:0:0, which are inside the package).
        let packages = entries.filter { $0.hasPrefix("intel-rapl:") && $0.split(separator: ":").count == 2 }.sorted()
        var domains: [Domain] = []
        var start: [Double] = []
        for entry in packages {
            let path = (root as NSString).appendingPathComponent(entry)
            guard let energy = Self.read(path + "/energy_uj") else { return nil }
            let name =
                (try? String(contentsOfFile: path + "/name", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? entry
            domains.append(
                Domain(path: path, name: name, maxMicrojoules: Self.read(path + "/max_energy_range_uj") ?? 0)
            )
            start.append(energy)
        }
        guard !domains.isEmpty else { return nil }
        self.domains = domains
        self.start = start
    }

    static func read(_ path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Joules used by every package since `init` (one wrap-around per domain is undone), or nil if unreadable.
    public func joulesSinceStart() -> Double? {
        var total = 0.0
        for (k, domain) in self.domains.enumerated() {
            guard let now = Self.read(domain.path + "/energy_uj") else { return nil }
            var delta = now - self.start[k]
            if delta < 0, domain.maxMicrojoules > 0 { delta += domain.maxMicrojoules }
            total += delta
        }
        return total * 1e-6
    }

    /// What was read, for `method_detail`.
    public var description: String {
        "RAPL package counters "
            + self.domains.map { "\(($0.path as NSString).lastPathComponent) (\($0.name))" }
            .joined(separator: ", ") + " energy_uj, difference over the window divided by the inferences in it; "
            + "covers the whole package (every process and the idle floor), so it is an upper bound for inference"
    }
}

/// How energy per inference is obtained when RAPL cannot be read (docs/STRATEGY.md, "Energy").
public enum EnergyEstimate {
    /// pJ per FLOP of the operation-count model: Horowitz (ISSCC 2014, 45 nm) fp32 multiply 3.7 pJ + add
    /// 0.9 pJ per multiply-add of 2 FLOPs (anchors-strategy.md §1.6).
    public static let picojoulesPerFlop = 2.3

    /// CodeCarbon's fallback without RAPL: power = 50 % of the CPU's TDP, shared by CPU time. Joules for
    /// `cpuSeconds` of one logical CPU out of `logicalCPUs`.
    public static func codeCarbonJoules(cpuSeconds: Double, tdpWatts: Double, logicalCPUs: Int) -> Double {
        cpuSeconds * 0.5 * tdpWatts / Double(max(logicalCPUs, 1))
    }

    public static func codeCarbonDetail(tdpWatts: Double, logicalCPUs: Int) -> String {
        "estimate (no readable RAPL counter): CodeCarbon's TDP fallback, E = policy-thread CPU time × 0.5 × TDP "
            + "(\(tdpWatts) W, declared with --cpu-tdp-watts) / \(logicalCPUs) logical CPUs, per inference "
            + "(mlco2/codecarbon docs/explanation/methodology.md via anchors-strategy.md §1.6); errors up to 40 % "
            + "(Fischer 2025)"
    }

    public static let operationCountDetail =
        "estimate (no readable RAPL counter, no --cpu-tdp-watts): operation-count model, counted FLOPs × 2.3 pJ "
        + "(Horowitz ISSCC 2014, 45 nm: fp32 multiply 3.7 pJ + add 0.9 pJ per 2 FLOPs, anchors-strategy.md §1.6); "
        + "memory traffic and static power left out, so a lower bound; expect errors of 40 % or more"
}
