import Foundation

/// Writes files so they are never half-written: a temporary file in the same directory, `fsync`, `rename`,
/// then `fsync` of the directory.
public enum AtomicFile {
    /// Replaces `path` with `data` atomically.
    public static func write(_ data: Data, to path: String) throws(RuntimeError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/.\(url.lastPathComponent).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RuntimeError(.system, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let writeError = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            throw RuntimeError(.system, "cannot write \(temporary): \(String(cString: strerror(writeError)))")
        }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw RuntimeError(.system, "cannot rename \(temporary) to \(path): \(String(cString: strerror(error)))")
        }
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
