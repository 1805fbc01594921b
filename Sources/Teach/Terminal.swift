import Foundation

/// A key the operator pressed.
enum Key: Equatable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown
    case enter
    case escape
    /// Ctrl-C or Ctrl-D (raw mode turns them into bytes).
    case interrupt
}

/// The terminal's saved state, reachable from a signal handler (which cannot capture context).
nonisolated(unsafe) private var savedTerminal = termios()
nonisolated(unsafe) private var savedTerminalDescriptor: Int32 = -1
nonisolated(unsafe) private var terminalRestoreBytes: [UInt8] = Array("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l".utf8)

/// Puts the terminal back as it was: async-signal-safe (tcsetattr and write only).
private func restoreTerminalNow() {
    let fd = savedTerminalDescriptor
    guard fd >= 0 else { return }
    savedTerminalDescriptor = -1
    _ = terminalRestoreBytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    _ = tcsetattr(fd, TCSAFLUSH, &savedTerminal)
}

/// The operator's terminal in raw mode: keys arrive one by one without echo, the screen is drawn on the
/// alternate screen. The previous mode is restored on every way out: `restore()` (and deinit), `exit()`
/// (an atexit handler), fatal signals (SIGSEGV, SIGABRT, SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGHUP), and SIGINT,
/// SIGTERM and SIGQUIT when nothing else handles them (a handler restores, then the signal takes its default
/// course). Raw mode delivers Ctrl-C as a key, so the session sees it and ends cleanly.
final class Terminal {
    let input: Int32
    let output: Int32
    private var pending: [UInt8] = []
    private var active = false

    private static let installHandlers: Void = {
        atexit { restoreTerminalNow() }
    }()

    /// Enters raw mode on `input` and the alternate screen on `output`.
    init(input: Int32, output: Int32) throws(TeachError) {
        guard isatty(input) == 1 else {
            throw TeachError(.usage, "keyboard teaching needs a terminal: standard input is not one")
        }
        var current = termios()
        guard tcgetattr(input, &current) == 0 else {
            throw TeachError(.system, "cannot read the terminal's mode: \(String(cString: strerror(errno)))")
        }
        self.input = input
        self.output = output
        savedTerminal = current
        savedTerminalDescriptor = input
        _ = Self.installHandlers
        for number in [SIGSEGV, SIGABRT, SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT] {
            var old = sigaction()
            sigaction(number, nil, &old)
            // Leave handled or ignored signals alone (the CLI relays SIGINT/SIGTERM to stop the session).
            guard old.__sigaction_handler.sa_handler == nil else { continue }
            signal(number) { number in
                restoreTerminalNow()
                signal(number, SIG_DFL)
                raise(number)
            }
        }
        var raw = current
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)  // "\n" still starts a new line
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(input, TCSAFLUSH, &raw) == 0 else {
            savedTerminalDescriptor = -1
            throw TeachError(.system, "cannot put the terminal in raw mode: \(String(cString: strerror(errno)))")
        }
        self.active = true
        self.write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
    }

    deinit { self.restore() }

    /// Leaves raw mode and the alternate screen.
    func restore() {
        guard self.active else { return }
        self.active = false
        restoreTerminalNow()
    }

    func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes {
                Glibc.write(self.output, $0.baseAddress! + offset, $0.count - offset)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Keys typed since the last call (never blocks).
    func keys() -> [Key] {
        var chunk = [UInt8](repeating: 0, count: 256)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(self.input, $0.baseAddress, $0.count) }
            if n > 0 {
                self.pending.append(contentsOf: chunk[0..<n])
                continue
            }
            if n < 0 && errno == EINTR { continue }
            break
        }
        var keys: [Key] = []
        var i = 0
        let p = self.pending
        while i < p.count {
            let byte = p[i]
            switch byte {
            case 0x1B:
                // An escape sequence arrives in one write; a lone ESC is the Esc key.
                if i + 2 < p.count, p[i + 1] == UInt8(ascii: "[") || p[i + 1] == UInt8(ascii: "O") {
                    let code = p[i + 2]
                    switch code {
                    case UInt8(ascii: "A"): keys.append(.up)
                    case UInt8(ascii: "B"): keys.append(.down)
                    case UInt8(ascii: "C"): keys.append(.right)
                    case UInt8(ascii: "D"): keys.append(.left)
                    case UInt8(ascii: "5"), UInt8(ascii: "6"):
                        // ESC [ 5 ~ / ESC [ 6 ~
                        if i + 3 < p.count, p[i + 3] == UInt8(ascii: "~") {
                            keys.append(code == UInt8(ascii: "5") ? .pageUp : .pageDown)
                            i += 1
                        }
                    default: break
                    }
                    i += 3
                    continue
                }
                keys.append(.escape)
                i += 1
            case 0x0D, 0x0A:
                keys.append(.enter)
                i += 1
            case 0x03, 0x04:
                keys.append(.interrupt)
                i += 1
            default:
                if byte < 0x80 {
                    keys.append(.character(Character(UnicodeScalar(byte))))
                }
                i += 1
            }
        }
        self.pending.removeAll()
        return keys
    }
}
