import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP relay for wire-capture tests: listens on a free port of 127.0.0.1, forwards every connection to
/// a target port and records every byte that passes, both ways, so a test can look at what a link puts on the
/// wire. Stops (closing everything) on `stop()` or deinit.
final class TCPRelay: Sendable {
    /// The port to connect to instead of the target.
    let port: UInt16
    private let listener: Int32
    private let captured = Mutex<[UInt8]>([])
    private let stopping = Atomic<Bool>(false)
    private let threads = Atomic<Int>(0)

    init(targetPort: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RelayError("socket: \(String(cString: strerror(errno)))") }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            throw RelayError("bind/listen: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listener = fd
        self.port = UInt16(bigEndian: address.sin_port)
        self.threads.add(1, ordering: .relaxed)
        let thread = Thread { [self] in self.acceptLoop(targetPort: targetPort) }
        thread.start()
    }

    deinit { self.stop() }

    /// The endpoint a ZeroMQ client connects to.
    var endpoint: String { "tcp://127.0.0.1:\(self.port)" }

    /// Every byte relayed so far, both directions in arrival order.
    var bytes: [UInt8] { self.captured.withLock { $0 } }

    /// Stops accepting and relaying; waits for the relay's threads.
    func stop() {
        guard !self.stopping.exchange(true, ordering: .relaxed) else { return }
        while self.threads.load(ordering: .acquiring) > 0 { usleep(5_000) }
        close(self.listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop(targetPort: UInt16) {
        defer { self.threads.subtract(1, ordering: .releasing) }
        while !self.stopping.load(ordering: .relaxed) {
            var item = pollfd(fd: self.listener, events: Int16(POLLIN), revents: 0)
            guard poll(&item, 1, 50) > 0 else { continue }
            let client = accept(self.listener, nil, nil)
            guard client >= 0 else { continue }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(client)
                close(server)
                continue
            }
            self.threads.add(1, ordering: .relaxed)
            let pump = Thread { [self] in
                defer { self.threads.subtract(1, ordering: .releasing) }
                self.pump(client, server)
            }
            pump.start()
        }
    }

    /// Copies bytes both ways until either side closes or the relay stops.
    private func pump(_ a: Int32, _ b: Int32) {
        defer {
            close(a)
            close(b)
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !self.stopping.load(ordering: .relaxed) {
            var items = [
                pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&items, 2, 50) > 0 else { continue }
            for (from, to) in [(0, 1), (1, 0)] where items[from].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(items[from].fd, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                self.captured.withLock { $0.append(contentsOf: buffer[0..<n]) }
                var offset = 0
                while offset < n {
                    let written = buffer.withUnsafeBytes { write(items[to].fd, $0.baseAddress! + offset, n - offset) }
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}

struct RelayError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Whether `needle` occurs in `haystack`.
func occurs(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start..<(start + needle.count)]) == needle { return true }
    }
    return false
}
