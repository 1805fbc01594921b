/// The type of a twin-protocol message (`Sim/PROTOCOL.md` §4), as carried in the header.
public enum MessageType: UInt16, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Client → twin: opens the session.
    case hello = 1
    /// Twin → client: the robot description (the handshake).
    case welcome
    /// Client → twin: starts an episode.
    case reset
    /// Twin → client: the answer to `RESET`, with the first observation.
    case episode
    /// Client → twin: joint and gripper targets for one control period.
    case step
    /// Twin → client: the state after a step (or, in real-time mode, every control period).
    case observation
    /// Both ways: keeps the link alive.
    case heartbeat
    /// Both ways: reports a message that could not be accepted.
    case error
    /// Client → twin: asks the cell's scripted expert what it would command now (empty payload).
    case expert
    /// Twin → client: the answer to `EXPERT`.
    case advice

    /// The name used in `Sim/PROTOCOL.md` and in the test vectors' JSON: `"HELLO"`, `"WELCOME"`, …
    public var name: String {
        switch self {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .reset: "RESET"
        case .episode: "EPISODE"
        case .step: "STEP"
        case .observation: "OBSERVATION"
        case .heartbeat: "HEARTBEAT"
        case .error: "ERROR"
        case .expert: "EXPERT"
        case .advice: "ADVICE"
        }
    }

    /// Creates a type from its protocol name, such as `"STEP"`; `nil` for any other string.
    public init?(name: String) {
        guard let type = MessageType.allCases.first(where: { $0.name == name }) else {
            return nil
        }
        self = type
    }

    /// Whether messages of this type may carry extra frames (images): only `EPISODE` and `OBSERVATION`.
    public var carriesImages: Bool {
        self == .episode || self == .observation
    }

    /// The protocol name.
    public var description: String {
        self.name
    }
}
