import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the machine is and what this process uses, read from Linux's `/proc` and `getrusage`.
public enum SystemProbe {
    /// The CPU's model name (`/proc/cpuinfo`, "model name"), with the logical CPU count; "unknown CPU" if unreadable.
    public static func cpuModel(cpuinfo: String = "/proc/cpuinfo") -> String {
        guard let text = try? String(contentsOfFile: cpuinfo, encoding: .utf8) else { return "unknown CPU" }
        var model: String?
        var processors = 0
        for line in text.split(separator: "\n") {
            if line.hasPrefix("processor") { processors += 1 }
            if model == nil, line.hasPrefix("model name"), let colon = line.firstIndex(of: ":") {
                model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let name = model.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown CPU"
        return processors > 0 ? "\(name), \(processors) logical CPUs" : name
    }

    /// Installed memory in bytes (`/proc/meminfo` MemTotal), or 0.
    public static func memoryBytes(meminfo: String = "/proc/meminfo") -> Int {
        Self.kilobytes(field: "MemTotal:", in: meminfo).map { $0 * 1024 } ?? 0
    }

    /// The process's peak resident set in bytes and how it was read: `VmHWM` from `/proc/self/status`, else
    /// `getrusage(RUSAGE_SELF).ru_maxrss`.
    public static func peakRSS() -> (bytes: Int, source: String) {
        if let kb = Self.kilobytes(field: "VmHWM:", in: "/proc/self/status") {
            return (kb * 1024, "VmHWM in /proc/self/status")
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return (Int(usage.ru_maxrss) * 1024, "getrusage(RUSAGE_SELF).ru_maxrss")
    }

    static func kilobytes(field: String, in path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            let digits = line.dropFirst(field.count).split(separator: " ").first
            return digits.flatMap { Int($0) }
        }
        return nil
    }
}

/// CPU time of the runtime's threads, by thread name (`edgecell-ctl`, `edgecell-policy`, `edgecell-io`).
///
/// A thread's time counts from two places so that nothing is lost when an episode's threads end: a thread
/// that finished added its exact `CLOCK_THREAD_CPUTIME_ID` in `threadExiting(name:)` (called once, after its
/// loop, never inside it); a thread still running is read from `/proc/self/task/<tid>/stat` (utime + stime,
/// in clock ticks, so to 10 ms on most kernels).
public enum ThreadCPUTime {
    private struct State {
        var finished: [String: Double] = [:]
        var finishedTIDs: Set<Int32> = []
    }
    private static let state = Mutex(State())

    /// Adds the calling thread's CPU time to `name`'s total; call as the thread's last act.
    public static func threadExiting(name: String) {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        let seconds = Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
        let tid = Self.currentTID()
        Self.state.withLock { state in
            state.finished[name, default: 0] += seconds
            state.finishedTIDs.insert(tid)
        }
    }

    /// The calling thread's id, from the `/proc/thread-self` link ("<pid>/task/<tid>").
    static func currentTID() -> Int32 {
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
        return Int32(target.split(separator: "/").last ?? "") ?? -1
    }

    /// Seconds of CPU per thread name: finished threads plus the running ones.
    public static func seconds() -> [String: Double] {
        var totals = Self.state.withLock { $0.finished }
        let finishedTIDs = Self.state.withLock { $0.finishedTIDs }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var alive = Set<Int32>()
        for task in tasks {
            guard let tid = Int32(task) else { continue }
            alive.insert(tid)
            guard !finishedTIDs.contains(tid),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = String(stat[stat.index(after: open)..<close])
            // Fields after the name: state (3), …, utime (14), stime (15).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]), ticks > 0 else {
                continue
            }
            totals[name, default: 0] += (user + system) / ticks
        }
        // A finished thread's tid may be reused by a new thread; forget the ones no longer listed.
        Self.state.withLock { $0.finishedTIDs.formIntersection(alive) }
        return totals
    }
}
