#if canImport(Glibc)
import Glibc
#endif

/// The live processes of a sandbox, found by walking `/proc/<pid>/task/<tid>/children` from
/// its init (which is not counted). Zombies are not counted: a process that exited has given
/// its slot back, whoever reaps it and whenever.
enum ProcessTree {
    static func liveProcesses(under initPID: pid_t) -> Set<pid_t> {
        liveTasks(under: initPID).processes
    }

    /// The live processes and how many tasks (threads, each process's main thread included)
    /// they have, from one walk.
    static func liveTasks(under initPID: pid_t) -> (processes: Set<pid_t>, tasks: Int) {
        var found: Set<pid_t> = []
        var tasks = 0
        var queue: [pid_t] = children(of: initPID).children
        while let pid = queue.popLast() {
            guard !found.contains(pid), !isZombie(pid) else { continue }
            found.insert(pid)
            let (grandchildren, threads) = children(of: pid)
            tasks += max(threads, 1)
            queue += grandchildren
        }
        return (found, tasks)
    }

    /// Children of every thread of `pid`, and how many threads it has.
    private static func children(of pid: pid_t) -> (children: [pid_t], threads: Int) {
        var result: [pid_t] = []
        let tids = threads(of: pid)
        for tid in tids {
            guard let text = readSmallFile("/proc/\(pid)/task/\(tid)/children") else { continue }
            result += text.split(separator: " ").compactMap { pid_t($0.trimmingSpaces()) }
        }
        return (result, tids.count)
    }

    private static func threads(of pid: pid_t) -> [pid_t] {
        ((try? Directory.entries(atPath: "/proc/\(pid)/task", names: .lossy)) ?? []).compactMap { pid_t($0) }
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state == "Z" || state == "X"
    }

    /// Threads of a live process (`/proc/<pid>/stat` field 20), nil once it is gone or a zombie.
    static func threadCount(of pid: pid_t) -> Int? {
        guard let stat = readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 17, fields[0] != "Z", fields[0] != "X" else { return nil }
        return Int(fields[17])
    }

    /// Is the thread still inside clone/fork/vfork (`/proc/<tid>/syscall` names the call a
    /// blocked thread is in; "running" or another number means it has left)?
    static func isInsideFork(_ tid: pid_t) -> Bool {
        guard let text = readSmallFile("/proc/\(tid)/syscall"),
              let number = Int32(text.prefix { $0 != " " && $0 != "\n" }) else { return false }
        return number == Syscall.clone || number == Syscall.fork || number == Syscall.vfork
    }

    /// Data + stack of a process in bytes (`/proc/<pid>/statm` field 6): its writable private
    /// memory, which is what an allocation grows. `statm` caches the open files.
    static func dataBytes(of pid: pid_t, statm files: inout [pid_t: SharedDescriptor]) -> UInt64? {
        let file: SharedDescriptor
        if let open = files[pid] {
            file = open
        } else {
            guard let opened = try? FileDescriptor(opening: "/proc/\(pid)/statm", flags: O_RDONLY) else { return nil }
            file = SharedDescriptor(opened)
            files[pid] = file
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { (try? file.descriptor.read(into: $0, at: 0)) ?? -1 }
        guard count > 0 else { return nil }
        let fields = buffer[0..<count].split(separator: UInt8(ascii: " "))
        guard fields.count >= 6, let pages = UInt64(String(decoding: fields[5], as: UTF8.self).trimmingSpaces()) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The first 4 KiB of a /proc file in one read (whole files: `Files.readText`).
    static func readSmallFile(_ path: String) -> String? {
        guard let file = try? FileDescriptor(opening: path, flags: O_RDONLY) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard let count = buffer.withUnsafeMutableBytes({ try? file.read(into: $0) }) else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}
