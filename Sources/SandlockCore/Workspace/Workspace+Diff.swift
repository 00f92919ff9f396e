#if canImport(Glibc)
import Glibc
#endif

/// Unified diffs of a change set, like `git diff`: text files line by line with three lines
/// of context, binary files as "Binary files … differ", plus mode, rename, symlink, new and
/// deleted headers. A file whose old and new lines together exceed the line limit (or whose
/// bytes exceed 256 per line of it) is summarised as "N lines changed", so the diff's memory
/// and size stay bounded whatever the files.
extension Workspace {
    /// Lines (old plus new) of one file above which its diff is summarised.
    public static let defaultDiffLineLimit = 50_000

    /// The diff of `changes` (from this workspace's `changes()`); call it before `commit()`,
    /// which consumes the upper directory.
    public func unifiedDiff(_ changes: ChangeSet, lineLimit: Int = Workspace.defaultDiffLineLimit) -> String {
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
            let oldName = before == nil ? "/dev/null" : "a/\(oldPath)", newName = after == nil ? "/dev/null" : "b/\(change.path)"
            let byteLimit = UInt64(lineLimit) * 256
            if (before?.size ?? 0) + (after?.size ?? 0) > byteLimit {
                out += "--- \(oldName)\n+++ \(newName)\n\(Self.overLimit("\((before?.size ?? 0) + (after?.size ?? 0)) bytes", lineLimit))"
                continue
            }
            let old = before.map { content($0, at: lowerStack.locate(oldPath)?.path) } ?? []
            let new = after.map { content($0, at: upperDirectory + "/" + change.path) } ?? []
            guard let oldText = Self.lines(old), let newText = Self.lines(new) else {
                out += "Binary files \(oldName) and \(newName) differ\n"
                continue
            }
            out += "--- \(oldName)\n+++ \(newName)\n"
            if oldText.count + newText.count > lineLimit {
                let changed = LineDiff.changedRegion(oldText, newText)
                out += Self.overLimit("\(changed.old + changed.new) lines", lineLimit)
            } else {
                out += LineDiff.hunks(oldText, newText)
            }
        }
        return out
    }

    /// A file's bytes, or a symlink's target (as git shows it).
    private func content(_ entry: FileEntry, at path: String?) -> [UInt8] {
        if entry.kind == .symlink { return Array((entry.target ?? "").utf8) }
        guard entry.kind == .file, let path else { return [] }
        return (try? Files.read(path, flags: O_NOFOLLOW)) ?? []
    }

    /// What a diff over the limit shows instead of its hunks.
    private static func overLimit(_ amount: String, _ lineLimit: Int) -> String {
        "\(amount) changed (a diff is shown up to \(lineLimit) lines per file: sandlock-jobs run --diff-limit)\n"
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

/// Myers' shortest edit script over lines in linear space (the middle-snake divide and
/// conquer of his paper, section 4b), printed as unified hunks. Lines are compared as
/// integers; common prefixes and suffixes are kept without a search.
enum LineDiff {
    enum Edit: Equatable { case keep, delete, insert }

    static func edits(_ a: [Substring], _ b: [Substring]) -> [Edit] {
        var ids: [Substring: Int] = [:]
        func id(_ line: Substring) -> Int {
            if let known = ids[line] { return known }
            ids[line] = ids.count
            return ids.count - 1
        }
        let a = a.map(id), b = b.map(id)
        // A line that is not in the other file cannot be kept: search only the lines that
        // are (as GNU diff does), so a rewritten file costs no search at all.
        var inA = [Bool](repeating: false, count: ids.count), inB = inA
        for line in a { inA[line] = true }
        for line in b { inB[line] = true }
        let sharedA = a.indices.filter { inB[a[$0]] }, sharedB = b.indices.filter { inA[b[$0]] }
        var search = EditSearch(a: sharedA.map { a[$0] }, b: sharedB.map { b[$0] })
        search.diff(0, sharedA.count, 0, sharedB.count)
        // Back to every line: the unshared ones are deleted or inserted where they stand.
        var script: [Edit] = []
        script.reserveCapacity(a.count + b.count)
        var x = 0, y = 0, i = 0, j = 0
        func advance(toA endA: Int, toB endB: Int) {
            script.append(contentsOf: repeatElement(.delete, count: endA - x))
            script.append(contentsOf: repeatElement(.insert, count: endB - y))
            x = endA
            y = endB
        }
        for edit in search.script {
            switch edit {
            case .keep:
                advance(toA: sharedA[i], toB: sharedB[j])
                script.append(.keep)
                x += 1; y += 1; i += 1; j += 1
            case .delete:
                advance(toA: sharedA[i] + 1, toB: y)
                i += 1
            case .insert:
                advance(toA: x, toB: sharedB[j] + 1)
                j += 1
            }
        }
        advance(toA: a.count, toB: b.count)
        return script
    }

    /// Lines of `a` and of `b` outside their common prefix and suffix: what changed, at most,
    /// found without a search.
    static func changedRegion(_ a: [Substring], _ b: [Substring]) -> (old: Int, new: Int) {
        var prefix = 0
        while prefix < a.count && prefix < b.count && a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix && suffix < b.count - prefix && a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        return (a.count - prefix - suffix, b.count - prefix - suffix)
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

/// The recursion of `LineDiff.edits`: each level finds the middle snake of its box with two
/// diagonal vectors of that box's size, so memory stays O(N+M) whatever the edit distance.
private struct EditSearch {
    let a: [Int], b: [Int]
    var script: [LineDiff.Edit] = []

    init(a: [Int], b: [Int]) {
        self.a = a
        self.b = b
        script.reserveCapacity(a.count + b.count)
    }

    mutating func diff(_ aLow: Int, _ aHigh: Int, _ bLow: Int, _ bHigh: Int) {
        var aLow = aLow, bLow = bLow, aHigh = aHigh, bHigh = bHigh
        while aLow < aHigh && bLow < bHigh && a[aLow] == b[bLow] {
            script.append(.keep)
            aLow += 1
            bLow += 1
        }
        var suffix = 0
        while aHigh > aLow && bHigh > bLow && a[aHigh - 1] == b[bHigh - 1] {
            aHigh -= 1
            bHigh -= 1
            suffix += 1
        }
        if aLow == aHigh || bLow == bHigh {
            script.append(contentsOf: repeatElement(.delete, count: aHigh - aLow))
            script.append(contentsOf: repeatElement(.insert, count: bHigh - bLow))
        } else if let (x, y) = middleSnake(aLow, aHigh, bLow, bHigh) {
            diff(aLow, aLow + x, bLow, bLow + y)
            diff(aLow + x, aHigh, bLow + y, bHigh)
        } else {
            script.append(contentsOf: repeatElement(.delete, count: aHigh - aLow))
            script.append(contentsOf: repeatElement(.insert, count: bHigh - bLow))
        }
        script.append(contentsOf: repeatElement(.keep, count: suffix))
    }

    /// Where the forward and the reverse furthest-reaching paths of the box meet, relative to
    /// its corner; nil when the boxes have no line in common. The box has no common prefix or
    /// suffix, so the point is never a corner (the edit distance is at least 2).
    private func middleSnake(_ aLow: Int, _ aHigh: Int, _ bLow: Int, _ bHigh: Int) -> (Int, Int)? {
        let n = aHigh - aLow, m = bHigh - bLow
        let maxD = (n + m + 1) / 2, offset = maxD, size = 2 * maxD + 2
        var forward = [Int](repeating: -1, count: size), reverse = [Int](repeating: -1, count: size)
        forward[offset + 1] = 0
        reverse[offset + 1] = 0
        let delta = n - m, oddDelta = delta % 2 != 0
        var forwardStart = 0, forwardEnd = 0, reverseStart = 0, reverseEnd = 0
        for d in 0..<maxD {
            for k in stride(from: -d + forwardStart, through: d - forwardEnd, by: 2) {
                let i = offset + k
                var x = k == -d || (k != d && forward[i - 1] < forward[i + 1]) ? forward[i + 1] : forward[i - 1] + 1
                var y = x - k
                while x < n && y < m && a[aLow + x] == b[bLow + y] { x += 1; y += 1 }
                forward[i] = x
                if x > n { forwardEnd += 2 } else if y > m { forwardStart += 2 } else if oddDelta {
                    let j = offset + delta - k
                    if j >= 0 && j < size && reverse[j] != -1 && x >= n - reverse[j] { return (x, y) }
                }
            }
            for k in stride(from: -d + reverseStart, through: d - reverseEnd, by: 2) {
                let i = offset + k
                var x = k == -d || (k != d && reverse[i - 1] < reverse[i + 1]) ? reverse[i + 1] : reverse[i - 1] + 1
                var y = x - k
                while x < n && y < m && a[aHigh - x - 1] == b[bHigh - y - 1] { x += 1; y += 1 }
                reverse[i] = x
                if x > n { reverseEnd += 2 } else if y > m { reverseStart += 2 } else if !oddDelta {
                    let j = offset + delta - k
                    if j >= 0 && j < size && forward[j] != -1 {
                        let forwardX = forward[j], forwardY = forwardX - (j - offset)
                        if forwardX >= n - x { return (forwardX, forwardY) }
                    }
                }
            }
        }
        return nil
    }
}
