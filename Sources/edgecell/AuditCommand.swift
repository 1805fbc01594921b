import ArgumentParser
import Audit
import Foundation

/// Records security-relevant events in the cell's audit log, best effort: a failure to record is reported on
/// standard error and never stops the action itself (an e-stop must brake whatever the log's disk is doing).
enum AuditTrail {
    /// Appends `event` with `fields`, plus the acting process and user.
    static func record(_ event: String, _ fields: [String: String]) {
        var all = fields
        all["pid"] = "\(getpid())"
        all["uid"] = "\(getuid())"
        let log = AuditLog(path: AuditLog.defaultPath())
        do { try log.append(event, all) } catch {
            FileHandle.standardError.write(
                Data("warning: audit log \(log.path): \(error) (event \(event) not recorded)\n".utf8)
            )
        }
    }
}

/// `edgecell audit`: check and read the cell's hash-chained audit log.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and read the cell's append-only, hash-chained audit log.",
        discussion: """
            The log ($EDGECELL_STATE_DIR/audit.log, else /var/lib/edgecell/audit.log if writable, else \
            ~/.local/state/edgecell/audit.log) records e-stops, model loads and refusals, trusted signers, key \
            changes, link admissions and refusals, configuration files and their changes, safety-limit \
            violations and exports, one JSON line per event, each holding the SHA-256 of the line before it \
            (docs/SECURITY.md §1).
            """,
        subcommands: [AuditVerify.self, AuditShow.self]
    )
}

/// Options shared by the audit subcommands.
struct AuditLogOption: ParsableArguments {
    @Option(help: ArgumentHelp("The log file (default: the cell's).", valueName: "file"))
    var log: String?

    var auditLog: AuditLog { AuditLog(path: self.log ?? AuditLog.defaultPath()) }
}

/// `edgecell audit verify`.
struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the whole chain; exit 1 naming the first bad line.",
        discussion: """
            Detects an edited, removed, inserted or reordered entry and a truncated last line. A chain alone \
            cannot show that whole entries were cut from the end or that the log was rewritten from some entry \
            on: record the head this command prints somewhere else and pass it back later with --anchor.
            """
    )

    @OptionGroup var options: AuditLogOption

    @Option(
        help: ArgumentHelp(
            "An entry recorded earlier that must still be there, as SEQ:HASH (repeatable).",
            valueName: "seq:hash"
        )
    )
    var anchor: [String] = []

    func run() throws {
        let console = Console()
        var anchors: [Int: String] = [:]
        for text in self.anchor {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let seq = Int(parts[0]), seq >= 1, parts[1].count == 64 else {
                throw ValidationError("--anchor \(text): expected SEQ:HASH (HASH is 64 hex digits)")
            }
            anchors[seq] = String(parts[1])
        }
        let log = self.options.auditLog
        do {
            let result = try log.verify(anchors: anchors)
            console.line(
                "audit log \(log.path): intact, \(result.entries) entr\(result.entries == 1 ? "y" : "ies")"
                    + (result.entries == 0 ? "" : "; head \(result.entries):\(result.head)")
            )
        } catch {
            console.error("error: audit log \(log.path): \(error)")
            throw ExitCode(1)
        }
    }
}

/// `edgecell audit show`.
struct AuditShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the last entries of the audit log."
    )

    @OptionGroup var options: AuditLogOption

    @Option(help: "How many entries, from the end (0: all).")
    var tail = 20

    @Flag(help: "Print the lines as stored (JSON).")
    var json = false

    func validate() throws {
        guard self.tail >= 0 else { throw ValidationError("--tail must be ≥ 0") }
    }

    func run() throws {
        let console = Console()
        let log = self.options.auditLog
        guard let data = FileManager.default.contents(atPath: log.path) else {
            console.line("audit log \(log.path): no entries yet")
            return
        }
        // Shows every line, even ones that no longer parse: an operator looking into a damaged log needs them.
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Data($0) }
        if data.last == UInt8(ascii: "\n") { lines.removeLast() }
        let first = self.tail == 0 ? 0 : max(0, lines.count - self.tail)
        for number in first..<lines.count {
            let line = lines[number]
            if self.json {
                console.line(String(decoding: line, as: UTF8.self))
            } else if let entry = try? AuditEntry.parse(line, line: number + 1) {
                let fields = entry.fields.keys.sorted().map { "\($0)=\(Self.show(entry.fields[$0]!))" }
                console.line(([String(entry.seq), entry.time, entry.event] + fields).joined(separator: "  "))
            } else {
                console.line(
                    "line \(number + 1): not an audit entry: \(Self.show(String(decoding: line, as: UTF8.self)))"
                )
            }
        }
        do { _ = try log.verify() } catch {
            console.error("warning: the chain does not verify: \(error)")
        }
    }

    /// A field value on one line, quoted if it has spaces, quotes or control characters; control characters
    /// (an ANSI escape in an e-stop reason, say) are escaped so they cannot rewrite the operator's terminal.
    private static func show(_ value: String) -> String {
        let plain =
            !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && !isControl($0) }
        guard !plain else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where isControl(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
