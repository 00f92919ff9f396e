#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// The supervisor's view of one sandbox: its limits, counters and deterministic sources.
/// Only the monitor thread touches it; every decision is made on values read once into our
/// memory, and a call whose pointer arguments matter is answered by us, never continued.
struct SupervisorState {
    /// What to answer a trapped syscall.
    enum Verdict {
        /// Let the kernel run the call as is (decisions on register arguments only).
        case proceed
        case fail(Int32)
        case value(Int64)
        /// Install this descriptor in the process as the call's result (ours closes after).
        case injectDescriptor(SharedDescriptor, cloexec: Bool)
        /// A network call to make on behalf of the process, from a worker thread.
        case onBehalf(OnBehalf)
        /// A deterministic /dev/urandom: install `read` in the process as the result of its
        /// open; the event loop keeps `write` filled with the stream of `seed`.
        case randomStream(read: SharedDescriptor, write: SharedDescriptor, seed: UInt64, cloexec: Bool)
        /// The sandbox broke a limit: kill it and answer nothing.
        case killSandbox(RunResult.Reason)
    }

    let initPID: pid_t
    let maxProcesses: Int?
    let maxMemory: UInt64?
    private var random: DeterministicRandom?
    /// Nanoseconds added to CLOCK_REALTIME readings.
    private let clockShift: Int64?

    private var directories = DirectoryListings()
    private let procView: ProcView?
    private let identity: VirtualIdentity
    private var network: NetworkGate?
    private let bindablePorts: Set<UInt16>
    private let registration: NameRegistration?
    private let sortDirectories: Bool

    /// Destinations the network allowlist refused, with how many times.
    private(set) var deniedConnections: [String: Int] = [:]

    /// Trapped syscalls handled for this sandbox.
    private(set) var notifications = 0
    private(set) var peakProcesses = 0
    private(set) var peakMemory: UInt64 = 0
    /// Threads whose fork we let through and that may still be inside it: their child may
    /// not be visible in /proc yet, so it counts as alive.
    private var forksInFlight: Set<pid_t> = []
    private var memoryCharges: [pid_t: UInt64] = [:]
    /// Open /proc/<pid>/statm of charged processes: a pread is cheaper than open+read+close.
    private var statmFiles: [pid_t: SharedDescriptor] = [:]
    private var lastBreak: [pid_t: UInt64] = [:]
    /// Processes that exec'd and still run an unpatched vDSO.
    private var freshImages: Set<pid_t> = []
    let randomSeed: UInt64?
    /// /dev/urandom opens so far: each gets its own stream (see `RandomFeed`).
    private var randomStreamsOpened: UInt64 = 0

    init(policy: Policy, initPID: pid_t, network: NetworkAllowlist?, registration: NameRegistration? = nil) {
        self.network = network.map { NetworkGate(allowlist: $0) }
        bindablePorts = Set(policy.netBind)
        self.registration = registration
        self.initPID = initPID
        maxProcesses = policy.maxProcesses
        maxMemory = policy.maxMemory
        random = policy.randomSeed.map(DeterministicRandom.init(seed:))
        randomSeed = policy.randomSeed
        procView = ProcView.isVirtualized(for: policy) ? ProcView(policy: policy, initPID: initPID) : nil
        sortDirectories = policy.deterministicDirs
        identity = VirtualIdentity(policy: policy)
        if let start = policy.timeStart {
            var seconds: Int64 = 0, nanoseconds: Int64 = 0
            _ = csl_clock_gettime(CLOCK_REALTIME, &seconds, &nanoseconds)
            clockShift = (start - seconds) * 1_000_000_000 - nanoseconds
        } else {
            clockShift = nil
        }
    }

    /// `stillPending` re-validates the notification (NOTIF_ID_VALID) after reading the
    /// process's memory and before writing to it: the pid could otherwise have been reused.
    mutating func decide(_ call: csl_notification, stillPending: () -> Bool) -> Verdict {
        notifications += 1
        let pid = pid_t(call.pid)
        let nr = call.nr
        let args = [call.args.0, call.args.1, call.args.2, call.args.3, call.args.4, call.args.5]
        switch nr {
        case Syscall.fork, Syscall.vfork, Syscall.clone:
            return admitFork(from: pid)
        case Syscall.execve, Syscall.execveat:
            if clockShift != nil { freshImages.insert(pid) }
            return .proceed
        case Syscall.brk, Syscall.archPrctl, Syscall.mmap, Syscall.mremap:
            if clockShift != nil, freshImages.remove(pid) != nil, !VDSOPatch.apply(to: pid) {
                // Without the patch the clock would leak the host time: refuse to go on.
                return .killSandbox(.killed)
            }
            guard maxMemory != nil, nr != Syscall.archPrctl else { return .proceed }
            return chargeMemory(pid: pid, nr: nr, args: args)
        case Syscall.getrandom:
            guard random != nil else { return .proceed }
            let count = Int(min(args[1], 1 << 20))
            let bytes = random!.bytes(count)
            guard stillPending() else { return .fail(EINTR) }
            return ChildMemory.write(pid, args[0], bytes) ? .value(Int64(count)) : .fail(EFAULT)
        case Syscall.openat, Syscall.open:
            let pathArgument = nr == Syscall.open ? args[0] : args[1]
            let flags = Int32(truncatingIfNeeded: nr == Syscall.open ? args[1] : args[2])
            let directoryFD = nr == Syscall.open ? AT_FDCWD : Int32(truncatingIfNeeded: args[0])
            // The path decides only what we serve; whatever we leave to the kernel is judged by
            // Landlock, so a path changed after our read gains nothing.
            guard let path = ChildMemory.readString(pid, pathArgument), stillPending() else { return .proceed }
            if random != nil, path == "/dev/urandom" || path == "/dev/random" {
                return openRandomStream(cloexec: flags & O_CLOEXEC != 0)
            }
            if let content = identity.file(path) { return .memoryFile(content, cloexec: flags & O_CLOEXEC != 0) }
            if path == "/etc/hosts", let allowlist = network?.allowlist, !allowlist.names.isEmpty {
                return .memoryFile(allowlist.hostsFile, cloexec: flags & O_CLOEXEC != 0)
            }
            return procView?.open(path: path, directoryFD: directoryFD, flags: flags, tid: pid,
                                  memoryInUse: memoryCharges.values.reduce(0, +), ports: network?.ports ?? PortMap()) ?? .proceed
        case Syscall.connect, Syscall.sendto, Syscall.sendmsg, Syscall.bind, Syscall.getsockname:
            guard var network else { return .proceed }
            let fd = Int32(truncatingIfNeeded: args[0])
            let decision: NetworkGate.Decision = switch nr {
            case Syscall.connect: network.connect(pid: pid, fd: fd, address: args[1], length: args[2], stillPending: stillPending)
            case Syscall.sendto: network.sendto(pid: pid, args: args, stillPending: stillPending)
            case Syscall.sendmsg: network.sendmsg(pid: pid, args: args, stillPending: stillPending)
            case Syscall.bind:
                network.bind(pid: pid, fd: fd, address: args[1], length: args[2], allowed: bindablePorts, stillPending: stillPending)
            default: network.localName(pid: pid, args: args, stillPending: stillPending)
            }
            if network.ports != self.network?.ports, let registration {
                // A file write: the worker pool's, not the event thread's. Each update
                // carries the whole mapping, so a dropped one is repaired by the next.
                let mapping = network.ports.mapping
                _ = WorkerPool.shared.submit { registration.ports(mapping) }
            }
            self.network = network
            switch decision {
            case .proceed: return .proceed
            case .fail(let error): return .fail(error)
            case .onBehalf(let work): return .onBehalf(work)
            case .done: return .value(0)
            case .denied(let destination):
                deniedConnections[destination, default: 0] += 1
                return .fail(ECONNREFUSED)
            }
        case Syscall.uname:
            return identity.uname(pid: pid, address: args[0], stillPending: stillPending)
        case Syscall.schedGetaffinity:
            return identity.affinity(pid: pid, size: args[1], address: args[2], stillPending: stillPending)
        case Syscall.getdents64:
            let count = Int(min(args[2], 1 << 20))
            return directories.read(pid: pid, fd: Int32(truncatingIfNeeded: args[0]), buffer: args[1],
                                    count: count, stillPending: stillPending) { [procView, sortDirectories] directory in
                let keep = procView.flatMap { $0.isProcRoot(directory) ? $0.listingFilter() : nil }
                guard sortDirectories || keep != nil else { return nil }
                return .init(sorted: sortDirectories, keep: keep)
            } ?? .proceed
        case Syscall.clockGettime, Syscall.gettimeofday, Syscall.time:
            guard stillPending() else { return .fail(EINTR) }
            return readClock(pid: pid, nr: nr, args: args)
        default:
            return .proceed
        }
    }

    // MARK: Processes

    /// A fork is admitted while live processes plus forks in flight stay under the limit.
    /// A fork is in flight until its thread has left the syscall: from then on its child is
    /// in /proc (or already gone). A thread that traps again has left its previous fork.
    private mutating func admitFork(from tid: pid_t) -> Verdict {
        guard let maxProcesses else { return .proceed }
        forksInFlight.remove(tid)
        forksInFlight = forksInFlight.filter(ProcessTree.isInsideFork)
        let count = ProcessTree.liveProcesses(under: initPID).count + forksInFlight.count
        peakProcesses = max(peakProcesses, count)
        guard count < maxProcesses else { return .fail(EAGAIN) }
        forksInFlight.insert(tid)
        peakProcesses = max(peakProcesses, count + 1)
        return .proceed
    }

    // MARK: Memory

    /// Charges a process with its data+stack size plus what this call adds; the sandbox's
    /// total over its live processes must stay within the limit.
    private mutating func chargeMemory(pid: pid_t, nr: Int32, args: [UInt64]) -> Verdict {
        guard let maxMemory else { return .proceed }
        var growth: UInt64 = 0
        if nr == Syscall.mmap {
            let protection = Int32(truncatingIfNeeded: args[2]), flags = Int32(truncatingIfNeeded: args[3])
            let privateWritable = flags & MAP_PRIVATE != 0 && protection & PROT_WRITE != 0
            let sharedAnonymous = flags & MAP_SHARED != 0 && flags & MAP_ANONYMOUS != 0
            if privateWritable || sharedAnonymous { growth = args[1] }
        } else if nr == Syscall.mremap {
            growth = args[2] > args[1] ? args[2] - args[1] : 0
        } else if nr == Syscall.brk, args[0] != 0 {
            if let previous = lastBreak[pid], args[0] > previous { growth = args[0] - previous }
            lastBreak[pid] = args[0]
        }
        guard let base = dataBytes(of: pid) else { return .proceed }
        memoryCharges[pid] = base + growth
        var total = memoryCharges.values.reduce(0, +)
        if total > maxMemory || statmFiles.count > 256 {
            // Drop the charges of processes that have exited before judging.
            forgetExited(live: ProcessTree.liveProcesses(under: initPID))
            total = memoryCharges.values.reduce(0, +)
        }
        peakMemory = max(peakMemory, total)
        return total > maxMemory ? .killSandbox(.memoryLimit) : .proceed
    }

    /// The periodic check (every 100 ms while `max_memory` is set): re-reads every live
    /// process, catching growth through calls too small to trap.
    mutating func pollMemory() -> Verdict {
        guard let maxMemory else { return .proceed }
        let live = ProcessTree.liveProcesses(under: initPID)
        forgetExited(live: live)
        for pid in live {
            if let bytes = dataBytes(of: pid) { memoryCharges[pid] = max(bytes, memoryCharges[pid] ?? 0) }
        }
        let total = memoryCharges.values.reduce(0, +)
        peakMemory = max(peakMemory, total)
        return total > maxMemory ? .killSandbox(.memoryLimit) : .proceed
    }

    private mutating func dataBytes(of pid: pid_t) -> UInt64? {
        ProcessTree.dataBytes(of: pid, statm: &statmFiles)
    }

    private mutating func forgetExited(live: Set<pid_t>) {
        memoryCharges = memoryCharges.filter { live.contains($0.key) }
        lastBreak = lastBreak.filter { live.contains($0.key) }
        statmFiles = statmFiles.filter { live.contains($0.key) }
    }

    /// Releases what the state holds open; the sandbox is over.
    mutating func close() {
        statmFiles = [:]
        directories.close()
    }

    // MARK: Determinism

    private mutating func openRandomStream(cloexec: Bool) -> Verdict {
        guard let randomSeed else { return .proceed }
        guard let pipe = try? KernelPipe() else { return .fail(EMFILE) }
        randomStreamsOpened += 1
        return .randomStream(read: SharedDescriptor(pipe.read), write: SharedDescriptor(pipe.write),
                             seed: randomSeed ^ (randomStreamsOpened &* 0x9E37_79B9_7F4A_7C15), cloexec: cloexec)
    }

    private func readClock(pid: pid_t, nr: Int32, args: [UInt64]) -> Verdict {
        guard let clockShift else { return .proceed }
        let clock = nr == Syscall.clockGettime ? Int32(truncatingIfNeeded: args[0]) : CLOCK_REALTIME
        // The wall clocks are shifted; the rest (monotonic, CPU time…) pass.
        guard clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI else { return .proceed }
        var seconds: Int64 = 0, nanoseconds: Int64 = 0
        guard csl_clock_gettime(clock, &seconds, &nanoseconds) == 0 else { return .fail(EINVAL) }
        let shifted = seconds * 1_000_000_000 + nanoseconds + clockShift
        let (wholeSeconds, remainder) = shifted.quotientAndRemainder(dividingBy: 1_000_000_000)
        switch nr {
        case Syscall.clockGettime:
            return ChildMemory.write(pid, args[1], value: (wholeSeconds, remainder)) ? .value(0) : .fail(EFAULT)
        case Syscall.gettimeofday:
            if args[0] != 0, !ChildMemory.write(pid, args[0], value: (wholeSeconds, remainder / 1000)) { return .fail(EFAULT) }
            if args[1] != 0, !ChildMemory.write(pid, args[1], value: (Int32(0), Int32(0))) { return .fail(EFAULT) }
            return .value(0)
        default: // time
            if args[0] != 0, !ChildMemory.write(pid, args[0], value: wholeSeconds) { return .fail(EFAULT) }
            return .value(wholeSeconds)
        }
    }
}
