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

/// One sandbox start: prepares every resource in the parent, calls `csl_spawn`, and waits
/// (a bounded wait: until the command's exec) for the child's verdict on the error pipe.
struct Launch {
    let pid: Int32
    let registration: ProcessMonitor.Registration

    func register() -> UInt64 { ProcessMonitor.shared.register(registration) }

    init(policy: Policy, io: StandardIO, executable: String, argv: [String],
         environment: [String: String], ruleset: borrowing LandlockRuleset,
         program: SeccompProgram, dropCapabilities: Bool, scopedTreeKill: Bool) throws(SandboxError) {
        var childSide = DescriptorBag()
        var parentSide = DescriptorBag()

        func openDevNull(_ flags: Int32) throws(SandboxError) -> FileDescriptor {
            do { return try FileDescriptor(opening: "/dev/null", flags: flags) } catch {
                throw .systemCall("open(/dev/null)", error)
            }
        }
        func makePipe() throws(SandboxError) -> Pipe {
            do { return try Pipe() } catch { throw .systemCall("pipe2", error) }
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
        if let cwd = policy.cwd {
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

        var plan = csl_spawn_plan()
        plan.stdio = stdio
        plan.cwd_fd = cwdFD
        plan.ruleset_fd = ruleset.descriptor.rawValue
        plan.status_fd = statusWrite
        plan.control_fd = controlRead
        plan.error_fd = errorWrite
        plan.tty_fd = ttyFD
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
        let pid: pid_t = program.bytes.withUnsafeBytes { bpf in allowlist.withUnsafeBytes { allowlistBPF in
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
                        return csl_spawn(&plan, &pidfd)
                    }
                }
            }
        } }
        if pid < 0 { throw .systemCall("clone3", .current) }
        let pidfdOwner = FileDescriptor(adopting: pidfd)
        // Only the child may keep the error pipe's write end (its EOF means "exec'd"), and
        // the child's ends of every other pipe.
        childSide = DescriptorBag()

        var failure = csl_child_error()
        let size = MemoryLayout<csl_child_error>.size
        var got: Int
        repeat {
            got = withUnsafeMutableBytes(of: &failure) { Glibc.read(errorRead, $0.baseAddress, size) }
        } while got < 0 && errno == EINTR
        if got == size {
            var code: Int32 = 0, exitStatus: Int32 = 0
            _ = csl_pidfd_wait(pidfdOwner.rawValue, 0, &code, &exitStatus)
            let step = ChildStep(rawValue: failure.step) ?? .exec
            throw .childSetupFailed(step: step, error: Errno(rawValue: failure.error), path: executable)
        }

        parentSide.disown()
        Glibc.close(errorRead)
        self.pid = pid
        self.registration = ProcessMonitor.Registration(
            pidfd: pidfdOwner.release(), statusFD: statusRead, controlFD: controlWrite,
            stdoutFD: stdoutCapture, stderrFD: stderrCapture, stdinFD: stdinFeed,
            stdinBytes: stdinBytes,
            deadline: policy.timeout.map { start + Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000 },
            startNanoseconds: start)
    }
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
