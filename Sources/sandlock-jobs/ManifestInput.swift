import ArgumentParser
import SandlockCore
import SandlockJobs

/// Exit codes from sysexits.h, as docs/manifest.md documents them (64 is ArgumentParser's
/// `ValidationError`).
enum Exit {
    static let invalidManifest = ExitCode(65)  // EX_DATAERR
    static let missingFile = ExitCode(66)  // EX_NOINPUT
}

/// Prints `sandlock-jobs: error: <message>` on stderr and returns the exit code to throw.
func fail(_ message: String, _ code: ExitCode = .failure) -> ExitCode {
    printError("sandlock-jobs: error: \(message)\n")
    return code
}

/// Diagnostics go to stderr; stdout carries only results.
func printError(_ text: String) {
    try? StandardStream.error.writeAll(text)
}

/// Loads `path` and prints its diagnostics; throws the exit code when there is no plan.
func loadPlan(_ path: String, parameters: [String: String] = [:]) throws -> Plan {
    let result = try loadManifest(path, parameters: parameters)
    printError(result.rendered)
    guard let plan = result.plan else { throw Exit.invalidManifest }
    return plan
}

/// Loads `path`; a missing or unreadable file prints a message naming it and exits 66.
func loadManifest(_ path: String, parameters: [String: String] = [:]) throws -> ManifestLoader.Result {
    var loader = ManifestLoader()
    loader.interpolation.overrides = parameters
    do {
        return try loader.load(path: path)
    } catch {
        throw fail("cannot read manifest '\(path)': \(error.reason)", Exit.missingFile)
    }
}
