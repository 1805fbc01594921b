// Payload decoders, one per message type, in the field order of Sim/PROTOCOL.md §4. Each field is checked as
// soon as it is read, so the first bad field decides the error code.

extension TwinCodec {
    static func readHello(_ reader: inout Reader) throws(ProtocolError) -> Hello {
        let clientName = try reader.readString("client_name")
        let clientVersion = try reader.readString("client_version")
        return Hello(clientName: clientName, clientVersion: clientVersion)
    }

    static func readWelcome(_ reader: inout Reader) throws(ProtocolError) -> Welcome {
        let twinName = try reader.readString("twin_name")
        let twinVersion = try reader.readString("twin_version")
        let robotName = try reader.readString("robot_name")
        let rawMode = try reader.readU8("mode")
        guard let mode = TwinMode(rawValue: rawMode) else {
            throw reader.error(.badValue, "mode is \(rawMode), expected 0 (lock-step) or 1 (real-time)")
        }
        let controlPeriod = try reader.readF64("control_period")
        let physicsTimestep = try reader.readF64("physics_timestep")

        let jointCount = Int(try reader.readU16("joints"))
        // Reserve no more than the bytes left could hold, so a lying count cannot make us allocate much.
        var joints: [JointDescription] = []
        joints.reserveCapacity(min(jointCount, reader.remaining / (2 + 5 * 8)))
        for index in 0..<jointCount {
            let name = try reader.readString(FieldName("joints", index, "name"))
            let positionMin = try reader.readF64(FieldName("joints", index, "position_min"))
            let positionMax = try reader.readF64(FieldName("joints", index, "position_max"))
            let velocityMax = try reader.readF64(FieldName("joints", index, "velocity_max"))
            let accelerationMax = try reader.readF64(FieldName("joints", index, "acceleration_max"))
            let effortMax = try reader.readF64(FieldName("joints", index, "effort_max"))
            joints.append(
                JointDescription(
                    name: name,
                    positionMin: positionMin,
                    positionMax: positionMax,
                    velocityMax: velocityMax,
                    accelerationMax: accelerationMax,
                    effortMax: effortMax
                )
            )
        }
        let basePose = try reader.readPose("base_pose")
        var dh: [DHRow] = []
        dh.reserveCapacity(min(jointCount, reader.remaining / (4 * 8)))
        for index in 0..<jointCount {
            let a = try reader.readF64(FieldName("dh", index, "a"))
            let d = try reader.readF64(FieldName("dh", index, "d"))
            let alpha = try reader.readF64(FieldName("dh", index, "alpha"))
            let thetaOffset = try reader.readF64(FieldName("dh", index, "theta_offset"))
            dh.append(DHRow(a: a, d: d, alpha: alpha, thetaOffset: thetaOffset))
        }
        let toolPose = try reader.readPose("tool_pose")
        let gripperName = try reader.readString("gripper_name")
        let apertureMin = try reader.readF64("gripper_aperture_min")
        let apertureMax = try reader.readF64("gripper_aperture_max")
        let forceMax = try reader.readF64("gripper_force_max")
        let speedMax = try reader.readF64("gripper_speed_max")
        let workspaceMin = try reader.readVec3("workspace_min")
        let workspaceMax = try reader.readVec3("workspace_max")

        let cameraCount = Int(try reader.readU8("cameras"))
        var cameras: [CameraDescription] = []
        cameras.reserveCapacity(cameraCount)
        for index in 0..<cameraCount {
            let name = try reader.readString(FieldName("cameras", index, "name"))
            let width = try self.readImageSide(&reader, FieldName("cameras", index, "width"))
            let height = try self.readImageSide(&reader, FieldName("cameras", index, "height"))
            let encoding = try self.readEncoding(&reader, FieldName("cameras", index, "encoding"))
            cameras.append(CameraDescription(name: name, width: width, height: height, encoding: encoding))
        }

        let objectCount = Int(try reader.readU16("objects"))
        var objects: [ObjectDescription] = []
        objects.reserveCapacity(min(objectCount, reader.remaining / (2 + 3 * 8)))
        for index in 0..<objectCount {
            let name = try reader.readString(FieldName("objects", index, "name"))
            let size = try reader.readVec3(FieldName("objects", index, "size"))
            objects.append(ObjectDescription(name: name, size: size))
        }

        let taskCount = Int(try reader.readU16("tasks"))
        var tasks: [String] = []
        tasks.reserveCapacity(min(taskCount, reader.remaining / 2))
        for index in 0..<taskCount {
            tasks.append(try reader.readString(FieldName("tasks", index)))
        }
        let task = try reader.readString("task")
        let instruction = try reader.readString("instruction")
        let seed = try reader.readU64("seed")
        let cameraPeriod = try reader.readF64("camera_period")
        guard cameraPeriod > 0 else {
            throw reader.error(.badValue, "camera_period is \(cameraPeriod), expected > 0")
        }
        let hasExpert = try reader.readBool("has_expert")

        return Welcome(
            twinName: twinName,
            twinVersion: twinVersion,
            robotName: robotName,
            mode: mode,
            controlPeriod: controlPeriod,
            physicsTimestep: physicsTimestep,
            joints: joints,
            basePose: basePose,
            dh: dh,
            toolPose: toolPose,
            gripper: GripperDescription(
                name: gripperName,
                apertureMin: apertureMin,
                apertureMax: apertureMax,
                forceMax: forceMax,
                speedMax: speedMax
            ),
            workspaceMin: workspaceMin,
            workspaceMax: workspaceMax,
            cameras: cameras,
            objects: objects,
            tasks: tasks,
            task: task,
            instruction: instruction,
            seed: seed,
            cameraPeriod: cameraPeriod,
            hasExpert: hasExpert
        )
    }

    /// Reads a camera's or an image's `width` or `height`, which must be 1…4096.
    private static func readImageSide(_ reader: inout Reader, _ field: FieldName) throws(ProtocolError) -> UInt16 {
        let value = try reader.readU16(field)
        guard CameraDescription.sizeRange.contains(value) else {
            throw reader.error(
                .badValue,
                "\(field) is \(value), expected \(CameraDescription.sizeRange.lowerBound)…"
                    + "\(CameraDescription.sizeRange.upperBound)"
            )
        }
        return value
    }

    /// Reads an image `encoding`, which must be 1 (RGB8).
    static func readEncoding(_ reader: inout Reader, _ field: FieldName) throws(ProtocolError) -> ImageEncoding {
        let value = try reader.readU8(field)
        guard let encoding = ImageEncoding(rawValue: value) else {
            throw reader.error(.badValue, "\(field) is \(value), expected 1 (RGB8)")
        }
        return encoding
    }

    static func readReset(_ reader: inout Reader) throws(ProtocolError) -> Reset {
        let task = try reader.readString("task")
        let seed = try reader.readU64("seed")
        return Reset(task: task, seed: seed)
    }

    static func readEpisode(_ reader: inout Reader) throws(ProtocolError) -> Episode {
        let task = try reader.readString("task")
        let instruction = try reader.readString("instruction")
        let seed = try reader.readU64("seed")
        var observation = Observation()
        try self.readObservationBody(&reader, into: &observation)
        return Episode(task: task, instruction: instruction, seed: seed, observation: observation)
    }

    static func readStep(_ reader: inout Reader) throws(ProtocolError) -> Step {
        let count = Int(try reader.readU16("joint_targets"))
        var targets: [Double] = []
        targets.reserveCapacity(min(count, reader.remaining / 8))
        for index in 0..<count {
            targets.append(try reader.readF64(FieldName("joint_targets", index)))
        }
        let gripperTarget = try reader.readF64("gripper_target")
        return Step(jointTargets: targets, gripperTarget: gripperTarget)
    }

    /// Reads the observation body into `observation`, reusing its arrays' capacity: once they are large enough,
    /// this allocates nothing. On error `observation` holds a partly decoded body.
    static func readObservationBody(_ reader: inout Reader, into observation: inout Observation) throws(ProtocolError) {
        observation.episode = try reader.readU32("episode")
        observation.step = try reader.readU64("step")
        observation.simTime = try reader.readF64("sim_time")

        let jointCount = Int(try reader.readU16("joint_positions"))
        observation.jointPositions.removeAll(keepingCapacity: true)
        observation.jointPositions.reserveCapacity(min(jointCount, reader.remaining / 8))
        for index in 0..<jointCount {
            observation.jointPositions.append(try reader.readF64(FieldName("joint_positions", index)))
        }
        observation.jointVelocities.removeAll(keepingCapacity: true)
        observation.jointVelocities.reserveCapacity(min(jointCount, reader.remaining / 8))
        for index in 0..<jointCount {
            observation.jointVelocities.append(try reader.readF64(FieldName("joint_velocities", index)))
        }
        observation.gripperAperture = try reader.readF64("gripper_aperture")
        observation.gripperForce = try reader.readF64("gripper_force")
        observation.tcpPose = try reader.readPose("tcp_pose")

        let objectCount = Int(try reader.readU16("objects"))
        observation.objectPoses.removeAll(keepingCapacity: true)
        observation.objectPoses.reserveCapacity(min(objectCount, reader.remaining / (7 * 8)))
        for index in 0..<objectCount {
            observation.objectPoses.append(try reader.readPose(FieldName("objects", index)))
        }
        observation.success = try reader.readBool("success")
        let flags = ObservationFlags(rawValue: try reader.readU8("flags"))
        guard ObservationFlags.allDefined.isSuperset(of: flags) else {
            throw reader.error(.badValue, "flags is \(flags.rawValue), only bits 0 and 1 are defined")
        }
        observation.flags = flags

        // Checked against extra_frames after the whole payload (§3 check 8): checkImageFrames.
        let imageCount = Int(try reader.readU8("images"))
        observation.images.removeAll(keepingCapacity: true)
        observation.images.reserveCapacity(min(imageCount, reader.remaining / 6))
        for index in 0..<imageCount {
            let camera = try reader.readU8(FieldName("images", index, "camera"))
            let width = try self.readImageSide(&reader, FieldName("images", index, "width"))
            let height = try self.readImageSide(&reader, FieldName("images", index, "height"))
            let encoding = try self.readEncoding(&reader, FieldName("images", index, "encoding"))
            observation.images.append(ImageHeader(camera: camera, width: width, height: height, encoding: encoding))
        }
    }

    static func readHeartbeat(_ reader: inout Reader) throws(ProtocolError) -> Heartbeat {
        Heartbeat(time: try reader.readF64("time"))
    }

    static func readAdvice(_ reader: inout Reader) throws(ProtocolError) -> Advice {
        let count = Int(try reader.readU16("joint_targets"))
        var targets: [Double] = []
        targets.reserveCapacity(min(count, reader.remaining / 8))
        for index in 0..<count {
            targets.append(try reader.readF64(FieldName("joint_targets", index)))
        }
        let gripperTarget = try reader.readF64("gripper_target")
        let phase = try reader.readString("phase")
        let done = try reader.readBool("done")
        return Advice(jointTargets: targets, gripperTarget: gripperTarget, phase: phase, done: done)
    }

    static func readErrorReport(_ reader: inout Reader) throws(ProtocolError) -> ErrorReport {
        let code = ProtocolError.Code(rawValue: try reader.readU16("code"))
        guard code.isDefined else {
            throw reader.error(.badValue, "code is \(code.rawValue), expected 1…10")
        }
        let offendingSeq = try reader.readU64("offending_seq")
        let message = try reader.readString("message")
        return ErrorReport(code: code, offendingSeq: offendingSeq, message: message)
    }
}
