import CZlib
import CellRuntime

/// One episode being recorded, held in memory in the on-disk layout until it is kept or discarded.
///
/// Storage is allocated up front for `stepCapacity` steps and their frames, so appending a step copies a few
/// dozen numbers and appending a frame copies the images: no allocation, no lock, no system call in the
/// recording loop. (If an episode outgrows the capacity, the storage doubles: an allocation, once.) Steps are
/// written straight into the `steps.bin` layout; images stay raw until the episode is written, when they are
/// compressed.
public final class EpisodeBuffer: @unchecked Sendable {
    /// Joints per step.
    public let jointCount: Int
    /// Bytes per step record.
    public let recordSize: Int
    /// Cameras, in frame order.
    public let cameras: [CameraInfo]
    /// Steps appended so far.
    public private(set) var stepCount = 0
    /// Frames appended so far.
    public private(set) var frameCount = 0
    /// Phase labels in first-use order.
    public private(set) var phases: [String] = []
    /// The success flag of the last step appended.
    public private(set) var lastSuccess = false
    /// Time of the last step appended, s.
    public private(set) var lastTime = 0.0

    private var steps: UnsafeMutableRawBufferPointer
    private var stepCapacity: Int
    private var images: UnsafeMutableRawBufferPointer
    private var frameSteps: UnsafeMutableBufferPointer<UInt32>
    private var frameCapacity: Int
    /// Bytes of one frame (every camera's image) and each camera's offset in it.
    private let frameBytes: Int
    private let cameraOffsets: [Int]
    /// Bit c set: camera c's image of the next frame is staged.
    private var staged: UInt64 = 0
    private let layout: EpisodeFiles.Layout

    /// Storage for `stepCapacity` steps and a frame every `frameEvery` steps.
    public init(jointCount: Int, cameras: [CameraInfo], stepCapacity: Int, frameEvery: Int) {
        precondition(jointCount >= 1 && jointCount <= 8 && cameras.count <= 64 && frameEvery >= 1)
        self.jointCount = jointCount
        self.recordSize = EpisodeFiles.recordSize(joints: jointCount)
        self.layout = EpisodeFiles.Layout(n: jointCount)
        self.cameras = cameras
        var offsets: [Int] = []
        var total = 0
        for camera in cameras {
            offsets.append(total)
            total += camera.imageBytes
        }
        self.cameraOffsets = offsets
        self.frameBytes = total
        self.stepCapacity = max(stepCapacity, 16)
        self.frameCapacity = cameras.isEmpty ? 1 : self.stepCapacity / frameEvery + 2
        self.steps = .allocate(byteCount: EpisodeFiles.headerSize + self.stepCapacity * self.recordSize, alignment: 16)
        self.images = .allocate(byteCount: max(self.frameCapacity * total, 1), alignment: 16)
        self.frameSteps = .allocate(capacity: self.frameCapacity)
        self.phases.reserveCapacity(256)
        // Touch every page now, so the first episode does not pay for page faults in the loop.
        self.steps.initializeMemory(as: UInt8.self, repeating: 0)
        self.images.initializeMemory(as: UInt8.self, repeating: 0)
        self.writeHeader()
    }

    deinit {
        self.steps.deallocate()
        self.images.deallocate()
        self.frameSteps.deallocate()
    }

    private func writeHeader() {
        for (k, byte) in EpisodeFiles.stepsMagic.enumerated() { self.steps[k] = byte }
        self.steps.storeBytes(of: UInt32(self.jointCount).littleEndian, toByteOffset: 8, as: UInt32.self)
        self.steps.storeBytes(of: UInt32(self.recordSize).littleEndian, toByteOffset: 12, as: UInt32.self)
    }

    /// Empties the buffer for the next episode (the storage stays).
    public func reset() {
        self.stepCount = 0
        self.frameCount = 0
        self.staged = 0
        self.lastSuccess = false
        self.lastTime = 0
        self.phases.removeAll(keepingCapacity: true)
    }

    /// The index of a phase label, added on first use.
    /// - Throws: when an episode would use more than 256 labels (the record stores a byte).
    public func phase(_ label: String) throws(TeachError) -> UInt8 {
        for index in self.phases.indices where self.phases[index] == label { return UInt8(index) }
        guard self.phases.count < 256 else {
            throw TeachError(.usage, "an episode can use at most 256 phase labels; '\(label)' would be the 257th")
        }
        self.phases.append(label)
        return UInt8(self.phases.count - 1)
    }

    /// Copies camera `camera`'s image for the next frame (`width × height × 3` bytes of RGB8).
    public func stageImage(camera: Int, _ bytes: UnsafeRawBufferPointer) throws(TeachError) {
        guard camera >= 0, camera < self.cameras.count else {
            throw TeachError(.cell, "the cell sent an image of camera \(camera); the dataset has \(self.cameras.count)")
        }
        let expected = self.cameras[camera].imageBytes
        guard bytes.count == expected else {
            throw TeachError(
                .cell,
                "camera '\(self.cameras[camera].name)' sent \(bytes.count) bytes; the dataset's "
                    + "\(self.cameras[camera].width)×\(self.cameras[camera].height) RGB8 images have \(expected)"
            )
        }
        if self.frameCount == self.frameCapacity { self.growFrames() }
        let start = self.frameCount * self.frameBytes + self.cameraOffsets[camera]
        UnsafeMutableRawBufferPointer(rebasing: self.images[start..<(start + expected)]).copyMemory(from: bytes)
        self.staged |= 1 << UInt64(camera)
    }

    /// Whether every camera's image of the next frame is staged.
    public var frameStaged: Bool { !self.cameras.isEmpty && self.staged == (1 << UInt64(self.cameras.count)) - 1 }

    /// Drops staged images.
    public func discardStagedFrame() { self.staged = 0 }

    /// Appends one step: the observation, the action commanded at it and its phase. With `frame`, the staged
    /// images become this step's frame.
    public func append(
        time: Double,
        observation o: ObservationSample,
        action: JointVector,
        gripper: Double,
        phase: UInt8,
        frame: Bool
    ) throws(TeachError) {
        if self.stepCount == self.stepCapacity { self.growSteps() }
        var frameIndex: Int32 = -1
        if frame {
            guard self.frameStaged else {
                throw TeachError(
                    .cell,
                    "step \(self.stepCount) should have a frame, but not every camera sent an image"
                )
            }
            self.frameSteps[self.frameCount] = UInt32(self.stepCount)
            frameIndex = Int32(self.frameCount)
            self.frameCount += 1
            self.staged = 0
        }
        let base = EpisodeFiles.headerSize + self.stepCount * self.recordSize
        let record = UnsafeMutableRawBufferPointer(rebasing: self.steps[base..<(base + self.recordSize)])
        let l = self.layout
        @inline(__always) func f64(_ value: Double, _ at: Int) {
            record.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: at, as: UInt64.self)
        }
        f64(time, 0)
        for j in 0..<self.jointCount {
            f64(o.q[j], l.positions + 8 * j)
            f64(o.qd[j], l.velocities + 8 * j)
            f64(action[j], l.action + 8 * j)
        }
        f64(o.gripperAperture, l.aperture)
        f64(o.gripperForce, l.force)
        f64(gripper, l.actionGripper)
        record[l.phase] = phase
        record[l.success] = o.success ? 1 : 0
        record.storeBytes(of: UInt16(o.flags).littleEndian, toByteOffset: l.flags, as: UInt16.self)
        record.storeBytes(of: frameIndex.littleEndian, toByteOffset: l.frame, as: Int32.self)
        self.stepCount += 1
        self.lastSuccess = o.success
        self.lastTime = time
    }

    /// The action of step `index` (joints, gripper), e.g. to hold the last command.
    public func action(at index: Int) -> (joints: JointVector, gripper: Double) {
        let base = EpisodeFiles.headerSize + index * self.recordSize
        var q = JointVector()
        for j in 0..<self.jointCount {
            q[j] = Double(
                bitPattern: UInt64(
                    littleEndian: self.steps.load(fromByteOffset: base + self.layout.action + 8 * j, as: UInt64.self)
                )
            )
        }
        let g = Double(
            bitPattern: UInt64(
                littleEndian: self.steps.load(fromByteOffset: base + self.layout.actionGripper, as: UInt64.self)
            )
        )
        return (q, g)
    }

    private func growSteps() {
        let capacity = self.stepCapacity * 2
        let bigger = UnsafeMutableRawBufferPointer.allocate(
            byteCount: EpisodeFiles.headerSize + capacity * self.recordSize,
            alignment: 16
        )
        bigger.copyMemory(from: UnsafeRawBufferPointer(self.steps))
        self.steps.deallocate()
        self.steps = bigger
        self.stepCapacity = capacity
    }

    private func growFrames() {
        let capacity = self.frameCapacity * 2
        let bigger = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(capacity * self.frameBytes, 1),
            alignment: 16
        )
        bigger.copyMemory(from: UnsafeRawBufferPointer(self.images))
        self.images.deallocate()
        self.images = bigger
        let steps = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: capacity)
        _ = steps.initialize(from: self.frameSteps)
        self.frameSteps.deallocate()
        self.frameSteps = steps
        self.frameCapacity = capacity
    }

    // MARK: - Writing (control plane)

    /// `steps.bin` as it goes to disk.
    var stepsFile: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self.steps[0..<(EpisodeFiles.headerSize + self.stepCount * self.recordSize)])
    }

    /// Writes `frames.bin`, compressing every image with zlib at `level`.
    func writeFrames(to sink: inout FileSink, level: Int32) throws(TeachError) {
        for byte in EpisodeFiles.framesMagic { try sink.write(byte) }
        try sink.write(UInt32(self.cameras.count))
        try sink.write(UInt32(0))
        let largest = self.cameras.map(\.imageBytes).max() ?? 0
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Zlib.bound(largest) + 16, alignment: 16)
        defer { scratch.deallocate() }
        for f in 0..<self.frameCount {
            try sink.write(self.frameSteps[f])
            for (c, camera) in self.cameras.enumerated() {
                let start = f * self.frameBytes + self.cameraOffsets[c]
                let image = UnsafeRawBufferPointer(rebasing: self.images[start..<(start + camera.imageBytes)])
                guard let length = Zlib.compress(image, into: scratch, level: level) else {
                    throw TeachError(.system, "zlib failed to compress a frame of camera '\(camera.name)'")
                }
                try sink.write(EpisodeFiles.zlibRGB)
                try sink.write(UInt32(length))
                try sink.write(UnsafeRawBufferPointer(rebasing: scratch[0..<length]))
            }
        }
    }
}
