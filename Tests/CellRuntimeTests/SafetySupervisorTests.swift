import CellRuntime
import Testing
import TwinProtocol

/// The safety supervisor's documented policy, command by command (no twin).
struct SafetySupervisorTests {
    static let home = JointVector(0, -.pi / 2, .pi / 2, -.pi / 2, -.pi / 2, 0, 0, 0)
    let welcome = ur5eWelcome()

    func supervisor(kinematics: Bool = true) throws -> SafetySupervisor {
        var s = SafetySupervisor(
            limits: SafetyLimits(welcome: self.welcome),
            kinematics: kinematics ? try Kinematics(welcome: self.welcome) : nil
        )
        s.reset(q: Self.home, gripper: 0.085)
        return s
    }

    @Test func aCommandWithinEveryLimitPassesUnchanged() throws {
        var s = try self.supervisor()
        var q = Self.home
        // A gentle ramp: 0.05 rad/s² on joint 0, well inside every limit.
        for k in 1...100 {
            q[0] = 0.5 * 0.05 * (Double(k) * 0.01) * (Double(k) * 0.01)
            let out = s.filter(q: q, gripper: 0.04, period: 0.01)
            #expect(out.violations.isEmpty)
            #expect(out.q == q)
            #expect(out.gripper == 0.04)
        }
        #expect(!s.stopped)
        #expect(s.clampedCommands == 0)
    }

    @Test func aJumpBecomesARampWithinTheVelocityAndAccelerationLimits() throws {
        var s = try self.supervisor()
        var target = Self.home
        target[0] = 1.0  // one rad away, commanded at once
        var previous = Self.home[0]
        var previousSpeed = 0.0
        var sawAcceleration = false
        var sawVelocity = false
        for _ in 0..<300 {
            let out = s.filter(q: target, gripper: 0.085, period: 0.01)
            let speed = (out.q[0] - previous) / 0.01
            #expect(abs(speed) <= Double.pi + 1e-9)
            #expect(abs(speed - previousSpeed) <= 8 * 0.01 + 1e-9)
            sawAcceleration = sawAcceleration || out.violations.contains(.acceleration)
            sawVelocity = sawVelocity || out.violations.contains(.velocity)
            previous = out.q[0]
            previousSpeed = speed
        }
        #expect(sawAcceleration && sawVelocity)
        #expect(!s.stopped)  // clamps do not stop the arm
        #expect(s.seen.contains(.velocity))
    }

    @Test func aTargetBeyondAJointLimitIsClampedToTheLimit() throws {
        var s = try self.supervisor(kinematics: false)
        var target = Self.home
        target[5] = 2 * .pi + 0.5
        var last = Self.home
        for _ in 0..<2000 { last = s.filter(q: target, gripper: 0.085, period: 0.01).q }
        #expect(last[5] == 2 * .pi)
        #expect(s.seen.contains(.position))
    }

    @Test func aNonFiniteTargetStopsAndTheStopLatchesUntilReset() throws {
        var s = try self.supervisor()
        var q = Self.home
        // Moving joint 0 at 0.4 rad/s when the NaN arrives.
        for k in 1...60 {
            q[0] = min(0.4 * Double(k) * 0.01, 0.4 * 0.01 * Double(k))
            _ = s.filter(q: q, gripper: 0.085, period: 0.01)
        }
        let moving = q[0]
        var bad = q
        bad[2] = .nan
        let out = s.filter(q: bad, gripper: 0.085, period: 0.01)
        #expect(out.violations.contains(.nonFinite))
        #expect(s.stopped && s.stopCause == .nonFinite)
        #expect(out.q[2].isFinite)
        // Decelerates at 8 rad/s² from 0.4 rad/s: standstill within 5 periods, never jumping, never reversing.
        var previous = out.q[0]
        var ticks = 1
        while !s.atStandstill {
            let next = s.filter(q: q, gripper: 0.085, period: 0.01)  // good commands are ignored while stopped
            #expect(next.q[0] >= previous)
            previous = next.q[0]
            ticks += 1
            #expect(ticks < 10)
        }
        #expect(previous - moving < 0.4 * 0.05)
        let held = s.filter(q: q + 0.1, gripper: 0.0, period: 0.01)
        #expect(held.q[0] == previous)
        #expect(held.gripper == 0.085)
        s.reset(q: held.q, gripper: 0.085)
        #expect(!s.stopped)
        #expect(s.filter(q: held.q, gripper: 0.085, period: 0.01).violations.isEmpty)
    }

    @Test func leavingTheWorkspaceBoxStops() throws {
        var s = try self.supervisor()
        // Shoulder lift towards the table: the TCP goes below the box's floor (z −0.01) long before the limit.
        var q = Self.home
        var stopped = false
        for _ in 0..<400 where !stopped {
            q[1] += 0.01
            let out = s.filter(q: q, gripper: 0.085, period: 0.01)
            stopped = out.violations.contains(.workspace)
        }
        #expect(stopped && s.stopCause == .workspace)
        // The stop names the point that left the box and the bound it crossed: here the floor, z ≥ −0.010.
        let exit = try #require(s.workspaceExit)
        #expect(exit.position.z < -0.01)
        let text = SafetySupervisor.describe(s.workspaceExit, limits: s.limits)
        #expect(text.contains("outside z ≥ -0.010"), "\(text)")
        #expect(!text.contains("x ") && !text.contains("y "), "\(text)")
        #expect(SafetySupervisor.describe(nil, limits: s.limits).isEmpty)
        // Braking from the last accepted command keeps the TCP inside the box all the way to standstill.
        let kinematics = try Kinematics(welcome: self.welcome)
        var ticks = 0
        while !s.atStandstill && ticks < 100 {
            let held = s.filter(q: q, gripper: 0.085, period: 0.01).q
            #expect(try kinematics.forward(held).position.z >= -0.01)
            ticks += 1
        }
        #expect(s.atStandstill)
    }

    @Test func gripperApertureIsClampedAndExcessiveForceStops() throws {
        var s = try self.supervisor()
        let out = s.filter(q: Self.home, gripper: 0.2, period: 0.01)
        #expect(out.gripper == 0.085 && out.violations == .gripperAperture)
        #expect(!s.stopped)
        let forced = s.filter(q: Self.home, gripper: 0, period: 0.01, gripperForce: 150)
        #expect(forced.violations.contains(.gripperForce) && s.stopped)
    }

    @Test func violationNamesForLogLines() {
        #expect(SafetyViolations([.nonFinite, .workspace]).names == ["non-finite target", "workspace box"])
    }
}
