@testable import TwinProtocol

/// The canonical JSON form of `Sim/PROTOCOL.md` §7.1, built from a decoded message with typed leaves, and a
/// comparison against parsed JSON that is exact: integers as `UInt64`, `f64` by bit pattern.
indirect enum CanonicalJSON {
    case int(UInt64)
    case double(Double)
    case string(String)
    case array([CanonicalJSON])
    case object([String: CanonicalJSON])

    static func of(_ message: Message, seq: UInt64) -> CanonicalJSON {
        var fields: [String: CanonicalJSON] = ["type": .string(message.type.name), "seq": .int(seq)]
        switch message {
        case .hello(let hello):
            fields["client_name"] = .string(hello.clientName)
            fields["client_version"] = .string(hello.clientVersion)
        case .welcome(let welcome):
            fields.merge(self.fields(of: welcome)) { $1 }
        case .reset(let reset):
            fields["task"] = .string(reset.task)
            fields["seed"] = .int(reset.seed)
        case .episode(let episode):
            fields["task"] = .string(episode.task)
            fields["instruction"] = .string(episode.instruction)
            fields["seed"] = .int(episode.seed)
            fields.merge(self.fields(of: episode.observation)) { $1 }
        case .step(let step):
            fields["joint_targets"] = .array(step.jointTargets.map(CanonicalJSON.double))
            fields["gripper_target"] = .double(step.gripperTarget)
        case .observation(let observation):
            fields.merge(self.fields(of: observation)) { $1 }
        case .heartbeat(let heartbeat):
            fields["time"] = .double(heartbeat.time)
        case .error(let report):
            fields["code"] = .int(UInt64(report.code.rawValue))
            fields["offending_seq"] = .int(report.offendingSeq)
            fields["message"] = .string(report.message)
        case .expert:
            break
        case .advice(let advice):
            fields["joint_targets"] = .array(advice.jointTargets.map(CanonicalJSON.double))
            fields["gripper_target"] = .double(advice.gripperTarget)
            fields["phase"] = .string(advice.phase)
            fields["done"] = .int(advice.done ? 1 : 0)
        }
        return .object(fields)
    }

    static func vec3(_ value: SIMD3<Double>) -> CanonicalJSON {
        .array([.double(value.x), .double(value.y), .double(value.z)])
    }

    static func pose(_ pose: Pose) -> CanonicalJSON {
        let q = pose.orientation
        return .object([
            "position": self.vec3(pose.position),
            "orientation": .array([.double(q.w), .double(q.x), .double(q.y), .double(q.z)]),
        ])
    }

    static func fields(of welcome: Welcome) -> [String: CanonicalJSON] {
        [
            "twin_name": .string(welcome.twinName),
            "twin_version": .string(welcome.twinVersion),
            "robot_name": .string(welcome.robotName),
            "mode": .int(UInt64(welcome.mode.rawValue)),
            "control_period": .double(welcome.controlPeriod),
            "physics_timestep": .double(welcome.physicsTimestep),
            "joints": .array(
                welcome.joints.map { joint in
                    .object([
                        "name": .string(joint.name),
                        "position_min": .double(joint.positionMin),
                        "position_max": .double(joint.positionMax),
                        "velocity_max": .double(joint.velocityMax),
                        "acceleration_max": .double(joint.accelerationMax),
                        "effort_max": .double(joint.effortMax),
                    ])
                }
            ),
            "base_pose": self.pose(welcome.basePose),
            "dh": .array(
                welcome.dh.map { row in
                    .object([
                        "a": .double(row.a), "d": .double(row.d), "alpha": .double(row.alpha),
                        "theta_offset": .double(row.thetaOffset),
                    ])
                }
            ),
            "tool_pose": self.pose(welcome.toolPose),
            "gripper_name": .string(welcome.gripper.name),
            "gripper_aperture_min": .double(welcome.gripper.apertureMin),
            "gripper_aperture_max": .double(welcome.gripper.apertureMax),
            "gripper_force_max": .double(welcome.gripper.forceMax),
            "gripper_speed_max": .double(welcome.gripper.speedMax),
            "workspace_min": self.vec3(welcome.workspaceMin),
            "workspace_max": self.vec3(welcome.workspaceMax),
            "cameras": .array(
                welcome.cameras.map { camera in
                    .object([
                        "name": .string(camera.name), "width": .int(UInt64(camera.width)),
                        "height": .int(UInt64(camera.height)), "encoding": .int(UInt64(camera.encoding.rawValue)),
                    ])
                }
            ),
            "objects": .array(
                welcome.objects.map { object in .object(["name": .string(object.name), "size": self.vec3(object.size)])
                }
            ),
            "tasks": .array(welcome.tasks.map(CanonicalJSON.string)),
            "task": .string(welcome.task),
            "instruction": .string(welcome.instruction),
            "seed": .int(welcome.seed),
            "camera_period": .double(welcome.cameraPeriod),
            "has_expert": .int(welcome.hasExpert ? 1 : 0),
        ]
    }

    static func fields(of observation: Observation) -> [String: CanonicalJSON] {
        [
            "episode": .int(UInt64(observation.episode)),
            "step": .int(observation.step),
            "sim_time": .double(observation.simTime),
            "joint_positions": .array(observation.jointPositions.map(CanonicalJSON.double)),
            "joint_velocities": .array(observation.jointVelocities.map(CanonicalJSON.double)),
            "gripper_aperture": .double(observation.gripperAperture),
            "gripper_force": .double(observation.gripperForce),
            "tcp_pose": self.pose(observation.tcpPose),
            "objects": .array(observation.objectPoses.map(self.pose)),
            "success": .int(observation.success ? 1 : 0),
            "flags": .int(UInt64(observation.flags.rawValue)),
            "images": .array(
                observation.images.map { image in
                    .object([
                        "camera": .int(UInt64(image.camera)), "width": .int(UInt64(image.width)),
                        "height": .int(UInt64(image.height)), "encoding": .int(UInt64(image.encoding.rawValue)),
                    ])
                }
            ),
        ]
    }

    /// Every difference between this value and `json`, as `path: what` lines; empty when they match.
    func differences(from json: JSONValue, at path: String = "$") -> [String] {
        switch (self, json) {
        case (.int(let value), .number(let literal)):
            return UInt64(literal) == value ? [] : ["\(path): decoded \(value), JSON has \(literal)"]
        case (.double(let value), .number(let literal)):
            guard let parsed = Double(literal), parsed.bitPattern == value.bitPattern else {
                return ["\(path): decoded \(value) (bits \(value.bitPattern)), JSON has \(literal)"]
            }
            return []
        case (.string(let value), .string(let text)):
            return value == text ? [] : ["\(path): decoded \"\(value)\", JSON has \"\(text)\""]
        case (.array(let items), .array(let jsonItems)):
            guard items.count == jsonItems.count else {
                return ["\(path): decoded \(items.count) items, JSON has \(jsonItems.count)"]
            }
            return zip(items, jsonItems).enumerated().flatMap { index, pair in
                pair.0.differences(from: pair.1, at: "\(path)[\(index)]")
            }
        case (.object(let fields), .object(let members)):
            var lines: [String] = []
            for key in Set(fields.keys).union(members.keys).sorted() {
                switch (fields[key], members[key]) {
                case (let value?, let member?): lines += value.differences(from: member, at: "\(path).\(key)")
                case (_?, nil): lines.append("\(path).\(key): missing from the JSON")
                case (nil, _?): lines.append("\(path).\(key): in the JSON but not a field of the message")
                case (nil, nil): break
                }
            }
            return lines
        default:
            return ["\(path): decoded \(self), JSON has \(json)"]
        }
    }
}
