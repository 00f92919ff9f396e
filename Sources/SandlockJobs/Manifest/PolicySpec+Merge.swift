import SandlockCore

extension PolicySpec {
    /// `self` on top of `base`: lists are joined (union, base first), scalars of `self`
    /// win, environment variables are merged by name. `extends` is not inherited.
    func merged(over base: PolicySpec) -> PolicySpec {
        /// Base entries first, then the new ones not already there (compared by `key`).
        func union<T, K: Equatable>(_ a: [T]?, _ b: [T]?, by key: (T) -> K) -> [T]? {
            guard let a, let b else { return a ?? b }
            return a + b.filter { x in !a.contains { key($0) == key(x) } }
        }
        func union<T: Equatable>(_ a: [T]?, _ b: [T]?) -> [T]? { union(a, b) { $0 } }
        func unionPaths(_ a: [Located<String>]?, _ b: [Located<String>]?) -> [Located<String>]? { union(a, b) { $0.value } }
        var m = self
        func override<T>(_ fields: WritableKeyPath<PolicySpec, T?>...) {
            for f in fields { m[keyPath: f] = self[keyPath: f] ?? base[keyPath: f] }
        }
        func join<T: Equatable>(_ fields: WritableKeyPath<PolicySpec, [T]?>...) {
            for f in fields { m[keyPath: f] = union(base[keyPath: f], self[keyPath: f]) }
        }
        for f in [\PolicySpec.read, \.write, \.deny] { m[keyPath: f] = unionPaths(base[keyPath: f], self[keyPath: f]) }
        join(\.netAllow, \.denySyscalls, \.allowSyscalls, \.extraDeny, \.extraAllow)
        join(\.netBind)
        join(\.cpuCores)
        override(\.devices, \.udp, \.icmp, \.portRemap, \.deterministicDirs, \.noRandomizeMemory, \.noHugePages, \.noCoredump, \.cleanEnv, \.allowDegraded)
        override(\.processes, \.cpu, \.openFiles, \.numCPUs)
        override(\.memory)
        override(\.timeStart)
        override(\.randomSeed)
        m.env = mergeEnvironment(base.env ?? [], env ?? [])
        m.extends = []
        return m
    }

    /// The engine's policy. Paths must already be absolute (see `Planner`); `env` is the
    /// fully merged environment of the process.
    func policy(env: [(key: String, value: String)]) -> Policy {
        var p = Policy()
        p.fsReadable = read?.map(\.value) ?? []
        p.fsWritable = write?.map(\.value) ?? []
        p.fsDenied = deny?.map(\.value) ?? []
        p.defaultDevices = devices ?? true
        p.netAllow = netAllow ?? []
        p.netBind = netBind ?? []
        p.allowUDP = udp ?? false
        p.allowICMP = icmp ?? false
        p.portRemap = portRemap ?? false
        p.maxMemory = memory
        p.maxProcesses = processes
        p.maxCPU = cpu
        p.maxOpenFiles = openFiles
        p.cpuCores = cpuCores
        p.numCPUs = numCPUs
        p.timeStart = timeStart
        p.randomSeed = randomSeed
        p.deterministicDirs = deterministicDirs ?? false
        p.noRandomizeMemory = noRandomizeMemory ?? false
        p.noHugePages = noHugePages ?? false
        p.noCoredump = noCoredump ?? false
        // An empty list means "not set": an empty deny list would drop the default list and
        // an empty allowlist would deny everything but execve.
        p.denySyscalls = denySyscalls.flatMap { $0.isEmpty ? nil : $0 }
        p.allowSyscalls = allowSyscalls.flatMap { $0.isEmpty ? nil : $0 }
        p.extraDenySyscalls = extraDeny ?? []
        p.extraAllowSyscalls = extraAllow ?? []
        p.cleanEnv = cleanEnv ?? false
        p.env = Dictionary(env.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        p.allowDegraded = allowDegraded ?? false
        return p
    }
}

/// Later lists override earlier ones variable by variable; the order of first appearance stays.
func mergeEnvironment(_ lists: [(key: String, value: String)]...) -> [(key: String, value: String)] {
    var out: [(key: String, value: String)] = []
    var index: [String: Int] = [:]
    for list in lists {
        for (k, v) in list {
            if let i = index[k] { out[i].value = v } else {
                index[k] = out.count
                out.append((k, v))
            }
        }
    }
    return out
}
