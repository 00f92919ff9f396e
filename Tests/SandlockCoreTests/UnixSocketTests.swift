import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Two directories under a temporary one: `outside` (no grant) and `granted`.
private func withSocketDirectories(_ body: (_ outside: String, _ granted: String) async throws -> Void) async throws {
    try await Fixture.withTemporaryDirectory { root in
        let outside = root + "/outside", granted = root + "/granted"
        for directory in [outside, granted] {
            mkdir(directory, 0o777)
            chmod(directory, 0o777)
        }
        try await body(outside, granted)
    }
}

/// Landlock (ABI ≤ 7) does not restrict connect() to a path-named unix socket: the supervisor
/// gates it (connect made on behalf on the inode it checked). Loopback only: sockets in /tmp.
@Suite("named unix sockets", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct UnixSocketTests {
    @Test("a named unix socket outside every grant is unreachable; bare it is reachable")
    func outsideGrants() async throws {
        try await withSocketDirectories { (outside: String, _: String) async throws in
            let listener = try UnixListener(path: outside + "/daemon.sock")
            defer { listener.close() }
            #expect(try probeBare(["unix-connect", listener.path]) == "ok")
            #expect(try await probe(["unix-connect", listener.path]) == "EACCES")
            #expect(try await probe(["unix-connect-in", outside, "daemon.sock"]) == "EACCES")
        }
    }

    @Test("a socket in a writable tree, or listed in unix_connect, is reachable")
    func granted() async throws {
        try await withSocketDirectories { (outside: String, granted: String) async throws in
            let inside = try UnixListener(path: granted + "/app.sock"), listed = try UnixListener(path: outside + "/listed.sock")
            defer { inside.close(); listed.close() }
            let writable = Fixture.basePolicy.with { $0.fsWritable = [granted] }
            #expect(try await probe(["unix-connect", inside.path], policy: writable) == "ok")
            #expect(try await probe(["unix-connect-in", granted, "app.sock"], policy: writable) == "ok")
            #expect(try await probe(["unix-connect", listed.path], policy: writable) == "EACCES")
            let explicit = Fixture.basePolicy.with { $0.unixConnect = [listed.path] }
            #expect(try await probe(["unix-connect", listed.path], policy: explicit) == "ok")
            #expect(try await probe(["unix-connect", inside.path], policy: explicit) == "EACCES")
            // Read-only is not enough: connecting is a write on the socket.
            let readable = Fixture.basePolicy.with { $0.fsReadable.append(granted) }
            #expect(try await probe(["unix-connect", inside.path], policy: readable) == "EACCES")
        }
    }

    @Test("a root caller's sandbox has no capabilities: a socket's mode still decides", Fixture.needs(.root))
    func modeBitsForRoot() async throws {
        try await withSocketDirectories { (_: String, granted: String) async throws in
            let listener = try UnixListener(path: granted + "/private.sock")
            defer { listener.close() }
            chown(listener.path, 65534, 65534)
            chmod(listener.path, 0o600)
            let writable = Fixture.basePolicy.with { $0.fsWritable = [granted] }
            #expect(try probeBare(["unix-connect", listener.path]) == "ok") // CAP_DAC_OVERRIDE
            #expect(try await probe(["unix-connect", listener.path], policy: writable) == "EACCES")
            chmod(listener.path, 0o666)
            #expect(try await probe(["unix-connect", listener.path], policy: writable) == "ok")
        }
    }

    @Test("a symlink inside a grant to a socket outside does not reach it")
    func symlinkOut() async throws {
        try await withSocketDirectories { (outside: String, granted: String) async throws in
            let listener = try UnixListener(path: outside + "/daemon.sock")
            defer { listener.close() }
            symlink(listener.path, granted + "/link.sock")
            symlink(outside, granted + "/dir")
            let writable = Fixture.basePolicy.with { $0.fsWritable = [granted] }
            #expect(try probeBare(["unix-connect", granted + "/link.sock"]) == "ok")
            #expect(try await probe(["unix-connect", granted + "/link.sock"], policy: writable) == "EACCES")
            #expect(try await probe(["unix-connect", granted + "/dir/daemon.sock"], policy: writable) == "EACCES")
        }
    }

    @Test("datagrams to a named socket: SOCK_DGRAM unix sockets are refused; bare they work")
    func datagrams() async throws {
        try await withSocketDirectories { (outside: String, _: String) async throws in
            let receiver = try UnixListener(path: outside + "/log.sock", datagram: true)
            defer { receiver.close() }
            #expect(try probeBare(["unix-sendto", receiver.path]) == "ok")
            #expect(try probeBare(["unix-sendmsg", receiver.path]) == "ok")
            #expect(try probeBare(["unix-socketpair-dgram"]) == "ok")
            #expect(try await probe(["unix-sendto", receiver.path]) == "EACCES")
            #expect(try await probe(["unix-sendmsg", receiver.path]) == "EACCES")
            #expect(try await probe(["unix-socketpair-dgram"]) == "EACCES")
            // Stream socketpairs are untouched.
            #expect(try await probe(["syscall", "getpid"]) == "ok")
        }
    }

    @Test("binding a named socket creates a file: Landlock's MAKE_SOCK right decides")
    func bindIsLandlocks() async throws {
        try await withSocketDirectories { (outside: String, granted: String) async throws in
            let writable = Fixture.basePolicy.with { $0.fsWritable = [granted] }
            #expect(try await probe(["unix-bind", outside + "/new.sock"], policy: writable) == "EACCES")
            #expect(try await probe(["unix-bind", granted + "/new.sock"], policy: writable) == "ok")
        }
    }

    @Test("a thread rewriting the sockaddr_un during connect cannot redirect it")
    func connectRace() async throws {
        try await withSocketDirectories { (outside: String, granted: String) async throws in
            let allowed = try UnixListener(path: granted + "/a.sock"), denied = try UnixListener(path: outside + "/d.sock")
            defer { allowed.close(); denied.close() }
            let writable = Fixture.basePolicy.with { $0.fsWritable = [granted] }
            for _ in 0..<3 {
                let result = try await Sandbox(policy: writable).run([Fixture.probe, "unix-connect-race", allowed.path, denied.path, "400"])
                #expect(result.stdoutText.hasPrefix("connected "), "\(result.stdoutText) \(result.stderrText)")
            }
            #expect(denied.pendingConnections() == 0)
            #expect(allowed.pendingConnections() > 0)
        }
    }

    @Test("abstract sockets stay scoped: the sandbox's own is reachable")
    func abstractOwn() async throws {
        let name = "sandlock-test-own-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(try await probe(["abstract-self", name]) == "ok")
        let outside = "sandlock-test-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let listener = try AbstractListener(name: outside)
        defer { listener.close() }
        #expect(try await probe(["unix-connect", "@" + outside]) == "EPERM")
        #expect(try probeBare(["unix-connect", "@" + outside]) == "ok")
    }
}

/// Ports a sandbox gets without bind(): listen() autobinds an ephemeral one.
@Suite("listen and port remapping", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct ListenTests {
    @Test("listen() on an unbound TCP socket is refused; a granted port listens")
    func listenUnbound() async throws {
        #expect(try probeBare(["listen-unbound"]) == "ok")
        #expect(try await probe(["listen-unbound"]) == "EACCES")
        let port = try freeTCPPort()
        #expect(try await probe(["listen-port", String(port)], policy: Fixture.basePolicy.with { $0.netBind = [port] }) == "ok")
    }

    @Test("port_remap: bind(0) and listen on an unbound socket are refused too")
    func remapEphemeral() async throws {
        let policy = Fixture.basePolicy.with { $0.portRemap = true; $0.netBind = [try! freeTCPPort()] }
        #expect(try await probe(["listen-port", "0"], policy: policy) == "EACCES")
        #expect(try await probe(["listen-unbound"], policy: policy) == "EACCES")
    }

    @Test("sendmmsg with UDP allowed is not an unchecked send path")
    func sendmmsg() async throws {
        let policy = Fixture.basePolicy.with { $0.netAllow = ["127.0.0.1:9"]; $0.allowUDP = true }
        #expect(try await probe(["udp-sendmmsg", "127.0.0.2", "9"], policy: policy) != "ok")
        #expect(try probeBare(["udp-sendmmsg", "127.0.0.2", "9"]) == "ok")
    }

    @Test("a UDP socket made outside (here: stdin) cannot send anywhere without allow_udp")
    func handedInUDP() async throws {
        let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(receiver, $0, &length) } }
        defer { close(receiver) }
        let port = String(UInt16(bigEndian: address.sin_port))
        func run(_ mode: String) async throws -> String {
            let udp = SharedDescriptor(FileDescriptor(adopting: socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)))
            let io = StandardIO(stdin: .descriptor(udp))
            let result = try await Sandbox(policy: Fixture.basePolicy).run([Fixture.probe, "stdin-send", mode, "127.0.0.1", port], io: io)
            return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Such a sandbox is refused before it starts (its sendmsg is not gated; see
        // DatagramStdioTests): no send of any kind leaves it.
        for mode in ["sendto", "connect", "sendmmsg", "sendmsg"] {
            await #expect(throws: SandboxError.self, "\(mode)") { _ = try await run(mode) }
        }
    }

    @Test("two remapped sandboxes binding the same port with SO_REUSEADDR both listen", .timeLimit(.minutes(1)))
    func remapRace() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let port = try freeTCPPort()
            let policy = Fixture.basePolicy.with {
                $0.portRemap = true
                $0.netBind = [port]
                $0.fsWritable = [directory]
            }
            for run in 0..<3 {
                let ready = directory + "/ready\(run)", go = directory + "/go\(run)"
                mkfifo(ready, 0o666)
                mkfifo(go, 0o666)
                chmod(ready, 0o666)
                chmod(go, 0o666)
                // O_RDWR: opening never blocks and reads never see EOF between the writers.
                let readyFD = open(ready, O_RDWR), goFD = open(go, O_RDWR)
                defer { close(readyFD); close(goFD) }
                let first = try Sandbox(policy: policy).spawn([Fixture.probe, "bind-listen", String(port), ready, go])
                let second = try Sandbox(policy: policy).spawn([Fixture.probe, "bind-listen", String(port), ready, go])
                var bytes = [UInt8](repeating: 0, count: 2)
                var got = 0
                while got < 2 {
                    let n = bytes.withUnsafeMutableBytes { read(readyFD, $0.baseAddress! + got, 2 - got) }
                    if n <= 0 { break }
                    got += n
                }
                #expect(got == 2, "both sandboxes bound")
                _ = write(goFD, "gg", 2)
                let results = [await first.wait(), await second.wait()]
                for result in results {
                    #expect(result.stdoutText == "ok \(port)\n", "run \(run): \(result.stdoutText) \(result.stderrText)")
                }
            }
        }
    }
}
