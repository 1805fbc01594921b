import CellRuntime
import Foundation
import Teach
import Testing

@Suite struct DatasetTests {
    @Test func roundTripKeepsEveryValueAndEveryPixel() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let episodes = [
            SyntheticEpisode(seed: 17, steps: 10, task: "bin-red"),
            SyntheticEpisode(seed: 18, steps: 40, task: "stack-blue-green"),  // outgrows the buffer: it grows
        ]
        let writer = try writeEpisodes(dir.path, episodes)
        writer.close()

        let dataset = try Dataset(directory: dir.path)
        #expect(dataset.index.format == "edgecell-dataset" && dataset.index.formatVersion == 1)
        #expect(dataset.index.robot == testRobot)
        #expect(dataset.index.counts.episodes == 2 && dataset.index.counts.steps == 50)
        #expect(dataset.index.counts.frames == 4 + 14)
        #expect(dataset.index.counts.byTask == ["bin-red": 1, "stack-blue-green": 1])
        for (k, episode) in episodes.enumerated() {
            let metadata = dataset.episodes[k]
            #expect(metadata.index == k && metadata.seed == episode.seed && metadata.task == episode.task)
            #expect(metadata.phases == ["reach", "grasp", "lift"])
            #expect(abs(metadata.duration - Double(episode.steps) * 0.01) < 1e-12)
            let steps = try dataset.steps(of: k)
            #expect(steps.count == episode.steps)
            for (t, record) in steps.enumerated() {
                let o = episode.observation(t)
                let (q, g) = episode.action(t)
                #expect(record.time == Double(t) * 0.01)
                #expect(record.jointPositions == (0..<6).map { o.q[$0] })
                #expect(record.jointVelocities == (0..<6).map { o.qd[$0] })
                #expect(record.gripperAperture == o.gripperAperture && record.gripperForce == o.gripperForce)
                #expect(record.actionJoints == (0..<6).map { q[$0] } && record.actionGripper == g)
                #expect(metadata.phases[Int(record.phase)] == episode.phaseLabel(t))
                #expect(record.success == o.success && record.flags == UInt16(o.flags))
                #expect(record.frame == (t % 3 == 0 ? Int32(t / 3) : -1))
            }
            let frames = try dataset.frames(of: k)
            #expect(frames.count == (episode.steps + 2) / 3)
            for (f, frame) in frames.enumerated() {
                #expect(frame.step == 3 * f)
                for (c, camera) in dataset.index.cameras.enumerated() {
                    #expect(frame.images[c] == episode.image(frame.step, camera: camera, index: c))
                }
            }
        }
    }

    @Test func datasetWithoutCamerasHasNoFrames() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(
            dir.path,
            [SyntheticEpisode(seed: 1, steps: 5, task: "bin-red")],
            header: testHeader(cameras: [])
        )
        let dataset = try Dataset(directory: dir.path)
        #expect(dataset.episodes[0].frames == 0)
        #expect(try dataset.frames(of: 0).isEmpty)
        #expect(try dataset.steps(of: 0).allSatisfy { $0.frame == -1 })
    }

    @Test func aSecondWriterAppends() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(
            dir.path,
            [SyntheticEpisode(seed: 5, steps: 4, task: "a"), SyntheticEpisode(seed: 6, steps: 4, task: "b")]
        )
        .close()
        let writer = try DatasetWriter(directory: dir.path, header: testHeader())
        #expect(!writer.created && writer.episodeCount == 2 && writer.highestSeed == 6)
        // Resuming continues the seeds: episode 2 with base seed 0 takes seed max(0 + 2, 6 + 1).
        #expect(SeedSchedule(base: 0, writer: writer).next() == 7)
        #expect(SeedSchedule(base: 100, writer: writer).next() == 102)
        let buffer = EpisodeBuffer(jointCount: 6, cameras: testHeader().cameras, stepCapacity: 16, frameEvery: 3)
        let third = SyntheticEpisode(seed: 7, steps: 6, task: "a")
        try third.fill(buffer, frameEvery: 3)
        let entry = try writer.write(buffer, third.description())
        #expect(entry.index == 2)
        writer.close()
        let dataset = try Dataset(directory: dir.path)
        #expect(dataset.episodes.map(\.index) == [0, 1, 2])
        #expect(dataset.episodes.map(\.seed) == [5, 6, 7])
        #expect(dataset.index.counts.episodes == 3 && dataset.index.counts.steps == 14)
        #expect(dataset.index.counts.byTask == ["a": 2, "b": 1])
    }

    @Test func seedsSkipDiscardedAttemptsAndStayBelowTheEvaluationRange() throws {
        var schedule = SeedSchedule(base: 10, episodes: 0, highestSeed: nil)
        #expect(schedule.next() == 10)
        schedule.attempted(10)  // failed, discarded
        #expect(schedule.next() == 11)
        schedule.attempted(11)
        schedule.kept()
        #expect(schedule.next() == 12)
        #expect(throws: TeachError.self) { try SeedSchedule.check(SeedSchedule.evaluationSeeds) }
        #expect(throws: Never.self) { try SeedSchedule.check(SeedSchedule.evaluationSeeds - 1) }
    }

    @Test func onlyOneWriterAtATime() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let first = try DatasetWriter(directory: dir.path, header: testHeader())
        let message = errorMessage { _ = try DatasetWriter(directory: dir.path, header: testHeader()) }
        #expect(message.contains("another process is recording"))
        first.close()
        _ = try DatasetWriter(directory: dir.path, header: testHeader())
    }

    @Test func appendingFromAnotherRobotIsRefusedNamingTheField() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 3, task: "a")]).close()
        var other = testHeader()
        other.robot.dh[2][0] = -0.4
        let dh = errorMessage { _ = try DatasetWriter(directory: dir.path, header: other) }
        #expect(dh.contains("robot.dh[2]"), "\(dh)")
        other = testHeader()
        other.robot.joints[5] = "wrist_3b"
        #expect(errorMessage { _ = try DatasetWriter(directory: dir.path, header: other) }.contains("robot.joints"))
        other = testHeader()
        other.frameEvery = 5
        #expect(errorMessage { _ = try DatasetWriter(directory: dir.path, header: other) }.contains("frame_every"))
        other = testHeader(cameras: [.init(name: "scene", width: 8, height: 6)])
        #expect(errorMessage { _ = try DatasetWriter(directory: dir.path, header: other) }.contains("cameras"))
        // Nothing was changed by the refusals.
        #expect(try Dataset(directory: dir.path).episodes.count == 1)
    }

    @Test func aFlippedByteInStepsIsASHAMismatch() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 5, task: "a")]).close()
        try patch(dir.path + "/episodes/000000/steps.bin") { $0[40] ^= 0x01 }
        let message = errorMessage { _ = try Dataset(directory: dir.path) }
        #expect(message.contains("episodes/000000/steps.bin") && message.contains("SHA-256 mismatch"), "\(message)")
    }

    @Test func aTruncatedFramesFileIsNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 5, task: "a")]).close()
        try patch(dir.path + "/episodes/000000/frames.bin") { $0 = $0.prefix($0.count - 10) }
        let message = errorMessage { _ = try Dataset(directory: dir.path) }
        #expect(message.contains("episodes/000000/frames.bin") && message.contains("truncated"), "\(message)")
    }

    @Test func aMissingListedEpisodeIsNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, (0..<3).map { SyntheticEpisode(seed: UInt64($0), steps: 3, task: "a") }).close()
        try FileManager.default.removeItem(atPath: dir.path + "/episodes/000001")
        let message = errorMessage { _ = try Dataset(directory: dir.path) }
        #expect(message.contains("episode 000001 is listed") && message.contains("missing"), "\(message)")
        // A writer refuses to append after the gap.
        #expect(errorMessage { _ = try DatasetWriter(directory: dir.path, header: testHeader()) }.contains("gap"))
    }

    @Test func anUnlistedEpisodeFolderIsNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 3, task: "a")]).close()
        try FileManager.default.copyItem(atPath: dir.path + "/episodes/000000", toPath: dir.path + "/episodes/000004")
        let message = errorMessage { _ = try Dataset(directory: dir.path) }
        #expect(message.contains("episodes/000004 is not listed"), "\(message)")
        #expect(errorMessage { _ = try DatasetWriter(directory: dir.path, header: testHeader()) }.contains("000004"))
    }

    @Test func anEpisodeRenamedButNotListedIsAdoptedByTheNextWriter() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, (0..<2).map { SyntheticEpisode(seed: UInt64(10 + $0), steps: 4, task: "a") })
            .close()
        // A crash after renaming episode 1 into place but before dataset.json listed it: the old index.
        let indexPath = dir.path + "/dataset.json"
        var json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        json["episodes"] = Array((json["episodes"] as! [Any]).prefix(1))
        var counts = json["counts"] as! [String: Any]
        counts["episodes"] = 1
        counts["successes"] = 1
        counts["steps"] = 4
        counts["frames"] = 2
        counts["by_task"] = ["a": 1]
        json["counts"] = counts
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: indexPath))
        #expect(errorMessage { _ = try Dataset(directory: dir.path) }.contains("not listed"))

        let writer = try DatasetWriter(directory: dir.path, header: testHeader())
        #expect(writer.adopted == [1] && writer.episodeCount == 2 && writer.highestSeed == 11)
        writer.close()
        #expect(try Dataset(directory: dir.path).index.counts.steps == 8)
    }

    @Test func temporaryFoldersAreIgnoredByReadersAndRemovedByTheNextWriter() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 3, task: "a")]).close()
        let leftover = dir.path + "/.tmp-99999-1"
        try FileManager.default.createDirectory(atPath: leftover, withIntermediateDirectories: false)
        try Data("half".utf8).write(to: URL(fileURLWithPath: leftover + "/steps.bin"))
        #expect(try Dataset(directory: dir.path).episodes.count == 1)
        let writer = try DatasetWriter(directory: dir.path, header: testHeader())
        #expect(writer.removedLeftovers == [".tmp-99999-1"])
        #expect(!FileManager.default.fileExists(atPath: leftover))
    }

    @Test func anotherFormatOrVersionIsRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 3, task: "a")]).close()
        let indexPath = dir.path + "/dataset.json"
        let original = try String(contentsOfFile: indexPath, encoding: .utf8)
        try original.replacingOccurrences(of: "\"format_version\" : 1", with: "\"format_version\" : 2")
            .write(toFile: indexPath, atomically: true, encoding: .utf8)
        let version = errorMessage { _ = try Dataset(directory: dir.path) }
        #expect(version.contains("dataset.json") && version.contains("format_version 2 is not supported"), "\(version)")
        try original.replacingOccurrences(of: "edgecell-dataset", with: "lerobot")
            .write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(errorMessage { _ = try Dataset(directory: dir.path) }.contains("format is 'lerobot'"))
        // A writer refuses too and leaves the file alone.
        #expect(errorMessage { _ = try DatasetWriter(directory: dir.path, header: testHeader()) }.contains("lerobot"))
        #expect(try String(contentsOfFile: indexPath, encoding: .utf8).contains("lerobot"))
    }

    @Test func badValuesInsideFilesAreNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 3, task: "a")]).close()
        let indexPath = dir.path + "/dataset.json"
        let original = try String(contentsOfFile: indexPath, encoding: .utf8)
        try original.replacingOccurrences(
            of: "\"steps\" : 3,\n    \"successes\"",
            with: "\"steps\" : 4,\n    \"successes\""
        )
        .write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(errorMessage { _ = try Dataset(directory: dir.path) }.contains("do not add up"))
        try original.replacingOccurrences(of: "\"control_period\"", with: "\"control_periode\"")
            .write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(errorMessage { _ = try Dataset(directory: dir.path) }.contains("missing field 'control_period'"))
        try original.write(toFile: indexPath, atomically: true, encoding: .utf8)
        #expect(throws: Never.self) { _ = try Dataset(directory: dir.path) }
    }

    @Test func badObjectPosesAreNamed() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        try writeEpisodes(dir.path, [SyntheticEpisode(seed: 1, steps: 3, task: "a")]).close()
        let path = dir.path + "/episodes/000000/episode.json"
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        )
        object["objects"] = ["red_cube": [0.4, 0.1, 0.02, 1, 0, 0, 0]]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        let dataset = try Dataset(directory: dir.path)
        #expect(dataset.episodes[0].objects?["red_cube"] == [0.4, 0.1, 0.02, 1, 0, 0, 0])
        object["objects"] = ["red_cube": [0.4, 0.1, 0.02, 1, 0, 0]]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        #expect(
            errorMessage { _ = try Dataset(directory: dir.path) }.contains(
                "objects.red_cube holds 6 numbers, expected 7"
            )
        )
        object["objects"] = ["red_cube": "here"]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        #expect(errorMessage { _ = try Dataset(directory: dir.path) }.contains("objects.red_cube"))
    }
}
