import CSeccomp

extension Policy {
    /// Every range and cross-field rule of the policy, with the numbers of `Policy.fields`:
    /// the `sandlock run` parser, the manifest planner and `Sandbox.spawn` call it, so a
    /// policy one accepts the others accept too.
    public func validate() throws(SandboxError) {
        if let first = violations().first { throw .invalidPolicy(first.description) }
    }

    /// What `validate()` would reject, every problem, in table order.
    public func violations() -> [PolicyViolation] {
        var found: [PolicyViolation] = []
        for field in Self.fields {
            found += field.violations(in: self)
        }
        return found + storageViolations() + httpViolations()
    }

    /// The workspace storage is out of every sandbox's reach (issue 20): an absolute path, and,
    /// for a sandbox without a copy-on-write workdir (whose overlay would hide it), covered by
    /// none of its read or write grants. The engine checks the default storage the same way
    /// when the sandbox starts (`WorkspaceMode.resolve`).
    private func storageViolations() -> [PolicyViolation] {
        guard let storage = fsStorage else { return [] }
        guard storage.hasPrefix("/") else { return [PolicyViolation(field: "fs_storage", "must be an absolute path, got '\(storage)'")] }
        if workdir == nil, let problem = Workspace.storageExposure(of: self, storage: storage) {
            return [PolicyViolation(field: "fs_storage", problem)]
        }
        return []
    }
}

extension PolicyField {
    /// The problems of this field's value in `policy` (none for a default value).
    func violations(in policy: Policy) -> [PolicyViolation] {
        func problem(_ message: String, item: Int? = nil) -> [PolicyViolation] {
            [PolicyViolation(field: name, message, item: item)]
        }
        switch grammar {
        case .flag, .paths, .string, .environment, .disposition, .timestamp, .seed:
            return []
        case .size(let ref):
            if let bytes = policy[keyPath: ref], bytes == 0 { return problem("must be at least 1 byte") }
            return []
        case .duration(let ref):
            if let duration = policy[keyPath: ref], duration <= .zero { return problem("must be longer than zero") }
            return []
        case .integer(let ref, let range, let noun):
            if let value = policy[keyPath: ref], !range.contains(value) {
                return problem("expected \(PolicyGrammar.expected(noun, range)), got \(value)")
            }
            return []
        case .cpuList(let ref, let range):
            guard let cores = policy[keyPath: ref] else { return [] }
            if cores.isEmpty { return problem("needs at least one CPU (from \(range.lowerBound) to \(range.upperBound))") }
            if let index = cores.firstIndex(where: { !range.contains($0) }) {
                return problem("must list CPUs from \(range.lowerBound) to \(range.upperBound), got \(cores[index])", item: index)
            }
            return []
        case .ports(let ref):
            if let index = policy[keyPath: ref].firstIndex(of: 0) { return problem("ports are 1 to 65535, got 0", item: index) }
            return []
        case .endpoints(let ref):
            for (index, spec) in policy[keyPath: ref].enumerated() {
                do throws(SandboxError) {
                    _ = try NetworkRule(parsing: spec)
                } catch {
                    return problem(PolicyGrammar.endpointProblem(spec), item: index)
                }
            }
            return []
        case .httpRules(let ref):
            for (index, spec) in policy[keyPath: ref].enumerated() {
                do throws(SandboxError) {
                    _ = try HTTPRule(parsing: spec)
                } catch {
                    return problem(error.ruleProblem, item: index)
                }
            }
            return []
        case .syscalls(let ref):
            return syscallViolations(policy[keyPath: ref], groups: true)
        case .syscallGroups(let ref):
            if let index = policy[keyPath: ref].firstIndex(where: { SeccompProgram.groups[$0] == nil }) {
                let known = SeccompProgram.groups.keys.sorted().joined(separator: ", ")
                return problem("unknown group '\(policy[keyPath: ref][index])' (known: \(known))", item: index)
            }
            return []
        case .syscallSet(let ref):
            return syscallViolations(policy[keyPath: ref] ?? [], groups: false)
        }
    }

    /// Names libseccomp does not know (and, with `groups`, that name no group either).
    private func syscallViolations(_ names: [String], groups: Bool) -> [PolicyViolation] {
        for (index, name) in names.enumerated() {
            if groups && SeccompProgram.groups[name] != nil { continue }
            if !SeccompProgram.knows(name) {
                return [PolicyViolation(field: self.name, "unknown syscall '\(name)'", item: index)]
            }
        }
        return []
    }
}

extension PolicyGrammar {
    /// Why `NetworkRule(parsing:)` refuses `spec`, in its words.
    static func endpointProblem(_ spec: String) -> String {
        do throws(SandboxError) {
            _ = try NetworkRule(parsing: spec)
            return "'\(spec)' is valid"
        } catch {
            guard case .invalidPolicy(let message) = error else { return "\(error)" }
            let prefix = "net_allow: "
            return message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
        }
    }
}
