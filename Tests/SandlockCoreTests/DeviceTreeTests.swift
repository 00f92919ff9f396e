import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Device nodes under a grant of a tree that holds them (`-r /dev`, `-w /dev`, `-r /`): only
/// the safe ones (null, zero, full, random, urandom, tty, ptmx, pts) are reachable; raw disks,
/// /dev/kmsg and the rest only by a grant naming them, block devices never. Positive controls:
/// the same opens outside a sandbox succeed (as root), and the safe devices and a normal file
/// under the same grant open in it.
@Suite("device nodes under a tree grant", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct DeviceTreeTests {
    /// A block device this caller can read outside a sandbox (root: a loop or zram device), or nil.
    static let blockDevice: String? = {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).sorted()
        return names.map { "/dev/" + $0 }.first { path in
            guard let info = Files.status(path), info.st_mode & S_IFMT == S_IFBLK else { return false }
            return (try? probeBare(["read", path])) == "ok"
        }
    }()

    static let kmsg = "/dev/kmsg"

    /// The grants that cover /dev, each with a normal file it grants (the control) and how.
    static func treeGrants(_ directory: String) -> [(name: String, policy: Policy)] {
        [("-r /dev", Fixture.basePolicy.with { $0.fsReadable += ["/dev", directory] }),
         ("-w /dev", Fixture.basePolicy.with { $0.fsWritable += ["/dev", directory] }),
         ("-r /", Fixture.basePolicy.with { $0.fsReadable.append("/"); $0.fsWritable.append(directory) })]
    }

    @Test("a grant covering /dev reaches the safe devices and normal files, not raw disks or /dev/kmsg")
    func treeGrantsLeaveRawDevicesOut() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let file = directory + "/file"
            try "data".write(toFile: file, atomically: false, encoding: .utf8)
            for (name, policy) in Self.treeGrants(directory) {
                if let disk = Self.blockDevice {
                    #expect(try await probe(["read", disk], policy: policy) == "EACCES", "\(name): \(disk)")
                    // The deputy: an O_PATH descriptor (Landlock does not judge it) reopened by the supervisor.
                    #expect(try await probe(["opath-reopen", disk, "r"], policy: policy.with { $0.fsReadable.append("/proc") }) == "EACCES",
                            "\(name): \(disk) reopened through /proc/self/fd")
                }
                let writes = name == "-w /dev"
                if writes {
                    #expect(try await probe(["open-write", Self.kmsg], policy: policy) == "EACCES", "\(name): write \(Self.kmsg)")
                    #expect(try await probe(["open-write", "/dev/ptmx"], policy: policy) == "ok", "control, \(name): /dev/ptmx")
                }
                for device in ["/dev/null", "/dev/zero", "/dev/urandom"] {
                    #expect(try await probe(["read", device], policy: policy) == "ok", "control, \(name): \(device)")
                }
                #expect(try await probe(["read", file], policy: policy) == "ok", "control, \(name): a normal file")
                #expect(try await probe(["read", "/dev/null"], policy: policy.with { $0.defaultDevices = false }) == "ok",
                        "control, \(name): /dev/null without the default devices")
            }
            // Controls outside a sandbox: the nodes refused above open.
            if geteuid() == 0 {
                #expect(Self.blockDevice != nil, "no readable block device in /dev for root")
                #expect(try probeBare(["open-write", Self.kmsg]) == "ok", "control: \(Self.kmsg) outside a sandbox")
            } else {
                print("controls skipped: uid \(geteuid()) opens no raw device outside a sandbox either")
            }
        }
    }

    @Test("a normal file under /dev (a /dev/shm file) keeps the grant")
    func sharedMemoryFiles() async throws {
        let file = "/dev/shm/sandlock-device-test-\(getpid())"
        defer { unlink(file) }
        let policy = Fixture.basePolicy.with { $0.fsWritable.append("/dev") }
        #expect(try await probe(["create", file], policy: policy) == "ok")
        #expect(try await probe(["read", file], policy: policy) == "ok")
    }

    @Test("a grant naming a character device reaches it; one naming a block device is refused, naming it")
    func explicitGrants() async throws {
        let kmsg = Fixture.basePolicy.with { $0.fsWritable.append(Self.kmsg) }
        if geteuid() == 0 {
            #expect(try await probe(["open-write", Self.kmsg], policy: kmsg) == "ok", "a grant naming /dev/kmsg")
        }
        guard let disk = Self.blockDevice ?? ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).sorted()
            .map({ "/dev/" + $0 }).first(where: { Files.status($0).map { $0.st_mode & S_IFMT == S_IFBLK } == true }) else {
            Issue.record("no block device in /dev")
            return
        }
        for policy in [Fixture.basePolicy.with { $0.fsReadable.append(disk) }, Fixture.basePolicy.with { $0.fsWritable.append(disk) }] {
            do {
                _ = try await Sandbox(policy: policy).run([Fixture.probe, "read", disk])
                Issue.record("a grant of \(disk) was accepted")
            } catch {
                #expect("\(error)".contains(disk) && "\(error)".contains("block device"), "\(error)")
            }
        }
    }

    @Test("kernel objects under a write grant: no chmod of a device, no write reopen of /sys", Fixture.needs(.root))
    func kernelObjectsStayTheHosts() async throws {
        let device = "/dev/full"
        let mode = MetadataCalls.snapshot(device).mode
        defer { chmod(device, mode & 0o7777) }  // restores the host's device should the call get through
        let devices = Fixture.basePolicy.with { $0.fsWritable.append("/dev") }
        #expect(try await probe(["meta", "chmod", device], policy: devices) == "EPERM")
        #expect(MetadataCalls.snapshot(device).mode == mode)
        // -w /sys is a read grant; a reopen for writing of an O_PATH descriptor is no way round it.
        let attribute = "/sys/kernel/mm/ksm/run"
        let attributeMode = MetadataCalls.snapshot(attribute).mode
        defer { chmod(attribute, attributeMode & 0o7777) }
        let sys = Fixture.basePolicy.with { $0.fsWritable.append("/sys"); $0.fsReadable.append("/proc") }
        #expect(try await probe(["open-write", attribute], policy: sys) == "EACCES")
        #expect(try await probe(["opath-reopen", attribute, "w"], policy: sys) == "EACCES")
        #expect(try await probe(["meta", "chmod", attribute], policy: sys) == "EPERM")
        #expect(try await probe(["opath-reopen", attribute, "r"], policy: sys) == "ok", "control: reading stays")
        #expect(try probeBare(["open-write", attribute]) == "ok", "control: outside a sandbox")
    }
}
