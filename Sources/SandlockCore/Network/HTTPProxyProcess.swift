#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// The HTTP ACL proxy of one sandbox: the `sandlock-http-proxy` executable, started only for
/// a policy with HTTP rules (so the engine and `sandlock run` pay nothing otherwise), on a
/// loopback listener this process made. Its standard input carries the configuration and
/// then stays open: at EOF the proxy writes what it denied on its standard output and exits.
final class HTTPProxyProcess: Sendable {
    let route: HTTPProxyRoute
    private let pid: pid_t
    private let control: Mutex<SharedDescriptor?>
    private let report: SharedDescriptor

    /// `SANDLOCK_HTTP_PROXY`, else `sandlock-http-proxy` beside the running executable.
    static func executable() -> String {
        if let path = getenv("SANDLOCK_HTTP_PROXY").map({ String(cString: $0) }), !path.isEmpty { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let own = count > 0 ? String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let directory = own.lastIndex(of: "/").map { String(own[..<$0]) } ?? "."
        return directory + "/sandlock-http-proxy"
    }

    static func start(policy: Policy) throws(SandboxError) -> HTTPProxyProcess {
        for (field, path) in [("https_ca", policy.httpsCA), ("https_key", policy.httpsKey)] {
            guard let path else { continue }
            if access(path, R_OK) != 0 { throw .pathNotFound(path: path, field: field, error: .current) }
        }
        let executable = executable()
        guard access(executable, X_OK) == 0 else {
            throw .invalidPolicy("http_allow/http_deny need the HTTP proxy, and '\(executable)' is not an executable (\(Errno.current)); build the sandlock-http-proxy product next to sandlock, or set SANDLOCK_HTTP_PROXY to its path")
        }
        let (listener, address) = try listen()
        let secret = HTTPProxyRoute.makeSecret()
        let configuration = try pipe(), output = try pipe()
        var lines = ["secret \(secret)"]
        lines += policy.httpAllow.map { "allow \($0)" } + policy.httpDeny.map { "deny \($0)" }
        if let ca = policy.httpsCA, let key = policy.httpsKey { lines += ["ca \(ca)", "key \(key)"] }
        lines.append("end")

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, configuration.read.rawValue, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write.rawValue, 1)
        posix_spawn_file_actions_adddup2(&actions, listener.rawValue, 3)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw .systemCall("posix_spawn \(executable)", Errno(rawValue: rc)) }
        // Our copies of the child's ends close here; the parent keeps the other two.
        let (control, report) = (SharedDescriptor(configuration.write), SharedDescriptor(output.read))
        let proxy = HTTPProxyProcess(pid: pid, route: HTTPProxyRoute(listener: address, ports: policy.httpInterceptedPorts, secret: secret),
                                     control: control, report: report)
        // The proxy answers `ready` once its CA is loaded and it is confined, or one error line.
        _ = try? control.descriptor.writeAll(lines.joined(separator: "\n") + "\n")
        let answer = proxy.readLine()
        guard answer == "ready" else {
            proxy.stop()
            throw .invalidPolicy(answer.isEmpty ? "the HTTP proxy '\(executable)' exited before it was ready" : answer)
        }
        return proxy
    }

    private init(pid: pid_t, route: HTTPProxyRoute, control: SharedDescriptor, report: SharedDescriptor) {
        self.pid = pid
        self.route = route
        self.control = Mutex(control)
        self.report = report
    }

    private static func pipe() throws(SandboxError) -> KernelPipe {
        do throws(Errno) { return try KernelPipe() } catch { throw .systemCall("pipe2", error) }
    }

    /// A TCP listener on 127.0.0.1, any port: its descriptor and its sockaddr.
    private static func listen() throws(SandboxError) -> (SharedDescriptor, [UInt8]) {
        let raw = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw .systemCall("socket", .current) }
        let listener = FileDescriptor(adopting: raw)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(raw, 4096) == 0 else { throw .systemCall("bind/listen 127.0.0.1:0", .current) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(raw, $0, &length) }
        }
        guard named == 0 else { throw .systemCall("getsockname", .current) }
        return (SharedDescriptor(listener), withUnsafeBytes(of: address) { Array($0) })
    }

    /// One line of the proxy's output, without its newline ("" at EOF).
    private func readLine() -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 4096 {
            let count = (try? withUnsafeMutableBytes(of: &byte) { buffer throws(Errno) in try report.descriptor.read(into: buffer) }) ?? 0
            if count <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// Ends the proxy: its input closed, what it denied read (`METHOD host/path → count`).
    func finish() -> [String: Int] {
        guard control.withLock({ descriptor in defer { descriptor = nil }; return descriptor != nil }) else { return [:] }
        let text = String(decoding: (try? report.descriptor.readAll(limit: 1 << 20)) ?? [], as: UTF8.self)
        reap()
        var denied: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("denied ") {
            let fields = line.dropFirst("denied ".count).split(separator: " ", maxSplits: 1)
            if fields.count == 2, let count = Int(fields[0]) { denied[String(fields[1]), default: 0] += count }
        }
        return denied
    }

    /// Kills the proxy (a start that failed, or a sandbox never waited for).
    private func stop() {
        guard control.withLock({ descriptor in defer { descriptor = nil }; return descriptor != nil }) else { return }
        Glibc.kill(pid, SIGKILL)
        reap()
    }

    private func reap() {
        var status: Int32 = 0
        _ = try? retryingInterrupts { waitpid(pid, &status, 0) }
    }

    deinit { stop() }
}
