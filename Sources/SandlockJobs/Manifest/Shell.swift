/// How a string `run:` becomes an argv: `shell:` at the top of the manifest, in `defaults`
/// or in a stage (the nearest wins). A list `run:` is its own argv and takes no shell.
public enum Shell: Sendable, Hashable {
    /// The default: bash without start-up files and with `pipefail`, stopping at the first
    /// failing command (an ERR trap, inherited by functions and subshells), except that an
    /// earlier pipeline member killed by SIGPIPE is not a failure when the last one
    /// succeeded: `… | head` closing its input early is how such pipelines end.
    case standard
    /// `bash --noprofile --norc -eo pipefail -c SCRIPT`, as GitHub Actions runs `bash`.
    case bash
    /// `sh -ec SCRIPT`: POSIX sh (dash on Debian), which has no `pipefail`.
    case sh
    /// An argv in which every `{0}` is replaced by the script (`[python3, -c, "{0}"]`).
    case template([String])

    /// The argument a template must contain.
    public static let placeholder = "{0}"

    /// The argv that runs `script`.
    public func argv(_ script: String) -> [String] {
        switch self {
        case .standard: return Self.standardPrefix + [Self.sigpipeTolerantTrap + script]
        case .bash: return Self.bashPrefix + [script]
        case .sh: return Self.shPrefix + [script]
        case .template(let words): return words.map { $0.replacing(Self.placeholder, with: script) }
        }
    }

    /// The script an argv of one of the built-in shells runs, for summaries and plans; nil
    /// for any other argv.
    public static func script(of argv: [String]) -> String? {
        guard let script = argv.last else { return nil }
        let prefix = Array(argv.dropLast())
        if prefix == standardPrefix, script.hasPrefix(sigpipeTolerantTrap) { return String(script.dropFirst(sigpipeTolerantTrap.count)) }
        return [bashPrefix, shPrefix, legacyShPrefix].contains(prefix) ? script : nil
    }

    static let standardPrefix = ["/bin/bash", "--noprofile", "--norc", "-E", "-o", "pipefail", "-c"]
    static let bashPrefix = ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
    static let shPrefix = ["/bin/sh", "-ec"]
    /// What runs recorded before `shell:` existed used.
    static let legacyShPrefix = ["/bin/sh", "-c"]

    /// On the line of the script's first command, so bash's "line N" messages stay right.
    /// Exits with the pipeline's status unless every member but the last ended with 0 or 141
    /// (128 + SIGPIPE) and the last with 0.
    static let sigpipeTolerantTrap = #"trap '__sl_s=("${PIPESTATUS[@]}") __sl_r=$?; for __sl_x in "${__sl_s[@]::${#__sl_s[@]}-1}"; do [ "$__sl_x" = 0 ] || [ "$__sl_x" = 141 ] || exit $__sl_r; done; [ "${__sl_s[-1]}" = 0 ] || exit $__sl_r' ERR; "#
}
