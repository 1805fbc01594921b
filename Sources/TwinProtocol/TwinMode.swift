/// How the twin advances time (`WELCOME.mode`, `Sim/PROTOCOL.md` §5).
public enum TwinMode: UInt8, Hashable, Sendable, CaseIterable {
    /// The twin advances one control period per `STEP` and answers each with an `OBSERVATION`.
    case lockStep = 0
    /// The twin runs on its own clock, streams observations and applies the latest one-way `STEP`.
    case realTime = 1
}
