// Payload encoders, one per message type, mirroring TwinCodec+Decoding.swift field by field.

extension TwinCodec {
    static func write(_ hello: Hello, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeString(hello.clientName, "client_name")
        try writer.writeString(hello.clientVersion, "client_version")
    }

    static func write(_ welcome: Welcome, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeString(welcome.twinName, "twin_name")
        try writer.writeString(welcome.twinVersion, "twin_version")
        try writer.writeString(welcome.robotName, "robot_name")
        writer.writeU8(welcome.mode.rawValue)
        try writer.writeF64(welcome.controlPeriod, "control_period")
        try writer.writeF64(welcome.physicsTimestep, "physics_timestep")

        // The wire has one joint count for both lists.
        guard welcome.dh.count == welcome.joints.count else {
            throw writer.error(
                .inconsistent,
                "dh has \(welcome.dh.count) rows, joints has \(welcome.joints.count) items"
            )
        }
        try writer.writeCount16(welcome.joints.count, "joints")
        for (index, joint) in welcome.joints.enumerated() {
            try writer.writeString(joint.name, FieldName("joints", index, "name"))
            try writer.writeF64(joint.positionMin, FieldName("joints", index, "position_min"))
            try writer.writeF64(joint.positionMax, FieldName("joints", index, "position_max"))
            try writer.writeF64(joint.velocityMax, FieldName("joints", index, "velocity_max"))
            try writer.writeF64(joint.accelerationMax, FieldName("joints", index, "acceleration_max"))
            try writer.writeF64(joint.effortMax, FieldName("joints", index, "effort_max"))
        }
        try writer.writePose(welcome.basePose, "base_pose")
        for (index, row) in welcome.dh.enumerated() {
            try writer.writeF64(row.a, FieldName("dh", index, "a"))
            try writer.writeF64(row.d, FieldName("dh", index, "d"))
            try writer.writeF64(row.alpha, FieldName("dh", index, "alpha"))
            try writer.writeF64(row.thetaOffset, FieldName("dh", index, "theta_offset"))
        }
        try writer.writePose(welcome.toolPose, "tool_pose")
        try writer.writeString(welcome.gripper.name, "gripper_name")
        try writer.writeF64(welcome.gripper.apertureMin, "gripper_aperture_min")
        try writer.writeF64(welcome.gripper.apertureMax, "gripper_aperture_max")
        try writer.writeF64(welcome.gripper.forceMax, "gripper_force_max")
        try writer.writeF64(welcome.gripper.speedMax, "gripper_speed_max")
        try writer.writeVec3(welcome.workspaceMin, "workspace_min")
        try writer.writeVec3(welcome.workspaceMax, "workspace_max")

        try writer.writeCount8(welcome.cameras.count, "cameras")
        for (index, camera) in welcome.cameras.enumerated() {
            try writer.writeString(camera.name, FieldName("cameras", index, "name"))
            try self.writeImageSide(camera.width, FieldName("cameras", index, "width"), into: &writer)
            try self.writeImageSide(camera.height, FieldName("cameras", index, "height"), into: &writer)
            writer.writeU8(camera.encoding.rawValue)
        }

        try writer.writeCount16(welcome.objects.count, "objects")
        for (index, object) in welcome.objects.enumerated() {
            try writer.writeString(object.name, FieldName("objects", index, "name"))
            try writer.writeVec3(object.size, FieldName("objects", index, "size"))
        }
        try writer.writeCount16(welcome.tasks.count, "tasks")
        for (index, task) in welcome.tasks.enumerated() {
            try writer.writeString(task, FieldName("tasks", index))
        }
        try writer.writeString(welcome.task, "task")
        try writer.writeString(welcome.instruction, "instruction")
        writer.writeU64(welcome.seed)
        try writer.writeF64(welcome.cameraPeriod, "camera_period")
        guard welcome.cameraPeriod > 0 else {
            throw writer.error(.badValue, "camera_period is \(welcome.cameraPeriod), expected > 0")
        }
        writer.writeU8(welcome.hasExpert ? 1 : 0)
    }

    /// Writes a camera's or an image's `width` or `height`, which must be 1…4096.
    private static func writeImageSide(
        _ value: UInt16,
        _ field: FieldName,
        into writer: inout Writer
    ) throws(ProtocolError) {
        guard CameraDescription.sizeRange.contains(value) else {
            throw writer.error(.badValue, "\(field) is \(value), expected 1…4096")
        }
        writer.writeU16(value)
    }

    static func write(_ reset: Reset, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeString(reset.task, "task")
        writer.writeU64(reset.seed)
    }

    static func write(_ episode: Episode, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeString(episode.task, "task")
        try writer.writeString(episode.instruction, "instruction")
        writer.writeU64(episode.seed)
        try self.writeObservationBody(episode.observation, into: &writer)
    }

    static func write(_ step: Step, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeCount16(step.jointTargets.count, "joint_targets")
        for (index, target) in step.jointTargets.enumerated() {
            try writer.writeF64(target, FieldName("joint_targets", index))
        }
        try writer.writeF64(step.gripperTarget, "gripper_target")
    }

    static func writeObservationBody(_ observation: Observation, into writer: inout Writer) throws(ProtocolError) {
        writer.writeU32(observation.episode)
        writer.writeU64(observation.step)
        try writer.writeF64(observation.simTime, "sim_time")
        // The wire has one joint count for both lists.
        guard observation.jointVelocities.count == observation.jointPositions.count else {
            throw writer.error(
                .inconsistent,
                "joint_velocities has \(observation.jointVelocities.count) items, "
                    + "joint_positions has \(observation.jointPositions.count)"
            )
        }
        try writer.writeCount16(observation.jointPositions.count, "joint_positions")
        for (index, position) in observation.jointPositions.enumerated() {
            try writer.writeF64(position, FieldName("joint_positions", index))
        }
        for (index, velocity) in observation.jointVelocities.enumerated() {
            try writer.writeF64(velocity, FieldName("joint_velocities", index))
        }
        try writer.writeF64(observation.gripperAperture, "gripper_aperture")
        try writer.writeF64(observation.gripperForce, "gripper_force")
        try writer.writePose(observation.tcpPose, "tcp_pose")
        try writer.writeCount16(observation.objectPoses.count, "objects")
        for (index, pose) in observation.objectPoses.enumerated() {
            try writer.writePose(pose, FieldName("objects", index))
        }
        writer.writeU8(observation.success ? 1 : 0)
        guard ObservationFlags.allDefined.isSuperset(of: observation.flags) else {
            throw writer.error(.badValue, "flags is \(observation.flags.rawValue), only bits 0 and 1 are defined")
        }
        writer.writeU8(observation.flags.rawValue)
        // write(_:into:) has checked the count against the 16-frame limit already.
        try writer.writeCount8(observation.images.count, "images")
        for (index, image) in observation.images.enumerated() {
            writer.writeU8(image.camera)
            try self.writeImageSide(image.width, FieldName("images", index, "width"), into: &writer)
            try self.writeImageSide(image.height, FieldName("images", index, "height"), into: &writer)
            writer.writeU8(image.encoding.rawValue)
        }
    }

    static func write(_ heartbeat: Heartbeat, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeF64(heartbeat.time, "time")
    }

    static func write(_ advice: Advice, into writer: inout Writer) throws(ProtocolError) {
        try writer.writeCount16(advice.jointTargets.count, "joint_targets")
        for (index, target) in advice.jointTargets.enumerated() {
            try writer.writeF64(target, FieldName("joint_targets", index))
        }
        try writer.writeF64(advice.gripperTarget, "gripper_target")
        try writer.writeString(advice.phase, "phase")
        writer.writeU8(advice.done ? 1 : 0)
    }

    static func write(_ report: ErrorReport, into writer: inout Writer) throws(ProtocolError) {
        guard report.code.isDefined else {
            throw writer.error(.badValue, "code is \(report.code.rawValue), expected 1…10")
        }
        writer.writeU16(report.code.rawValue)
        writer.writeU64(report.offendingSeq)
        try writer.writeString(report.message, "message")
    }
}
