import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A metrics server failed to start: what and why.
public struct MetricsServerError: Error, CustomStringConvertible {
    public var description: String
}

/// A minimal HTTP/1.1 server for `GET /metrics` on its own thread (POSIX sockets, one connection at a time,
/// `Connection: close`). The page comes from `page`, called on the server's thread for each scrape.
public final class MetricsServer: Sendable {
    /// The port it listens on (the kernel's choice when asked for 0).
    public let port: Int
    private let fd: Int32
    private let stopping = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)

    /// Binds `address:port` and starts serving.
    public init(address: String = "127.0.0.1", port: Int, page: @escaping @Sendable () -> String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetricsServerError(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else {
            close(fd)
            throw MetricsServerError(description: "'\(address)' is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MetricsServerError(description: "cannot listen on \(address):\(port): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.fd = fd
        let thread = Thread { [self] in self.serve(page) }
        thread.name = "edgecell-metrics"
        thread.start()
    }

    private func serve(_ page: @Sendable () -> String) {
        defer { self.done.store(true, ordering: .releasing) }
        while !self.stopping.load(ordering: .relaxed) {
            var pfd = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 200) > 0 else { continue }
            let client = accept(self.fd, nil, nil)
            guard client >= 0 else { continue }
            self.answer(client, page)
            close(client)
        }
    }

    private func answer(_ client: Int32, _ page: () -> String) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 16384 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            request += buffer[0..<n]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let status: String
        var body: String
        var type = "text/plain; charset=utf-8"
        if parts.count >= 2, parts[0] == "GET" || parts[0] == "HEAD" {
            let path = parts[1].split(separator: "?").first.map(String.init) ?? ""
            if path == "/metrics" {
                status = "200 OK"
                body = page()
                type = PrometheusText.contentType
            } else {
                status = "404 Not Found"
                body = "not found: only /metrics is served\n"
            }
            if parts[0] == "HEAD" { body = "" }
        } else {
            status = parts.isEmpty ? "400 Bad Request" : "405 Method Not Allowed"
            body = "GET /metrics\n"
        }
        let bytes = Array(body.utf8)
        let head =
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        Self.sendAll(client, Array(head.utf8) + bytes)
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// Stops serving and closes the socket (waits up to a second for the thread).
    public func stop() {
        guard !self.stopping.exchange(true, ordering: .relaxed) else { return }
        for _ in 0..<50 where !self.done.load(ordering: .acquiring) { usleep(20_000) }
        close(self.fd)
    }
}
