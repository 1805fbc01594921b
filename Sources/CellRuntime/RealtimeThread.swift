import CRealtime
import DemandMetrics
import Foundation

/// What a thread asks of the OS to run in real time.
public struct RealtimeRequest: Sendable {
    /// `SCHED_FIFO` priority (1…99); nil keeps `SCHED_OTHER`.
    public var fifoPriority: Int32? = 80
    /// CPU to pin to; nil = the last online CPU (away from CPU 0, which takes most interrupts); -1 = no pinning.
    public var cpu: Int? = nil
    /// Lock all pages in RAM (`mlockall`) so the loop never takes a page fault.
    public var lockMemory = true

    /// The default request: SCHED_FIFO 80, pinned to the last CPU, memory locked.
    public init() {}

    /// Asks for nothing (plain thread): tests, and machines where real-time makes no sense.
    public static let none: RealtimeRequest = {
        var request = RealtimeRequest()
        request.fifoPriority = nil
        request.cpu = -1
        request.lockMemory = false
        return request
    }()
}

/// What the OS granted, in plain words for the log.
public struct RealtimeReport: Sendable, CustomStringConvertible {
    /// Lines such as "SCHED_FIFO 80: granted" or "SCHED_FIFO 80: refused (EPERM: …)".
    public var lines: [String] = []
    /// Everything asked for was granted.
    public var allGranted = true

    public var description: String { self.lines.joined(separator: "; ") }
}

/// A dedicated POSIX thread for a loop, with optional real-time scheduling, pinning and a name.
public final class RealtimeThread: @unchecked Sendable {
    private final class Box {
        let body: () -> Void
        let request: RealtimeRequest
        let name: String
        var report = RealtimeReport()
        init(name: String, request: RealtimeRequest, body: @escaping () -> Void) {
            self.name = name
            self.request = request
            self.body = body
        }
    }

    private var thread = pthread_t()
    private let box: Box
    private var joined = false

    /// Starts `body` on a new thread that first applies `request` (except `lockMemory`, which is per process:
    /// see `lockProcessMemory`).
    public init(name: String, request: RealtimeRequest, body: @escaping @Sendable () -> Void) throws(RuntimeError) {
        self.box = Box(name: name, request: request, body: body)
        let context = Unmanaged.passRetained(self.box).toOpaque()
        let rc = pthread_create(
            &self.thread,
            nil,
            { raw in
                let box = Unmanaged<RealtimeThread.Box>.fromOpaque(raw!).takeRetainedValue()
                _ = crt_set_thread_name(box.name)
                box.report = RealtimeThread.apply(box.request)
                box.body()
                // Once, after the loop: the thread's exact CPU time for the demand report and /metrics.
                ThreadCPUTime.threadExiting(name: box.name)
                return nil
            },
            context
        )
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw RuntimeError(.system, "cannot start thread \(name): \(String(cString: strerror(rc)))")
        }
    }

    /// Waits for the thread to finish and returns what the OS granted it.
    @discardableResult
    public func join() -> RealtimeReport {
        if !self.joined {
            pthread_join(self.thread, nil)
            self.joined = true
        }
        return self.box.report
    }

    deinit { self.join() }

    /// Applies scheduling and pinning to the calling thread.
    static func apply(_ request: RealtimeRequest) -> RealtimeReport {
        var report = RealtimeReport()
        if let priority = request.fifoPriority {
            let rc = crt_set_fifo(priority)
            if rc == 0 {
                report.lines.append("SCHED_FIFO \(priority) granted")
            } else {
                report.allGranted = false
                report.lines.append(
                    "SCHED_FIFO \(priority) refused (\(String(cString: strerror(rc)))): running "
                        + "SCHED_OTHER; grant CAP_SYS_NICE or an rtprio limit (ulimit -r) for real-time scheduling"
                )
            }
        }
        let cpus = Int(crt_online_cpus())
        let cpu = request.cpu ?? (cpus - 1)
        if cpu >= 0 {
            let rc = crt_pin_current_thread(Int32(cpu))
            if rc == 0 {
                report.lines.append("pinned to CPU \(cpu) of \(cpus)")
            } else {
                report.allGranted = false
                report.lines.append("pinning to CPU \(cpu) refused (\(String(cString: strerror(rc))))")
            }
        }
        return report
    }

    /// The last online CPU: away from CPU 0, which takes most interrupts.
    public static var lastCPU: Int { Int(crt_online_cpus()) - 1 }

    /// Pins the calling thread (and every thread it creates afterwards) to one CPU.
    /// - Returns: a line for the log.
    public static func pinCallingThread(to cpu: Int) -> String {
        let rc = crt_pin_current_thread(Int32(cpu))
        return rc == 0 ? "pinned to CPU \(cpu)" : "pinning to CPU \(cpu) refused (\(String(cString: strerror(rc))))"
    }

    /// Locks the process's pages in RAM (`mlockall(MCL_CURRENT | MCL_FUTURE)`), once, from any thread.
    public static func lockProcessMemory() -> String {
        let rc = crt_lock_memory()
        if rc == 0 { return "memory locked (mlockall)" }
        return "mlockall refused (\(String(cString: strerror(rc)))): page faults may delay the loop; "
            + "raise the memlock limit (ulimit -l) or grant CAP_IPC_LOCK"
    }
}
