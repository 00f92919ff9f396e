#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Reads and writes of a trapped process's memory. Every value is read once into our memory
/// and decided on there; results are written back only for calls we answer ourselves.
enum ChildMemory {
    static func read(_ pid: pid_t, _ address: UInt64, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        let got = buffer.withUnsafeMutableBytes { csl_read_child(pid, address, $0.baseAddress, count) }
        return got == count ? buffer : nil
    }

    /// A NUL-terminated string of at most `limit` bytes (a path), read page by page so a
    /// string that ends near an unmapped page still reads.
    static func readString(_ pid: pid_t, _ address: UInt64, limit: Int = 4096) -> String? {
        var bytes: [UInt8] = []
        var cursor = address
        while bytes.count < limit {
            let toPageEnd = 4096 - Int(cursor % 4096)
            var chunk = [UInt8](repeating: 0, count: toPageEnd)
            let got = chunk.withUnsafeMutableBytes { csl_read_child(pid, cursor, $0.baseAddress, toPageEnd) }
            guard got > 0 else { return nil }
            if let end = chunk[0..<got].firstIndex(of: 0) {
                bytes += chunk[0..<end]
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes += chunk[0..<got]
            cursor += UInt64(got)
        }
        return nil
    }

    static func write(_ pid: pid_t, _ address: UInt64, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { csl_write_child(pid, address, $0.baseAddress, bytes.count) } == bytes.count
    }

    static func write<T>(_ pid: pid_t, _ address: UInt64, value: T) -> Bool {
        withUnsafeBytes(of: value) { raw in csl_write_child(pid, address, raw.baseAddress, raw.count) == raw.count }
    }

    /// Writes through /proc/<pid>/mem, which may write read-only pages (the vDSO).
    static func forceWrite(_ pid: pid_t, _ address: UInt64, _ bytes: [UInt8]) -> Bool {
        guard let memory = try? FileDescriptor(opening: "/proc/\(pid)/mem", flags: O_RDWR) else { return false }
        return (try? memory.write(bytes, at: Int64(bitPattern: address))) == bytes.count
    }

    /// AT_SYSINFO_EHDR of a process: where its vDSO is mapped.
    static func vdsoBase(_ pid: pid_t) -> UInt64? {
        guard let auxv = try? FileDescriptor(opening: "/proc/\(pid)/auxv", flags: O_RDONLY) else { return nil }
        var words = [UInt64](repeating: 0, count: 128)
        guard let got = words.withUnsafeMutableBytes({ try? auxv.read(into: $0) }), got > 0 else { return nil }
        for index in stride(from: 0, to: got / 8 - 1, by: 2) where words[index] == UInt64(CSL_AT_SYSINFO_EHDR) {
            return words[index + 1]
        }
        return nil
    }
}

/// Replaces the vDSO's clock functions with stubs that make the real syscall, so every clock
/// read of the process reaches the supervisor (which shifts it). x86_64 only.
enum VDSOPatch {
    struct Stub {
        var offset: UInt64
        var code: [UInt8]
    }

    /// `mov eax, NR; syscall; ret` at each clock entry point (both the `__vdso_` name and the
    /// alias resolve to the same address).
    static let stubs: [Stub]? = {
        #if arch(x86_64)
        let functions: [(String, UInt32)] = [("__vdso_clock_gettime", 228), ("__vdso_gettimeofday", 96), ("__vdso_time", 201)]
        var stubs: [Stub] = []
        for (name, number) in functions {
            let offset = csl_vdso_symbol_offset(name)
            guard offset >= 0 else { continue }
            let code: [UInt8] = [0xB8] + withUnsafeBytes(of: number.littleEndian, Array.init) + [0x0F, 0x05, 0xC3]
            stubs.append(Stub(offset: UInt64(offset), code: code))
        }
        return stubs.isEmpty ? nil : stubs
        #else
        return nil
        #endif
    }()

    static func apply(to pid: pid_t) -> Bool {
        guard let stubs, let base = ChildMemory.vdsoBase(pid) else { return false }
        return stubs.allSatisfy { ChildMemory.forceWrite(pid, base + $0.offset, $0.code) }
    }
}
