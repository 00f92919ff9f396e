#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// What the sandbox sees of the machine's identity: its host name (the sandbox's name) and
/// its number of CPUs (`num_cpus`), through uname, sched_getaffinity and the files programs
/// read them from.
struct VirtualIdentity {
    let hostname: String?
    let cpuCount: Int?

    init(policy: Policy) {
        hostname = policy.name
        cpuCount = policy.numCPUs
    }

    var isEmpty: Bool { hostname == nil && cpuCount == nil }

    /// Contents to serve for an open of `path`, or nil to leave it to the kernel.
    func file(_ path: String) -> [UInt8]? {
        if let hostname, path == "/etc/hostname" || path == "/proc/sys/kernel/hostname" {
            return Array((hostname + "\n").utf8)
        }
        guard let cpuCount else { return nil }
        switch path {
        case "/sys/devices/system/cpu/online", "/sys/devices/system/cpu/present", "/sys/devices/system/cpu/possible":
            return Array((cpuCount == 1 ? "0\n" : "0-\(cpuCount - 1)\n").utf8)
        case "/proc/cpuinfo":
            // The first `cpuCount` processor blocks (blocks are separated by a blank line).
            let blocks = ((try? Files.readText("/proc/cpuinfo")) ?? "").split(separator: "\n\n")
            guard !blocks.isEmpty else { return nil }
            let kept = (0..<cpuCount).map { cpu in
                blocks[cpu % blocks.count].split(separator: "\n").map { line in
                    line.hasPrefix("processor") ? "processor\t: \(cpu)" : String(line)
                }.joined(separator: "\n")
            }
            return Array((kept.joined(separator: "\n\n") + "\n\n").utf8)
        default:
            return nil
        }
    }

    /// uname(buf): the real one, with the sandbox's name as the node name.
    func uname(pid: pid_t, address: UInt64, stillPending: () -> Bool) -> SupervisorState.Verdict {
        guard let hostname else { return .proceed }
        var names = utsname()
        guard Glibc.uname(&names) == 0 else { return .fail(errno) }
        withUnsafeMutableBytes(of: &names.nodename) { field in
            field.initializeMemory(as: UInt8.self, repeating: 0)
            for (index, byte) in hostname.utf8.prefix(field.count - 1).enumerated() { field[index] = byte }
        }
        guard stillPending() else { return .fail(EINTR) }
        return ChildMemory.write(pid, address, value: names) ? .value(0) : .fail(EFAULT)
    }

    /// sched_getaffinity(pid, size, mask): a mask of `cpuCount` CPUs.
    func affinity(pid: pid_t, size: UInt64, address: UInt64, stillPending: () -> Bool) -> SupervisorState.Verdict {
        guard let cpuCount else { return .proceed }
        let configured = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        let maskBytes = 8 * ((max(configured, cpuCount) + 63) / 64)
        guard size >= UInt64(maskBytes) else { return .fail(EINVAL) }
        var mask = [UInt8](repeating: 0, count: maskBytes)
        for cpu in 0..<cpuCount { mask[cpu / 8] |= 1 << UInt8(cpu % 8) }
        guard stillPending() else { return .fail(EINTR) }
        return ChildMemory.write(pid, address, mask) ? .value(Int64(maskBytes)) : .fail(EFAULT)
    }
}

extension SupervisorState.Verdict {
    /// Answers an open with a read-only in-memory file holding `content`.
    static func memoryFile(_ content: [UInt8], cloexec: Bool) -> Self {
        let raw = csl_memfd("sandlock-virtual")
        guard raw >= 0 else { return .fail(ENOMEM) }
        let file = FileDescriptor(adopting: raw)
        // Written with pwrite: the file offset stays at 0 for the process's first read.
        guard (try? file.write(content, at: 0)) != nil else { return .fail(ENOMEM) }
        return .injectDescriptor(SharedDescriptor(file), cloexec: cloexec)
    }
}
