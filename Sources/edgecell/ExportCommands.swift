import ArgumentParser
import Foundation
import LinkSecurity
import ModelSigning
import Teach

/// The explicit, audited ways data leaves a cell: `edgecell teach export` (a dataset, as a LeRobotDataset v3) and
/// `edgecell model export` (a model folder). Nothing else in EdgeCell sends datasets or models anywhere; each
/// export is a `data.exported` / `model.exported` entry in the cell's audit log naming what left (the digest of
/// its contents), where to, and who ran it (docs/SECURITY.md §4).
enum AuditedExport {
    /// Files, bytes and one SHA-256 over every file's path, size and hash (`ModelManifest.digest`).
    static func contents(of directory: String) throws(ModelSigningError) -> (files: Int, bytes: Int, sha256: String) {
        let manifest = try ModelManifest.make(directory: directory)
        return (manifest.files.count, manifest.files.reduce(0) { $0 + $1.size }, manifest.digest)
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

/// `edgecell teach export`.
struct TeachExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a dataset for use off this cell, as a LeRobotDataset v3 (parquet and video); audited.",
        discussion: """
            Validates the dataset in full first (every hash, record and frame), then runs the exporter \
            (python -m edgecell_policy export-lerobot) and records a data.exported entry in the cell's audit log: \
            the dataset, the digest of its contents, its episodes, the destination and the bytes written. \
            Datasets leave a cell only this way (docs/SECURITY.md §4).
            """
    )

    @Argument(help: "The dataset folder.")
    var dataset: String

    @Option(help: ArgumentHelp("The folder to create.", valueName: "dir"))
    var out: String

    @Option(help: "Frames per second (default: the dataset's frame rate; a whole divisor of it subsamples).")
    var fps: Int?

    @Option(help: "Video codec: h264 or av1.")
    var codec: String = "h264"

    @Flag(help: "Replace an existing --out folder.")
    var force = false

    @Option(help: "Python interpreter (default: the project's venv).")
    var python: String?

    func validate() throws {
        guard ["h264", "av1"].contains(self.codec) else { throw ValidationError("--codec must be h264 or av1") }
        if let fps = self.fps, fps < 1 { throw ValidationError("--fps must be at least 1") }
    }

    func run() throws {
        let console = Console()
        let dataset = try TeachRecord.orExit(console) { () throws(TeachError) in
            try Dataset(directory: self.dataset, verifyFiles: true)
        }
        let source: (files: Int, bytes: Int, sha256: String)
        do { source = try AuditedExport.contents(of: self.dataset) } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
        let python = try PythonTool.interpreter(self.python, console: console)
        var arguments = ["export-lerobot", self.dataset, "--out", self.out, "--codec", self.codec]
        if let fps = self.fps { arguments += ["--fps", String(fps)] }
        if self.force { arguments.append("--force") }
        let counts = dataset.index.counts
        var fields = [
            "dataset": dataset.index.name, "directory": AuditedExport.absolute(self.dataset),
            "content_sha256": source.sha256, "episodes": String(counts.episodes), "frames": String(counts.frames),
            "format": "lerobot-v3", "destination": AuditedExport.absolute(self.out),
        ]
        let status = try PythonTool.run(python, arguments, console: console)
        guard status == 0 else {
            fields["status"] = String(status)
            AuditTrail.record("data.export_failed", fields)
            throw ExitCode(status)
        }
        let written = try? AuditedExport.contents(of: self.out)
        fields["bytes"] = String(written?.bytes ?? 0)
        fields["files"] = String(written?.files ?? 0)
        AuditTrail.record("data.exported", fields)
        console.line(
            "exported \(counts.episodes) episodes of '\(dataset.index.name)' to \(self.out)"
                + String(format: " (%.1f MB)", Double(written?.bytes ?? 0) / 1e6) + "; recorded in the audit log"
        )
    }
}

/// `edgecell model export`.
struct ModelExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Copy a model folder off this cell (e.g. to removable media); audited.",
        discussion: """
            Copies every regular file (the signed manifest and signature included) into a new folder: written \
            to a temporary folder, each file synced, then renamed into place, and checked against the source. \
            Records a model.exported entry in the cell's audit log: the model, the digest of its contents, its \
            signer if it is signed by a key this cell trusts, and the destination. Models leave a cell only this \
            way (docs/SECURITY.md §4).
            """
    )

    @Argument(help: "The model folder.")
    var model: String

    @Option(help: ArgumentHelp("The folder to create (must not exist, unless --force).", valueName: "dir"))
    var out: String

    @Flag(help: "Replace an existing --out folder.")
    var force = false

    func run() throws {
        let console = Console()
        let source: ModelManifest
        do { source = try ModelManifest.make(directory: self.model) } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
        guard FileManager.default.fileExists(atPath: self.model + "/config.json") else {
            console.error("error: \(self.model) is not a model folder (no config.json)")
            throw ExitCode(1)
        }
        let destination = AuditedExport.absolute(self.out)
        if FileManager.default.fileExists(atPath: destination) && !self.force {
            console.error("error: --out \(self.out) exists (use --force to replace it)")
            throw ExitCode(1)
        }
        let signed = [ModelManifest.fileName, ModelManifest.signatureFileName].filter {
            FileManager.default.fileExists(atPath: (self.model as NSString).appendingPathComponent($0))
        }
        let temporary = destination + ".tmp-\(getpid())"
        do {
            try? FileManager.default.removeItem(atPath: temporary)
            for path in source.files.map(\.path) + signed {
                try Self.copy(
                    (self.model as NSString).appendingPathComponent(path),
                    to: (temporary as NSString).appendingPathComponent(path)
                )
            }
            let copy = try ModelManifest.make(directory: temporary)
            guard copy.files == source.files else {
                throw ModelSigningError(.io, "the copy in \(temporary) differs from \(self.model) (did it change?)")
            }
            if FileManager.default.fileExists(atPath: destination) {
                try FileManager.default.removeItem(atPath: destination)
            }
            guard rename(temporary, destination) == 0 else {
                throw ModelSigningError(
                    .io,
                    "cannot rename \(temporary) to \(destination): \(String(cString: strerror(errno)))"
                )
            }
            Self.syncDirectory((destination as NSString).deletingLastPathComponent)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            console.error("error: cannot export \(self.model) to \(self.out): \(error)")
            throw ExitCode(1)
        }
        let trusted = (try? TrustedSigners(directory: KeyStore.defaultDirectory()).keys()) ?? []
        let signer = trusted.isEmpty ? nil : try? ModelSigner.verify(directory: destination, trusted: trusted)
        let bytes = source.files.reduce(0) { $0 + $1.size }
        AuditTrail.record(
            "model.exported",
            [
                "model": source.model, "directory": AuditedExport.absolute(self.model), "destination": destination,
                "content_sha256": source.digest, "files": String(source.files.count), "bytes": String(bytes),
                "signer": signer.map { $0.signer.description } ?? (signed.isEmpty ? "unsigned" : "not verified here"),
            ]
        )
        console.line(
            "exported \(source.model) to \(self.out): \(source.files.count + signed.count) files"
                + String(format: ", %.1f MB", Double(bytes) / 1e6)
                + (signer.map { ", signed by \($0.signer)" } ?? (signed.isEmpty ? ", unsigned" : ""))
                + "; recorded in the audit log"
        )
    }

    /// Copies one file, creating its folder, and syncs it to disk.
    static func copy(_ from: String, to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        guard let data = FileManager.default.contents(atPath: from) else {
            throw ModelSigningError(.io, "cannot read \(from)")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ModelSigningError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var done = 0
        while done < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            guard n > 0 else {
                throw ModelSigningError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        guard fsync(fd) == 0 else {
            throw ModelSigningError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
