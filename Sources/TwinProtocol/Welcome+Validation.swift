// The checks of Sim/PROTOCOL.md §6: messages against the handshake.

extension Welcome {
    /// Checks a decoded message against this handshake (`Sim/PROTOCOL.md` §6).
    ///
    /// - `STEP`: the joint count must match (`INCONSISTENT`); each target must lie in its joint's
    ///   `[position_min, position_max]` and the gripper target in `[aperture_min, aperture_max]` (`BAD_VALUE`).
    /// - `ADVICE`: the joint count must match (`INCONSISTENT`); its targets are not checked against the limits.
    /// - `OBSERVATION`, `EPISODE`: joint and object counts must match; each image must name an existing camera,
    ///   have its width, height and encoding, and its frame must hold exactly `width × height × 3` bytes
    ///   (`INCONSISTENT`).
    /// - `RESET`: a non-empty task must be one of ``tasks`` (`UNKNOWN_TASK`, §4.8).
    /// - Other messages must have no extra frames.
    ///
    /// - Parameters:
    ///   - message: the decoded message.
    ///   - frameSizes: the byte counts of the frames after frame 0, in order.
    ///   - seq: the message's `seq`, reported in the error.
    public func validate(_ message: Message, frameSizes: [Int], seq: UInt64 = 0) throws(ProtocolError) {
        switch message {
        case .step(let step):
            try self.validate(step, seq: seq)
            try self.expectNoFrames(.step, frameSizes: frameSizes, seq: seq)
        case .observation(let observation):
            try self.validate(observation, type: .observation, frameSizes: frameSizes, seq: seq)
        case .episode(let episode):
            try self.validate(episode.observation, type: .episode, frameSizes: frameSizes, seq: seq)
        case .reset(let reset):
            guard reset.task.isEmpty || self.tasks.contains(reset.task) else {
                throw ProtocolError(
                    code: .unknownTask,
                    offendingSeq: seq,
                    message: "RESET task '\(reset.task)' is not one of \(self.tasks)"
                )
            }
            try self.expectNoFrames(.reset, frameSizes: frameSizes, seq: seq)
        case .advice(let advice):
            guard advice.jointTargets.count == self.joints.count else {
                throw ProtocolError(
                    code: .inconsistent,
                    offendingSeq: seq,
                    message: "ADVICE joint_targets has \(advice.jointTargets.count) items, the handshake has "
                        + "\(self.joints.count) joints"
                )
            }
            try self.expectNoFrames(.advice, frameSizes: frameSizes, seq: seq)
        case .hello, .welcome, .heartbeat, .error, .expert:
            try self.expectNoFrames(message.type, frameSizes: frameSizes, seq: seq)
        }
    }

    /// Checks a `STEP` against this handshake; see ``validate(_:frameSizes:seq:)``.
    public func validate(_ step: Step, seq: UInt64 = 0) throws(ProtocolError) {
        // Array.withUnsafeBufferPointer rethrows untyped errors, so carry the typed one out in a Result.
        let result = step.jointTargets.withUnsafeBufferPointer { targets in
            Result { () throws(ProtocolError) in
                try self.validateStep(jointTargets: targets, gripperTarget: step.gripperTarget, seq: seq)
            }
        }
        try result.get()
    }

    /// Checks `STEP` targets against this handshake without building a ``Step``, and without allocating unless
    /// it throws; see ``validate(_:frameSizes:seq:)``.
    public func validateStep(
        jointTargets: UnsafeBufferPointer<Double>,
        gripperTarget: Double,
        seq: UInt64 = 0
    ) throws(ProtocolError) {
        guard jointTargets.count == self.joints.count else {
            throw ProtocolError(
                code: .inconsistent,
                offendingSeq: seq,
                message: "STEP joint_targets has \(jointTargets.count) items, the handshake has \(self.joints.count) "
                    + "joints"
            )
        }
        // Index loops: enumerated() allocates per element in debug builds, and this runs at the control rate.
        for index in self.joints.indices {
            let target = jointTargets[index]
            guard target >= self.joints[index].positionMin && target <= self.joints[index].positionMax else {
                let joint = self.joints[index]
                throw ProtocolError(
                    code: .badValue,
                    offendingSeq: seq,
                    message: "STEP joint_targets[\(index)] is \(target), outside [\(joint.positionMin), "
                        + "\(joint.positionMax)] of joint '\(joint.name)'"
                )
            }
        }
        guard gripperTarget >= self.gripper.apertureMin && gripperTarget <= self.gripper.apertureMax else {
            throw ProtocolError(
                code: .badValue,
                offendingSeq: seq,
                message: "STEP gripper_target is \(gripperTarget), outside [\(self.gripper.apertureMin), "
                    + "\(self.gripper.apertureMax)] of gripper '\(self.gripper.name)'"
            )
        }
    }

    /// Checks an observation body (of an `OBSERVATION` or an `EPISODE`) and its image frames against this
    /// handshake, without allocating unless it throws; see ``validate(_:frameSizes:seq:)``.
    public func validate(
        _ observation: Observation,
        type: MessageType = .observation,
        frameSizes: [Int],
        seq: UInt64 = 0
    ) throws(ProtocolError) {
        func fail(_ text: String) -> ProtocolError {
            ProtocolError(code: .inconsistent, offendingSeq: seq, message: "\(type.name) \(text)")
        }
        guard observation.jointPositions.count == self.joints.count else {
            throw fail(
                "joint_positions has \(observation.jointPositions.count) items, the handshake has "
                    + "\(self.joints.count) joints"
            )
        }
        guard observation.jointVelocities.count == self.joints.count else {
            throw fail(
                "joint_velocities has \(observation.jointVelocities.count) items, the handshake has "
                    + "\(self.joints.count) joints"
            )
        }
        guard observation.objectPoses.count == self.objects.count else {
            throw fail(
                "objects has \(observation.objectPoses.count) items, the handshake has "
                    + "\(self.objects.count) objects"
            )
        }
        guard observation.images.count == frameSizes.count else {
            throw fail("images has \(observation.images.count) items, \(frameSizes.count) frames follow frame 0")
        }
        for index in observation.images.indices {
            let image = observation.images[index]
            guard Int(image.camera) < self.cameras.count else {
                throw fail(
                    "images[\(index)].camera is \(image.camera), the handshake has \(self.cameras.count) "
                        + "cameras"
                )
            }
            let camera = self.cameras[Int(image.camera)]
            guard image.width == camera.width && image.height == camera.height && image.encoding == camera.encoding
            else {
                throw fail(
                    "images[\(index)] is \(image.width)×\(image.height) encoding \(image.encoding.rawValue), "
                        + "camera '\(camera.name)' is \(camera.width)×\(camera.height) encoding "
                        + "\(camera.encoding.rawValue)"
                )
            }
            guard frameSizes[index] == image.frameSize else {
                throw fail(
                    "image frame \(index + 1) is \(frameSizes[index]) bytes, expected \(image.frameSize) "
                        + "(\(image.width)×\(image.height)×\(image.encoding.bytesPerPixel))"
                )
            }
        }
    }

    private func expectNoFrames(_ type: MessageType, frameSizes: [Int], seq: UInt64) throws(ProtocolError) {
        guard frameSizes.isEmpty else {
            throw ProtocolError(
                code: .inconsistent,
                offendingSeq: seq,
                message: "\(type.name) has \(frameSizes.count) frames after frame 0, this type carries none"
            )
        }
    }
}
