#if canImport(Glibc)
import Glibc
#endif

/// The live processes of a sandbox, found by walking `/proc/<pid>/task/<tid>/children` from
/// its init (which is not counted). Zombies are not counted: a process that exited has given
/// its slot back, whoever reaps it and whenever.
enum ProcessTree {
    static func liveProcesses(under initPID: pid_t) -> Set<pid_t> {
        var found: Set<pid_t> = []
        var queue: [pid_t] = children(of: initPID)
        while let pid = queue.popLast() {
            guard !found.contains(pid), !isZombie(pid) else { continue }
            found.insert(pid)
            queue += children(of: pid)
        }
        return found
    }

    /// Children of every thread of `pid`.
    private static func children(of pid: pid_t) -> [pid_t] {
        var result: [pid_t] = []
        for tid in threads(of: pid) {
            guard let text = readSmallFile("/proc/\(pid)/task/\(tid)/children") else { continue }
            result += text.split(separator: " ").compactMap { pid_t($0.trimmingSpaces()) }
        }
        return result
    }

    private static func threads(of pid: pid_t) -> [pid_t] {
        ((try? Directory.entries(atPath: "/proc/\(pid)/task", names: .lossy)) ?? []).compactMap { pid_t($0) }
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state == "Z" || state == "X"
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

    /// A whole file of any size (procfs reports size 0, so read to EOF).
    static func readLargeFile(_ path: String) -> String? {
        guard let file = try? FileDescriptor(opening: path, flags: O_RDONLY),
              let content = try? file.readAll() else { return nil }
        return String(decoding: content, as: UTF8.self)
    }

    static func readSmallFile(_ path: String) -> String? {
        guard let file = try? FileDescriptor(opening: path, flags: O_RDONLY) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard let count = buffer.withUnsafeMutableBytes({ try? file.read(into: $0) }) else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}
