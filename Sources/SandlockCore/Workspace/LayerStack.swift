#if canImport(Glibc)
import Glibc
#endif

/// A read-only merged view of overlay layers, resolved like overlayfs does: the topmost
/// layer that has a name wins, a whiteout hides the name in every layer below, an opaque
/// directory hides the lower layers' contents, and a non-directory ends the lookup.
///
/// The bottom layer is the real tree; layers above it are the uppers of earlier runs stacked
/// under a new workspace (their whiteouts and opaque markers are honoured).
struct LayerStack: Sendable {
    /// Absolute directories, topmost first.
    let layers: [String]

    /// Where `relative` resolves (its absolute path in the layer that provides it), or nil.
    func locate(_ relative: String) -> (path: String, info: stat)? {
        if layers.count == 1 {
            let path = layers[0] + "/" + relative
            return Files.status(path).map { (path, $0) }
        }
        return walk(relative)?.hit
    }

    /// The merged names of the directory at `relative` (sorted).
    func entries(of relative: String) throws(Errno) -> [String] {
        if layers.count == 1 { return try Directory.entries(atPath: layers[0] + "/" + relative) }
        guard let found = walk(relative), found.hit.info.st_mode.isDirectory else { return [] }
        var names = Set<String>(), hidden = Set<String>()
        for directory in found.directories {
            for name in try Directory.entries(atPath: directory) where !names.contains(name) && !hidden.contains(name) {
                if let info = Files.status(directory + "/" + name), FileSystem.isWhiteout(info) {
                    hidden.insert(name)
                } else {
                    names.insert(name)
                }
            }
        }
        return names.sorted()
    }

    /// The overlayfs lookup: the entry that wins, and when it is a directory, the layers'
    /// directories that merge into it (topmost first, down to an opaque one).
    private func walk(_ relative: String) -> (hit: (path: String, info: stat), directories: [String])? {
        var active = layers
        var prefix = ""
        var hit: (path: String, info: stat)?
        var directories: [String] = []
        for component in relative.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + component
            if let previous = hit, !previous.info.st_mode.isDirectory { return nil }
            hit = nil
            directories = []
            var next: [String] = []
            for layer in active {
                let path = layer + "/" + prefix
                guard let info = Files.status(path) else { continue }
                if FileSystem.isWhiteout(info) { break }
                if !info.st_mode.isDirectory {
                    if hit == nil { hit = (path, info) }
                    break
                }
                if hit == nil { hit = (path, info) }
                next.append(layer)
                directories.append(path)
                if FileSystem.isOpaque(path) { break }
            }
            guard hit != nil else { return nil }
            active = next
        }
        guard let hit else {
            // The root of the stack.
            return Files.status(layers[0]).map { ((layers[0], $0), layers) }
        }
        return (hit, directories)
    }
}

extension mode_t {
    var isDirectory: Bool { self & S_IFMT == S_IFDIR }
}
