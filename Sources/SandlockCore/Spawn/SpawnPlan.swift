#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Everything one sandbox start needs, prepared in the parent before any fork: the stdio
/// wiring, init's pipes, rlimits, CPU affinity, personality, the cwd descriptor, the BPF
/// programs and the workspace mounts. Building it has no side effect beyond the descriptors
/// it owns (closed with it if it is never spawned); `Launch` spawns it.
struct SpawnPlan: ~Copyable {
    /// The child's ends: installed by init, closed here right after clone.
    var childSide: [SharedDescriptor] = []
    /// Raw numbers of the child's stdin, stdout, stderr (-1: inherited), cwd and terminal.
    var stdio: (Int32, Int32, Int32) = (-1, -1, -1)
    var cwd: Int32 = -1
    var tty: Int32 = -1
    var status: Int32 = -1, control: Int32 = -1, error: Int32 = -1, handoff: Int32 = -1, go: Int32 = -1

    // The parent's ends.
    var stdinFeed: (descriptor: SharedDescriptor, bytes: [UInt8])?
    var stdoutCapture: SharedDescriptor?
    var stderrCapture: SharedDescriptor?
    let statusRead: SharedDescriptor
    let controlWrite: SharedDescriptor
    let errorRead: FileDescriptor
    /// Supervised: the command hands its listener over on `handoffRead` and execs on `goWrite`.
    let handoffRead: SharedDescriptor?
    let goWrite: SharedDescriptor?

    var rlimits: [csl_rlimit] = []
    var cpuAffinity: [Int]?
    var cpuPercent: Int32 = 0
    var personality: UInt = 0
    var disableHugePages = false
    let timeout: Duration?

    init(policy: Policy, io: StandardIO, supervised: Bool, mounts: WorkspaceMounts?) throws(SandboxError) {
        var childSide: [SharedDescriptor] = []
        func child(_ descriptor: consuming FileDescriptor) -> Int32 {
            let shared = SharedDescriptor(descriptor)
            childSide.append(shared)
            return shared.rawValue
        }
        func openDevNull(_ flags: Int32) throws(SandboxError) -> FileDescriptor {
            do { return try FileDescriptor(opening: "/dev/null", flags: flags) } catch {
                throw .systemCall("open(/dev/null)", error)
            }
        }
        func makePipe() throws(SandboxError) -> KernelPipe {
            do { return try KernelPipe() } catch { throw .systemCall("pipe2", error) }
        }

        switch io.stdin {
        case .inherit: break
        case .null: stdio.0 = child(try openDevNull(O_RDONLY))
        case .bytes(let bytes):
            let pipe = try makePipe()
            stdio.0 = child(pipe.read)
            stdinFeed = (SharedDescriptor(pipe.write), bytes)
        case .file(let path):
            do { stdio.0 = child(try FileDescriptor(opening: path, flags: O_RDONLY)) } catch {
                throw .pathNotFound(path: path, field: "stdin", error: error)
            }
        case .descriptor(let shared):
            childSide.append(shared)
            stdio.0 = shared.rawValue
        }
        func output(_ target: OutputTarget, name: String) throws(SandboxError) -> (child: Int32, capture: SharedDescriptor?) {
            switch target {
            case .inherit: return (-1, nil)
            case .discard: return (child(try openDevNull(O_WRONLY)), nil)
            case .capture:
                let pipe = try makePipe()
                _ = csl_set_pipe_size(pipe.read.rawValue, 1 << 20)
                return (child(pipe.write), SharedDescriptor(pipe.read))
            case let .file(path, append):
                let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                do { return (child(try FileDescriptor(opening: path, flags: flags, mode: 0o644)), nil) } catch {
                    throw .pathNotFound(path: path, field: name, error: error)
                }
            case .descriptor(let shared):
                childSide.append(shared)
                return (shared.rawValue, nil)
            }
        }
        (stdio.1, stdoutCapture) = try output(io.stdout, name: "stdout")
        (stdio.2, stderrCapture) = try output(io.stderr, name: "stderr")

        if io.interactive {
            guard csl_isatty(STDIN_FILENO) != 0 else {
                throw .invalidPolicy("interactive mode needs a terminal on stdin")
            }
            tty = STDIN_FILENO
        }
        if let path = policy.cwd, mounts == nil { // with overlays, init enters cwd by path
            do { cwd = child(try FileDescriptor(opening: path, flags: CSL_O_PATH | CSL_O_DIRECTORY)) } catch {
                throw .pathNotFound(path: path, field: "cwd", error: error)
            }
        }

        let statusPipe = try makePipe()
        let controlPipe = try makePipe()
        let errorPipe = try makePipe()
        if supervised {
            let handoffPipe = try makePipe()
            let goPipe = try makePipe()
            handoff = child(handoffPipe.write)
            handoffRead = SharedDescriptor(handoffPipe.read)
            go = child(goPipe.read)
            goWrite = SharedDescriptor(goPipe.write)
        } else {
            handoffRead = nil
            goWrite = nil
        }
        status = child(statusPipe.write)
        statusRead = SharedDescriptor(statusPipe.read)
        control = child(controlPipe.read)
        controlWrite = SharedDescriptor(controlPipe.write)
        error = child(errorPipe.write)
        errorRead = errorPipe.read
        self.childSide = childSide

        personality = policy.noRandomizeMemory ? UInt(CSL_ADDR_NO_RANDOMIZE) : 0
        disableHugePages = policy.noHugePages
        cpuAffinity = policy.cpuCores
        if let percent = policy.maxCPU { cpuPercent = percent >= 100 ? 0 : Int32(percent) }
        if let files = policy.maxOpenFiles {
            var current = rlimit()
            getrlimit(RLIMIT_NOFILE_VALUE, &current)
            let value = min(rlim_t(max(files, 0)), current.rlim_max)
            rlimits.append(csl_rlimit(resource: RLIMIT_NOFILE_VALUE, soft: value, hard: value))
        }
        if policy.noCoredump {
            rlimits.append(csl_rlimit(resource: RLIMIT_CORE_VALUE, soft: 0, hard: 0))
        }
        timeout = policy.timeout
    }

    /// The C plan's descriptor and limit fields (the pointers are filled at spawn).
    func cPlan(ruleset: borrowing LandlockRuleset, dropCapabilities: Bool, scopedTreeKill: Bool) -> csl_spawn_plan {
        var plan = csl_spawn_plan()
        plan.stdio = stdio
        plan.cwd_fd = cwd
        plan.ruleset_fd = ruleset.descriptor.rawValue
        plan.status_fd = status
        plan.control_fd = control
        plan.error_fd = error
        plan.tty_fd = tty
        plan.handoff_fd = handoff
        plan.go_fd = go
        plan.drop_capabilities = dropCapabilities ? 1 : 0
        plan.scoped_tree_kill = scopedTreeKill ? 1 : 0
        plan.personality_flags = personality
        plan.disable_huge_pages = disableHugePages ? 1 : 0
        if let cores = cpuAffinity {
            plan.cpu_affinity_set = 1
            withUnsafeMutableBytes(of: &plan.cpu_affinity) { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for core in cores where (0..<words.count * 64).contains(core) { words[core / 64] |= 1 << UInt64(core % 64) }
            }
        }
        plan.cpu_percent = cpuPercent
        plan.rlimit_count = Int32(rlimits.count)
        withUnsafeMutableBytes(of: &plan.rlimits) { raw in
            rlimits.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        return plan
    }
}

private let RLIMIT_NOFILE_VALUE = Int32(RLIMIT_NOFILE.rawValue)
private let RLIMIT_CORE_VALUE = Int32(RLIMIT_CORE.rawValue)
