/// The name of a wire field in an error message, such as `joints[1].position_min` or `tcp_pose.orientation.w`.
///
/// Built from static strings and an index so that naming a field costs nothing until an error is reported.
struct FieldName: ExpressibleByStringLiteral, CustomStringConvertible {
    /// The field's name in `Sim/PROTOCOL.md` (`joints`, `tcp_pose`, …).
    var base: StaticString
    /// The list index after ``base``, or -1.
    var index: Int
    /// A member of the item (`position_min`, `position`), or empty.
    var member: StaticString
    /// A component of a vector or quaternion (`x`, `w`), or empty.
    var component: StaticString

    init(_ base: StaticString, _ index: Int = -1, _ member: StaticString = "") {
        self.base = base
        self.index = index
        self.member = member
        self.component = ""
    }

    init(stringLiteral value: StaticString) {
        self.init(value)
    }

    /// This field with `member` set: `tcp_pose` → `tcp_pose.position`.
    func member(_ member: StaticString) -> FieldName {
        var field = self
        field.member = member
        return field
    }

    /// This field with `component` set: `workspace_min` → `workspace_min.x`.
    func component(_ component: StaticString) -> FieldName {
        var field = self
        field.component = component
        return field
    }

    var description: String {
        var text = self.base.description
        if self.index >= 0 {
            text += "[\(self.index)]"
        }
        if self.member.utf8CodeUnitCount > 0 {
            text += ".\(self.member)"
        }
        if self.component.utf8CodeUnitCount > 0 {
            text += ".\(self.component)"
        }
        return text
    }
}
