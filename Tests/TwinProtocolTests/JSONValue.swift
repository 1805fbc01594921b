/// A parsed JSON value that keeps numbers as their literal text, so that `u64` seeds and `f64` bit patterns
/// compare exactly, without going through a lossy number type.
indirect enum JSONValue: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "JSON error at byte \(self.offset): \(self.reason)" }
    }

    /// Parses a complete JSON text (RFC 8259).
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = Parser(bytes: bytes)
        let value = try parser.value()
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { members[key] } else { nil }
    }

    var stringValue: String? {
        if case .string(let text) = self { text } else { nil }
    }

    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { items } else { nil }
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    var uint64Value: UInt64? {
        if case .number(let literal) = self { UInt64(literal) } else { nil }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let literal): literal
        case .string(let text): "\"\(text)\""
        case .array(let items): "[\(items.map(\.description).joined(separator: ", "))]"
        case .object(let members):
            "{\(members.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", "))}"
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var offset = 0

        func error(_ reason: String) -> ParseError {
            ParseError(offset: self.offset, reason: reason)
        }

        mutating func skipSpace() {
            while self.offset < self.bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(self.bytes[self.offset]) {
                self.offset += 1
            }
        }

        mutating func expect(_ text: String) throws {
            for byte in text.utf8 {
                guard self.offset < self.bytes.count, self.bytes[self.offset] == byte else {
                    throw self.error("expected \(text)")
                }
                self.offset += 1
            }
        }

        mutating func value() throws -> JSONValue {
            self.skipSpace()
            guard self.offset < self.bytes.count else { throw self.error("unexpected end") }
            switch self.bytes[self.offset] {
            case UInt8(ascii: "{"):
                self.offset += 1
                var members: [String: JSONValue] = [:]
                self.skipSpace()
                if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: "}") {
                    self.offset += 1
                    return .object(members)
                }
                while true {
                    self.skipSpace()
                    let key = try self.string()
                    self.skipSpace()
                    try self.expect(":")
                    guard members.updateValue(try self.value(), forKey: key) == nil else {
                        throw self.error("duplicate key \(key)")
                    }
                    self.skipSpace()
                    if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: ",") {
                        self.offset += 1
                        continue
                    }
                    try self.expect("}")
                    return .object(members)
                }
            case UInt8(ascii: "["):
                self.offset += 1
                var items: [JSONValue] = []
                self.skipSpace()
                if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: "]") {
                    self.offset += 1
                    return .array(items)
                }
                while true {
                    items.append(try self.value())
                    self.skipSpace()
                    if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: ",") {
                        self.offset += 1
                        continue
                    }
                    try self.expect("]")
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try self.string())
            case UInt8(ascii: "t"):
                try self.expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try self.expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try self.expect("null")
                return .null
            default:
                let start = self.offset
                while self.offset < self.bytes.count,
                    "+-0123456789.eE".utf8.contains(self.bytes[self.offset])
                {
                    self.offset += 1
                }
                guard self.offset > start else { throw self.error("unexpected character") }
                return .number(String(decoding: self.bytes[start..<self.offset], as: UTF8.self))
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard self.offset + 4 <= self.bytes.count,
                let value = UInt32(
                    String(decoding: self.bytes[self.offset..<self.offset + 4], as: UTF8.self),
                    radix: 16
                )
            else {
                throw self.error("bad \\u escape")
            }
            self.offset += 4
            return value
        }

        mutating func string() throws -> String {
            try self.expect("\"")
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() throws {
                guard let text = String(validating: raw, as: UTF8.self) else { throw self.error("bad UTF-8") }
                scalars.append(contentsOf: text.unicodeScalars)
                raw.removeAll()
            }
            while true {
                guard self.offset < self.bytes.count else { throw self.error("unterminated string") }
                let byte = self.bytes[self.offset]
                self.offset += 1
                switch byte {
                case UInt8(ascii: "\""):
                    try flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    try flush()
                    guard self.offset < self.bytes.count else { throw self.error("unterminated escape") }
                    let escape = self.bytes[self.offset]
                    self.offset += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var value = try self.hex4()
                        if (0xD800..<0xDC00).contains(value) {
                            try self.expect("\\u")
                            let low = try self.hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw self.error("lone surrogate") }
                            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(value) else { throw self.error("lone surrogate") }
                        scalars.append(scalar)
                    default:
                        throw self.error("bad escape")
                    }
                default:
                    raw.append(byte)
                }
            }
        }
    }
}
