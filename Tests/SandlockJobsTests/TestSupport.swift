import Foundation
@testable import SandlockJobs

/// Paths of the source tree, found from this file (tests read the real files).
enum Paths {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
    static let fixtures = testsDir + "/Fixtures"
    static let root = URL(fileURLWithPath: testsDir).deletingLastPathComponent().deletingLastPathComponent().path

    static func files(in dir: String, suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(suffix) }.sorted()
    }
}

/// Loads manifest text as if it were the file `path` below `base` (default: a temp folder).
func load(_ text: String, path: String = "test.yaml", base: String = Paths.fixtures, planner: Planner? = nil) -> ManifestLoader.Result {
    let loader = ManifestLoader(planner: planner ?? Planner(currentDirectory: base))
    return loader.load(SourceFile(path: path, text: text))
}

extension ManifestLoader.Result {
    var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// A policy every stage of a test manifest can use, so tests are not about warnings.
let basePolicy = """
    policies:
      base: { filesystem: { read: [/usr, /bin] } }
    defaults: { policy: base }

    """
