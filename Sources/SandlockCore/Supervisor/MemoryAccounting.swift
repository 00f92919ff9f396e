#if canImport(Glibc)
import Glibc
#endif

/// max_memory's books: each live process charged with its data+stack size (plus what a
/// trapped call adds) and the shared memory it maps (`RssShmem`), and the sandbox charged
/// once for every shared-memory file its processes hold open (memfd, /dev/shm), by the pages
/// the file has. `/proc/<pid>/statm` is kept open (a pread is cheaper than open+read+close).
///
/// A shared page mapped by two processes is charged to both, and a memfd both open and
/// mapped is charged as a file and as mapped memory: the books err on the side of the limit.
struct MemoryAccounting: Sendable {
    private(set) var charges: [pid_t: UInt64] = [:]
    private var statmFiles: [pid_t: SharedDescriptor] = [:]
    var lastBreak: [pid_t: UInt64] = [:]
    /// RssShmem of each process at the last periodic check.
    private var shared: [pid_t: UInt64] = [:]
    /// Pages of the shared-memory files open in the sandbox at the last periodic check.
    private(set) var sharedFiles: UInt64 = 0
    private(set) var peak: UInt64 = 0

    var inUse: UInt64 { charges.values.reduce(0, +) + sharedFiles }
    var openFiles: Int { statmFiles.count }

    mutating func dataBytes(of pid: pid_t) -> UInt64? {
        ProcessTree.dataBytes(of: pid, statm: &statmFiles)
    }

    func sharedBytes(of pid: pid_t) -> UInt64 { shared[pid] ?? 0 }

    mutating func charge(_ pid: pid_t, _ bytes: UInt64) { charges[pid] = bytes }

    mutating func raise(_ pid: pid_t, to bytes: UInt64) { charges[pid] = max(bytes, charges[pid] ?? 0) }

    /// Periodic measures so far; the open files are scanned at every `fileScanInterval`th.
    private var measures = 0
    /// A scan reads every descriptor's link of every process (64 processes with 100
    /// descriptors each: 6,400 readlinks), so it runs every 500 ms, not every 100 ms.
    static let fileScanInterval = 5

    /// The periodic measure of every live process: data+stack, mapped shared memory, and the
    /// shared-memory files they hold open (each file once, however many hold it).
    mutating func measure(_ live: Set<pid_t>) {
        let scanFiles = measures % Self.fileScanInterval == 0
        measures += 1
        var files: [SharedMemory.FileIdentity: UInt64] = [:]
        for pid in live {
            let mapped = SharedMemory.mappedBytes(of: pid) ?? 0
            shared[pid] = mapped
            if let bytes = dataBytes(of: pid) { raise(pid, to: bytes + mapped) }
            if scanFiles { SharedMemory.openFiles(of: pid, into: &files) }
        }
        if scanFiles { sharedFiles = files.values.reduce(0, +) }
    }

    mutating func notePeak() -> UInt64 {
        let total = inUse
        peak = max(peak, total)
        return total
    }

    /// Drops the charges (and files) of processes that have exited.
    mutating func forgetExited(live: Set<pid_t>) {
        charges = charges.filter { live.contains($0.key) }
        lastBreak = lastBreak.filter { live.contains($0.key) }
        shared = shared.filter { live.contains($0.key) }
        statmFiles = statmFiles.filter { live.contains($0.key) }
    }

    mutating func close() { statmFiles = [:] }
}

/// Shared memory a process can pin that its data size does not show: shared anonymous maps
/// and mapped memfd or /dev/shm files (`RssShmem` of /proc/<pid>/status), and memfd or
/// /dev/shm files held open but not mapped (their pages, from a stat of /proc/<pid>/fd/N).
enum SharedMemory {
    struct FileIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// RssShmem in bytes.
    static func mappedBytes(of pid: pid_t) -> UInt64? {
        guard let status = ProcessTree.readSmallFile("/proc/\(pid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssShmem:") }) else { return nil }
        let kibibytes = line.dropFirst("RssShmem:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { UInt64($0) }
        return kibibytes.map { $0 << 10 }
    }

    /// Adds the shared-memory files `pid` holds open: each descriptor whose target is a memfd
    /// or a file under /dev/shm, by the bytes its pages take.
    static func openFiles(of pid: pid_t, into files: inout [FileIdentity: UInt64]) {
        let directory = "/proc/\(pid)/fd"
        for name in (try? Directory.entries(atPath: directory, names: .lossy)) ?? [] {
            guard let target = Files.readLink("\(directory)/\(name)"),
                  target.hasPrefix("/memfd:") || target.hasPrefix("/dev/shm/"),
                  let info = Files.statusFollowingLinks("\(directory)/\(name)"),
                  info.st_mode & S_IFMT == S_IFREG else { continue }
            files[FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))] = UInt64(info.st_blocks) * 512
        }
    }
}
