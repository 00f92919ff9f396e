#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Descriptors closed when the bag goes out of scope, unless handed over with `disown()`.
private struct DescriptorBag: ~Copyable {
    private(set) var descriptors: [Int32] = []

    mutating func keep(_ descriptor: consuming FileDescriptor) -> Int32 {
        let raw = descriptor.release()
        descriptors.append(raw)
        return raw
    }

    mutating func disown() { descriptors.removeAll() }

    deinit { for fd in descriptors { Glibc.close(fd) } }
}

/// One sandbox start: prepares every resource in the parent, calls `csl_spawn`, takes the
/// seccomp listener of a supervised sandbox and registers everything with the monitor, then
/// waits (a bounded wait: until the command's exec) for the child's verdict on the error pipe.
struct Launch {
    let pid: Int32
    /// The monitor's id of the sandbox.
    let id: UInt64

    init(policy: Policy, io: StandardIO, executable: String, argv: [String],
         environment: [String: String], ruleset: borrowing LandlockRuleset,
         program: SeccompProgram, dropCapabilities: Bool, scopedTreeKill: Bool,
         mounts: WorkspaceMounts? = nil, network: NetworkAllowlist? = nil,
         registration: NameRegistration? = nil) throws(SandboxError) {
        var childSide = DescriptorBag()
        var parentSide = DescriptorBag()

        func openDevNull(_ flags: Int32) throws(SandboxError) -> FileDescriptor {
            do { return try FileDescriptor(opening: "/dev/null", flags: flags) } catch {
                throw .systemCall("open(/dev/null)", error)
            }
        }
        func makePipe() throws(SandboxError) -> KernelPipe {
            do { return try KernelPipe() } catch { throw .systemCall("pipe2", error) }
        }

        // stdin
        var stdio: (Int32, Int32, Int32) = (-1, -1, -1)
        var stdinFeed: Int32?
        var stdinBytes: [UInt8] = []
        switch io.stdin {
        case .inherit: break
        case .null: stdio.0 = childSide.keep(try openDevNull(O_RDONLY))
        case .bytes(let bytes):
            let pipe = try makePipe()
            stdio.0 = childSide.keep(pipe.read)
            stdinFeed = parentSide.keep(pipe.write)
            stdinBytes = bytes
        case .file(let path):
            do { stdio.0 = childSide.keep(try FileDescriptor(opening: path, flags: O_RDONLY)) } catch {
                throw .pathNotFound(path: path, field: "stdin", error: error)
            }
        case .descriptor(let shared): stdio.0 = shared.rawValue
        }
        // stdout, stderr
        func output(_ target: OutputTarget, name: String) throws(SandboxError) -> (child: Int32, capture: Int32?) {
            switch target {
            case .inherit: return (-1, nil)
            case .discard: return (childSide.keep(try openDevNull(O_WRONLY)), nil)
            case .capture:
                let pipe = try makePipe()
                _ = csl_set_pipe_size(pipe.read.rawValue, 1 << 20)
                return (childSide.keep(pipe.write), parentSide.keep(pipe.read))
            case let .file(path, append):
                let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                do { return (childSide.keep(try FileDescriptor(opening: path, flags: flags, mode: 0o644)), nil) } catch {
                    throw .pathNotFound(path: path, field: name, error: error)
                }
            case .descriptor(let shared): return (shared.rawValue, nil)
            }
        }
        let (stdoutChild, stdoutCapture) = try output(io.stdout, name: "stdout")
        let (stderrChild, stderrCapture) = try output(io.stderr, name: "stderr")
        stdio.1 = stdoutChild
        stdio.2 = stderrChild

        var ttyFD: Int32 = -1
        if io.interactive {
            guard csl_isatty(0) != 0 else {
                throw .invalidPolicy("interactive mode needs a terminal on stdin")
            }
            ttyFD = 0
        }

        var cwdFD: Int32 = -1
        if let cwd = policy.cwd, mounts == nil { // with overlays, init enters cwd by path
            do { cwdFD = childSide.keep(try FileDescriptor(opening: cwd, flags: CSL_O_PATH | CSL_O_DIRECTORY)) } catch {
                throw .pathNotFound(path: cwd, field: "cwd", error: error)
            }
        }

        let status = try makePipe()
        let control = try makePipe()
        let errors = try makePipe()
        let statusRead = parentSide.keep(status.read)
        let statusWrite = childSide.keep(status.write)
        let controlRead = childSide.keep(control.read)
        let controlWrite = parentSide.keep(control.write)
        let errorRead = parentSide.keep(errors.read)
        let errorWrite = childSide.keep(errors.write)
        // Supervised: the command hands its listener over on `handoff` and execs on `go`.
        var handoffRead: Int32 = -1, handoffWrite: Int32 = -1, goRead: Int32 = -1, goWrite: Int32 = -1
        if program.notifyBytes != nil {
            let handoff = try makePipe()
            let go = try makePipe()
            handoffRead = parentSide.keep(handoff.read)
            handoffWrite = childSide.keep(handoff.write)
            goRead = childSide.keep(go.read)
            goWrite = parentSide.keep(go.write)
        }

        var plan = csl_spawn_plan()
        plan.stdio = stdio
        plan.cwd_fd = cwdFD
        plan.ruleset_fd = ruleset.descriptor.rawValue
        plan.status_fd = statusWrite
        plan.control_fd = controlRead
        plan.error_fd = errorWrite
        plan.tty_fd = ttyFD
        plan.handoff_fd = handoffWrite
        plan.go_fd = goRead
        plan.drop_capabilities = dropCapabilities ? 1 : 0
        plan.scoped_tree_kill = scopedTreeKill ? 1 : 0
        plan.personality_flags = policy.noRandomizeMemory ? 0x0040000 /* ADDR_NO_RANDOMIZE */ : 0
        plan.disable_huge_pages = policy.noHugePages ? 1 : 0
        if let cores = policy.cpuCores {
            guard !cores.isEmpty, cores.allSatisfy({ (0..<1024).contains($0) }) else {
                throw .invalidPolicy("cpu_cores must list CPUs from 0 to 1023, got \(cores)")
            }
            plan.cpu_affinity_set = 1
            withUnsafeMutableBytes(of: &plan.cpu_affinity) { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for core in cores { words[core / 64] |= 1 << UInt64(core % 64) }
            }
        }
        if let percent = policy.maxCPU {
            guard (1...100).contains(percent) else {
                throw .invalidPolicy("max_cpu is a percentage of one core from 1 to 100, got \(percent)")
            }
            plan.cpu_percent = percent == 100 ? 0 : Int32(percent)
        }
        var limits: [csl_rlimit] = []
        if let files = policy.maxOpenFiles {
            guard files > 0 else { throw .invalidPolicy("max_open_files must be positive, got \(files)") }
            var current = rlimit()
            getrlimit(RLIMIT_NOFILE_VALUE, &current)
            let value = min(rlim_t(files), current.rlim_max)
            limits.append(csl_rlimit(resource: RLIMIT_NOFILE_VALUE, soft: value, hard: value))
        }
        if policy.noCoredump {
            limits.append(csl_rlimit(resource: RLIMIT_CORE_VALUE, soft: 0, hard: 0))
        }
        plan.rlimit_count = Int32(limits.count)
        withUnsafeMutableBytes(of: &plan.rlimits) { raw in
            limits.withUnsafeBytes { raw.copyMemory(from: $0) }
        }

        let start = csl_monotonic_ns()
        var pidfd: Int32 = -1
        let allowlist = program.allowlistBytes ?? []
        let notify = program.notifyBytes ?? []
        let pid: pid_t = program.bytes.withUnsafeBytes { bpf in allowlist.withUnsafeBytes { allowlistBPF in notify.withUnsafeBytes { notifyBPF in
            withCStrings([executable]) { path in
                withCStrings(argv) { argvPointer in
                    withCStrings(environment.map { "\($0.key)=\($0.value)" }.sorted()) { envPointer in
                        plan.path = UnsafePointer(path[0])
                        plan.argv = UnsafePointer(argvPointer)
                        plan.envp = UnsafePointer(envPointer)
                        plan.bpf = bpf.baseAddress?.assumingMemoryBound(to: sock_filter.self)
                        plan.bpf_len = UInt16(bpf.count / MemoryLayout<sock_filter>.size)
                        if !allowlistBPF.isEmpty {
                            plan.allowlist_bpf = allowlistBPF.baseAddress?.assumingMemoryBound(to: sock_filter.self)
                            plan.allowlist_bpf_len = UInt16(allowlistBPF.count / MemoryLayout<sock_filter>.size)
                        }
                        if !notifyBPF.isEmpty {
                            plan.notify_bpf = notifyBPF.baseAddress?.assumingMemoryBound(to: sock_filter.self)
                            plan.notify_bpf_len = UInt16(notifyBPF.count / MemoryLayout<sock_filter>.size)
                        }
                        guard let mounts else { return csl_spawn(&plan, &pidfd) }
                        return Self.withMounts(mounts, in: &plan) { csl_spawn(&$0, &pidfd) }
                    }
                }
            }
        } } }
        if pid < 0 { throw .systemCall("clone3", .current) }
        let pidfdOwner = FileDescriptor(adopting: pidfd)
        // Only the child may keep the error pipe's write end (its EOF means "exec'd"), and
        // the child's ends of every other pipe.
        childSide = DescriptorBag()

        let listener = handoffRead >= 0 ? Self.takeListener(handoffRead) : nil
        parentSide.disown()
        let deadline = policy.timeout.map {
            start + Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000
        }
        let id = ProcessMonitor.shared.register(ProcessMonitor.Registration(
            pidfd: pidfdOwner.release(), statusFD: statusRead, controlFD: controlWrite,
            stdoutFD: stdoutCapture, stderrFD: stderrCapture, stdinFD: stdinFeed,
            stdinBytes: stdinBytes, deadline: deadline, startNanoseconds: start,
            listenerFD: listener, supervisor: listener.map { _ in SupervisorState(policy: policy, initPID: pid, network: network, registration: registration) }))
        if goWrite >= 0 {
            var go: UInt8 = 1
            _ = Glibc.write(goWrite, &go, 1)
            Glibc.close(goWrite)
            Glibc.close(handoffRead)
        }

        var failure = csl_child_error()
        let failed = readRecord(errorRead, into: &failure)
        Glibc.close(errorRead)
        if failed || (handoffRead >= 0 && listener == nil) {
            // init reports the failure and exits; the monitor reaps it, nobody waits for it.
            ProcessMonitor.shared.abandon(id)
            let step = failed ? ChildStep(rawValue: failure.step) ?? .exec : .listener
            let error = failed ? Errno(rawValue: failure.error) : .EPERM
            throw .childSetupFailed(step: step, error: error, path: executable)
        }
        self.pid = pid
        self.id = id
    }

    /// Fills the plan's workspace fields with C strings valid inside `body`.
    private static func withMounts(_ mounts: WorkspaceMounts, in plan: inout csl_spawn_plan,
                                   _ body: (inout csl_spawn_plan) -> pid_t) -> pid_t {
        // One array of strings: the fixed ones, then targets, options, storages, rule paths.
        let fixed = [mounts.uidMap, mounts.gidMap, mounts.cwd]
        let strings = fixed + mounts.overlays.map(\.target) + mounts.overlays.map(\.options) + mounts.storages
            + mounts.lateRules.map(\.path)
        return withCStrings(strings) { pointers in
            mounts.lateRules.map(\.access).withUnsafeBufferPointer { access in
                let base = UnsafeRawPointer(pointers).assumingMemoryBound(to: UnsafePointer<CChar>?.self)
                var next = fixed.count
                func take(_ count: Int) -> UnsafePointer<UnsafePointer<CChar>?> {
                    defer { next += count }
                    return base + next
                }
                plan.uid_map = UnsafePointer(pointers[0])
                plan.gid_map = UnsafePointer(pointers[1])
                plan.cwd_path = UnsafePointer(pointers[2])
                plan.overlay_user_namespace = mounts.userNamespace ? 1 : 0
                plan.overlay_count = Int32(mounts.overlays.count)
                plan.overlay_targets = take(mounts.overlays.count)
                plan.overlay_options = take(mounts.overlays.count)
                plan.storage_count = Int32(mounts.storages.count)
                plan.storage_paths = take(mounts.storages.count)
                plan.late_rule_count = Int32(mounts.lateRules.count)
                plan.late_rule_paths = take(mounts.lateRules.count)
                plan.late_rule_access = access.baseAddress
                return body(&plan)
            }
        }
    }

    /// Reads the command's {pid, listener fd} and duplicates the listener into this process
    /// (pidfd_getfd). nil when the command failed before handing it over.
    private static func takeListener(_ handoffRead: Int32) -> Int32? {
        var handoff = csl_listener_handoff()
        guard readRecord(handoffRead, into: &handoff) else { return nil }
        let commandPidfd = csl_pidfd_open(handoff.pid)
        guard commandPidfd >= 0 else { return nil }
        defer { Glibc.close(commandPidfd) }
        let listener = csl_pidfd_getfd(commandPidfd, handoff.listener_fd)
        return listener >= 0 ? listener : nil
    }
}

/// Reads one fixed-size record the child wrote into a pipe (blocking, EINTR retried); false at
/// EOF, which means the child exec'd or exited without writing.
private func readRecord<Record>(_ fd: Int32, into record: inout Record) -> Bool {
    let size = MemoryLayout<Record>.size
    var got: Int
    repeat {
        got = withUnsafeMutableBytes(of: &record) { Glibc.read(fd, $0.baseAddress, size) }
    } while got < 0 && errno == EINTR
    return got == size
}

private let RLIMIT_NOFILE_VALUE = Int32(RLIMIT_NOFILE.rawValue)
private let RLIMIT_CORE_VALUE = Int32(RLIMIT_CORE.rawValue)

/// A NULL-terminated `char *[]` of `strings`, valid inside `body`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
    for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
    pointers[strings.count] = nil
    defer {
        for index in 0..<strings.count { free(pointers[index]) }
        pointers.deallocate()
    }
    return body(pointers)
}
