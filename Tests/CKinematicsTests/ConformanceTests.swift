import CKinematics
import Foundation
import Testing

/// FK against the MuJoCo twin: `Sim/tests/vectors/kinematics.json`, generated on the Python side.
///
/// Expected shape (canonical JSON of Sim/PROTOCOL.md §7.1; the alternatives in brackets are accepted too):
/// ```json
/// {"version": 1,
///  "dh": [{"a": 0, "d": 0.1625, "alpha": 1.5707963267948966, "theta_offset": 0}, ...],   [or [a, d, alpha, theta_offset]]
///  "base_pose": {"position": [x, y, z], "orientation": [w, x, y, z]},                     [or [x, y, z, w, qx, qy, qz]]
///  "tool_pose": {"position": [...], "orientation": [...]},
///  "samples": [{"q": [...], "tcp_pose": {"position": [...], "orientation": [...]}}, ...]} [or "cases"]
/// ```
@Suite("Conformance with the MuJoCo twin")
struct ConformanceTests {
    static let vectorsURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // CKinematicsTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("Sim/tests/vectors/kinematics.json")

    static var vectorsExist: Bool { FileManager.default.fileExists(atPath: vectorsURL.path) }

    struct FormatError: Error, CustomStringConvertible {
        var description: String
    }

    static func numbers(_ value: Any?, count: Int? = nil, _ what: String) throws -> [Double] {
        guard let array = value as? [Any] else { throw FormatError(description: "\(what): expected an array") }
        let numbers = try array.map { element -> Double in
            guard let number = element as? NSNumber else { throw FormatError(description: "\(what): not a number") }
            return number.doubleValue
        }
        if let count, numbers.count != count {
            throw FormatError(description: "\(what): \(numbers.count) values, expected \(count)")
        }
        return numbers
    }

    /// A pose as 7 doubles (x, y, z, w, qx, qy, qz) from either accepted form.
    static func pose(_ value: Any?, _ what: String) throws -> [Double] {
        if let object = value as? [String: Any] {
            return try numbers(object["position"], count: 3, "\(what).position")
                + numbers(object["orientation"], count: 4, "\(what).orientation")
        }
        return try numbers(value, count: 7, what)
    }

    static func dhRow(_ value: Any, _ index: Int) throws -> [Double] {
        if let object = value as? [String: Any] {
            return try ["a", "d", "alpha", "theta_offset"].map { key in
                guard let number = object[key] as? NSNumber else {
                    throw FormatError(description: "dh[\(index)].\(key): missing or not a number")
                }
                return number.doubleValue
            }
        }
        return try numbers(value, count: 4, "dh[\(index)]")
    }

    @Test("FK matches the twin's TCP poses to 1e-9", .enabled(if: ConformanceTests.vectorsExist))
    func twinPoses() throws {
        let data = try Data(contentsOf: Self.vectorsURL)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FormatError(description: "kinematics.json: top level is not an object")
        }
        if let version = root["version"] as? Int {
            #expect(version == 1, "kinematics.json version \(version); this test reads version 1")
        }
        guard let rows = root["dh"] as? [Any], !rows.isEmpty, rows.count <= Int(CKIN_MAX_JOINTS) else {
            throw FormatError(description: "kinematics.json: 'dh' must list 1...\(CKIN_MAX_JOINTS) rows")
        }
        let dh = try rows.enumerated().map { try Self.dhRow($0.element, $0.offset) }
        let robot = makeRobot(
            a: dh.map { $0[0] },
            d: dh.map { $0[1] },
            alpha: dh.map { $0[2] },
            thetaOffset: dh.map { $0[3] },
            basePose: try Self.pose(root["base_pose"], "base_pose"),
            toolPose: try Self.pose(root["tool_pose"], "tool_pose")
        )
        guard let samples = (root["samples"] ?? root["cases"]) as? [[String: Any]], !samples.isEmpty else {
            throw FormatError(description: "kinematics.json: no 'samples' list")
        }
        for (index, sample) in samples.enumerated() {
            let q = try Self.numbers(sample["q"], count: dh.count, "samples[\(index)].q")
            let expected = try Self.pose(sample["tcp_pose"], "samples[\(index)].tcp_pose")
            let result = forward(robot, q)
            #expect(result.status == CKIN_OK)
            let positionError = (0..<3).map { abs(result.pose[$0] - expected[$0]) }.max()!
            let quaternionError = quaternionDifferenceUpToSign(quaternion(result.pose), quaternion(expected))
            #expect(positionError < 1e-9, "samples[\(index)] q = \(q): position off by \(positionError)")
            #expect(quaternionError < 1e-9, "samples[\(index)] q = \(q): quaternion off by \(quaternionError)")
        }
    }
}
