import Audit
import Foundation
import Testing

/// A fresh folder under the temporary directory.
struct TemporaryDirectory {
    let path: String

    init() {
        self.path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "edgecell-audit-\(getpid())-\(UUID().uuidString.prefix(8))"
            ).path
        try? FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

/// A log of `count` entries in a fresh folder, and its lines.
func makeLog(_ count: Int, in dir: TemporaryDirectory) throws -> (AuditLog, [String]) {
    let log = AuditLog(path: dir.path + "/state/audit.log")
    for k in 1...count {
        try log.append("test.event", ["index": "\(k)", "note": "quote \" backslash \\ newline \n ünïcode ✓"])
    }
    return (log, try lines(log))
}

func lines(_ log: AuditLog) throws -> [String] {
    try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n").map(String.init)
}

func write(_ lines: [String], to log: AuditLog, newlineAtEnd: Bool = true) throws {
    try (lines.joined(separator: "\n") + (newlineAtEnd ? "\n" : "")).write(
        toFile: log.path,
        atomically: false,
        encoding: .utf8
    )
}

/// The verification error, or nil if the log verifies.
func failure(_ log: AuditLog, anchors: [Int: String] = [:]) -> AuditError? {
    do {
        _ = try log.verify(anchors: anchors)
        return nil
    } catch {
        return error
    }
}

@Suite struct AuditLogTests {
    @Test func intactLogVerifiesAndChainsFromZeros() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, text) = try makeLog(12, in: dir)
        #expect(text.count == 12)
        let result = try log.verify()
        #expect(result.entries == 12)
        let entries = try log.entries()
        #expect(entries.map(\.seq) == Array(1...12))
        #expect(entries[0].prev == String(repeating: "0", count: 64))
        #expect(entries[5].prev == AuditEntry.sha256Hex(Data(text[4].utf8)))
        #expect(entries[3].fields["note"] == "quote \" backslash \\ newline \n ünïcode ✓")
        #expect(entries[3].event == "test.event" && entries[3].fields["index"] == "4")
        #expect(entries[3].time.hasSuffix("Z"))
        #expect(result.head == entries[11].hash)
        #expect(text[0].hasPrefix("{\"v\":1,\"seq\":1,\"time\":\"") && text[0].contains(",\"hash\":\""))
        let mode = try FileManager.default.attributesOfItem(atPath: log.path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test func emptyOrAbsentLogVerifies() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let result = try AuditLog(path: dir.path + "/none.log").verify()
        #expect(result.entries == 0 && result.head == AuditEntry.genesis)
    }

    @Test func editedLineIsNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(8, in: dir)
        var text = original
        text[4] = text[4].replacingOccurrences(of: "\"index\":\"5\"", with: "\"index\":\"6\"")
        #expect(text[4] != original[4])
        try write(text, to: log)
        let error = try #require(failure(log))
        #expect(error.code == .edited && error.line == 5)
        #expect(error.message.contains("line 5"))
    }

    @Test func editWithRecomputedHashIsCaughtOnTheNextLine() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(6, in: dir)
        let entries = try log.entries()
        let forged = try AuditEntry(
            seq: 3,
            time: entries[2].time,
            event: "test.event",
            fields: ["index": "forged", "note": "x"],
            prev: entries[2].prev
        )
        var text = original
        text[2] = forged.line
        try write(text, to: log)
        let error = try #require(failure(log))
        #expect(error.code == .broken && error.line == 4)
    }

    @Test func respacedLineIsRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(4, in: dir)
        var text = original
        text[1] = text[1].replacingOccurrences(of: "\"seq\":2,", with: "\"seq\": 2,")
        try write(text, to: log)
        let error = try #require(failure(log))
        #expect(error.code == .malformed && error.line == 2)
    }

    @Test func removedLineIsNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(8, in: dir)
        var text = original
        text.remove(at: 3)
        try write(text, to: log)
        let error = try #require(failure(log))
        #expect(error.code == .broken && error.line == 4)
        #expect(error.message.contains("line 4"))

        var headless = original
        headless.removeFirst()
        try write(headless, to: log)
        #expect(failure(log)?.line == 1)
    }

    @Test func reorderedPairIsNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(8, in: dir)
        var text = original
        text.swapAt(5, 6)
        try write(text, to: log)
        let error = try #require(failure(log))
        #expect(error.code == .broken && error.line == 6)
    }

    @Test func truncatedTailIsNamedAndRefusesAppends() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(5, in: dir)
        var text = original
        text[4] = String(text[4].prefix(40))
        try write(text, to: log, newlineAtEnd: false)
        let error = try #require(failure(log))
        #expect(error.code == .truncated && error.line == 5)
        #expect(error.message.contains("line 5"))
        #expect(throws: AuditError.self) { try log.append("test.after", [:]) }
        #expect(try lines(log).count == 5)

        // The newline alone missing (a cut inside the final write) is a truncation too.
        try write(original, to: log, newlineAtEnd: false)
        #expect(failure(log)?.code == .truncated)
    }

    @Test func anchorsCatchEntriesCutFromTheEnd() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let (log, original) = try makeLog(6, in: dir)
        let head = try log.verify().head
        #expect(failure(log, anchors: [6: head]) == nil)
        try write(Array(original.prefix(4)), to: log)
        #expect(failure(log) == nil)  // a chain alone cannot tell that whole entries were cut from the end
        let error = try #require(failure(log, anchors: [6: head]))
        #expect(error.code == .anchor && error.line == 6)
    }

    @Test func reservedOrBadFieldNamesAreRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let log = AuditLog(path: dir.path + "/audit.log")
        #expect(throws: AuditError.self) { try log.append("test", ["hash": "x"]) }
        #expect(throws: AuditError.self) { try log.append("test", ["Bad Name": "x"]) }
        #expect(throws: AuditError.self) { try log.append("Bad Event", [:]) }
        #expect(!FileManager.default.fileExists(atPath: log.path))
    }

    /// Appenders with their own file descriptions (as two processes have) are serialised by flock: every
    /// entry lands, and the chain stays valid.
    @Test func concurrentAppendersKeepTheChain() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let path = dir.path + "/audit.log"
        let writers = 4
        let each = 40
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            let log = AuditLog(path: path)
            for k in 0..<each { _ = try? log.append("test.concurrent", ["writer": "\(w)", "k": "\(k)"]) }
        }
        let log = AuditLog(path: path)
        let result = try log.verify()
        #expect(result.entries == writers * each)
        let entries = try log.entries()
        for w in 0..<writers {
            #expect(
                entries.filter { $0.fields["writer"] == "\(w)" }.map { $0.fields["k"] } == (0..<each).map { "\($0)" }
            )
        }
    }

    @Test func defaultPathPrefersTheStateDirectory() {
        #expect(AuditLog.defaultPath(environment: ["EDGECELL_STATE_DIR": "/srv/cell"]) == "/srv/cell/audit.log")
        let fallback = AuditLog.defaultPath(
            environment: ["HOME": "/home/op"],
            systemDirectory: "/nonexistent-edgecell/lib/edgecell"
        )
        #expect(fallback == "/home/op/.local/state/edgecell/audit.log")
        let xdg = AuditLog.defaultPath(
            environment: ["HOME": "/home/op", "XDG_STATE_HOME": "/home/op/state"],
            systemDirectory: "/nonexistent-edgecell/lib/edgecell"
        )
        #expect(xdg == "/home/op/state/edgecell/audit.log")
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        #expect(
            AuditLog.defaultPath(environment: ["HOME": "/home/op"], systemDirectory: dir.path + "/edgecell")
                == dir.path + "/edgecell/audit.log"
        )
    }
}
