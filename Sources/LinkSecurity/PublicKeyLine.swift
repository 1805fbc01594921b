import Foundation
import ZeroMQ

/// A CURVE public key as a line of text: `edgecell-curve-key-v1 <40 characters of Z85> [comment]`.
///
/// The cell's `cell.pub`, the allow-list (`allowed-clients`, one key per line, blank lines and `#` comments
/// allowed) and the twin's `--curve-allow` file all use it, so a key travels between machines by copying a line.
public struct PublicKeyLine: Hashable, Sendable {
    /// The first word of the line (names the format and its version).
    public static let tag = "edgecell-curve-key-v1"

    /// The key.
    public var key: CurvePublicKey
    /// Free text after the key (whose key it is), one line.
    public var comment: String

    /// Creates a line.
    public init(key: CurvePublicKey, comment: String = "") {
        self.key = key
        self.comment = comment
    }

    /// The line, without a newline.
    public var text: String { "\(Self.tag) \(self.key.z85)" + (self.comment.isEmpty ? "" : " \(self.comment)") }

    /// Parses one line; nil for a blank line or a `#` comment.
    /// - Parameter origin: where the line comes from, for the error (`FILE line N`).
    public static func parse(_ raw: Substring, origin: String) throws(KeyStoreError) -> PublicKeyLine? {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { return nil }
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard words.count >= 2, words[0] == Self.tag else {
            throw KeyStoreError(
                .format,
                "\(origin) is not a public key line (expected \"\(Self.tag) <40 characters of Z85> [comment]\")"
            )
        }
        do {
            return PublicKeyLine(
                key: try CurvePublicKey(z85: String(words[1])),
                comment: words.count > 2 ? words[2].trimmingCharacters(in: .whitespaces) : ""
            )
        } catch {
            throw KeyStoreError(.format, "\(origin): \(error.message)")
        }
    }

    /// Every key line of a file's text.
    public static func parseAll(_ text: String, path: String) throws(KeyStoreError) -> [PublicKeyLine] {
        var lines: [PublicKeyLine] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let line = try Self.parse(raw, origin: "\(path) line \(index + 1)") { lines.append(line) }
        }
        return lines
    }
}
