import SandlockCore

extension PolicySpec {
    /// `self` on top of `base`: lists are joined (union, base first), scalars of `self`
    /// win, environment variables are merged by name. `extends` is not inherited.
    func merged(over base: PolicySpec) -> PolicySpec {
        func union<T: Equatable>(_ a: [T]?, _ b: [T]?) -> [T]? {
            guard let a else { return b }
            guard let b else { return a }
            var out = a
            for x in b where !out.contains(x) { out.append(x) }
            return out
        }
        func unionPaths(_ a: [Located<String>]?, _ b: [Located<String>]?) -> [Located<String>]? {
            guard let a else { return b }
            guard let b else { return a }
            var out = a
            for x in b where !out.contains(where: { $0.value == x.value }) { out.append(x) }
            return out
        }
        var m = self
        m.read = unionPaths(base.read, read)
        m.write = unionPaths(base.write, write)
        m.deny = unionPaths(base.deny, deny)
        m.devices = devices ?? base.devices
        m.netAllow = union(base.netAllow, netAllow)
        m.netBind = union(base.netBind, netBind)
        m.udp = udp ?? base.udp
        m.icmp = icmp ?? base.icmp
        m.portRemap = portRemap ?? base.portRemap
        m.memory = memory ?? base.memory
        m.processes = processes ?? base.processes
        m.cpu = cpu ?? base.cpu
        m.openFiles = openFiles ?? base.openFiles
        m.cpuCores = union(base.cpuCores, cpuCores)
        m.numCPUs = numCPUs ?? base.numCPUs
        m.timeStart = timeStart ?? base.timeStart
        m.randomSeed = randomSeed ?? base.randomSeed
        m.deterministicDirs = deterministicDirs ?? base.deterministicDirs
        m.noRandomizeMemory = noRandomizeMemory ?? base.noRandomizeMemory
        m.noHugePages = noHugePages ?? base.noHugePages
        m.noCoredump = noCoredump ?? base.noCoredump
        m.denySyscalls = union(base.denySyscalls, denySyscalls)
        m.allowSyscalls = union(base.allowSyscalls, allowSyscalls)
        m.extraDeny = union(base.extraDeny, extraDeny)
        m.extraAllow = union(base.extraAllow, extraAllow)
        m.cleanEnv = cleanEnv ?? base.cleanEnv
        m.env = mergeEnvironment(base.env ?? [], env ?? [])
        m.allowDegraded = allowDegraded ?? base.allowDegraded
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
