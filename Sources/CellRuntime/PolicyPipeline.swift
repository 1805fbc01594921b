import Policy
import Synchronization
import TwinProtocol

/// The policy's thread and its two mailboxes: frames in from the I/O thread, action chunks out to the control
/// thread.
///
/// The I/O thread copies each observation's images (and its state) into a frame slot and publishes it; the
/// policy thread takes the newest frame, runs the network through the C kernel and publishes the chunk; the
/// control thread takes the newest chunk. All storage is allocated here, before the episode; the three threads
/// exchange slot indices through `TripleBuffer`s and wake each other with eventfds: no allocation, no lock.
public final class PolicyPipeline: @unchecked Sendable {
    /// What a frame slot describes besides its pixels.
    struct FrameMeta {
        var step: UInt64 = 0
        var simTime: Double = 0
        var q = JointVector()
        var gripper: Double = 0
    }

    /// What a chunk slot describes besides its actions.
    public struct ChunkMeta: Sendable {
        /// The step of the observation it was computed from.
        public var sourceStep: UInt64 = 0
        /// That observation's episode time, s.
        public var sourceTime: Double = 0
        /// That observation's joint positions and gripper (where the chunk starts from).
        public var q = JointVector()
        public var gripper: Double = 0
        /// Inference time, ns.
        public var inferenceNanoseconds: Int64 = 0
        /// The inference failed (see `failure`); the chunk holds nothing usable.
        public var failed = false
        /// Chunks published so far (1 for the first).
        public var sequence: UInt64 = 0
    }

    /// The loaded policy (used by the policy thread only while an episode runs).
    public let policy: Policy
    /// Rows per chunk.
    public let horizon: Int
    /// Values per row (joints + gripper).
    public let actionDimension: Int
    /// Seconds between rows.
    public let actionPeriod: Double
    /// For each model camera, the index of the cell's camera with the same name.
    let cameraMap: [Int]
    let cameraSizes: [(width: Int, height: Int)]
    let jointCount: Int

    private let frameBytes: [Int]
    private let frameStorage: [UnsafeMutableRawBufferPointer]  // one per slot: every model camera back to back
    private let frameMeta: UnsafeMutablePointer<FrameMeta>
    let frames = TripleBuffer()
    let frameReady: EventSignal

    private let chunkStorage: UnsafeMutablePointer<Double>
    private let chunkMetaStorage: UnsafeMutablePointer<ChunkMeta>
    let chunks = TripleBuffer()
    let chunkReady: EventSignal

    private let stateBuffer: UnsafeMutablePointer<Double>
    /// Every `filmStripEvery`-th frame of an episode is kept here (up to `filmStripCapacity`), for reports.
    private let filmStrip: UnsafeMutableRawBufferPointer
    /// Frames between two film-strip frames (10: one per second at 10 frames/s).
    public let filmStripEvery = 10
    /// Most film-strip frames kept per episode.
    public let filmStripCapacity = 40
    private var framesPublished = 0
    /// Fault injection (tests, `--inject-inference-delay`): the policy thread sleeps this long after each
    /// inference before publishing the chunk, as a slower CPU or a larger model would.
    public var injectedInferenceDelayNanoseconds: Int64 = 0
    /// Chunks adopted after the chunk being executed had run out (control thread; read after the episode).
    public internal(set) var lateChunks = 0
    private var filmStripCount = 0
    private let stopping = Atomic<Bool>(false)
    private var chunkSequence: UInt64 = 0
    /// Inference latency, ns (policy thread).
    public let inferenceLatency = LatencyHistogram()
    /// Called on the policy thread after each inference with its latency, ns (set before an episode starts):
    /// how `/metrics` and demand reports see inferences while the episode runs.
    public var inferenceObserver: (@Sendable (Int64) -> Void)?
    /// The robust inference-delay estimate the policy thread schedules with (policy thread).
    private var delay: DelayEstimator
    /// Sim time at which the control thread wants its next chunk (Double bits; −∞: at every frame).
    private let nextChunkDueBits = Atomic<UInt64>((-Double.infinity).bitPattern)
    private var lastFrameTime = -Double.infinity
    private var framePeriod = 0.0
    /// Frames the policy thread left alone because no chunk was due before the next frame (real time).
    public private(set) var framesSkipped = 0
    /// Why the last failed inference failed (written by the policy thread; read after it stopped).
    public private(set) var failure: PolicyError?

    /// Prepares a pipeline for a policy on a cell.
    /// - Throws: `RuntimeError.configuration` if the model needs a camera the cell does not render, or its
    ///   state/action sizes do not fit the arm.
    public init(policy: Policy, welcome: Welcome) throws(RuntimeError) {
        let a = policy.config.architecture
        let joints = welcome.joints.count
        guard a.stateDim == joints + 1, a.actionDim == joints + 1 else {
            throw RuntimeError(
                .configuration,
                "model '\(policy.config.name)' takes state \(a.stateDim) and acts with \(a.actionDim) values; "
                    + "this cell's arm needs \(joints + 1) (\(joints) joints + gripper)"
            )
        }
        var map: [Int] = []
        var sizes: [(Int, Int)] = []
        for name in a.cameras {
            guard let index = welcome.cameras.firstIndex(where: { $0.name == name }) else {
                throw RuntimeError(
                    .configuration,
                    "model '\(policy.config.name)' needs camera '\(name)', which the cell does not render (it renders: "
                        + (welcome.cameras.isEmpty ? "none" : welcome.cameras.map(\.name).joined(separator: ", "))
                        + "); start the twin with --cameras " + a.cameras.joined(separator: ",")
                )
            }
            map.append(index)
            sizes.append((Int(welcome.cameras[index].width), Int(welcome.cameras[index].height)))
        }
        if let robot = policy.config.robot, robot.joints != welcome.joints.map(\.name) {
            throw RuntimeError(
                .configuration,
                "model '\(policy.config.name)' was trained for joints \(robot.joints.joined(separator: ", ")); this cell "
                    + "has \(welcome.joints.map(\.name).joined(separator: ", "))"
            )
        }
        self.policy = policy
        self.horizon = a.horizon
        self.actionDimension = a.actionDim
        self.actionPeriod = policy.config.control?.actionPeriod ?? welcome.controlPeriod
        self.cameraMap = map
        self.cameraSizes = sizes
        self.jointCount = joints
        self.frameBytes = sizes.map { $0.0 * $0.1 * 3 }
        let total = self.frameBytes.reduce(0, +)
        self.frameStorage = (0..<3).map { _ in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            return buffer
        }
        self.frameMeta = .allocate(capacity: 3)
        self.frameMeta.initialize(repeating: FrameMeta(), count: 3)
        self.chunkStorage = .allocate(capacity: 3 * a.horizon * a.actionDim)
        self.chunkStorage.initialize(repeating: 0, count: 3 * a.horizon * a.actionDim)
        self.chunkMetaStorage = .allocate(capacity: 3)
        self.chunkMetaStorage.initialize(repeating: ChunkMeta(), count: 3)
        self.stateBuffer = .allocate(capacity: a.stateDim)
        self.stateBuffer.initialize(repeating: 0, count: a.stateDim)
        self.filmStrip = .allocate(byteCount: max(total * self.filmStripCapacity, 1), alignment: 64)
        self.filmStrip.initializeMemory(as: UInt8.self, repeating: 0)
        self.frameReady = try EventSignal()
        self.chunkReady = try EventSignal()
        // Until measured, assume inference takes a whole action period.
        self.delay = DelayEstimator(initialNanoseconds: Int64(self.actionPeriod * 1e9))
    }

    deinit {
        for buffer in self.frameStorage { buffer.deallocate() }
        self.frameMeta.deallocate()
        self.chunkStorage.deallocate()
        self.chunkMetaStorage.deallocate()
        self.stateBuffer.deallocate()
        self.filmStrip.deallocate()
    }

    /// Clears the mailboxes and statistics for a new episode and sets its instruction (control plane).
    public func prepare(instruction: String) -> Tokenizer.Tokens {
        while self.frames.take() != nil {}
        while self.chunks.take() != nil {}
        self.frameReady.consume()
        self.chunkReady.consume()
        self.inferenceLatency.reset()
        self.failure = nil
        self.chunkSequence = 0
        self.framesPublished = 0
        self.filmStripCount = 0
        self.lateChunks = 0
        self.framesSkipped = 0
        self.lastFrameTime = -.infinity
        self.framePeriod = 0
        self.nextChunkDueBits.store((-Double.infinity).bitPattern, ordering: .relaxed)
        self.stopping.store(false, ordering: .relaxed)
        return self.policy.setInstruction(instruction)
    }

    // MARK: - I/O thread

    /// Copies the images of the link's last message and the sample's state into a frame slot and publishes it
    /// (I/O thread, or the control plane before the threads start). Allocates nothing.
    /// - Returns: false if a camera the model needs was missing from the message.
    @discardableResult
    public func publishFrame(from link: TwinLink, images: [ImageHeader], sample: ObservationSample) -> Bool {
        let slot = self.frames.back
        let storage = self.frameStorage[slot]
        var offset = 0
        for modelCamera in 0..<self.cameraMap.count {
            var found = false
            for j in 0..<images.count where Int(images[j].camera) == self.cameraMap[modelCamera] {
                guard let bytes = link.imageBytes(j), bytes.count == self.frameBytes[modelCamera] else { break }
                UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + bytes.count)]).copyMemory(
                    from: bytes
                )
                found = true
                break
            }
            if !found { return false }
            offset += self.frameBytes[modelCamera]
        }
        if self.framesPublished % self.filmStripEvery == 0, self.filmStripCount < self.filmStripCapacity {
            let size = offset
            let start = self.filmStripCount * size
            UnsafeMutableRawBufferPointer(rebasing: self.filmStrip[start..<(start + size)]).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: storage[0..<size])
            )
            self.filmStripCount += 1
        }
        self.framesPublished += 1
        self.frameMeta[slot] = FrameMeta(
            step: sample.step,
            simTime: sample.simTime,
            q: sample.q,
            gripper: sample.gripperAperture
        )
        self.frames.publish()
        self.frameReady.signal()
        return true
    }

    // MARK: - Policy thread

    /// The current inference-delay estimate, s: the 90th percentile of recent inference latencies, warm-up
    /// inferences left out (`DelayEstimator`).
    public var inferenceDelayEstimate: Double { Double(self.delay.nanoseconds) / 1e9 }

    /// Whether a chunk must be computed from a frame taken at sim time `frameTime`: yes unless the next frame
    /// (one frame period later) plus the estimated inference delay still arrives before the chunk is due.
    static func chunkNeeded(frameTime: Double, framePeriod: Double, delay: Double, due: Double) -> Bool {
        guard due.isFinite else { return true }
        return frameTime + framePeriod + delay >= due
    }

    /// The policy thread's loop until `stop()`: infer on every new frame, or, when the control thread says when
    /// its next chunk is due (real time, sequential or real-time chunking), only on the frames needed to have
    /// it in time. Allocates nothing unless an inference fails.
    public func run() {
        while !self.stopping.load(ordering: .relaxed) {
            guard let slot = self.frames.take() else {
                _ = self.frameReady.wait(timeoutNanoseconds: 50_000_000)
                continue
            }
            let meta = self.frameMeta[slot]
            if self.lastFrameTime.isFinite, meta.simTime > self.lastFrameTime {
                self.framePeriod = meta.simTime - self.lastFrameTime
            }
            self.lastFrameTime = meta.simTime
            let due = Double(bitPattern: self.nextChunkDueBits.load(ordering: .acquiring))
            let needed = Self.chunkNeeded(
                frameTime: meta.simTime,
                framePeriod: self.framePeriod,
                delay: self.inferenceDelayEstimate,
                due: due
            )
            if !needed {
                self.framesSkipped += 1
                continue
            }
            let started = MonotonicClock.nanoseconds()
            let out = self.chunks.back
            var chunk = ChunkMeta(sourceStep: meta.step, sourceTime: meta.simTime, q: meta.q, gripper: meta.gripper)
            do {
                var offset = 0
                for camera in 0..<self.cameraMap.count {
                    let size = self.cameraSizes[camera]
                    try self.policy.setImage(
                        camera: camera,
                        rgb: UnsafeRawBufferPointer(
                            rebasing: self.frameStorage[slot][offset..<(offset + self.frameBytes[camera])]
                        ),
                        width: size.width,
                        height: size.height
                    )
                    offset += self.frameBytes[camera]
                }
                for j in 0..<self.jointCount { self.stateBuffer[j] = meta.q[j] }
                self.stateBuffer[self.jointCount] = meta.gripper
                try self.policy.infer(state: UnsafeBufferPointer(start: self.stateBuffer, count: self.jointCount + 1))
                let rows = self.horizon * self.actionDimension
                let target = self.chunkStorage + out * rows
                for index in 0..<rows { target[index] = self.policy.actions[index] }
            } catch {
                self.failure = error
                chunk.failed = true
            }
            if self.injectedInferenceDelayNanoseconds > 0 {
                MonotonicClock.sleep(untilNanoseconds: started + self.injectedInferenceDelayNanoseconds)
            }
            chunk.inferenceNanoseconds = MonotonicClock.nanoseconds() - started
            self.inferenceLatency.record(chunk.inferenceNanoseconds)
            self.inferenceObserver?(chunk.inferenceNanoseconds)
            self.delay.record(chunk.inferenceNanoseconds)
            self.chunkSequence += 1
            chunk.sequence = self.chunkSequence
            self.chunkMetaStorage[out] = chunk
            self.chunks.publish()
            self.chunkReady.signal()
        }
    }

    /// Ends `run()` (any thread).
    public func stop() {
        self.stopping.store(true, ordering: .relaxed)
        self.frameReady.signal()
    }

    /// The film strip of the last episode (read after it ended): per kept frame, each model camera's RGB8
    /// image, in camera order; frames are one second apart.
    public func filmStripFrames() -> [[(width: Int, height: Int, rgb: [UInt8])]] {
        let size = self.frameBytes.reduce(0, +)
        return (0..<self.filmStripCount).map { frame in
            var offset = frame * size
            return self.cameraSizes.indices.map { camera in
                let bytes = self.frameBytes[camera]
                defer { offset += bytes }
                return (
                    self.cameraSizes[camera].width, self.cameraSizes[camera].height,
                    [UInt8](UnsafeRawBufferPointer(rebasing: self.filmStrip[offset..<(offset + bytes)]))
                )
            }
        }
    }

    // MARK: - Control thread

    /// Takes the newest chunk, if a new one was published (control thread).
    @inline(__always)
    public func takeChunk() -> (meta: ChunkMeta, actions: UnsafePointer<Double>)? {
        guard let slot = self.chunks.take() else { return nil }
        return (
            self.chunkMetaStorage[slot], UnsafePointer(self.chunkStorage + slot * self.horizon * self.actionDimension)
        )
    }

    /// Tells the policy thread when the next chunk is due, in sim time (control thread; −∞: at every frame).
    @inline(__always)
    public func setNextChunkDue(_ time: Double) {
        self.nextChunkDueBits.store(time.bitPattern, ordering: .releasing)
    }

    /// Waits up to `timeout` ns for a chunk to be published (control thread, lock-step).
    @inline(__always)
    public func waitForChunk(timeoutNanoseconds: Int64) -> Bool {
        self.chunkReady.wait(timeoutNanoseconds: timeoutNanoseconds)
    }
}
