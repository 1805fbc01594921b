import Crypto
import Foundation

/// A file written in one pass: buffered writes, a running SHA-256, `fsync` before close. Creating refuses an
/// existing file (every file of an episode is new).
struct FileSink: ~Copyable {
    let path: String
    private let fd: Int32
    private var hasher = SHA256()
    private var buffer: UnsafeMutableRawBufferPointer
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
    private var used = 0
    private(set) var bytes = 0
    private var closed = false

    init(creating path: String, bufferSize: Int = 1 << 20) throws(TeachError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Posix.error("cannot create", path) }
        self.path = path
        self.fd = fd
        self.buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit {
        if !self.closed { close(self.fd) }
        self.buffer.deallocate()
        self.scratch.deallocate()
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(TeachError) {
        guard bytes.count > 0 else { return }
        self.hasher.update(bufferPointer: bytes)
        self.bytes += bytes.count
        if self.used + bytes.count > self.buffer.count {
            try self.flush()
            if bytes.count >= self.buffer.count {
                try Posix.writeAll(self.fd, bytes, path: self.path)
                return
            }
        }
        UnsafeMutableRawBufferPointer(rebasing: self.buffer[self.used..<(self.used + bytes.count)])
            .copyMemory(from: bytes)
        self.used += bytes.count
    }

    mutating func write<T: FixedWidthInteger>(_ value: T) throws(TeachError) {
        var little = value.littleEndian
        let size = MemoryLayout<T>.size
        withUnsafeBytes(of: &little) { raw in
            UnsafeMutableRawBufferPointer(rebasing: self.scratch[0..<size]).copyMemory(from: raw)
        }
        try self.write(UnsafeRawBufferPointer(rebasing: self.scratch[0..<size]))
    }

    private mutating func flush() throws(TeachError) {
        guard self.used > 0 else { return }
        try Posix.writeAll(self.fd, UnsafeRawBufferPointer(rebasing: self.buffer[0..<self.used]), path: self.path)
        self.used = 0
    }

    /// Flushes, `fsync`s and closes; returns the size and the SHA-256 (lower-case hex).
    mutating func finish() throws(TeachError) -> EpisodeMetadata.FileInfo {
        try self.flush()
        let synced = fsync(self.fd) == 0
        let error = errno
        close(self.fd)
        self.closed = true
        guard synced else { throw Posix.error("cannot fsync", self.path, errno: error) }
        return EpisodeMetadata.FileInfo(bytes: self.bytes, sha256: Self.hex(self.hasher.finalize()))
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Thin POSIX helpers with errors that name the path.
enum Posix {
    static func error(_ what: String, _ path: String, errno code: Int32 = errno) -> TeachError {
        TeachError(.system, "\(what) \(path): \(String(cString: strerror(code)))")
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(TeachError) {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error("cannot write", path)
            }
            offset += n
        }
    }

    /// `fsync` of a directory, so a rename or a new entry in it survives a crash.
    static func syncDirectory(_ path: String) throws(TeachError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error("cannot open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Self.error("cannot fsync directory", path) }
    }

    static func makeDirectory(_ path: String) throws(TeachError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw Self.error("cannot create directory", path) }
        guard Self.isDirectory(path) else { throw TeachError(.system, "\(path) exists and is not a directory") }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Names in a directory, sorted, without `.` and `..`.
    static func list(_ path: String) throws(TeachError) -> [String] {
        guard let dir = opendir(path) else { throw Self.error("cannot list", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a file or a directory tree (no symlinks followed).
    static func removeTree(_ path: String) throws(TeachError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try Self.list(path) { try Self.removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw Self.error("cannot remove", path) }
        } else {
            guard unlink(path) == 0 else { throw Self.error("cannot remove", path) }
        }
    }

    /// Reads a whole file.
    static func read(_ path: String) throws(TeachError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error("cannot open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.error("cannot stat", path) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        let failed: Int32? = bytes.withUnsafeMutableBytes { raw in
            while offset < raw.count {
                let n = Foundation.read(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                offset += n
            }
            return nil
        }
        if let failed { throw Self.error("cannot read", path, errno: failed) }
        return offset == bytes.count ? bytes : Array(bytes[0..<offset])
    }

    /// Replaces `path` atomically: `<path>.tmp`, `fsync`, `rename`, `fsync` of the directory (docs/DATASET.md §1).
    static func writeAtomically(_ data: Data, to path: String) throws(TeachError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        var sink = try FileSink(creating: temporary)
        do {
            let bytes = [UInt8](data)
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
            defer { raw.deallocate() }
            raw.copyBytes(from: bytes)
            try sink.write(UnsafeRawBufferPointer(rebasing: raw[0..<bytes.count]))
            _ = try sink.finish()
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw Self.error("cannot rename \(temporary) to", path, errno: code)
        }
        try Self.syncDirectory(
            (path as NSString).deletingLastPathComponent.isEmpty
                ? "." : (path as NSString).deletingLastPathComponent
        )
    }
}
