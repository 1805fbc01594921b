/// `HELLO` (1), client → twin: opens the session; the twin answers with `WELCOME`.
public struct Hello: Hashable, Sendable {
    /// The client software, such as `edgecell-runtime`.
    public var clientName: String
    /// Its version, such as `0.1.0`.
    public var clientVersion: String

    /// Creates a `HELLO`.
    public init(clientName: String, clientVersion: String) {
        self.clientName = clientName
        self.clientVersion = clientVersion
    }
}
