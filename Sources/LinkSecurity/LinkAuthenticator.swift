import Foundation
import Synchronization
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The allow-list a server checks clients against, re-read whenever the file changes (so `edgecell keys allow`
/// and `revoke` take effect at the next connection without a restart). If the file cannot be read or parsed, every
/// client is refused (fail closed) and the error is the refusal's reason.
public final class ClientAllowList: Sendable {
    /// The allow-list file.
    public let path: String

    private struct Snapshot {
        var stamp: [Int] = []
        var keys: [CurvePublicKey: PublicKeyLine] = [:]
        var error: String?
    }
    private let snapshot = Mutex(Snapshot())

    /// A list read from `path` (a missing file is an empty list: every client is refused).
    public init(path: String) {
        self.path = path
    }

    /// The key's line if the key is allowed; else why not.
    public func lookup(_ key: CurvePublicKey) -> Result<PublicKeyLine, KeyStoreError> {
        self.snapshot.withLock { snapshot in
            self.refresh(&snapshot)
            if let error = snapshot.error { return .failure(KeyStoreError(.format, error)) }
            if let line = snapshot.keys[key] { return .success(line) }
            return .failure(KeyStoreError(.argument, "key not in the allow-list \(self.path)"))
        }
    }

    /// How many keys the list holds now.
    public var count: Int {
        self.snapshot.withLock { snapshot in
            self.refresh(&snapshot)
            return snapshot.keys.count
        }
    }

    private func refresh(_ snapshot: inout Snapshot) {
        var status = stat()
        let stamp: [Int] =
            stat(self.path, &status) == 0
            ? [
                Int(status.st_ino), Int(status.st_size), Int(status.st_mtim.tv_sec), Int(status.st_mtim.tv_nsec),
                Int(status.st_ctim.tv_sec), Int(status.st_ctim.tv_nsec),
            ] : [-1]
        guard stamp != snapshot.stamp else { return }
        snapshot.stamp = stamp
        do {
            let lines = try KeyStore.loadAllowList(self.path, missingIsEmpty: true)
            snapshot.keys = Dictionary(lines.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            snapshot.error = nil
        } catch {
            snapshot.keys = [:]
            snapshot.error = "the allow-list cannot be read, so every client is refused: \(error.message)"
        }
    }
}

/// One accepted or refused connection attempt, as a server records it.
public struct LinkEvent: Sendable, Hashable {
    /// Whether the client was let in.
    public var accepted: Bool
    /// The client's public key (Z85), or "" if it offered none.
    public var clientKey: String
    /// The allow-list comment of the key (whose it is), if allowed.
    public var comment: String
    /// The client's IP address.
    public var address: String
    /// The server's endpoint.
    public var endpoint: String
    /// Why it was refused ("" when accepted).
    public var reason: String
    /// Refusals of the same key from the same address left unrecorded since the last recorded one.
    public var repeats: Int

    /// The event's name in the audit log: `link.accepted` or `link.refused`.
    public var name: String { self.accepted ? "link.accepted" : "link.refused" }

    /// The fields the audit log records (names `a-z0-9_`, values strings).
    public var fields: [String: String] {
        var fields = ["client_key": self.clientKey, "address": self.address, "endpoint": self.endpoint]
        if !self.comment.isEmpty { fields["client"] = self.comment }
        if !self.accepted { fields["reason"] = self.reason }
        if self.repeats > 0 { fields["repeats"] = String(self.repeats) }
        return fields
    }

    /// One line for a server's log.
    public var line: String {
        (self.accepted ? "link accepted" : "link refused")
            + ": client key \(self.clientKey.isEmpty ? "none" : self.clientKey)"
            + (self.comment.isEmpty ? "" : " (\(self.comment))") + " from \(self.address) on \(self.endpoint)"
            + (self.accepted ? "" : ": \(self.reason)")
            + (self.repeats > 0 ? " (and \(self.repeats) more refusals since the last one recorded)" : "")
    }
}

/// Decides ZAP requests against a `ClientAllowList` and reports each decision.
///
/// A refused client's libzmq retries at its reconnect interval (tens of times a second), so refusals are reported
/// at most once per `refusalInterval` for the same key, address and reason, the next report counting those in
/// between; every acceptance is reported.
public final class LinkAuthenticator: Sendable {
    /// The list checked.
    public let allowList: ClientAllowList
    /// Seconds between two reports of refusals of the same key from the same address.
    public let refusalInterval: Double
    private let endpointName = Mutex("")
    private let report: @Sendable (LinkEvent) -> Void
    private let refusals = Mutex([String: (last: Double, suppressed: Int)]())

    /// Creates an authenticator; `report` runs on the ZAP handler's thread.
    public init(
        allowList: ClientAllowList,
        endpoint: String,
        refusalInterval: Double = 60,
        report: @escaping @Sendable (LinkEvent) -> Void
    ) {
        self.allowList = allowList
        self.refusalInterval = refusalInterval
        self.report = report
        self.endpointName.withLock { $0 = endpoint }
    }

    /// The server's endpoint as reported (set it to the bound endpoint once known).
    public var endpoint: String {
        get { self.endpointName.withLock { $0 } }
        set { self.endpointName.withLock { $0 = newValue } }
    }

    /// Answers one ZAP request.
    public func authorize(_ request: ZAPHandler.Request) -> ZAPHandler.Decision {
        var event = LinkEvent(
            accepted: false,
            clientKey: request.clientKey?.z85 ?? "",
            comment: "",
            address: request.address,
            endpoint: self.endpoint,
            reason: "",
            repeats: 0
        )
        let decision: ZAPHandler.Decision
        if request.mechanism != "CURVE" || request.clientKey == nil {
            event.reason = "the client did not use CURVE (\(request.mechanism))"
            decision = .refuse(reason: "CURVE required")
        } else {
            switch self.allowList.lookup(request.clientKey!) {
            case .success(let line):
                event.accepted = true
                event.comment = line.comment
                decision = .accept(userID: line.key.z85)
            case .failure(let error):
                event.reason = error.message
                decision = .refuse(reason: "client key not allowed")
            }
        }
        if event.accepted {
            self.report(event)
        } else if let repeats = self.shouldReport(key: event.clientKey + " " + event.address + " " + event.reason) {
            event.repeats = repeats
            self.report(event)
        }
        return decision
    }

    /// nil to stay quiet; else the number of refusals left unreported before this one.
    private func shouldReport(key: String) -> Int? {
        let now = Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
        return self.refusals.withLock { refusals in
            if let seen = refusals[key], now - seen.last < self.refusalInterval {
                refusals[key] = (seen.last, seen.suppressed + 1)
                return nil
            }
            let suppressed = refusals[key]?.suppressed ?? 0
            refusals[key] = (now, 0)
            if refusals.count > 4096 { refusals = refusals.filter { now - $0.value.last < self.refusalInterval } }
            return suppressed
        }
    }
}
