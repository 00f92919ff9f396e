#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

extension Runner {
    /// Copies the stage's `artifacts:` into `stages/<stage>/artifacts/`, as the stage left
    /// them: through its copy-on-write workspace (before the changes are committed, aborted
    /// or kept), else from the real tree; whatever the outcome, so a failed test stage keeps
    /// its report. The runner copies what sandboxes wrote: a path with a symlink on its way
    /// is skipped, a symlink or special file inside a directory too, never followed.
    /// What is missing or skipped is said as a warning.
    func collectArtifacts(of stage: PlannedStage, from cow: StageWorkspace?) {
        guard !stage.artifacts.isEmpty else { return }
        let view: LayeredView
        if let cow, let index = cow.trees.firstIndex(where: { FileSystem.isInside(realWorkdir, $0.path) }) {
            view = LayeredView(tree: cow.trees[index].path, layers: [cow.collected[index].upperDirectory] + cow.trees[index].lowers)
        } else {
            view = LayeredView(tree: realWorkdir, layers: [])
        }
        let destination = directory.artifactsDirectory(stage.name)
        for artifact in stage.artifacts {
            guard let real = viewPath(of: artifact) else { continue }
            let relative = String(real.dropFirst(realWorkdir.count + 1))
            guard view.entry(real) != nil else {
                events(.warning("stage '\(stage.name)': artifact '\(relative)' is not there"))
                continue
            }
            guard view.isPlain(real) else {
                events(.warning("stage '\(stage.name)': artifact '\(relative)' has a symlink on its way; not copied"))
                continue
            }
            for problem in copy(real, in: view, to: destination + "/" + relative) {
                events(.warning("stage '\(stage.name)': artifact '\(relative)': \(problem)"))
            }
        }
    }

    /// Copies a file or a directory tree of `view` (checked plain) to `target`; returns what
    /// was skipped or failed.
    private func copy(_ path: String, in view: LayeredView, to target: String) -> [String] {
        guard let (location, info) = view.entry(path) else { return [] }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            do { try Files.makeDirectories(target) } catch { return ["\(error)"] }
            return view.entries(of: path).flatMap { copy(path + "/" + $0, in: view, to: target + "/" + $0) }
        case S_IFREG:
            do {
                try Files.makeDirectories(FileSystem.directory(of: target))
                try Self.copyFile(location, to: target)
                return []
            } catch {
                return ["\(error)"]
            }
        default:
            return ["'\(path.dropFirst(realWorkdir.count + 1))' is not a regular file or directory; skipped"]
        }
    }

    /// Streams `source` (not followed if a symlink) into a new file `target`.
    private static func copyFile(_ source: String, to target: String) throws {
        let input = try FileDescriptor(opening: source, flags: O_RDONLY | O_NOFOLLOW)
        let output = try FileDescriptor(opening: target, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o644)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let count = try input.read(into: buffer)
            if count == 0 { return }
            try output.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }
}
