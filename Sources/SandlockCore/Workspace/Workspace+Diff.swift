#if canImport(Glibc)
import Glibc
#endif

/// Unified diffs of a change set, like `git diff`: text files line by line with three lines
/// of context, binary files as "Binary files … differ", plus mode, rename, symlink, new and
/// deleted headers.
extension Workspace {
    /// The diff of `changes` (from this workspace's `changes()`); call it before `commit()`,
    /// which consumes the upper directory.
    public func unifiedDiff(_ changes: ChangeSet) -> String {
        var out = ""
        for change in changes.changes {
            let before = change.before, after = change.after
            if before?.kind == .directory && after?.kind == .directory {
                if before?.mode != after?.mode {
                    out += "diff --git a/\(change.path) b/\(change.path)\nold mode \(Self.gitMode(before))\nnew mode \(Self.gitMode(after))\n"
                }
                continue
            }
            // Added or deleted directories show through their contents, as in git.
            if before?.kind == .directory || after?.kind == .directory { continue }
            let oldPath = change.from ?? change.path
            out += "diff --git a/\(oldPath) b/\(change.path)\n"
            switch (before, after) {
            case (nil, _?): out += "new file mode \(Self.gitMode(after))\n"
            case (_?, nil): out += "deleted file mode \(Self.gitMode(before))\n"
            default:
                if before?.mode != after?.mode || before?.kind != after?.kind {
                    out += "old mode \(Self.gitMode(before))\nnew mode \(Self.gitMode(after))\n"
                }
            }
            if change.kind == .renamed { out += "rename from \(oldPath)\nrename to \(change.path)\n" }
            if before?.sha256 == after?.sha256 && before?.target == after?.target && before?.kind == after?.kind { continue }
            let old = before.map { content($0, at: lowerStack.locate(oldPath)?.path) } ?? []
            let new = after.map { content($0, at: upperDirectory + "/" + change.path) } ?? []
            let oldName = before == nil ? "/dev/null" : "a/\(oldPath)", newName = after == nil ? "/dev/null" : "b/\(change.path)"
            guard let oldText = Self.lines(old), let newText = Self.lines(new) else {
                out += "Binary files \(oldName) and \(newName) differ\n"
                continue
            }
            out += "--- \(oldName)\n+++ \(newName)\n"
            out += LineDiff.hunks(oldText, newText)
        }
        return out
    }

    /// A file's bytes, or a symlink's target (as git shows it).
    private func content(_ entry: FileEntry, at path: String?) -> [UInt8] {
        if entry.kind == .symlink { return Array((entry.target ?? "").utf8) }
        guard entry.kind == .file, let path else { return [] }
        return (try? Files.read(path, flags: O_NOFOLLOW)) ?? []
    }

    private static func gitMode(_ entry: FileEntry?) -> String {
        guard let entry else { return "000000" }
        let type = switch entry.kind { case .symlink: "120"; case .directory: "040"; default: "100" }
        let permissions = String(entry.mode & 0o777, radix: 8)
        return type + String(repeating: "0", count: 3 - permissions.count) + permissions
    }

    /// Lines of a text file (valid UTF-8 without NUL bytes), or nil for a binary one.
    private static func lines(_ bytes: [UInt8]) -> [Substring]? {
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") || text.isEmpty ? 1 : 0)
            .map { $0 }
    }
}

/// Myers' O((N+M)·D) shortest edit script over lines, printed as unified hunks.
enum LineDiff {
    enum Edit: Equatable { case keep, delete, insert }

    static func edits(_ a: [Substring], _ b: [Substring]) -> [Edit] {
        let n = a.count, m = b.count, max = n + m
        guard max > 0 else { return [] }
        var v = [Int](repeating: 0, count: 2 * max + 2)
        var trace: [[Int]] = []
        search: for d in 0...max {
            trace.append(v)
            for k in stride(from: -d, through: d, by: 2) {
                var x = (k == -d || (k != d && v[max + k - 1] < v[max + k + 1])) ? v[max + k + 1] : v[max + k - 1] + 1
                var y = x - k
                while x < n && y < m && a[x] == b[y] { x += 1; y += 1 }
                v[max + k] = x
                if x >= n && y >= m { trace.append(v); break search }
            }
        }
        // Walk back through the trace.
        var x = n, y = m
        var script: [Edit] = []
        for d in stride(from: trace.count - 2, through: 0, by: -1) {
            let v = trace[d]
            let k = x - y
            let previousK = (k == -d || (k != d && v[max + k - 1] < v[max + k + 1])) ? k + 1 : k - 1
            let previousX = v[max + previousK], previousY = previousX - previousK
            while x > previousX && y > previousY { script.append(.keep); x -= 1; y -= 1 }
            if d > 0 { script.append(x == previousX ? .insert : .delete) }
            x = previousX
            y = previousY
        }
        return script.reversed()
    }

    static func hunks(_ a: [Substring], _ b: [Substring], context: Int = 3) -> String {
        let script = edits(a, b)
        var out = ""
        var index = 0
        // Positions in a and b before each edit.
        var positions: [(Int, Int)] = []
        var x = 0, y = 0
        for edit in script {
            positions.append((x, y))
            if edit != .insert { x += 1 }
            if edit != .delete { y += 1 }
        }
        while index < script.count {
            guard let firstChange = script[index...].firstIndex(where: { $0 != .keep }) else { break }
            let start = Swift.max(firstChange - context, 0)
            var end = firstChange
            var lastChange = firstChange
            while end < script.count {
                if script[end] != .keep { lastChange = end }
                if end - lastChange > 2 * context { break }
                end += 1
            }
            end = Swift.min(lastChange + context + 1, script.count)
            let (aStart, bStart) = positions[start]
            var aCount = 0, bCount = 0, body = ""
            for position in start..<end {
                let (ax, by) = positions[position]
                switch script[position] {
                case .keep: body += " \(a[ax])\n"; aCount += 1; bCount += 1
                case .delete: body += "-\(a[ax])\n"; aCount += 1
                case .insert: body += "+\(b[by])\n"; bCount += 1
                }
            }
            out += "@@ -\(range(aStart, aCount)) +\(range(bStart, bCount)) @@\n" + body
            index = end
        }
        return out
    }

    private static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start + 1)" : "\(count == 0 ? start : start + 1),\(count)"
    }
}
