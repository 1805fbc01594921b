import CellRuntime
import Foundation
import TwinProtocol

/// A taught waypoint program: the file a teach pendant writes (docs/TEACHING.md, "Program files").
///
/// Named waypoints in order; each moves the arm to a target (a Cartesian pose of the TCP or joint positions) with
/// joint or linear motion at a speed scale, then optionally drives the gripper and dwells. The file is JSON with a
/// format name and version, validated on load, and replaced atomically on save; an edit that fails leaves the
/// file as it was.
public struct TeachProgram: Hashable, Sendable {
    /// The value of `format`.
    public static let formatName = "edgecell-program"
    /// The value of `format_version` this code reads and writes.
    public static let formatVersion = 1

    /// Where a waypoint goes.
    public enum Target: Hashable, Sendable {
        /// TCP position (world frame, m) with the tool pointing straight down, turned `yaw` rad about the vertical
        /// (yaw 0: the fingers close along world x).
        case pose(position: SIMD3<Double>, yaw: Double)
        /// TCP position and a full orientation (unit quaternion w, x, y, z; world frame).
        case orientedPose(position: SIMD3<Double>, orientation: Quaternion)
        /// Joint positions, rad.
        case joints([Double])
    }

    /// What the gripper does once the arm arrived.
    public enum GripperAction: Hashable, Sendable {
        /// Open fully.
        case open
        /// Close fully (on an object: until the fingers stop).
        case close
        /// Drive to an aperture, m.
        case aperture(Double)
    }

    /// One named waypoint.
    public struct Waypoint: Hashable, Sendable {
        /// Its name (unique in the program; also the phase label of its steps in a recording).
        public var name: String
        /// Where the arm goes.
        public var target: Target
        /// Joint-space (curved TCP path) or linear (straight TCP line).
        public var motion: WaypointProgram.Motion
        /// Speed scale of the joint limits (0, 1].
        public var speed: Double
        /// Gripper action after arriving, if any.
        public var gripper: GripperAction?
        /// Seconds to wait after arriving (and after the gripper action, which waits at least its travel time).
        public var dwell: Double

        /// Creates a waypoint.
        public init(
            name: String,
            target: Target,
            motion: WaypointProgram.Motion = .joint,
            speed: Double = 0.5,
            gripper: GripperAction? = nil,
            dwell: Double = 0
        ) {
            self.name = name
            self.target = target
            self.motion = motion
            self.speed = speed
            self.gripper = gripper
            self.dwell = dwell
        }
    }

    /// The program's name.
    public var name: String
    /// The waypoints, in order.
    public var waypoints: [Waypoint]

    /// Creates a program.
    public init(name: String, waypoints: [Waypoint] = []) {
        self.name = name
        self.waypoints = waypoints
    }

    // MARK: - Editing

    /// The waypoint called `name`.
    public func waypoint(_ name: String) throws(TeachError) -> Waypoint {
        guard let found = self.waypoints.first(where: { $0.name == name }) else { throw self.unknown(name) }
        return found
    }

    private func unknown(_ name: String) -> TeachError {
        TeachError(
            .invalidProgram,
            "no waypoint named '\(name)' in program '\(self.name)'"
                + (self.waypoints.isEmpty
                    ? " (it has none)"
                    : " (it has: \(self.waypoints.map(\.name).joined(separator: ", ")))")
        )
    }

    /// Adds a waypoint at the end, or right after the waypoint `after`.
    public mutating func add(_ waypoint: Waypoint, after: String? = nil) throws(TeachError) {
        try Self.check(waypoint)
        guard !self.waypoints.contains(where: { $0.name == waypoint.name }) else {
            throw TeachError(.invalidProgram, "program '\(self.name)' already has a waypoint named '\(waypoint.name)'")
        }
        if let after {
            guard let position = self.waypoints.firstIndex(where: { $0.name == after }) else {
                throw self.unknown(after)
            }
            self.waypoints.insert(waypoint, at: position + 1)
        } else {
            self.waypoints.append(waypoint)
        }
    }

    /// Replaces the waypoint called `name` (renaming is allowed, to a name not in use); with `after`, moves it
    /// right after that waypoint.
    public mutating func replace(_ name: String, with waypoint: Waypoint, after: String? = nil) throws(TeachError) {
        guard let position = self.waypoints.firstIndex(where: { $0.name == name }) else { throw self.unknown(name) }
        try Self.check(waypoint)
        if waypoint.name != name && self.waypoints.contains(where: { $0.name == waypoint.name }) {
            throw TeachError(.invalidProgram, "program '\(self.name)' already has a waypoint named '\(waypoint.name)'")
        }
        if let after {
            guard after != name else {
                throw TeachError(.invalidProgram, "waypoint '\(name)' cannot be moved after itself")
            }
            guard self.waypoints.contains(where: { $0.name == after }) else { throw self.unknown(after) }
            self.waypoints.remove(at: position)
            let anchor = self.waypoints.firstIndex(where: { $0.name == after })!
            self.waypoints.insert(waypoint, at: anchor + 1)
        } else {
            self.waypoints[position] = waypoint
        }
    }

    /// Removes the waypoint called `name`.
    public mutating func remove(_ name: String) throws(TeachError) {
        guard let position = self.waypoints.firstIndex(where: { $0.name == name }) else { throw self.unknown(name) }
        self.waypoints.remove(at: position)
    }

    // MARK: - Checks

    /// A waypoint name: 1…64 characters, no white space or control characters, not starting with `-`.
    public static func checkName(_ name: String, what: String = "waypoint name") throws(TeachError) {
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix("-"),
            name.unicodeScalars.allSatisfy({
                !CharacterSet.whitespacesAndNewlines.contains($0) && !CharacterSet.controlCharacters.contains($0)
            })
        else {
            throw TeachError(
                .invalidProgram,
                "\(what) '\(name)': use 1…64 characters without spaces, not starting with '-'"
            )
        }
    }

    /// Checks a waypoint's values (finite numbers, speed in (0, 1], dwell ≥ 0, a unit quaternion, 1…8 joints).
    public static func check(_ w: Waypoint) throws(TeachError) {
        try Self.checkName(w.name)
        func fail(_ message: String) -> TeachError { TeachError(.invalidProgram, "waypoint '\(w.name)': \(message)") }
        guard w.speed.isFinite, w.speed > 0, w.speed <= 1 else { throw fail("speed \(w.speed) is outside (0, 1]") }
        guard w.dwell.isFinite, w.dwell >= 0, w.dwell <= 3600 else {
            throw fail("dwell \(w.dwell) s is not in 0…3600 s")
        }
        switch w.target {
        case .pose(let p, let yaw):
            guard p.x.isFinite, p.y.isFinite, p.z.isFinite, yaw.isFinite else {
                throw fail("the pose has a non-finite number")
            }
        case .orientedPose(let p, let q):
            guard p.x.isFinite, p.y.isFinite, p.z.isFinite, q.w.isFinite, q.x.isFinite, q.y.isFinite, q.z.isFinite
            else { throw fail("the pose has a non-finite number") }
            let norm = (q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z).squareRoot()
            guard abs(norm - 1) < 1e-3 else {
                throw fail(String(format: "the orientation quaternion has norm %.4f, not 1", norm))
            }
        case .joints(let q):
            guard (1...8).contains(q.count) else { throw fail("\(q.count) joint values; 1…8 are supported") }
            guard q.allSatisfy(\.isFinite) else { throw fail("a joint value is not finite") }
        }
        if case .aperture(let a) = w.gripper, !(a.isFinite && a >= 0) {
            throw fail("gripper aperture \(a) m is not a non-negative number")
        }
    }

    /// Checks the whole program.
    public func check() throws(TeachError) {
        try Self.checkName(self.name, what: "program name")
        var seen = Set<String>()
        for waypoint in self.waypoints {
            try Self.check(waypoint)
            guard seen.insert(waypoint.name).inserted else {
                throw TeachError(.invalidProgram, "waypoint name '\(waypoint.name)' is used twice")
            }
        }
    }

    // MARK: - Playback

    /// The tool orientation pointing straight down, turned `yaw` about the vertical: Rz(yaw)·Rx(π).
    public static func downward(yaw: Double) -> Quaternion {
        Quaternion(w: 0, x: cos(yaw / 2), y: sin(yaw / 2), z: 0)
    }

    /// The yaw of a tool pointing down (the angle of its x axis in the horizontal plane).
    public static func yaw(ofDownwardTool q: Quaternion) -> Double {
        atan2(2 * (q.x * q.y + q.w * q.z), 1 - 2 * (q.y * q.y + q.z * q.z))
    }

    /// The program for `TrajectoryPlanner`: per waypoint a move, then a gripper action (open = the gripper's
    /// largest aperture, close = its smallest) or a wait; every step labelled with the waypoint's name.
    public func waypointProgram(gripper range: ClosedRange<Double>) throws(TeachError) -> WaypointProgram {
        try self.check()
        guard !self.waypoints.isEmpty else {
            throw TeachError(.invalidProgram, "program '\(self.name)' has no waypoints")
        }
        var steps: [WaypointProgram.Step] = []
        for w in self.waypoints {
            let target: WaypointProgram.Target
            switch w.target {
            case .pose(let p, let yaw): target = .pose(Pose(position: p, orientation: Self.downward(yaw: yaw)))
            case .orientedPose(let p, let q): target = .pose(Pose(position: p, orientation: q))
            case .joints(let q): target = .joints(q)
            }
            steps.append(.init(w.name, .move(target, motion: w.motion, speed: w.speed)))
            switch w.gripper {
            case .open: steps.append(.init(w.name, .gripper(aperture: range.upperBound, dwell: w.dwell)))
            case .close: steps.append(.init(w.name, .gripper(aperture: range.lowerBound, dwell: w.dwell)))
            case .aperture(let a): steps.append(.init(w.name, .gripper(aperture: a, dwell: w.dwell)))
            case nil: if w.dwell > 0 { steps.append(.init(w.name, .wait(seconds: w.dwell))) }
            }
        }
        return WaypointProgram(name: self.name, steps: steps)
    }

    // MARK: - Files

    /// Reads and checks a program file.
    public static func load(_ path: String) throws(TeachError) -> TeachProgram {
        guard Posix.exists(path) else {
            throw TeachError(
                .invalidProgram,
                "no such program file (create it with `edgecell teach program new`)",
                path: path
            )
        }
        let data = Data(try Posix.read(path))
        let file: ProgramFile
        do {
            file = try JSONDecoder().decode(ProgramFile.self, from: data)
        } catch let error as DecodingError {
            throw TeachError(.invalidProgram, TeachJSON.describe(error), path: path)
        } catch let error as TeachError {
            throw TeachError(error.code, error.message, path: path)
        } catch {
            throw TeachError(.invalidProgram, "not valid JSON: \(error)", path: path)
        }
        guard file.format == Self.formatName else {
            throw TeachError(.invalidProgram, "format is '\(file.format)', expected '\(Self.formatName)'", path: path)
        }
        guard file.formatVersion == Self.formatVersion else {
            throw TeachError(
                .invalidProgram,
                "format_version \(file.formatVersion) is not supported (this reader knows \(Self.formatVersion))",
                path: path
            )
        }
        let program = TeachProgram(name: file.name, waypoints: file.waypoints.map(\.waypoint))
        do {
            try program.check()
        } catch {
            throw TeachError(error.code, error.message, path: path)
        }
        return program
    }

    /// Writes the program atomically (a temporary file, `fsync`, `rename`).
    public func save(_ path: String) throws(TeachError) {
        try self.check()
        try Posix.writeAtomically(TeachJSON.encode(ProgramFile(self)), to: path)
    }
}

/// The JSON form of a program file.
struct ProgramFile: Codable {
    var format: String
    var formatVersion: Int
    var name: String
    var waypoints: [WaypointEntry]

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case name, waypoints
    }

    init(_ program: TeachProgram) {
        self.format = TeachProgram.formatName
        self.formatVersion = TeachProgram.formatVersion
        self.name = program.name
        self.waypoints = program.waypoints.map(WaypointEntry.init)
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.format = try c.decode(String.self, forKey: .format)
        self.formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        // Only version 1 has this shape; another version is reported as such by the caller.
        guard self.format == TeachProgram.formatName, self.formatVersion == TeachProgram.formatVersion else {
            self.name = ""
            self.waypoints = []
            return
        }
        self.name = try c.decode(String.self, forKey: .name)
        self.waypoints = try c.decode([WaypointEntry].self, forKey: .waypoints)
    }

    /// One waypoint: `target` holds `position` with `yaw` or `orientation`, or `joints`; `gripper` is "open",
    /// "close" or an aperture in metres.
    struct WaypointEntry: Codable {
        var name: String
        var position: [Double]?
        var yaw: Double?
        var orientation: [Double]?
        var joints: [Double]?
        var motion: WaypointProgram.Motion
        var speed: Double
        var gripper: GripperValue?
        var dwell: Double

        enum CodingKeys: String, CodingKey {
            case name, target, motion, speed, gripper, dwell
        }

        enum TargetKeys: String, CodingKey {
            case position, yaw, orientation, joints
        }

        enum GripperValue: Codable {
            case word(String)
            case number(Double)

            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let number = try? c.decode(Double.self) {
                    self = .number(number)
                } else {
                    self = .word(try c.decode(String.self))
                }
            }

            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                switch self {
                case .word(let word): try c.encode(word)
                case .number(let number): try c.encode(number)
                }
            }
        }

        init(_ w: TeachProgram.Waypoint) {
            self.name = w.name
            self.motion = w.motion
            self.speed = w.speed
            self.dwell = w.dwell
            switch w.target {
            case .pose(let p, let yaw):
                self.position = [p.x, p.y, p.z]
                self.yaw = yaw
            case .orientedPose(let p, let q):
                self.position = [p.x, p.y, p.z]
                self.orientation = [q.w, q.x, q.y, q.z]
            case .joints(let q):
                self.joints = q
            }
            switch w.gripper {
            case .open: self.gripper = .word("open")
            case .close: self.gripper = .word("close")
            case .aperture(let a): self.gripper = .number(a)
            case nil: self.gripper = nil
            }
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try c.decode(String.self, forKey: .name)
            let t = try c.nestedContainer(keyedBy: TargetKeys.self, forKey: .target)
            self.position = try t.decodeIfPresent([Double].self, forKey: .position)
            self.yaw = try t.decodeIfPresent(Double.self, forKey: .yaw)
            self.orientation = try t.decodeIfPresent([Double].self, forKey: .orientation)
            self.joints = try t.decodeIfPresent([Double].self, forKey: .joints)
            let where_ = "waypoint '\(self.name)': target"
            let kinds = [self.position != nil || self.yaw != nil || self.orientation != nil, self.joints != nil]
            guard kinds.filter({ $0 }).count == 1 else {
                throw TeachError(.invalidProgram, "\(where_) needs either position (with yaw or orientation) or joints")
            }
            if self.joints == nil {
                guard let position = self.position, position.count == 3 else {
                    throw TeachError(.invalidProgram, "\(where_).position needs 3 numbers (x, y, z in metres)")
                }
                guard (self.yaw == nil) != (self.orientation == nil) else {
                    throw TeachError(.invalidProgram, "\(where_) needs yaw or orientation (one of them)")
                }
                if let orientation = self.orientation, orientation.count != 4 {
                    throw TeachError(.invalidProgram, "\(where_).orientation needs 4 numbers (w, x, y, z)")
                }
            }
            self.motion = try c.decodeIfPresent(WaypointProgram.Motion.self, forKey: .motion) ?? .joint
            self.speed = try c.decodeIfPresent(Double.self, forKey: .speed) ?? 0.5
            self.gripper = try c.decodeIfPresent(GripperValue.self, forKey: .gripper)
            if case .word(let word) = self.gripper, word != "open" && word != "close" {
                throw TeachError(
                    .invalidProgram,
                    "waypoint '\(self.name)': gripper '\(word)' is not open, close or an aperture in metres"
                )
            }
            self.dwell = try c.decodeIfPresent(Double.self, forKey: .dwell) ?? 0
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(self.name, forKey: .name)
            var t = c.nestedContainer(keyedBy: TargetKeys.self, forKey: .target)
            try t.encodeIfPresent(self.position, forKey: .position)
            try t.encodeIfPresent(self.yaw, forKey: .yaw)
            try t.encodeIfPresent(self.orientation, forKey: .orientation)
            try t.encodeIfPresent(self.joints, forKey: .joints)
            try c.encode(self.motion, forKey: .motion)
            try c.encode(self.speed, forKey: .speed)
            try c.encodeIfPresent(self.gripper, forKey: .gripper)
            try c.encode(self.dwell, forKey: .dwell)
        }

        var waypoint: TeachProgram.Waypoint {
            let target: TeachProgram.Target
            if let joints = self.joints {
                target = .joints(joints)
            } else if let o = self.orientation, let p = self.position {
                target = .orientedPose(
                    position: SIMD3(p[0], p[1], p[2]),
                    orientation: Quaternion(w: o[0], x: o[1], y: o[2], z: o[3])
                )
            } else {
                let p = self.position ?? [0, 0, 0]
                target = .pose(position: SIMD3(p[0], p[1], p[2]), yaw: self.yaw ?? 0)
            }
            let gripper: TeachProgram.GripperAction?
            switch self.gripper {
            case .word("open"): gripper = .open
            case .word: gripper = .close
            case .number(let a): gripper = .aperture(a)
            case nil: gripper = nil
            }
            return TeachProgram.Waypoint(
                name: self.name,
                target: target,
                motion: self.motion,
                speed: self.speed,
                gripper: gripper,
                dwell: self.dwell
            )
        }
    }
}

extension TeachProgram {
    /// Parses a comma-separated list of numbers given to `option` (e.g. `--pose 0.5,0.1,0.2`).
    public static func numbers(_ text: String, option: String, count: ClosedRange<Int>) throws(TeachError) -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var values: [Double] = []
        for part in parts {
            guard let value = Double(part), value.isFinite else {
                throw TeachError(.usage, "\(option) \(text): '\(part)' is not a number")
            }
            values.append(value)
        }
        guard count.contains(values.count) else {
            let wanted =
                count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound)…\(count.upperBound)"
            throw TeachError(.usage, "\(option) \(text): \(values.count) numbers, expected \(wanted)")
        }
        return values
    }

    /// Parses a gripper action: `open`, `close` or an aperture in metres.
    public static func gripperAction(_ text: String) throws(TeachError) -> GripperAction {
        switch text.lowercased() {
        case "open": return .open
        case "close", "closed": return .close
        default:
            guard let value = Double(text), value.isFinite, value >= 0 else {
                throw TeachError(.usage, "--gripper \(text): use open, close or an aperture in metres, e.g. 0.04")
            }
            return .aperture(value)
        }
    }
}
