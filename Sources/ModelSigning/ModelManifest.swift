import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `manifest.json` of a signed model folder: the size and SHA-256 of every file in the folder (sub-folders
/// included) except the manifest and its signature, sorted by path.
///
/// The signature covers the file's exact bytes, so a verifier never re-encodes it: it checks the bytes, then
/// parses them.
public struct ModelManifest: Codable, Hashable, Sendable {
    /// The manifest's file name in a model folder.
    public static let fileName = "manifest.json"
    /// The signature's file name in a model folder.
    public static let signatureFileName = "manifest.sig"
    /// `format` of a manifest.
    public static let formatName = "edgecell-model-manifest"
    /// The version this code writes and reads.
    public static let currentVersion = 1

    /// One file of the model.
    public struct File: Codable, Hashable, Sendable {
        /// Path inside the model folder, `/`-separated.
        public var path: String
        /// Bytes.
        public var size: Int
        /// SHA-256, lower-case hex.
        public var sha256: String
    }

    /// Always `edgecell-model-manifest`.
    public var format: String
    /// The manifest format version.
    public var formatVersion: Int
    /// The model's name (`config.json`'s `name`, else the folder's name).
    public var model: String
    /// Every file, sorted by path.
    public var files: [File]

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case model, files
    }

    /// The manifest of `directory` as it is now (hashes every file).
    public static func make(directory: String) throws(ModelSigningError) -> ModelManifest {
        let (paths, odd) = try listFiles(directory)
        if let path = odd.first {
            throw ModelSigningError(
                .files,
                "\(directory)/\(path) is not a regular file (a symbolic link?): copy the file into the folder",
                problems: odd.map { FileProblem(path: $0, kind: .notRegularFile, detail: "not a regular file") }
            )
        }
        var files: [File] = []
        for path in paths {
            let (size, digest) = try hashFile((directory as NSString).appendingPathComponent(path))
            files.append(File(path: path, size: size, sha256: digest))
        }
        return ModelManifest(
            format: formatName,
            formatVersion: currentVersion,
            model: modelName(directory),
            files: files
        )
    }

    /// SHA-256 of `encoded()`: one digest naming the whole folder's contents (every file's path, size and hash).
    public var digest: String { sha256Hex(self.encoded()) }

    /// The bytes written to `manifest.json`.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return try! encoder.encode(self) + Data("\n".utf8)
    }

    /// Parses and validates `manifest.json`'s bytes.
    public static func decode(_ data: Data, path: String) throws(ModelSigningError) -> ModelManifest {
        let manifest: ModelManifest
        do { manifest = try JSONDecoder().decode(ModelManifest.self, from: data) } catch {
            throw ModelSigningError(.format, "\(path) is not a model manifest: \(error)")
        }
        guard manifest.format == formatName else {
            throw ModelSigningError(.format, "\(path): format is \"\(manifest.format)\", expected \"\(formatName)\"")
        }
        guard manifest.formatVersion == currentVersion else {
            throw ModelSigningError(
                .format,
                "\(path): format_version \(manifest.formatVersion); this edgecell reads version \(currentVersion)"
            )
        }
        var seen = Set<String>()
        for file in manifest.files {
            let parts = file.path.split(separator: "/", omittingEmptySubsequences: false)
            guard !file.path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
                file.size >= 0, file.sha256.count == 64, seen.insert(file.path).inserted
            else {
                throw ModelSigningError(.format, "\(path) lists an invalid or repeated entry \"\(file.path)\"")
            }
        }
        return manifest
    }

    /// Relative paths of the regular files under `directory` (sorted; the manifest and signature at the top
    /// excluded), and of anything else found (symbolic links, devices…).
    static func listFiles(_ directory: String) throws(ModelSigningError) -> (files: [String], odd: [String]) {
        var files: [String] = []
        var odd: [String] = []
        func walk(_ relative: String) throws(ModelSigningError) {
            let absolute = relative.isEmpty ? directory : (directory as NSString).appendingPathComponent(relative)
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: absolute) } catch {
                throw ModelSigningError(.io, "cannot list \(absolute): \(error.localizedDescription)")
            }
            for name in names {
                let path = relative.isEmpty ? name : relative + "/" + name
                if relative.isEmpty, name == fileName || name == signatureFileName { continue }
                var status = stat()
                guard lstat((directory as NSString).appendingPathComponent(path), &status) == 0 else {
                    throw ModelSigningError(
                        .io,
                        "cannot stat \(directory)/\(path): \(String(cString: strerror(errno)))"
                    )
                }
                switch status.st_mode & S_IFMT {
                case S_IFREG: files.append(path)
                case S_IFDIR: try walk(path)
                default: odd.append(path)
                }
            }
        }
        try walk("")
        let order: (String, String) -> Bool = { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (files.sorted(by: order), odd.sorted(by: order))
    }

    /// Size and SHA-256 of a file, read in 1 MiB pieces (weights can be large).
    static func hashFile(_ path: String) throws(ModelSigningError) -> (Int, String) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelSigningError(.io, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size = 0
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                size += chunk.count
            }
        } catch {
            throw ModelSigningError(.io, "cannot read \(path): \(error.localizedDescription)")
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    private static func modelName(_ directory: String) -> String {
        let config = (directory as NSString).appendingPathComponent("config.json")
        if let data = FileManager.default.contents(atPath: config),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let name = object["name"] as? String, !name.isEmpty
        {
            return name
        }
        return ((directory as NSString).standardizingPath as NSString).lastPathComponent
    }
}
