import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An append-only, hash-chained log of security-relevant events (JSON Lines; the entry format is in
/// `AuditEntry`).
///
/// Appending takes an exclusive `flock` on the file, reads the last line to chain to it, writes the new line with
/// one `write(2)` on an `O_APPEND` descriptor and `fsync`s before unlocking, so appenders in several processes
/// (or several handles in one) keep one valid chain, and a crash leaves at worst a truncated last line, which
/// `verify` reports. The chain shows edits, removals and reordering to anyone who re-reads the file; it cannot
/// stop someone who can write the file from rewriting every entry after the one they changed, nor show that whole
/// entries were cut from the end — for that, record the head (`verify` returns it) somewhere else and check it
/// later as an anchor (docs/SECURITY.md).
public struct AuditLog: Sendable {
    /// The log file.
    public let path: String

    /// A log at `path` (created, with its directory, on the first append).
    public init(path: String) {
        self.path = path
    }

    /// Where the cell's log lives: `$EDGECELL_STATE_DIR/audit.log`, else `/var/lib/edgecell/audit.log` if that
    /// directory is (or can be created) writable, else `$XDG_STATE_HOME/edgecell/audit.log`, else
    /// `~/.local/state/edgecell/audit.log`. Unlike the e-stop latch, never a volatile directory (`/run`, `/tmp`):
    /// the log must outlive a reboot.
    public static func defaultPath(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        systemDirectory: String = "/var/lib/edgecell"
    ) -> String {
        if let dir = environment["EDGECELL_STATE_DIR"], !dir.isEmpty { return dir + "/audit.log" }
        if Self.isWritableDirectory(systemDirectory) { return systemDirectory + "/audit.log" }
        if let dir = environment["XDG_STATE_HOME"], dir.hasPrefix("/") { return dir + "/edgecell/audit.log" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/edgecell/audit.log"
    }

    private static func isWritableDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return isDirectory.boolValue && access(path, W_OK) == 0
        }
        let parent = (path as NSString).deletingLastPathComponent
        return access(parent, W_OK) == 0
    }

    /// Records an event and returns the entry written.
    /// - Parameters:
    ///   - event: what happened, lower-case `a-z0-9_.-` (e.g. `estop.engaged`).
    ///   - fields: details; names lower-case `a-z0-9_`, not `v`, `seq`, `time`, `event`, `prev` or `hash`.
    ///   - date: when (default: now).
    @discardableResult
    public func append(
        _ event: String,
        _ fields: [String: String] = [:],
        date: Date = Date()
    ) throws(AuditError)
        -> AuditEntry
    {
        try AuditEntry.validate(event: event, fields: fields)
        try self.makeDirectory()
        let fd = open(self.path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw self.ioError("cannot open") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw self.ioError("cannot lock") }
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw self.ioError("cannot stat") }
        let size = Int(status.st_size)

        var seq = 1
        var prev = AuditEntry.genesis
        if size > 0 {
            let last = try self.lastLine(fd, size: size)
            let entry: AuditEntry
            do { entry = try AuditEntry.parse(last, line: 0) } catch {
                throw AuditError(
                    .malformed,
                    "\(self.path): the last line is not an audit entry (\(error.message)): not appending; run "
                        + "`edgecell audit verify` and move the damaged log aside (docs/SECURITY.md)"
                )
            }
            seq = entry.seq + 1
            prev = AuditEntry.sha256Hex(last)
        }
        let entry = try AuditEntry(seq: seq, time: Self.timestamp(date), event: event, fields: fields, prev: prev)
        let bytes = Array((entry.line + "\n").utf8)
        // One write(2): with O_APPEND and the lock held the line lands whole after the last one; a short write
        // (disk full) is undone so the log never ends in half a line we wrote.
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            let failure = self.ioError("cannot write")
            _ = ftruncate(fd, off_t(size))
            throw failure
        }
        guard fsync(fd) == 0 else { throw self.ioError("cannot fsync") }
        if size == 0 { self.syncDirectory() }
        return entry
    }

    /// The result of a successful verification.
    public struct Verification: Hashable, Sendable {
        /// Number of entries (0 for an empty or absent log).
        public let entries: Int
        /// The last entry's `hash`, or 64 zeros for an empty log: record it elsewhere to check later as an anchor.
        public let head: String
    }

    /// Checks the whole chain. Throws naming the first bad line: not canonical JSON, hash not matching its
    /// contents (edited), `seq` or `prev` not following the line before (removed, inserted, reordered), a
    /// truncated last line, or a missing anchor.
    /// - Parameter anchors: entries recorded earlier, as `seq → hash`, that must still be in the log unchanged.
    public func verify(anchors: [Int: String] = [:]) throws(AuditError) -> Verification {
        let data: Data
        if !FileManager.default.fileExists(atPath: self.path) {
            data = Data()
        } else {
            do { data = try Data(contentsOf: URL(fileURLWithPath: self.path)) } catch {
                throw AuditError(.io, "cannot read \(self.path): \(error.localizedDescription)")
            }
        }
        return try Self.verify(data, anchors: anchors)
    }

    /// Checks the chain in `data` (the log's bytes).
    public static func verify(_ data: Data, anchors: [Int: String] = [:]) throws(AuditError) -> Verification {
        var prev = AuditEntry.genesis
        var hashes: [Int: String] = [:]
        let lines = Self.split(data)
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if index == lines.count - 1, data.last != UInt8(ascii: "\n") {
                throw AuditError(
                    .truncated,
                    line: number,
                    "line \(number) is truncated (no newline at the end of the log): a write was interrupted or "
                        + "the file was cut"
                )
            }
            guard !line.isEmpty else { throw AuditError(.malformed, line: number, "line \(number) is empty") }
            let entry = try AuditEntry.parse(line, line: number)
            guard entry.hashMatches else {
                throw AuditError(
                    .edited,
                    line: number,
                    "line \(number) was edited: its hash does not match its contents"
                )
            }
            guard entry.seq == number else {
                throw AuditError(
                    .broken,
                    line: number,
                    "line \(number) holds entry seq \(entry.seq), expected \(number): an entry was removed, "
                        + "inserted or reordered at or before this line"
                )
            }
            guard entry.prev == prev else {
                throw AuditError(
                    .broken,
                    line: number,
                    number == 1
                        ? "line 1 does not start a chain (its prev is not 64 zeros): the start of the log was removed"
                        : "line \(number) does not follow line \(number - 1) (prev differs from the hash of line "
                            + "\(number - 1)): an entry before it was edited, removed or reordered"
                )
            }
            prev = AuditEntry.sha256Hex(line)
            if anchors[number] != nil { hashes[number] = entry.hash }
        }
        for (seq, hash) in anchors.sorted(by: { $0.key < $1.key }) where hashes[seq] != hash.lowercased() {
            throw AuditError(
                .anchor,
                line: seq,
                hashes[seq] == nil
                    ? "the log has \(lines.count) entries and no longer holds anchored entry \(seq): entries were "
                        + "cut from the end, or the log was replaced"
                    : "entry \(seq) has hash \(hashes[seq]!), not the anchored \(hash): the log was rewritten "
                        + "from entry \(seq) or earlier"
            )
        }
        let head = lines.isEmpty ? AuditEntry.genesis : (try? AuditEntry.parse(lines.last!, line: lines.count))?.hash
        return Verification(entries: lines.count, head: head ?? AuditEntry.genesis)
    }

    /// The entries, in order; a line that does not parse throws. Does not check the chain (see `verify`).
    public func entries() throws(AuditError) -> [AuditEntry] {
        guard FileManager.default.fileExists(atPath: self.path) else { return [] }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: self.path)) } catch {
            throw AuditError(.io, "cannot read \(self.path): \(error.localizedDescription)")
        }
        var out: [AuditEntry] = []
        for (index, line) in Self.split(data).enumerated() { out.append(try AuditEntry.parse(line, line: index + 1)) }
        return out
    }

    /// ISO 8601 in UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Lines of `data` without their newlines; a final line without a newline is kept (and is truncated).
    static func split(_ data: Data) -> [Data] {
        guard !data.isEmpty else { return [] }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Data($0) }
        if data.last == UInt8(ascii: "\n") { lines.removeLast() }
        return lines
    }

    /// The last line (without its newline), read backwards from the end so appending does not cost a read of the
    /// whole log.
    private func lastLine(_ fd: Int32, size: Int) throws(AuditError) -> Data {
        var tail = Data()
        var offset = size
        while offset > 0 {
            let count = min(4096, offset)
            offset -= count
            var chunk = [UInt8](repeating: 0, count: count)
            let read = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            guard read == count else { throw self.ioError("cannot read") }
            tail = Data(chunk) + tail
            if tail.dropLast().contains(UInt8(ascii: "\n")) { break }
        }
        guard tail.last == UInt8(ascii: "\n") else {
            throw AuditError(
                .truncated,
                "\(self.path) ends in a truncated line (a write was interrupted): not appending; run "
                    + "`edgecell audit verify` and move the damaged log aside (docs/SECURITY.md)"
            )
        }
        let body = tail.dropLast()
        return body.lastIndex(of: UInt8(ascii: "\n")).map { Data(body[($0 + 1)...]) } ?? Data(body)
    }

    private func makeDirectory() throws(AuditError) {
        let directory = (self.path as NSString).deletingLastPathComponent
        guard !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) else { return }
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o750]
            )
        } catch {
            throw AuditError(.io, "cannot create \(directory): \(error.localizedDescription)")
        }
    }

    private func syncDirectory() {
        let directory = (self.path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private func ioError(_ what: String) -> AuditError {
        AuditError(.io, "\(what) \(self.path): \(String(cString: strerror(errno)))")
    }
}
