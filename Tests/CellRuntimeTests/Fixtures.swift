import CellRuntime
import Foundation
import TwinProtocol

/// A UR5e description like the twin's, for tests that need no twin.
func ur5eWelcome(mode: TwinMode = .lockStep) -> Welcome {
    let names = ["shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3"]
    let joints = names.map {
        JointDescription(
            name: $0,
            positionMin: -2 * .pi,
            positionMax: 2 * .pi,
            velocityMax: .pi,
            accelerationMax: 8,
            effortMax: 150
        )
    }
    let a = [0, -0.425, -0.3922, 0, 0, 0]
    let d = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
    let alpha = [Double.pi / 2, 0, 0, Double.pi / 2, -Double.pi / 2, 0]
    return Welcome(
        twinName: "test",
        twinVersion: "0",
        robotName: "UR5e",
        mode: mode,
        controlPeriod: 0.01,
        physicsTimestep: 0.002,
        joints: joints,
        basePose: Pose(position: .zero, orientation: Quaternion(w: 0, x: 0, y: 0, z: 1)),
        dh: (0..<6).map { DHRow(a: a[$0], d: d[$0], alpha: alpha[$0], thetaOffset: 0) },
        toolPose: Pose(position: SIMD3(0, 0, 0.15), orientation: Quaternion(w: 1, x: 0, y: 0, z: 0)),
        gripper: GripperDescription(
            name: "parallel",
            apertureMin: 0,
            apertureMax: 0.085,
            forceMax: 100,
            speedMax: 0.15
        ),
        workspaceMin: SIMD3(-0.2, -0.6, -0.01),
        workspaceMax: SIMD3(0.9, 0.6, 0.8),
        cameras: [],
        objects: [
            ObjectDescription(name: "red_cube", size: SIMD3(0.04, 0.04, 0.04)),
            ObjectDescription(name: "green_cube", size: SIMD3(0.04, 0.04, 0.04)),
            ObjectDescription(name: "blue_cube", size: SIMD3(0.04, 0.04, 0.04)),
            ObjectDescription(name: "bin", size: SIMD3(0.16, 0.16, 0.08)),
        ],
        tasks: ["bin-red", "stack-blue-green"],
        task: "bin-red",
        instruction: "put the red cube in the bin",
        seed: 0
    )
}

let ur5eHome: JointVector = [0, -.pi / 2, .pi / 2, -.pi / 2, -.pi / 2, 0, 0, 0]

func cubePose(_ x: Double, _ y: Double, yaw: Double = 0) -> Pose {
    Pose(position: SIMD3(x, y, 0.02), orientation: Quaternion(w: cos(yaw / 2), x: 0, y: 0, z: sin(yaw / 2)))
}
