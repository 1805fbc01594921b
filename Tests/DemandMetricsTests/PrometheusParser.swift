import Foundation

/// A strict reader of the Prometheus text format 0.0.4 for tests: every sample belongs to a family declared
/// with `# HELP` and `# TYPE` before it; names and labels are checked; values parse as Go floats.
struct Exposition {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var samples: [Sample] = []

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(_ text: String) throws {
        let name = /[a-zA-Z_:][a-zA-Z0-9_:]*/
        var helped = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { continue }
            if line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1)
                guard parts.count == 2, (try? name.wholeMatch(in: String(parts[0]))) != nil else {
                    throw Invalid(description: "bad HELP line: \(line)")
                }
                helped.insert(String(parts[0]))
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[1])
                else { throw Invalid(description: "bad TYPE line: \(line)") }
                guard self.types[String(parts[0])] == nil else { throw Invalid(description: "TYPE twice: \(line)") }
                self.types[String(parts[0])] = String(parts[1])
                continue
            }
            guard !line.hasPrefix("#") else { continue }
            guard let match = try /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.wholeMatch(in: String(line)) else {
                throw Invalid(description: "bad sample line: \(line)")
            }
            let sampleName = String(match.output.1)
            var labels: [String: String] = [:]
            if let body = match.output.2?.dropFirst().dropLast(), !body.isEmpty {
                for pair in body.matches(of: /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/) {
                    labels[String(pair.output.1)] = String(pair.output.2)
                }
            }
            let text = String(match.output.3)
            guard let value = text == "+Inf" ? .infinity : text == "-Inf" ? -.infinity : Double(text) else {
                throw Invalid(description: "bad value: \(line)")
            }
            let family =
                ["_bucket", "_sum", "_count"].compactMap { suffix -> String? in
                    guard sampleName.hasSuffix(suffix) else { return nil }
                    let base = String(sampleName.dropLast(suffix.count))
                    return ["histogram", "summary"].contains(self.types[base] ?? "") ? base : nil
                }.first ?? sampleName
            guard self.types[family] != nil, helped.contains(family) else {
                throw Invalid(description: "sample of an undeclared family: \(line)")
            }
            if self.types[family] == "counter" && !family.hasSuffix("_total") {
                throw Invalid(description: "counter without _total: \(family)")
            }
            self.samples.append(Sample(name: sampleName, labels: labels, value: value))
        }
    }

    /// The value of the one sample named `name` with these labels (nil if absent or ambiguous).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let found = self.samples.filter { sample in
            sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
        }
        return found.count == 1 ? found[0].value : nil
    }
}
