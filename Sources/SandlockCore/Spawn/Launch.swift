#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// One sandbox start: spawns a prepared `SpawnPlan` (csl_spawn), takes the seccomp listener
/// of a supervised sandbox, registers everything with the event loop, says go, and reads the
/// child's verdict on the error pipe (a bounded wait: until the command's exec).
struct Launch {
    let pid: Int32
    let session: SandboxSession

    static func spawn(_ plan: consuming SpawnPlan, policy: Policy, executable: String, argv: [String],
                      environment: [String: String], ruleset: borrowing LandlockRuleset,
                      program: SeccompProgram, dropCapabilities: Bool, scopedTreeKill: Bool,
                      mounts: WorkspaceMounts? = nil, network: NetworkAllowlist? = nil,
                      registration: NameRegistration? = nil) throws(SandboxError) -> Launch {
        var cPlan = plan.cPlan(ruleset: ruleset, dropCapabilities: dropCapabilities, scopedTreeKill: scopedTreeKill)
        let start = csl_monotonic_ns()
        var rawPidfd: Int32 = -1
        let pid = withSpawnArguments(program: program, executable: executable, argv: argv,
                                     environment: environment, mounts: mounts, in: &cPlan) { csl_spawn(&$0, &rawPidfd) }
        if pid < 0 { throw .systemCall("clone3", .current) }
        let pidfd = SharedDescriptor(FileDescriptor(adopting: rawPidfd))
        plan.releaseChildSide()

        let listener = plan.handoffRead.flatMap { takeListener($0) }
        let supervisor = listener.map { _ in
            Supervisor(SupervisorState(policy: policy, initPID: pid, network: network, registration: registration))
        }
        let session = SandboxSession(control: plan.controlWrite, supervisor: supervisor, startNanoseconds: start,
                                     pidsCgroup: plan.pidsCgroup)
        do throws(Errno) {
            if let stdout = plan.stdoutCapture { try session.watch(try OutputCapture(.stdout, reading: stdout)) }
            if let stderr = plan.stderrCapture { try session.watch(try OutputCapture(.stderr, reading: stderr)) }
            if let (descriptor, bytes) = plan.stdinFeed { try session.watch(try StdinFeed(bytes, writing: descriptor)) }
            if let listener, let supervisor {
                try session.watch(SupervisorListener(listener, supervisor: supervisor, session: session))
            }
            if let timeout = plan.timeout {
                let (seconds, attoseconds) = timeout.components
                session.schedule(TimeoutDeadline(session), at: start + seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            }
            // Last: its exit handler tears down every source registered above.
            try session.watchExit(pidfd: pidfd, status: plan.statusRead)
        } catch {
            // The loop cannot watch this sandbox: kill it (init exits on the control pipe's
            // EOF too) and reap it here; nothing was watching its pidfd.
            session.kill()
            var code: Int32 = 0, status: Int32 = 0
            _ = csl_pidfd_wait(pidfd.rawValue, 0, &code, &status)
            throw .systemCall("epoll_ctl", error)
        }
        // Watched: the command may exec now, and no trapped call of it is missed.
        if let go = plan.goWrite { go.descriptor.writeByte() }

        let failure = plan.errorRead.readRecord(csl_child_error.self)
        if failure != nil || (plan.handoffRead != nil && listener == nil) {
            // init reports the failure and exits; the loop reaps it, nobody waits for it. A
            // command that lost its supervisor must not run unsupervised: kill the tree.
            if failure == nil { session.kill() }
            let step = failure.map { ChildStep(rawValue: $0.step) ?? .exec } ?? .listener
            let error = failure.map { Errno(rawValue: $0.error) } ?? .EPERM
            if step == .exec, error == .EACCES,
               let unreadable = ExecDiagnosis.unreadable(executable: executable, policy: policy) {
                throw .execDenied(program: executable, unreadable: unreadable.path, role: unreadable.role)
            }
            throw .childSetupFailed(step: step, error: error, path: executable)
        }
        // From the exec on: before it, the command is a vfork of init, itself a copy of this
        // (large) process, and its memory is not the command's.
        if policy.maxMemory != nil, supervisor != nil {
            session.schedule(MemoryPoll(session), at: csl_monotonic_ns() + MemoryPoll.interval)
        }
        return Launch(pid: pid, session: session)
    }

    /// Reads the command's {pid, listener fd} and duplicates the listener into this process
    /// (pidfd_getfd). nil when the command failed before handing it over.
    private static func takeListener(_ handoffRead: SharedDescriptor) -> SharedDescriptor? {
        guard let handoff = handoffRead.descriptor.readRecord(csl_listener_handoff.self) else { return nil }
        let raw = csl_pidfd_open(handoff.pid)
        guard raw >= 0 else { return nil }
        let commandPidfd = FileDescriptor(adopting: raw)
        let listener = csl_pidfd_getfd(commandPidfd.rawValue, handoff.listener_fd)
        return listener >= 0 ? SharedDescriptor(FileDescriptor(adopting: listener)) : nil
    }

    /// Fills the plan's pointer fields (programs, path, argv, envp, workspace strings) with
    /// memory valid inside `body`.
    private static func withSpawnArguments(program: SeccompProgram, executable: String, argv: [String],
                                           environment: [String: String], mounts: WorkspaceMounts?,
                                           in plan: inout csl_spawn_plan,
                                           _ body: (inout csl_spawn_plan) -> pid_t) -> pid_t {
        let allowlist = program.allowlistBytes ?? []
        let notify = program.notifyBytes ?? []
        let filterSize = MemoryLayout<sock_filter>.size
        return program.bytes.withUnsafeBytes { bpf in allowlist.withUnsafeBytes { allowlistBPF in notify.withUnsafeBytes { notifyBPF in
            withCStrings([executable]) { path in
                withCStrings(argv) { argvPointer in
                    withCStrings(environment.map { "\($0.key)=\($0.value)" }.sorted()) { envPointer in
                        plan.path = UnsafePointer(path[0])
                        plan.argv = UnsafePointer(argvPointer)
                        plan.envp = UnsafePointer(envPointer)
                        plan.bpf = bpf.baseAddress?.assumingMemoryBound(to: sock_filter.self)
                        plan.bpf_len = UInt16(bpf.count / filterSize)
                        if !allowlistBPF.isEmpty {
                            plan.allowlist_bpf = allowlistBPF.baseAddress?.assumingMemoryBound(to: sock_filter.self)
                            plan.allowlist_bpf_len = UInt16(allowlistBPF.count / filterSize)
                        }
                        if !notifyBPF.isEmpty {
                            plan.notify_bpf = notifyBPF.baseAddress?.assumingMemoryBound(to: sock_filter.self)
                            plan.notify_bpf_len = UInt16(notifyBPF.count / filterSize)
                        }
                        if let mounts { return withMounts(mounts, in: &plan, body) }
                        guard plan.process_user_namespace != 0 else { return body(&plan) }
                        return withCStrings([UserNamespaceMaps.uid, UserNamespaceMaps.gid]) { maps in
                            plan.uid_map = UnsafePointer(maps[0])
                            plan.gid_map = UnsafePointer(maps[1])
                            return body(&plan)
                        }
                    }
                }
            }
        } } }
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
}

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
