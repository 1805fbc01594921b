import Foundation

/// The model signers a cell trusts: a public key file (`SigningPublicKey`'s format, one key per line) kept in the
/// cell's key folder, `trusted-model-signers`. `edgecell model trust|distrust|trusted` manage it; `edgecell run`
/// and `edgecell eval` refuse a model that is not signed by one of its keys (or one given with `--trust`).
public struct TrustedSigners: Sendable {
    /// The file's name inside the cell's key folder.
    public static let fileName = "trusted-model-signers"

    /// The trust file.
    public let path: String

    /// The trust list in `directory` (the cell's key folder).
    public init(directory: String) {
        self.path = (directory as NSString).appendingPathComponent(Self.fileName)
    }

    /// The trusted keys; none if the file does not exist yet. A malformed file is an error (never "trust none"
    /// silently, never "trust what parses").
    public func keys() throws(ModelSigningError) -> [SigningPublicKey] {
        guard FileManager.default.fileExists(atPath: self.path) else { return [] }
        guard let data = FileManager.default.contents(atPath: self.path) else {
            throw ModelSigningError(.io, "cannot read the trusted signers file \(self.path)")
        }
        if String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty || $0.hasPrefix("#") })
        {
            return []
        }
        return try SigningPublicKey.load(self.path)
    }

    /// Adds `keys` (those already trusted are skipped); returns the ones added. Writes atomically (temporary file,
    /// fsync, rename), creating the folder mode 0700 if needed.
    @discardableResult
    public func add(_ keys: [SigningPublicKey]) throws(ModelSigningError) -> [SigningPublicKey] {
        var current = try self.keys()
        var added: [SigningPublicKey] = []
        for key in keys where !current.contains(where: { $0.id == key.id }) {
            current.append(key)
            added.append(key)
        }
        if !added.isEmpty { try self.write(current) }
        return added
    }

    /// Removes the keys whose id or comment is `idOrComment`; returns them (none: nothing matched, file unchanged).
    @discardableResult
    public func remove(_ idOrComment: String) throws(ModelSigningError) -> [SigningPublicKey] {
        let current = try self.keys()
        let removed = current.filter { $0.id == idOrComment || (!$0.comment.isEmpty && $0.comment == idOrComment) }
        if !removed.isEmpty { try self.write(current.filter { key in !removed.contains(where: { $0.id == key.id }) }) }
        return removed
    }

    private func write(_ keys: [SigningPublicKey]) throws(ModelSigningError) {
        let directory = (self.path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw ModelSigningError(.io, "cannot create \(directory): \(error.localizedDescription)")
            }
        }
        let text =
            "# Model signers this cell trusts (edgecell model trust|distrust); one key per line.\n"
            + keys.map(\.line).joined()
        try writeAtomically(Data(text.utf8), to: self.path)
    }
}
