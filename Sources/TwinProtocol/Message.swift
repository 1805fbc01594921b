/// A decoded twin-protocol message (frame 0 only: image pixels travel in the extra frames).
public enum Message: Hashable, Sendable {
    /// `HELLO` (1).
    case hello(Hello)
    /// `WELCOME` (2).
    case welcome(Welcome)
    /// `RESET` (3).
    case reset(Reset)
    /// `EPISODE` (4).
    case episode(Episode)
    /// `STEP` (5).
    case step(Step)
    /// `OBSERVATION` (6).
    case observation(Observation)
    /// `HEARTBEAT` (7).
    case heartbeat(Heartbeat)
    /// `ERROR` (8).
    case error(ErrorReport)
    /// `EXPERT` (9): no payload.
    case expert
    /// `ADVICE` (10).
    case advice(Advice)

    /// The message's type.
    public var type: MessageType {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .reset: .reset
        case .episode: .episode
        case .step: .step
        case .observation: .observation
        case .heartbeat: .heartbeat
        case .error: .error
        case .expert: .expert
        case .advice: .advice
        }
    }

    /// Number of frames after frame 0: the image count for `EPISODE` and `OBSERVATION`, otherwise 0.
    public var extraFrameCount: Int {
        switch self {
        case .episode(let episode): episode.observation.images.count
        case .observation(let observation): observation.images.count
        default: 0
        }
    }
}
