import ArgumentParser
import Audit
import Crypto
import Foundation
import Yams

/// `--config FILE`: options from a YAML file, every one overridable on the command line (docs/CONFIGURATION.md).
///
/// The file maps option names (the long names without `--`) to values; a section named after a command
/// (`run:`, `eval:`, `teach-record:`) holds options for that command only and wins over the top level. Top-level
/// keys apply to every command that has the option. Values: scalars, lists (options taking several values, such
/// as `task`), `true`/`false` for flags. An unknown key, a key the command does not take, or a value of the wrong
/// shape is refused naming the file and the key. The file becomes arguments placed before the command line's, and
/// an option given on the command line drops the file's value for it, so the command line always wins.
enum ConfigFile {
    /// Commands that accept `--config`, by the path of subcommand names after `edgecell`.
    static let commands: [[String]: any ParsableCommand.Type] = [
        ["run"]: RunCommand.self, ["eval"]: EvalCommand.self, ["teach", "record"]: TeachRecord.self,
    ]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The file and the option names the last `expand` took from it (to name the key when parsing fails).
    nonisolated(unsafe) static var expanded: (path: String, keys: [String])? = nil
    /// The last `expand`'s file: its command, and the SHA-256 of the bytes read (for the audit log).
    nonisolated(unsafe) static var loaded: (command: String, sha256: String)? = nil

    /// Records the configuration a command runs with in the cell's audit log, once the command line has parsed:
    /// `config.changed` when the file's contents differ from the last time the log saw it (or it is new to the
    /// log), `config.loaded` otherwise. Fields: `file` (absolute), `sha256`, `previous_sha256`, `command`, and
    /// `applied` (the options taken from the file; the command line overrides the rest).
    static func audit() {
        guard let (path, keys) = self.expanded, let (command, sha256) = self.loaded else { return }
        let file = URL(fileURLWithPath: path).standardizedFileURL.path
        let previous =
            (try? AuditLog(path: AuditLog.defaultPath()).entries())?
            .last { ($0.event == "config.loaded" || $0.event == "config.changed") && $0.fields["file"] == file }?
            .fields["sha256"]
        AuditTrail.record(
            previous == sha256 ? "config.loaded" : "config.changed",
            [
                "file": file, "sha256": sha256, "previous_sha256": previous ?? "none", "command": command,
                "applied": keys.sorted().joined(separator: ","),
            ]
        )
    }

    /// A parse error's message, naming the config file and key if the bad option came from the file.
    static func explain(_ message: String) -> String? {
        guard let (path, keys) = self.expanded else { return nil }
        for key in keys where message.contains("'--\(key)") || message.contains("--\(key) ") {
            return "error: --config \(path): key '\(key)': " + message
        }
        return nil
    }

    /// The long option names a command takes (from its help text: the generated help lists every one).
    static func optionNames(_ command: any ParsableCommand.Type) -> Set<String> {
        let help = command.helpMessage(columns: 1000)
        var names = Set<String>()
        let pattern = /--([a-z0-9][a-z0-9-]*)/
        for match in help.matches(of: pattern) { names.insert(String(match.output.1)) }
        names.remove("help")
        names.remove("version")
        names.remove("config")
        return names
    }

    /// Expands `--config FILE` in `arguments` (without the program name). Returns them unchanged without it.
    static func expand(_ arguments: [String]) throws(Failure) -> [String] {
        guard let at = arguments.firstIndex(of: "--config") else { return arguments }
        guard at + 1 < arguments.count else { throw Failure(description: "--config needs a file") }
        let path = arguments[at + 1]
        var rest = arguments
        rest.removeSubrange(at...(at + 1))
        // The subcommand path: the longest known prefix of the leading non-option words.
        let words = Array(rest.prefix { !$0.hasPrefix("-") })
        guard
            let key = (1...max(words.count, 1)).reversed().map({ Array(words.prefix($0)) })
                .first(where: { commands[$0] != nil }),
            let command = commands[key]
        else {
            throw Failure(description: "--config works with: edgecell run, eval, teach record")
        }
        let section = key.joined(separator: "-")
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure(description: "--config \(path): cannot read it (\(error.localizedDescription))")
        }
        self.loaded = (
            key.joined(separator: " "), SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        )
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw Failure(description: "--config \(path): not valid YAML: \(error)")
        }
        guard let top = (node ?? [String: Any]()) as? [String: Any] else {
            throw Failure(description: "--config \(path): the file must be a mapping of option names to values")
        }
        let own = optionNames(command)
        var all = Set<String>()
        for other in commands.values { all.formUnion(optionNames(other)) }
        let sections = Set(commands.keys.map { $0.joined(separator: "-") })
        var values: [(String, Any)] = []
        for (name, value) in top.sorted(by: { $0.key < $1.key }) {
            if sections.contains(name) { continue }
            guard all.contains(name) else {
                throw Failure(
                    description:
                        "--config \(path): unknown key '\(name)' (options: \(all.sorted().joined(separator: ", ")))"
                )
            }
            if own.contains(name) { values.append((name, value)) }
        }
        if let inner = top[section] {
            guard let mapping = inner as? [String: Any] else {
                throw Failure(description: "--config \(path): '\(section)' must be a mapping of option names to values")
            }
            for (name, value) in mapping.sorted(by: { $0.key < $1.key }) {
                guard own.contains(name) else {
                    throw Failure(
                        description:
                            "--config \(path): '\(section).\(name)' is not an option of edgecell \(key.joined(separator: " ")) "
                            + "(options: \(own.sorted().joined(separator: ", ")))"
                    )
                }
                values.removeAll { $0.0 == name }
                values.append((name, value))
            }
        }
        let given = Set(rest.filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2).prefix { $0 != "=" }) })
        var inserted: [String] = []
        for (name, value) in values where !given.contains(name) {
            let where_ = top[section].flatMap { ($0 as? [String: Any])?[name] } != nil ? "\(section).\(name)" : name
            switch value {
            case let flag as Bool:
                if flag { inserted.append("--\(name)") }
            case let list as [Any]:
                let items = try list.map { item throws(Failure) in try scalar(item, path: path, key: where_) }
                guard !items.isEmpty else { continue }
                inserted.append("--\(name)")
                inserted += items
            default:
                inserted += ["--\(name)", try scalar(value, path: path, key: where_)]
            }
        }
        self.expanded = (path, values.map(\.0).filter { !given.contains($0) })
        return Array(rest.prefix(key.count)) + inserted + Array(rest.dropFirst(key.count))
    }

    private static func scalar(_ value: Any, path: String, key: String) throws(Failure) -> String {
        switch value {
        case let text as String: return text
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        case let flag as Bool: return String(flag)
        default:
            throw Failure(description: "--config \(path): '\(key)' must be a number, a string or a list of them")
        }
    }
}
