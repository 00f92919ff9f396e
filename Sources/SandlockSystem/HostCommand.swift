#if canImport(Glibc)
import Glibc
#endif

/// A program of the host run outside any sandbox (a scheduler's client: `sbatch`, `squeue`,
/// `scancel`), its output captured: posix_spawnp with stdin on /dev/null, the default
/// signal dispositions and an empty signal mask (the caller's `SignalThread` blocks signals
/// in every thread), then both pipes drained with poll(2) and the child reaped.
public enum HostCommand {
    public struct Output: Sendable {
        /// The exit code, or 128+N when signal N killed it.
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]

        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// The error output, trimmed, for messages that quote it.
        public var stderrText: String {
            var text = Substring(String(decoding: stderr, as: UTF8.self))
            while let last = text.last, last == "\n" || last == " " { text.removeLast() }
            return String(text)
        }
    }

    /// Runs `argv` (looked up in PATH) to its end. Throws ENOENT when the program is not
    /// in PATH (posix_spawnp's error), or the error of a pipe or poll.
    public static func run(_ argv: [String]) throws(Errno) -> Output {
        let child = try Child(argv)
        let (stdout, stderr) = try drain(child.stdout, child.stderr)
        var status: Int32 = 0
        _ = try retryingInterrupts { waitpid(child.pid, &status, 0) }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: exit, stdout: stdout, stderr: stderr)
    }

    /// A started child and the read ends of its stdout and stderr (the write ends were
    /// ours only until the spawn, so the pipes end when the child exits).
    private struct Child: ~Copyable {
        let pid: pid_t
        let stdout: FileDescriptor
        let stderr: FileDescriptor

        init(_ argv: [String]) throws(Errno) {
            let out = try KernelPipe(), err = try KernelPipe()
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, out.write.rawValue, 1)
            posix_spawn_file_actions_adddup2(&actions, err.write.rawValue, 2)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t(), all = sigset_t()
            sigemptyset(&none)
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            var pid: pid_t = 0
            let cArgs = argv.map { strdup($0) } + [nil]
            defer { for arg in cArgs { free(arg) } }
            let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, environ)
            guard rc == 0 else { throw Errno(rawValue: rc) }
            self.pid = pid
            stdout = out.read
            stderr = err.read
        }
    }

    /// Reads both pipes to end of file, whichever has data (so neither fills and blocks the child).
    private static func drain(_ first: borrowing FileDescriptor, _ second: borrowing FileDescriptor) throws(Errno) -> ([UInt8], [UInt8]) {
        var buffers: ([UInt8], [UInt8]) = ([], [])
        var open = (true, true)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while open.0 || open.1 {
            var fds = [pollfd(fd: open.0 ? first.rawValue : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: open.1 ? second.rawValue : -1, events: Int16(POLLIN), revents: 0)]
            _ = try retryingInterrupts { poll(&fds, 2, -1) }
            for (index, entry) in fds.enumerated() where entry.fd >= 0 && entry.revents != 0 {
                let result = chunk.withUnsafeMutableBytes { raw in
                    Result { () throws(Errno) in try index == 0 ? first.read(into: raw) : second.read(into: raw) }
                }
                let count = try result.get()
                if count == 0 {
                    if index == 0 { open.0 = false } else { open.1 = false }
                } else if index == 0 {
                    buffers.0 += chunk[0..<count]
                } else {
                    buffers.1 += chunk[0..<count]
                }
            }
        }
        return buffers
    }
}
