import Foundation
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cell's CURVE keys on disk: its key pair and the allow-list of client public keys its servers accept.
///
/// Layout of the directory (created mode 0700):
/// - `cell.key` — the secret key, mode 0600: one line `edgecell-curve-secret-v1 <public Z85> <secret Z85>`. Read
///   only if no one but its owner can read or write it (as ssh does); never printed or logged.
/// - `cell.pub` — the public key line (`PublicKeyLine`), to give to the servers this cell connects to.
/// - `allowed-clients` — the allow-list: public key lines of the clients this cell's servers accept.
///
/// Every file is written whole or not at all (a temporary file created with its final mode, `fsync`, `rename`,
/// `fsync` of the directory). There are no built-in keys: a store starts empty.
public struct KeyStore: Sendable {
    /// The first word of a secret key file (names the format and its version).
    public static let secretTag = "edgecell-curve-secret-v1"

    /// The directory holding the keys.
    public let directory: String

    /// A store in `directory` (created on the first write).
    public init(directory: String) {
        self.directory = directory
    }

    /// The secret key file.
    public var secretKeyPath: String { self.directory + "/cell.key" }
    /// The public key file.
    public var publicKeyPath: String { self.directory + "/cell.pub" }
    /// The allow-list of client public keys.
    public var allowListPath: String { self.directory + "/allowed-clients" }

    /// Where a cell keeps its keys: `keys/` in the cell's persistent state directory, found as the audit log
    /// finds it (`AuditLog.defaultPath`): `$EDGECELL_STATE_DIR`, else `/var/lib/edgecell` if that directory is (or
    /// can be created) writable, else `$XDG_STATE_HOME/edgecell`, else `~/.local/state/edgecell`. Never a volatile
    /// directory: keys must survive a reboot.
    public static func defaultDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        systemDirectory: String = "/var/lib/edgecell"
    ) -> String {
        if let dir = environment["EDGECELL_STATE_DIR"], !dir.isEmpty { return dir + "/keys" }
        if Self.isWritableDirectory(systemDirectory) { return systemDirectory + "/keys" }
        if let dir = environment["XDG_STATE_HOME"], dir.hasPrefix("/") { return dir + "/edgecell/keys" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/edgecell/keys"
    }

    /// The cell's store at the default directory.
    public static var cell: KeyStore { KeyStore(directory: Self.defaultDirectory()) }

    private static func isWritableDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return isDirectory.boolValue && access(path, W_OK) == 0
        }
        return access((path as NSString).deletingLastPathComponent, W_OK) == 0
    }

    // MARK: - The key pair

    /// Whether the cell has a key pair (its secret key file exists).
    public var hasKeyPair: Bool { FileManager.default.fileExists(atPath: self.secretKeyPath) }

    /// Makes a new key pair and writes `cell.key` (0600) and `cell.pub`.
    /// - Parameters:
    ///   - comment: stored after the public key (e.g. the host name), one line.
    ///   - replace: replace an existing pair (every server that allowed the old public key must allow the new one).
    /// - Returns: the new pair.
    @discardableResult
    public func generate(comment: String = "", replace: Bool = false) throws(KeyStoreError) -> CurveKeyPair {
        guard !comment.contains("\n") else { throw KeyStoreError(.argument, "the comment must be one line") }
        if self.hasKeyPair && !replace {
            throw KeyStoreError(
                .argument,
                "\(self.secretKeyPath) exists: not replacing the cell's key pair (use --force to replace it; every "
                    + "server that allowed the old public key must then allow the new one)"
            )
        }
        let pair: CurveKeyPair
        do { pair = try CurveKeyPair.generate() } catch { throw KeyStoreError(.io, error.message) }
        try self.makeDirectory()
        let secret = "\(Self.secretTag) \(pair.publicKey.z85) \(pair.secretZ85)\n"
        try self.writeAtomically(Data(secret.utf8), to: self.secretKeyPath, mode: 0o600)
        let line = PublicKeyLine(key: pair.publicKey, comment: comment).text + "\n"
        try self.writeAtomically(Data(line.utf8), to: self.publicKeyPath, mode: 0o644)
        return pair
    }

    /// The cell's key pair.
    /// - Throws: `.missing` (with how to create one) if there is none; `.permissions` if group or others can
    ///   access the secret key file; `.format` if it is damaged.
    public func keyPair() throws(KeyStoreError) -> CurveKeyPair {
        try Self.loadSecretKey(self.secretKeyPath, missingHint: "create it with `edgecell keys generate`")
    }

    /// Reads a secret key file (`cell.key` of any store, e.g. a twin's), refusing one others can access.
    public static func loadSecretKey(
        _ path: String,
        missingHint: String = "create one with `edgecell keys generate --dir DIR`"
    ) throws(KeyStoreError) -> CurveKeyPair {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT {
                throw KeyStoreError(.missing, "there is no CURVE key pair at \(path): \(missingHint)")
            }
            throw KeyStoreError(.io, "cannot read the secret key file \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw KeyStoreError(
                .permissions,
                "the secret key file \(path) is accessible by others (mode \(String(status.st_mode & 0o777, radix: 8))):"
                    + " `chmod 600 \(path)`, and consider the key exposed (`edgecell keys generate --force`)"
            )
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KeyStoreError(.io, "cannot read the secret key file \(path): \(error.localizedDescription)")
        }
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        let damaged = KeyStoreError(
            .format,
            "\(path) is not an edgecell CURVE secret key (expected \"\(Self.secretTag) <public Z85> <secret Z85>\")"
        )
        guard words.count == 3, words[0] == Self.secretTag, let pair = try? CurveKeyPair(secretZ85: words[2]) else {
            throw damaged
        }
        guard pair.publicKey.z85 == words[1] else {
            throw KeyStoreError(.format, "\(path) is damaged: its public key does not belong to its secret key")
        }
        return pair
    }

    // MARK: - The allow-list

    /// The allowed client keys, in file order (none if the file does not exist).
    public func allowList() throws(KeyStoreError) -> [PublicKeyLine] {
        try Self.loadAllowList(self.allowListPath, missingIsEmpty: true)
    }

    /// Reads an allow-list file (public key lines, `#` comments).
    public static func loadAllowList(
        _ path: String,
        missingIsEmpty: Bool = false
    ) throws(KeyStoreError)
        -> [PublicKeyLine]
    {
        guard FileManager.default.fileExists(atPath: path) else {
            if missingIsEmpty { return [] }
            throw KeyStoreError(.missing, "there is no allow-list at \(path)")
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KeyStoreError(.io, "cannot read the allow-list \(path): \(error.localizedDescription)")
        }
        return try PublicKeyLine.parseAll(text, path: path)
    }

    /// Adds a client key to the allow-list. Returns false if it was already there (the list is left as it is).
    @discardableResult
    public func allow(_ line: PublicKeyLine) throws(KeyStoreError) -> Bool {
        guard !line.comment.contains("\n") else { throw KeyStoreError(.argument, "the comment must be one line") }
        return try self.editAllowList { text, lines in
            if lines.contains(where: { $0.key == line.key }) { return false }
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            text += line.text + "\n"
            return true
        }
    }

    /// Removes a client key from the allow-list and returns its line. Servers re-read the list at each new
    /// connection, so the key is refused from its next connection on; a connection already open stays open until
    /// it ends (restart the server to cut it).
    @discardableResult
    public func revoke(_ key: CurvePublicKey) throws(KeyStoreError) -> PublicKeyLine {
        var removed: PublicKeyLine?
        _ = try self.editAllowList { text, lines in
            guard let found = lines.first(where: { $0.key == key }) else { return false }
            removed = found
            text =
                text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { raw in (try? PublicKeyLine.parse(raw, origin: ""))??.key != key }
                .joined(separator: "\n")
            return true
        }
        guard let removed else {
            throw KeyStoreError(.argument, "\(key.z85) is not in the allow-list \(self.allowListPath)")
        }
        return removed
    }

    /// Reads the allow-list under an exclusive lock, lets `change` edit its text, writes it back if it says so.
    private func editAllowList(
        _ change: (inout String, [PublicKeyLine]) -> Bool
    ) throws(KeyStoreError) -> Bool {
        try self.makeDirectory()
        let lockPath = self.directory + "/.allowed-clients.lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw self.ioError("cannot open", lockPath) }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw self.ioError("cannot lock", lockPath) }
        }
        var text = ""
        if FileManager.default.fileExists(atPath: self.allowListPath) {
            do { text = try String(contentsOfFile: self.allowListPath, encoding: .utf8) } catch {
                throw KeyStoreError(
                    .io,
                    "cannot read the allow-list \(self.allowListPath): \(error.localizedDescription)"
                )
            }
        }
        let lines = try PublicKeyLine.parseAll(text, path: self.allowListPath)
        guard change(&text, lines) else { return false }
        try self.writeAtomically(Data(text.utf8), to: self.allowListPath, mode: 0o644)
        return true
    }

    // MARK: - Key arguments

    /// A public key given on a command line: 40 characters of Z85, a whole public key line, or a file holding
    /// one key line (another machine's `cell.pub`).
    public static func publicKey(argument: String) throws(KeyStoreError) -> PublicKeyLine {
        if let key = try? CurvePublicKey(z85: argument) { return PublicKeyLine(key: key) }
        if argument.hasPrefix(PublicKeyLine.tag + " ") {
            if let line = try PublicKeyLine.parse(Substring(argument), origin: "the key argument") { return line }
        }
        guard FileManager.default.fileExists(atPath: argument) else {
            throw KeyStoreError(
                .argument,
                "'\(argument)' is neither a public key (40 characters of Z85) nor a file holding one"
            )
        }
        let text: String
        do { text = try String(contentsOfFile: argument, encoding: .utf8) } catch {
            throw KeyStoreError(.io, "cannot read \(argument): \(error.localizedDescription)")
        }
        if text.hasPrefix(Self.secretTag) {
            throw KeyStoreError(
                .argument,
                "\(argument) is a secret key file: give the public key (cell.pub, or `edgecell keys show`) instead, "
                    + "and keep the secret one where it is"
            )
        }
        let lines = try PublicKeyLine.parseAll(text, path: argument)
        guard lines.count == 1 else {
            throw KeyStoreError(.argument, "\(argument) holds \(lines.count) public keys; give a file with one")
        }
        return lines[0]
    }

    // MARK: - Files

    private func makeDirectory() throws(KeyStoreError) {
        guard !FileManager.default.fileExists(atPath: self.directory) else { return }
        do {
            try FileManager.default.createDirectory(
                atPath: self.directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw KeyStoreError(.io, "cannot create \(self.directory): \(error.localizedDescription)")
        }
    }

    /// Temporary file created with its final mode (`O_EXCL`: never readable by others, not even for an instant),
    /// `fsync`, `rename` over `path`, `fsync` of the directory.
    private func writeAtomically(_ data: Data, to path: String, mode: mode_t) throws(KeyStoreError) {
        let temporary = self.directory + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        unlink(temporary)  // a leftover of a crashed writer with this pid
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw self.ioError("cannot create", temporary) }
        _ = fchmod(fd, mode)  // the umask may have narrowed the public files' mode
        var offset = 0
        var failed = false
        data.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return
                }
                offset += n
            }
        }
        let synced = !failed && fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        guard synced else {
            unlink(temporary)
            throw KeyStoreError(.io, "cannot write \(temporary): \(reason)")
        }
        guard rename(temporary, path) == 0 else {
            let error = self.ioError("cannot rename \(temporary) to", path)
            unlink(temporary)
            throw error
        }
        let directory = open(self.directory, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    private func ioError(_ what: String, _ path: String) -> KeyStoreError {
        KeyStoreError(.io, "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
