#if canImport(Glibc)
import Glibc
#endif

/// The environment a sandboxed command starts with.
public enum Environment {
    /// `PATH` of a clean environment: the usual system directories, no user ones.
    public static let minimalPATH = "/usr/local/bin:/usr/bin:/bin"

    /// The caller's environment (`environ`).
    public static func inherited() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }

    /// What `clean_env` keeps: `PATH` (`minimalPATH`), `HOME` and `TERM` from the caller when
    /// set, and `LANG` from the caller or `C.UTF-8`. Nothing else — no tokens, no proxies, no
    /// `LD_*`.
    public static func minimal(from caller: [String: String]) -> [String: String] {
        var result = ["PATH": minimalPATH, "LANG": caller["LANG"] ?? "C.UTF-8"]
        if let home = caller["HOME"] { result["HOME"] = home }
        if let term = caller["TERM"] { result["TERM"] = term }
        return result
    }

    /// The environment of a sandbox for `policy`.
    static func resolve(for policy: Policy, caller: [String: String] = inherited()) -> [String: String] {
        var result = policy.cleanEnv ? minimal(from: caller) : caller
        result.merge(policy.env) { _, override in override }
        return result
    }

    /// Finds `command` the way execvp would, in the sandbox's PATH.
    static func resolveExecutable(_ command: String, path: String?) -> String? {
        if command.contains("/") { return command }
        for directory in (path ?? minimalPATH).split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + command
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
