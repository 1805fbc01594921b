import CAllocationCounter
import Foundation
import Policy
import Testing

/// End-to-end tests of the Swift policy layer on the committed fixtures: configuration checks, checksum,
/// tokeniser parity with the reference, de-normalised outputs against the golden vectors, no allocation.
@Suite struct PolicyTests {
    static let fixtures = ["tiny", "tiny2cam", "small"]

    /// Feeds golden case `k` through `policy` and returns (normalised max error, actions max error).
    func runGolden(
        _ policy: Policy,
        golden: SafetensorsFile,
        case k: Int,
        variantSuffix: String = ""
    )
        throws -> (Float, Double)
    {
        let a = policy.config.architecture
        let images = golden.bytes("case.\(k).images")
        let perImage = a.imageWidth * a.imageHeight * 3
        for camera in 0..<a.cameras.count {
            try images[(camera * perImage)..<((camera + 1) * perImage)].withUnsafeBytes {
                try policy.setImage(camera: camera, rgb: $0, width: a.imageWidth, height: a.imageHeight)
            }
        }
        let instruction = golden.metadata["instruction.\(k)"] ?? ""
        let tokens = policy.setInstruction(instruction)
        #expect(tokens.ids == golden.ints("case.\(k).tokens"), "tokeniser disagrees on '\(instruction)'")
        #expect(Int32(tokens.count) == golden.ints("case.\(k).token_count")[0])
        let state = golden.floats("case.\(k).state").map(Double.init)
        try state.withUnsafeBufferPointer { try policy.infer(state: $0) }
        let expected = golden.floats("case.\(k).actions_normalized\(variantSuffix)")
        let normalizedError = zip(policy.normalizedActions, expected).map { abs($0 - $1) }.max() ?? 0
        var actionsError = 0.0
        if variantSuffix.isEmpty {
            let denormalized = golden.floats("case.\(k).actions")
            actionsError =
                zip(policy.actions, denormalized).map { abs($0 - Double($1)) / max(1, abs(Double($1))) }
                .max() ?? 0
        }
        return (normalizedError, actionsError)
    }

    @Test(arguments: fixtures)
    func goldenOutputsThroughTheSwiftLayer(fixture: String) throws {
        let directory = fixtureDirectory(fixture)
        let golden = try SafetensorsFile(path: directory + "/golden.safetensors")
        let cases = Int(golden.metadata["cases"] ?? "0") ?? 0
        #expect(cases >= 4)
        let config = try PolicyConfig.load(directory: directory)
        for variant in WeightVariant.allCases where config.weights[variant.rawValue] != nil {
            let policy = try Policy(directory: directory, variant: variant)
            let suffix = variant == .fp32 ? "" : ".\(variant.rawValue)"
            for k in 0..<cases {
                let (normalized, actions) = try self.runGolden(policy, golden: golden, case: k, variantSuffix: suffix)
                #expect(normalized <= 1e-4, "\(fixture) \(variant) case \(k): max |Δ| \(normalized)")
                #expect(actions <= 1e-4, "\(fixture) \(variant) case \(k): de-normalised relative error \(actions)")
            }
        }
    }

    @Test func inferenceAllocatesNothing() throws {
        #expect(ec_allocations_interposed() != 0, "the allocation counter is not active in this test binary")
        let directory = fixtureDirectory("small")
        let policy = try Policy(directory: directory)
        let golden = try SafetensorsFile(path: directory + "/golden.safetensors")
        _ = try self.runGolden(policy, golden: golden, case: 0)
        let a = policy.config.architecture
        let image = [UInt8](repeating: 128, count: 64 * 48 * 3)  // resized on the way in
        let state = [Double](repeating: 0.1, count: a.stateDim)
        try image.withUnsafeBytes { rgb in
            try state.withUnsafeBufferPointer { stateBuffer in
                try policy.setImage(camera: 0, rgb: rgb, width: 64, height: 48)
                try policy.infer(state: stateBuffer)  // warm-up
                ec_allocations_begin()
                for _ in 0..<200 {
                    try policy.setImage(camera: 0, rgb: rgb, width: 64, height: 48)
                    try policy.infer(state: stateBuffer)
                }
                let count = ec_allocations_end()
                #expect(count == 0, "\(count) allocations in 200 inferences")
            }
        }
    }

    @Test func badInputsAreRefusedWithTheirReason() throws {
        let policy = try Policy(directory: fixtureDirectory("tiny"))
        let short = [Double](repeating: 0, count: 3)
        let error = #expect(throws: PolicyError.self) {
            try short.withUnsafeBufferPointer { try policy.infer(state: $0) }
        }
        #expect(error?.message.contains("state has 3 values") == true)
        var state = [Double](repeating: 0, count: policy.config.architecture.stateDim)
        state[2] = .nan
        let nan = #expect(throws: PolicyError.self) {
            try state.withUnsafeBufferPointer { try policy.infer(state: $0) }
        }
        #expect(nan?.message.contains("state[2]") == true)
        let image = [UInt8](repeating: 0, count: 10)
        #expect(throws: PolicyError.self) {
            try image.withUnsafeBytes { try policy.setImage(camera: 0, rgb: $0, width: 4, height: 4) }
        }
        #expect(throws: PolicyError.self) {
            try image.withUnsafeBytes { try policy.setImage(camera: 7, rgb: $0, width: 10, height: 1) }
        }
    }

    @Test func aChangedWeightFileFailsItsChecksum() throws {
        let source = fixtureDirectory("tiny")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("edgecell-policy-\(UUID())").path
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let weights = copy + "/model.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: weights))
        data[data.count - 1] ^= 0x01
        try data.write(to: URL(fileURLWithPath: weights))
        let error = #expect(throws: PolicyError.self) { try Policy(directory: copy) }
        #expect(error?.code == .checksum)
        // Without the check the kernel still loads it (one flipped bit of a weight is not a format error).
        _ = try Policy(directory: copy, verifyChecksum: false)
    }

    @Test func configErrorsNameTheKey() throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("edgecell-config-\(UUID())").path
        try FileManager.default.copyItem(atPath: fixtureDirectory("tiny"), toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let path = copy + "/config.json"
        let original =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        func write(_ object: [String: Any]) throws {
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        }
        var missing = original
        var architecture = missing["architecture"] as! [String: Any]
        architecture.removeValue(forKey: "heads")
        missing["architecture"] = architecture
        try write(missing)
        let first = #expect(throws: PolicyError.self) { try Policy(directory: copy) }
        #expect(first?.message.contains("architecture.heads") == true, "\(first?.description ?? "")")

        var badStd = original
        var normalization = badStd["normalization"] as! [String: Any]
        var std = normalization["action_std"] as! [Double]
        std[0] = 0
        normalization["action_std"] = std
        badStd["normalization"] = normalization
        try write(badStd)
        let second = #expect(throws: PolicyError.self) { try Policy(directory: copy) }
        #expect(second?.code == .config)

        var otherFormat = original
        otherFormat["format"] = "onnx"
        try write(otherFormat)
        let third = #expect(throws: PolicyError.self) { try Policy(directory: copy) }
        #expect(third?.message.contains("edgecell-vla") == true)

        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: path))
        let fourth = #expect(throws: PolicyError.self) { try Policy(directory: copy) }
        #expect(fourth?.code == .config)
    }
}
