#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Everything one sandbox start needs, prepared in the parent before any fork: the stdio
/// wiring, init's pipes, rlimits, CPU affinity, personality, the cwd descriptor, the BPF
/// programs and the workspace mounts. Building it has no side effect beyond the descriptors
/// it owns (closed with it if it is never spawned); `Launch` spawns it.
struct SpawnPlan: ~Copyable {
    /// The child's ends, installed by init; `releaseChildSide` drops them right after clone.
    private var childSide: ChildSide?
    /// Interactive: the terminal on our stdin goes to the command.
    private var handsOverTerminal = false

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
    /// `max_processes` in the kernel: the sandbox's pids cgroup, or a user namespace of its
    /// own (with RLIMIT_NPROC among `rlimits`); neither under the supervisor's trap.
    let pidsCgroup: PidsCgroup?
    let processUserNamespace: Bool

    /// The descriptors init receives (nil: inherited or unused).
    private struct ChildSide {
        var stdio: (SharedDescriptor?, SharedDescriptor?, SharedDescriptor?) = (nil, nil, nil)
        var cwd: SharedDescriptor?
        var status: SharedDescriptor?
        var control: SharedDescriptor?
        var error: SharedDescriptor?
        var handoff: SharedDescriptor?
        var go: SharedDescriptor?
    }

    init(policy: Policy, io: StandardIO, supervised: Bool, mounts: WorkspaceMounts?,
         processLimit: ProcessLimit.Mechanism?) throws(SandboxError) {
        let kernelTasks = policy.maxProcesses.map(ProcessLimit.kernelTasks(for:)) ?? .max
        // First: a failure below releases it, which removes it.
        var cgroup: PidsCgroup?
        if case .pidsCgroup(let hierarchy)? = processLimit { cgroup = try PidsCgroup(in: hierarchy, tasks: kernelTasks) }
        var childSide = ChildSide()
        func child(_ descriptor: consuming FileDescriptor) -> SharedDescriptor { SharedDescriptor(descriptor) }
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
        case .null: childSide.stdio.0 = child(try openDevNull(O_RDONLY))
        case .bytes(let bytes):
            let pipe = try makePipe()
            childSide.stdio.0 = child(pipe.read)
            stdinFeed = (SharedDescriptor(pipe.write), bytes)
        case .file(let path):
            do { childSide.stdio.0 = child(try FileDescriptor(opening: path, flags: O_RDONLY)) } catch {
                throw .pathNotFound(path: path, field: "stdin", error: error)
            }
        case .descriptor(let shared): childSide.stdio.0 = shared
        }
        func output(_ target: OutputTarget, name: String) throws(SandboxError) -> (child: SharedDescriptor?, capture: SharedDescriptor?) {
            switch target {
            case .inherit: return (nil, nil)
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
            case .descriptor(let shared): return (shared, nil)
            }
        }
        (childSide.stdio.1, stdoutCapture) = try output(io.stdout, name: "stdout")
        (childSide.stdio.2, stderrCapture) = try output(io.stderr, name: "stderr")
        try NetworkGate.refuseDatagramStdio([childSide.stdio.0, childSide.stdio.1, childSide.stdio.2], policy: policy)

        if io.interactive {
            guard csl_isatty(STDIN_FILENO) != 0 else {
                throw .invalidPolicy("interactive mode needs a terminal on stdin")
            }
            handsOverTerminal = true
        }
        if let path = policy.cwd, mounts == nil { // with overlays, init enters cwd by path
            do { childSide.cwd = child(try FileDescriptor(opening: path, flags: CSL_O_PATH | CSL_O_DIRECTORY)) } catch {
                throw .pathNotFound(path: path, field: "cwd", error: error)
            }
        }

        let statusPipe = try makePipe()
        let controlPipe = try makePipe()
        let errorPipe = try makePipe()
        if supervised {
            let handoffPipe = try makePipe()
            let goPipe = try makePipe()
            childSide.handoff = child(handoffPipe.write)
            handoffRead = SharedDescriptor(handoffPipe.read)
            childSide.go = child(goPipe.read)
            goWrite = SharedDescriptor(goPipe.write)
        } else {
            handoffRead = nil
            goWrite = nil
        }
        childSide.status = child(statusPipe.write)
        statusRead = SharedDescriptor(statusPipe.read)
        childSide.control = child(controlPipe.read)
        controlWrite = SharedDescriptor(controlPipe.write)
        childSide.error = child(errorPipe.write)
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
        pidsCgroup = cgroup
        processUserNamespace = processLimit == .userNamespace
        if processUserNamespace {
            let tasks = rlim_t(kernelTasks)
            rlimits.append(csl_rlimit(resource: RLIMIT_NPROC_VALUE, soft: tasks, hard: tasks))
        }
    }

    /// Only the child may keep the error pipe's write end (its EOF means "exec'd"), and the
    /// child's ends of every other pipe: dropped once it is cloned.
    mutating func releaseChildSide() { childSide = nil }

    /// The C plan's descriptor and limit fields (the pointers are filled at spawn). Its raw
    /// numbers are valid while the child side is held.
    func cPlan(ruleset: borrowing LandlockRuleset, dropCapabilities: Bool, scopedTreeKill: Bool) -> csl_spawn_plan {
        func raw(_ descriptor: SharedDescriptor?) -> Int32 { descriptor?.rawValue ?? -1 }
        let child = childSide ?? ChildSide()
        var plan = csl_spawn_plan()
        plan.stdio = (raw(child.stdio.0), raw(child.stdio.1), raw(child.stdio.2))
        plan.cwd_fd = raw(child.cwd)
        plan.ruleset_fd = ruleset.descriptor.rawValue
        plan.status_fd = raw(child.status)
        plan.control_fd = raw(child.control)
        plan.error_fd = raw(child.error)
        plan.tty_fd = handsOverTerminal ? STDIN_FILENO : -1
        plan.handoff_fd = raw(child.handoff)
        plan.go_fd = raw(child.go)
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
        plan.cgroup_procs_fd = pidsCgroup?.procs.rawValue ?? -1
        plan.process_user_namespace = processUserNamespace ? 1 : 0
        plan.rlimit_count = Int32(rlimits.count)
        withUnsafeMutableBytes(of: &plan.rlimits) { raw in
            rlimits.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        return plan
    }
}

private let RLIMIT_NOFILE_VALUE = Int32(RLIMIT_NOFILE.rawValue)
private let RLIMIT_CORE_VALUE = Int32(RLIMIT_CORE.rawValue)
private let RLIMIT_NPROC_VALUE = Int32(__RLIMIT_NPROC.rawValue)
