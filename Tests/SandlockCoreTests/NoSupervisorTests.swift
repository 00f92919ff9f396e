import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// A `no_supervisor` sandbox has no one to judge what Landlock (ABI ≤ 8) leaves to the
/// supervisor — a named unix socket's path, a metadata call's target — so it fails closed:
/// those calls fail with EPERM by BPF. Before: a chmod outside every grant changed the file
/// and a connect reached a socket outside every grant. Controls: the supervised sandbox
/// allows each inside its grants, and the calls that name nothing still work.
@Suite("no_supervisor fails closed", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct NoSupervisorTests {
    @Test("metadata calls fail with EPERM, inside and outside the write grants; supervised, they work inside", arguments: MetadataCalls.all)
    func metadataCalls(call: String) async throws {
        try await MetadataCalls.withFileOutsideAndInside { (victim: String, own: String, supervised: Policy) async throws in
            let unsupervised = supervised.with { $0.noSupervisor = true }
            for file in [victim, own] {
                let before = MetadataCalls.snapshot(file)
                #expect(try await probe(["meta", call, file], policy: unsupervised) == "EPERM", "\(call) on \(file)")
                #expect(MetadataCalls.snapshot(file) == before, "\(call) changed \(file)")
            }
            #expect(try await probe(["meta", call, own], policy: supervised) == "ok", "control: \(call) supervised, inside a write grant")
        }
    }

    @Test("AF_UNIX sockets cannot be made, so no named socket is reached; socketpair and IP sockets work")
    func unixSockets() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            chmod(directory, 0o777)
            let listener = try UnixListener(path: directory + "/daemon.sock")
            defer { listener.close() }
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            let unsupervised = Fixture.basePolicy.with { $0.noSupervisor = true }
            for policy in [unsupervised, writable.with { $0.noSupervisor = true }] {
                #expect(try await probe(["unix-connect", listener.path], policy: policy) == "EPERM")
                #expect(try await probe(["connect-abstract", "sandlock-nosup-\(getpid())"], policy: policy) == "EPERM")
            }
            #expect(listener.pendingConnections() == 0, "a connect reached the listener")
            // Controls: the supervisor lets the sandbox in where its grants say, and refuses elsewhere.
            #expect(try await probe(["unix-connect", listener.path], policy: writable) == "ok")
            #expect(try await probe(["unix-connect", listener.path]) == "EACCES")
            #expect(listener.pendingConnections() == 1)
            #expect(try await probe(["socketpair", "1", "1", "0"], policy: unsupervised) == "ok")
            #expect(try await probe(["socket", "2", "1", "0"], policy: unsupervised) == "ok")
        }
    }
}
