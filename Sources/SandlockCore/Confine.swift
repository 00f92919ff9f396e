import CSandlock

/// Confines the calling thread, and every thread and process it creates afterwards, to the
/// policy's filesystem rules (Landlock, with the signal and abstract-unix-socket scopes);
/// irreversible. Threads that already exist are not affected, as with any Landlock domain:
/// call it before starting threads, or in a child process.
///
/// Only `fsReadable`, `fsWritable`, `defaultDevices` and `allowDegraded` are allowed; every
/// other field needs a separate process and is rejected by name.
public func confine(_ policy: Policy) throws(SandboxError) {
    var filesystemOnly = Policy()
    filesystemOnly.fsReadable = policy.fsReadable
    filesystemOnly.fsWritable = policy.fsWritable
    filesystemOnly.defaultDevices = policy.defaultDevices
    filesystemOnly.allowDegraded = policy.allowDegraded
    if filesystemOnly != policy {
        let fields = Mirror(reflecting: policy).children.compactMap { child -> String? in
            guard let label = child.label,
                  let other = Mirror(reflecting: filesystemOnly).children.first(where: { $0.label == label })
            else { return nil }
            return String(describing: child.value) == String(describing: other.value) ? nil : label
        }
        throw .unsupported(field: fields.joined(separator: ", "),
                           reason: "confine() applies filesystem rules to the current process only; use Sandbox.run for the rest")
    }
    let ruleset = try LandlockRuleset(policy: policy, handleNetwork: false)
    guard csl_set_no_new_privs() == 0 else { throw .systemCall("prctl(PR_SET_NO_NEW_PRIVS)", .current) }
    guard csl_landlock_restrict_self(ruleset.descriptor.rawValue) == 0 else {
        throw .systemCall("landlock_restrict_self", .current)
    }
}
