import FoundationEssentials
import SandlockCore
import Synchronization

/// A running sandbox behind a `sandlock_process *`: its result is taken once (the wait
/// settles the workspace) and kept for later calls.
final class ProcessHandle: Sendable {
    let process: SandboxProcess
    private let result = Mutex<RunResult?>(nil)

    init(_ process: SandboxProcess) { self.process = process }

    func wait() -> RunResult {
        result.withLock { result in
            if let result { return result }
            let ended = process.waitBlocking()
            result = ended
            return ended
        }
    }

    /// Kills a sandbox nobody waited for and settles it, so no process or workspace outlives
    /// the handle.
    func finish() {
        process.kill()
        _ = wait()
    }
}

/// `SANDLOCK_SPAWN_*` flags.
struct SpawnFlags: OptionSet {
    let rawValue: UInt32
    static let dryRun = SpawnFlags(rawValue: 1)
    static let inheritOutput = SpawnFlags(rawValue: 2)
}

/// stdin of a spawn: the caller's bytes, or /dev/null.
func input(_ bytes: UnsafePointer<UInt8>?, _ length: Int) -> InputSource {
    guard let bytes else { return .null }
    return .bytes(Array(UnsafeBufferPointer(start: bytes, count: length)))
}

func policy(_ pointer: UnsafeRawPointer?, _ function: String) throws(Failure) -> Policy {
    guard let pointer else { throw Failure(.argument, "\(function): NULL policy") }
    return object(pointer, as: PolicyHandle.self).policy
}

func command(_ argv: UnsafePointer<UnsafePointer<CChar>?>?, _ function: String) throws(Failure) -> [String] {
    guard let argv = strings(argv) else { throw Failure(.argument, "\(function): empty command (argv needs at least the program)") }
    return argv
}

func spawn(_ policy: Policy, _ argv: [String], io: StandardIO, mode: WorkspaceMode = .policy) throws(Failure) -> ProcessHandle {
    do throws(SandboxError) {
        return ProcessHandle(try Sandbox(policy: policy).spawn(argv, io: io, workspace: mode))
    } catch {
        throw Failure(error)
    }
}

@_cdecl("sandlock_spawn")
public func sandlockSpawn(_ policyPointer: UnsafeRawPointer?, _ argv: UnsafePointer<UnsafePointer<CChar>?>?,
                          _ bytes: UnsafePointer<UInt8>?, _ length: Int, _ flags: UInt32,
                          _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ error: ErrorOut) -> Int32 {
    reporting(error) { () throws(Failure) in
        guard let out else { throw Failure(.argument, "sandlock_spawn: NULL process pointer") }
        let flags = SpawnFlags(rawValue: flags)
        let output: OutputTarget = flags.contains(.inheritOutput) ? .inherit : .capture
        let io = StandardIO(stdin: input(bytes, length), stdout: output, stderr: output)
        let started = try spawn(try policy(policyPointer, "sandlock_spawn"), try command(argv, "sandlock_spawn"),
                                io: io, mode: flags.contains(.dryRun) ? .dryRun : .policy)
        out.pointee = handle(started)
    }
}

@_cdecl("sandlock_process_pid")
public func sandlockProcessPID(_ process: UnsafeRawPointer) -> Int32 {
    object(process, as: ProcessHandle.self).process.pid
}

@_cdecl("sandlock_process_ports")
public func sandlockProcessPorts(_ process: UnsafeRawPointer) -> UnsafeMutablePointer<CChar> {
    let ports = object(process, as: ProcessHandle.self).process.portMapping
    let members = ports.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
    return cString("{" + members.joined(separator: ", ") + "}")
}

@_cdecl("sandlock_kill")
public func sandlockKill(_ process: UnsafeRawPointer) {
    object(process, as: ProcessHandle.self).process.kill()
}

@_cdecl("sandlock_wait")
public func sandlockWait(_ process: UnsafeRawPointer) -> UnsafeMutableRawPointer {
    handle(ResultHandle(object(process, as: ProcessHandle.self).wait()))
}

@_cdecl("sandlock_process_free")
public func sandlockProcessFree(_ process: UnsafeRawPointer?) {
    guard let process else { return }
    object(process, as: ProcessHandle.self).finish()
    release(process, as: ProcessHandle.self)
}

@_cdecl("sandlock_confine")
public func sandlockConfine(_ policyPointer: UnsafeRawPointer?, _ error: ErrorOut) -> Int32 {
    reporting(error) { () throws(Failure) in
        let policy = try policy(policyPointer, "sandlock_confine")
        do throws(SandboxError) { try confine(policy) } catch { throw Failure(error) }
    }
}
