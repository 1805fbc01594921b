import Testing

@testable import TwinProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The shared test vectors of `Sim/PROTOCOL.md` §7, which the Python codec passes too.
@Suite("Cross-language test vectors")
struct VectorTests {
    struct Vector {
        let name: String
        let valid: Bool
        let context: String?
        let frames: [[UInt8]]
        let message: JSONValue?
        let error: String?
        let offendingSeq: UInt64?
    }

    /// `Sim/tests/vectors/vectors.json`, found from this file's real path (…/Tests/TwinProtocolTests/ → root);
    /// `TWIN_VECTORS` overrides it.
    static var vectorsPath: String {
        if let override = getenv("TWIN_VECTORS") {
            return String(cString: override)
        }
        var path = #filePath
        if let resolved = realpath(path, nil) {
            path = String(cString: resolved)
            free(resolved)
        }
        var parts = path.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // VectorTests.swift, TwinProtocolTests, Tests
        return (parts + ["Sim", "tests", "vectors", "vectors.json"]).joined(separator: "/")
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                return nil
            }
            bytes.append(byte)
        }
        return bytes
    }

    static func loadVectors() throws -> [Vector] {
        let path = self.vectorsPath
        let bytes = try #require(self.readFile(path), "cannot read \(path)")
        let root = try JSONValue.parse(bytes)
        let entries = try #require(root.arrayValue ?? root["vectors"]?.arrayValue, "no vector list in \(path)")
        return try entries.map { entry in
            let name = try #require(entry["name"]?.stringValue, "vector without a name: \(entry)")
            let frames = try #require(entry["frames"]?.arrayValue, "\(name): no frames").map { frame in
                try #require(frame.stringValue.flatMap(self.hexBytes), "\(name): frame is not hex")
            }
            return Vector(
                name: name,
                valid: try #require(entry["valid"]?.boolValue as Bool?, "\(name): no valid flag"),
                context: entry["context"]?.stringValue,
                frames: frames,
                message: entry["message"],
                error: entry["error"]?.stringValue,
                offendingSeq: entry["offending_seq"]?.uint64Value
            )
        }
    }

    /// Decodes a vector's frames and, with a context, runs the §6 checks against it.
    static func decodeAndValidate(
        _ vector: Vector,
        context: Welcome?
    ) -> Result<(MessageHeader, Message), ProtocolError> {
        Result { () throws(ProtocolError) in
            let (header, message) = try TwinCodec.decode(frames: vector.frames)
            if let context {
                try context.validate(message, frameSizes: vector.frames.dropFirst().map(\.count), seq: header.seq)
            }
            return (header, message)
        }
    }

    @Test("every vector decodes, re-encodes and validates as the file says")
    func vectors() throws {
        let vectors = try Self.loadVectors()
        let byName = Dictionary(vectors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byName.count == vectors.count, "vector names are not unique")
        var contexts: [String: Welcome] = [:]
        for vector in vectors where vector.valid {
            if case .success((_, .welcome(let welcome))) = Self.decodeAndValidate(vector, context: nil) {
                contexts[vector.name] = welcome
            }
        }
        var checked = (valid: 0, invalid: 0)
        for vector in vectors {
            var context: Welcome?
            if let name = vector.context {
                context = contexts[name]
                #expect(context != nil, "\(vector.name): context \(name) is not a valid WELCOME vector")
            }
            let result = Self.decodeAndValidate(vector, context: context)
            if vector.valid {
                checked.valid += 1
                self.checkValid(vector, result)
            } else {
                checked.invalid += 1
                self.checkInvalid(vector, result)
            }
            self.checkHotPath(vector, context: context, result)
        }
        #expect(checked.valid > 0 && checked.invalid > 0, "expected valid and invalid vectors, got \(checked)")
        print("vectors.json: \(checked.valid) valid and \(checked.invalid) invalid vectors checked")
    }

    func checkValid(_ vector: Vector, _ result: Result<(MessageHeader, Message), ProtocolError>) {
        let (header, message): (MessageHeader, Message)
        switch result {
        case .success(let decoded): (header, message) = decoded
        case .failure(let error):
            Issue.record("\(vector.name): valid vector rejected: \(error)")
            return
        }
        guard let json = vector.message else {
            Issue.record("\(vector.name): valid vector without a message")
            return
        }
        let differences = CanonicalJSON.of(message, seq: header.seq).differences(from: json)
        #expect(
            differences.isEmpty,
            "\(vector.name): decoded message differs from the JSON:\n\(differences.joined(separator: "\n"))"
        )
        let encoded = Result { () throws(ProtocolError) in try TwinCodec.encode(message, seq: header.seq) }
        switch encoded {
        case .success(let frame0):
            #expect(frame0 == vector.frames.first, "\(vector.name): re-encoding gives other bytes")
        case .failure(let error):
            Issue.record("\(vector.name): re-encoding failed: \(error)")
        }
        #expect(message.extraFrameCount == vector.frames.count - 1, "\(vector.name): image count")
    }

    func checkInvalid(_ vector: Vector, _ result: Result<(MessageHeader, Message), ProtocolError>) {
        guard let name = vector.error, let expected = ProtocolError.Code(name: name) else {
            Issue.record("\(vector.name): invalid vector without a known error name (\(vector.error ?? "none"))")
            return
        }
        switch result {
        case .success(let (_, message)):
            Issue.record("\(vector.name): expected \(name), but decoded \(message)")
        case .failure(let error):
            #expect(error.code == expected, "\(vector.name): expected \(name), got \(error)")
            if let seq = vector.offendingSeq {
                #expect(error.offendingSeq == seq, "\(vector.name): expected offending_seq \(seq), got \(error)")
            }
        }
    }

    /// The allocation-free decoder gives the same answer as the full one for observations and episodes.
    func checkHotPath(
        _ vector: Vector,
        context: Welcome?,
        _ result: Result<(MessageHeader, Message), ProtocolError>
    ) {
        guard let frame0 = vector.frames.first else { return }
        var observation = Observation()
        let sizes = vector.frames.dropFirst().map(\.count)
        let hot = frame0.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in
                let header = try TwinCodec.decodeObservation(frame0: bytes, extraFrameSizes: sizes, into: &observation)
                try context?.validate(observation, type: header.type, frameSizes: sizes, seq: header.seq)
                return header
            }
        }
        var expectedBody: Observation?
        switch result {
        case .success((_, .observation(let body))): expectedBody = body
        case .success((_, .episode(let episode))): expectedBody = episode.observation
        default: expectedBody = nil
        }
        switch (result, hot) {
        case (.success, .success):
            #expect(expectedBody != nil, "\(vector.name): hot path accepted a message that is not an observation")
            #expect(observation == expectedBody, "\(vector.name): hot path decodes another body")
        case (.failure(let error), .failure(let other)):
            if other.code != .badState {
                #expect(other.code == error.code, "\(vector.name): hot path says \(other), full decode \(error)")
            }
        case (.success(let (_, message)), .failure(let error)):
            #expect(!message.type.carriesImages, "\(vector.name): hot path rejects with \(error)")
        case (.failure(let error), .success):
            Issue.record("\(vector.name): hot path accepts what decode rejects with \(error)")
        }
    }
}
