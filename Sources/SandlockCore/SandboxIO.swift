#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Where a sandboxed command's stdin comes from.
public enum InputSource: Sendable {
    /// The caller's stdin.
    case inherit
    /// `/dev/null`.
    case null
    /// These bytes, fed through a pipe, then EOF.
    case bytes([UInt8])
    /// A file opened read-only.
    case file(String)
    /// The read end of a pipe shared with another sandbox (pipelines).
    case descriptor(SharedDescriptor)
}

/// Where a sandboxed command's stdout or stderr goes.
public enum OutputTarget: Sendable {
    /// The caller's stdout/stderr.
    case inherit
    /// `/dev/null`.
    case discard
    /// Collected in memory into `RunResult.stdout`/`stderr`, drained while the command runs
    /// (no deadlock on outputs larger than a pipe buffer).
    case capture
    /// A file, created or truncated (or appended to).
    case file(String, append: Bool = false)
    /// The write end of a pipe shared with another sandbox (pipelines).
    case descriptor(SharedDescriptor)
}

extension SharedDescriptor {
    /// pipe2(O_CLOEXEC): the read end and the write end.
    public static func pipe() throws(SandboxError) -> (read: SharedDescriptor, write: SharedDescriptor) {
        do {
            let pipe = try KernelPipe()
            return (SharedDescriptor(pipe.read), SharedDescriptor(pipe.write))
        } catch {
            throw .systemCall("pipe2", error)
        }
    }

    /// open(2) of a file (O_CLOEXEC added).
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(SandboxError) -> SharedDescriptor {
        do {
            return SharedDescriptor(try FileDescriptor(opening: path, flags: flags, mode: mode))
        } catch {
            throw .pathNotFound(path: path, field: "stdio", error: error)
        }
    }
}

/// How a sandbox's standard streams are wired.
public struct StandardIO: Sendable {
    public var stdin: InputSource
    public var stdout: OutputTarget
    public var stderr: OutputTarget
    /// Hand the terminal (on stdin) and its foreground process group to the command, as an
    /// interactive shell needs; it is handed back when the command ends.
    public var interactive: Bool

    public init(stdin: InputSource = .null, stdout: OutputTarget = .capture,
                stderr: OutputTarget = .capture, interactive: Bool = false) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.interactive = interactive
    }

    /// The caller's own streams, as a CLI wrapper wants.
    public static let inherited = StandardIO(stdin: .inherit, stdout: .inherit, stderr: .inherit)
    /// No input, both outputs captured.
    public static let captured = StandardIO()
}
