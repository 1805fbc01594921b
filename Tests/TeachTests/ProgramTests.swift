import CellRuntime
import Foundation
import Teach
import Testing
import TwinProtocol

@Suite struct ProgramTests {
    func sample() -> TeachProgram {
        TeachProgram(
            name: "pick-red",
            waypoints: [
                .init(name: "home", target: .joints([0, -1.57, 1.57, -1.57, -1.57, 0]), speed: 0.8, gripper: .open),
                .init(name: "above", target: .pose(position: SIMD3(0.5, 0.1, 0.15), yaw: 0.3)),
                .init(
                    name: "grasp",
                    target: .pose(position: SIMD3(0.5, 0.1, 0.02), yaw: 0.3),
                    motion: .linear,
                    speed: 0.25,
                    gripper: .close,
                    dwell: 0.4
                ),
                .init(
                    name: "tilted",
                    target: .orientedPose(
                        position: SIMD3(0.4, -0.2, 0.3),
                        orientation: Quaternion(w: 0, x: 1, y: 0, z: 0)
                    ),
                    gripper: .aperture(0.04),
                    dwell: 1
                ),
                .init(name: "wait-here", target: .pose(position: SIMD3(0.4, -0.2, 0.2), yaw: -1), dwell: 0.5),
            ]
        )
    }

    @Test func fileRoundTrip() throws {
        let dir = TemporaryDirectory("program")
        defer { dir.cleanUp() }
        let path = dir.path + "/pick.json"
        try sample().save(path)
        #expect(try TeachProgram.load(path) == sample())
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"format\" : \"edgecell-program\"") && text.contains("\"format_version\" : 1"))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func conversionLabelsStepsWithWaypointNames() throws {
        let program = try sample().waypointProgram(gripper: 0.0...0.085)
        #expect(program.name == "pick-red")
        #expect(
            program.steps.map(\.label) == [
                "home", "home", "above", "grasp", "grasp", "tilted", "tilted", "wait-here", "wait-here",
            ]
        )
        #expect(program.steps[1].action == .gripper(aperture: 0.085, dwell: 0))
        #expect(program.steps[4].action == .gripper(aperture: 0.0, dwell: 0.4))
        #expect(program.steps[6].action == .gripper(aperture: 0.04, dwell: 1))
        #expect(program.steps[8].action == .wait(seconds: 0.5))
        guard case .move(.pose(let pose), .linear, 0.25) = program.steps[3].action else {
            Issue.record("grasp is not a linear move to a pose: \(program.steps[3].action)")
            return
        }
        // Tool pointing down: the tool's z axis is world −z, its x axis at the yaw.
        let q = pose.orientation
        let zAxisZ = 1 - 2 * (q.x * q.x + q.y * q.y)
        #expect(abs(zAxisZ + 1) < 1e-12)
        #expect(abs(TeachProgram.yaw(ofDownwardTool: q) - 0.3) < 1e-12)
    }

    @Test func editsAndTheirErrors() throws {
        let dir = TemporaryDirectory("program")
        defer { dir.cleanUp() }
        let path = dir.path + "/pick.json"
        var program = sample()
        try program.save(path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        #expect(errorMessage { try program.add(.init(name: "above", target: .joints([0]))) }.contains("already has"))
        #expect(errorMessage { try program.remove("nowhere") }.contains("no waypoint named 'nowhere'"))
        #expect(
            errorMessage { try program.add(.init(name: "x", target: .joints([0])), after: "nowhere") }
                .contains("no waypoint named 'nowhere'")
        )
        #expect(
            errorMessage { try program.add(.init(name: "bad name", target: .joints([0]))) }.contains("without spaces")
        )
        #expect(
            errorMessage { try program.add(.init(name: "fast", target: .joints([0]), speed: 1.5)) }.contains("speed")
        )
        #expect(
            errorMessage {
                try program.add(
                    .init(
                        name: "q",
                        target: .orientedPose(position: .zero, orientation: Quaternion(w: 2, x: 0, y: 0, z: 0))
                    )
                )
            }.contains("norm")
        )
        #expect(program == sample())  // every refused edit left the program alone

        try program.add(.init(name: "between", target: .joints([0, 0, 0, 0, 0, 0])), after: "home")
        #expect(program.waypoints.map(\.name) == ["home", "between", "above", "grasp", "tilted", "wait-here"])
        var renamed = try program.waypoint("between")
        renamed.name = "via"
        try program.replace("between", with: renamed, after: "grasp")
        #expect(program.waypoints.map(\.name) == ["home", "above", "grasp", "via", "tilted", "wait-here"])
        #expect(errorMessage { try program.replace("via", with: renamed, after: "via") }.contains("after itself"))
        renamed.name = "above"
        #expect(errorMessage { try program.replace("via", with: renamed) }.contains("already has"))
        try program.remove("via")
        #expect(program == sample())
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func numbersAndGripperArguments() throws {
        #expect(try TeachProgram.numbers("0.5, 0.1,0.2", option: "--pose", count: 3...4) == [0.5, 0.1, 0.2])
        #expect(
            errorMessage { _ = try TeachProgram.numbers("0.5,abc,0.2", option: "--pose", count: 3...4) }
                .contains("'abc' is not a number")
        )
        #expect(
            errorMessage { _ = try TeachProgram.numbers("0.5,0.2", option: "--pose", count: 3...4) }
                .contains("2 numbers, expected 3…4")
        )
        #expect(
            errorMessage { _ = try TeachProgram.numbers("1,2,3,4,5,nan", option: "--joints", count: 6...6) }
                .contains("'nan' is not a number")
        )
        #expect(try TeachProgram.gripperAction("close") == .close)
        #expect(try TeachProgram.gripperAction("0.03") == .aperture(0.03))
        #expect(errorMessage { _ = try TeachProgram.gripperAction("half") }.contains("open, close or an aperture"))
    }

    @Test func badFilesAreRefusedWithTheirProblem() throws {
        let dir = TemporaryDirectory("program")
        defer { dir.cleanUp() }
        let path = dir.path + "/p.json"
        func load(_ text: String) -> String {
            try? text.write(toFile: path, atomically: true, encoding: .utf8)
            return errorMessage { _ = try TeachProgram.load(path) }
        }
        #expect(errorMessage { _ = try TeachProgram.load(dir.path + "/none.json") }.contains("no such program file"))
        #expect(load("{\"format\": \"edgecell-program\", \"format_version\": 2}").contains("format_version 2"))
        #expect(load("{\"format\": \"other\", \"format_version\": 1}").contains("format is 'other'"))
        #expect(
            load("{\"format\": \"edgecell-program\", \"format_version\": 1, \"name\": \"p\"}").contains("waypoints")
        )
        let head = "{\"format\": \"edgecell-program\", \"format_version\": 1, \"name\": \"p\", \"waypoints\": "
        #expect(load(head + "[{\"name\": \"a\", \"target\": {\"position\": [1, 2]}}]}").contains("3 numbers"))
        #expect(
            load(head + "[{\"name\": \"a\", \"target\": {\"position\": [1, 2, 3]}}]}").contains("yaw or orientation")
        )
        #expect(
            load(head + "[{\"name\": \"a\", \"target\": {\"joints\": [0]}, \"gripper\": \"half\"}]}")
                .contains("gripper 'half'")
        )
        let twice = "{\"name\": \"a\", \"target\": {\"joints\": [0]}}"
        #expect(load(head + "[\(twice), \(twice)]}").contains("used twice"))
        let ok = load(head + "[{\"name\": \"a\", \"target\": {\"position\": [0.5, 0, 0.2], \"yaw\": 0}}]}")
        #expect(ok == "(no error)")
    }
}
