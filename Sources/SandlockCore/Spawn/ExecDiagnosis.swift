/// Which file of an exec the policy keeps the sandbox from reading, when the kernel refused
/// the exec: the program, its `#!` interpreter, or the ELF loader of either (real paths:
/// Landlock judges the file where it is, so `/lib64` does not grant `/usr/lib`'s loader).
/// Libraries are not followed (the loader's search is not repeated here); when every file
/// named is readable, a library is the likely culprit.
enum ExecDiagnosis {
    /// The first unreadable file and what it is to the command.
    struct Unreadable: Sendable, Equatable {
        var path: String
        var role: String
    }

    static func unreadable(executable: String, policy: Policy) -> Unreadable? {
        let grants = (policy.fsReadable + policy.fsWritable).compactMap(DeniedPaths.resolved)
        let denied = policy.fsDenied.compactMap(DeniedPaths.resolved)
        func readable(_ path: String) -> Bool {
            grants.contains { isInside(path, $0) } && !denied.contains { isInside(path, $0) }
        }
        var file = executable, role = "the program", depth = 0
        while depth < 4, let real = DeniedPaths.resolved(file) {
            if !readable(real) { return Unreadable(path: real, role: role) }
            guard let head = try? Files.read(real, limit: 4096) else { return nil }
            if let loader = elfInterpreter(head, file: real) {
                if let real = DeniedPaths.resolved(loader), !readable(real) {
                    return Unreadable(path: real, role: "the ELF loader of \(file)")
                }
                return nil
            }
            // What a `#!` interpreter runs later (`env python3`, a pyenv shim's real
            // interpreter) fails inside the sandbox, as that program's own error.
            guard let interpreter = shebang(head) else { return nil }
            (file, role) = (interpreter, "the #! interpreter of \(file)")
            depth += 1
        }
        return nil
    }

    /// `path` is `base` or below it.
    private static func isInside(_ path: String, _ base: String) -> Bool {
        base == "/" || path == base || path.hasPrefix(base + "/")
    }

    /// The interpreter of a `#!` line.
    private static func shebang(_ head: [UInt8]) -> String? {
        guard head.starts(with: Array("#!".utf8)) else { return nil }
        let line = String(decoding: head.dropFirst(2).prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        return words.first
    }

    /// PT_INTERP of a 64-bit little-endian ELF file (the architectures sandlock runs on).
    private static func elfInterpreter(_ head: [UInt8], file: String) -> String? {
        guard head.count >= 64, head.starts(with: [0x7F, 0x45, 0x4C, 0x46]), head[4] == 2, head[5] == 1 else { return nil }
        func integer(_ offset: Int, _ size: Int, in bytes: [UInt8]) -> Int? {
            guard offset >= 0, offset + size <= bytes.count else { return nil }
            return (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        // A loader's headers sit at the start of the file: offsets beyond `headerBytes` are
        // not followed (a crafted file must not make this read all of it).
        let headerBytes = 1 << 20
        guard let tableOffset = integer(0x20, 8, in: head), let entrySize = integer(0x36, 2, in: head),
              let count = integer(0x38, 2, in: head), entrySize >= 56, count < 256, tableOffset < headerBytes,
              let table = try? Files.read(file, limit: tableOffset + entrySize * count) else { return nil }
        let programInterpreter = 3
        for index in 0..<count {
            let entry = tableOffset + index * entrySize
            guard integer(entry, 4, in: table) == programInterpreter,
                  let offset = integer(entry + 8, 8, in: table), let size = integer(entry + 32, 8, in: table),
                  size < 4096, offset < headerBytes, let bytes = try? Files.read(file, limit: offset + size) else { continue }
            return String(decoding: bytes.dropFirst(offset).prefix { $0 != 0 }, as: UTF8.self)
        }
        return nil
    }
}
