import Crypto
import Foundation

/// One line of the audit log: a security-relevant event, chained to the line before it.
///
/// On disk an entry is one line of JSON in a canonical form, members in this order:
/// `{"v":1,"seq":N,"time":"…","event":"…",<fields, sorted by name>,"prev":"…","hash":"…"}` — no spaces; strings
/// escape only `"`, `\`, and control characters. `hash` is the SHA-256 (hex) of that same line without its
/// `,"hash":"…"` member; `prev` is the SHA-256 (hex) of the previous line's bytes (without its newline), or 64
/// zeros for the first entry. A fixed canonical form (rather than a JSON library's output) lets a log written on
/// one platform verify on any other, and lets the verifier refuse a line that was merely re-spaced.
public struct AuditEntry: Hashable, Sendable {
    /// The entry format version.
    public static let formatVersion = 1
    /// `prev` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)
    /// Member names an entry uses itself; fields cannot take them.
    public static let reservedNames: Set<String> = ["v", "seq", "time", "event", "prev", "hash"]

    /// Position in the log, from 1 (equal to the line number).
    public let seq: Int
    /// When it was recorded, ISO 8601 in UTC with milliseconds (`2025-05-01T12:00:00.000Z`).
    public let time: String
    /// What happened, e.g. `estop.engaged`, `model.loaded`.
    public let event: String
    /// The event's details.
    public let fields: [String: String]
    /// SHA-256 (hex) of the previous line.
    public let prev: String
    /// SHA-256 (hex) of this entry's canonical form without `hash`.
    public let hash: String

    /// Makes the entry that follows a line whose SHA-256 is `prev`, computing its hash.
    public init(
        seq: Int,
        time: String,
        event: String,
        fields: [String: String],
        prev: String
    ) throws(AuditError) {
        try Self.validate(event: event, fields: fields)
        self.seq = seq
        self.time = time
        self.event = event
        self.fields = fields
        self.prev = prev
        self.hash = Self.sha256Hex(Data(Self.body(seq: seq, time: time, event: event, fields: fields, prev: prev).utf8))
    }

    private init(seq: Int, time: String, event: String, fields: [String: String], prev: String, hash: String) {
        self.seq = seq
        self.time = time
        self.event = event
        self.fields = fields
        self.prev = prev
        self.hash = hash
    }

    /// The line as written (without the newline).
    public var line: String {
        var text = Self.body(seq: self.seq, time: self.time, event: self.event, fields: self.fields, prev: self.prev)
        text.removeLast()
        return text + ",\"hash\":\"\(self.hash)\"}"
    }

    /// Whether `hash` matches the contents.
    public var hashMatches: Bool {
        Self.sha256Hex(
            Data(
                Self.body(seq: self.seq, time: self.time, event: self.event, fields: self.fields, prev: self.prev).utf8
            )
        ) == self.hash
    }

    /// Parses one line (without its newline). Checks the shape and the canonical form, not the hash or the chain.
    public static func parse(_ bytes: Data, line number: Int) throws(AuditError) -> AuditEntry {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: bytes) } catch {
            throw AuditError(.malformed, line: number, "line \(number) is not valid JSON")
        }
        guard let members = object as? [String: Any] else {
            throw AuditError(.malformed, line: number, "line \(number) is not a JSON object")
        }
        func string(_ name: String) throws(AuditError) -> String {
            guard let value = members[name] as? String else {
                throw AuditError(.malformed, line: number, "line \(number) has no string member \"\(name)\"")
            }
            return value
        }
        func integer(_ name: String) throws(AuditError) -> Int {
            guard let number = members[name] as? NSNumber, let value = Int(exactly: number.doubleValue) else {
                throw AuditError(.malformed, line: number, "line \(number) has no integer member \"\(name)\"")
            }
            return value
        }
        let version = try integer("v")
        guard version == Self.formatVersion else {
            throw AuditError(
                .malformed,
                line: number,
                "line \(number) has format version \(version); this edgecell reads version \(Self.formatVersion)"
            )
        }
        var fields: [String: String] = [:]
        for (name, value) in members where !Self.reservedNames.contains(name) {
            guard let text = value as? String else {
                throw AuditError(.malformed, line: number, "line \(number): field \"\(name)\" is not a string")
            }
            fields[name] = text
        }
        let entry = AuditEntry(
            seq: try integer("seq"),
            time: try string("time"),
            event: try string("event"),
            fields: fields,
            prev: try string("prev"),
            hash: try string("hash")
        )
        do { try Self.validate(event: entry.event, fields: fields) } catch {
            throw AuditError(.malformed, line: number, "line \(number): \(error.message)")
        }
        guard Data(entry.line.utf8) == bytes else {
            throw AuditError(
                .malformed,
                line: number,
                "line \(number) is not in the canonical form edgecell writes: it was edited by hand or by another tool"
            )
        }
        return entry
    }

    /// SHA-256 of `data`, lower-case hex.
    public static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The canonical form without `hash` (what `hash` is computed over).
    static func body(seq: Int, time: String, event: String, fields: [String: String], prev: String) -> String {
        var text = "{\"v\":\(Self.formatVersion),\"seq\":\(seq),\"time\":\(quote(time)),\"event\":\(quote(event))"
        for name in fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            text += ",\(quote(name)):\(quote(fields[name]!))"
        }
        return text + ",\"prev\":\(quote(prev))}"
    }

    static func validate(event: String, fields: [String: String]) throws(AuditError) {
        guard Self.isName(event, extra: ".-") else {
            throw AuditError(.argument, "event name \"\(event)\" must be lower-case a-z, 0-9, '_', '.', '-'")
        }
        for name in fields.keys {
            guard Self.isName(name, extra: ""), !Self.reservedNames.contains(name) else {
                throw AuditError(
                    .argument,
                    "field name \"\(name)\" must be lower-case a-z, 0-9, '_' and not one of "
                        + Self.reservedNames.sorted().joined(separator: ", ")
                )
            }
        }
    }

    private static func isName(_ text: String, extra: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || extra.unicodeScalars.contains($0)
        }
    }

    private static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
