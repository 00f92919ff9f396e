import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Deletes, renames, appends, creates a directory: the same changes (and summary) with or
/// without a user namespace, since no directory is renamed.
private let smallWorkload = """
    set -e
    rm gone.txt
    mv old-name.txt renamed.txt
    echo "line 3" >> modify.txt
    rm sub/keep.txt
    mkdir made
    echo new > made/file.txt
    """

private let smallWorkloadSummary: Set<String> = [
    "D gone.txt", "R old-name.txt -> renamed.txt", "M modify.txt", "D sub/keep.txt", "A made", "A made/file.txt",
]

/// The tree `script` leaves when run bare on a copy of `tree` (the copy goes away).
private func bareResult(of script: String, on tree: String, copy: String) throws -> [String: String] {
    #expect(try Fixture.runBare(["/bin/cp", "-a", tree, copy]).status == 0)
    defer { try? FileManager.default.removeItem(atPath: copy) }
    let bare = try Fixture.runBare(["/bin/sh", "-c", "cd '\(copy)' && PROBE='\(Fixture.probe)' && export PROBE && \(script)"])
    #expect(bare.status == 0, "\(bare.stderr)")
    return TreeSnapshot.take(copy)
}

/// A second workspace tree, disjoint from the first: `<directory>/second/tree`, with its own
/// storage `<directory>/second/storage`.
private func makeSecondTree(in directory: String) throws -> (tree: String, storage: String) {
    try makeWorkspaceTree(in: directory + "/second")
}

/// Switches the calling process to nobody (65534) as `setpriv --reuid --regid --clear-groups`
/// followed by exec would: a process whose credentials changed without exec is not dumpable,
/// and its /proc/self files (uid_map, setgroups), which the sandbox's init writes, stay
/// root's. prctl is variadic, which Swift cannot call; with integer arguments the plain C
/// prototype is the same call on x86_64 and arm64 Linux.
private func becomeNobody() -> Bool {
    guard setgroups(0, nil) == 0, setgid(65534) == 0, setuid(65534) == 0,
          let symbol = dlsym(nil, "prctl") else { return false }
    typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    return unsafeBitCast(symbol, to: Prctl.self)(4 /* PR_SET_DUMPABLE */, 1, 0, 0, 0) == 0
}

/// Runs `argv` over `workspaces`; the error is the spawn's `SandboxError.workspace` message.
private func attachError(_ workspaces: [Workspace], policy: Policy) async -> String? {
    do {
        _ = try await Sandbox(policy: policy).run(["/bin/true"], workspace: .attached(workspaces))
        return nil
    } catch {
        guard case .workspace(let message) = error else { return "unexpected error: \(error)" }
        return message
    }
}

@Suite("One sandbox over several workspaces", Fixture.needs(Requirement.workspaces))
struct MultiWorkspaceTests {
    @Test("two workspaces: both trees untouched by the run, each change set exactly its tree's, each commit applies it")
    func twoWorkspaces() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let (other, otherStorage) = try makeSecondTree(in: directory)
            let expected = try bareResult(of: workspaceWorkload, on: tree, copy: directory + "/expected")
            let expectedOther = try bareResult(of: smallWorkload, on: other, copy: directory + "/expected-other")
            let before = TreeSnapshot.take(tree, times: true), beforeOther = TreeSnapshot.take(other, times: true)
            let first = try Workspace.create(workdir: tree, storage: storage)
            let second = try Workspace.create(workdir: other, storage: otherStorage)
            #expect(try !Directory.entries(atPath: storage).isEmpty && !Directory.entries(atPath: otherStorage).isEmpty)

            // The command starts in the first workdir; both storages are readable by grant but
            // hidden under their tmpfs.
            let policy = Fixture.basePolicy.with {
                $0.fsReadable.append(directory)
                $0.fsWritable = [tree, other]
                $0.env["PROBE"] = Fixture.probe
            }
            let script = """
                ( \(workspaceWorkload)
                ) && cd '\(other)' && ( \(smallWorkload)
                ) && [ -z "$(ls -A '\(storage)')" ] && [ -z "$(ls -A '\(otherStorage)')" ] && echo storages-hidden
                """
            let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script], workspace: .attached([first, second]))
            #expect(result.success, "\(result.stderrText)")
            #expect(result.stdoutText == "ok\nstorages-hidden\n") // "ok": the workload's probe
            #expect(result.workspace == nil) // attached workspaces stay the caller's
            #expect(result.enforcement.enforced.filter { $0 == "workdir" }.count == 1)

            #expect(TreeSnapshot.take(tree, times: true) == before)
            #expect(TreeSnapshot.take(other, times: true) == beforeOther)
            let changes = try first.changes(), otherChanges = try second.changes()
            #expect(summaryLines(changes) == workspaceWorkloadSummary)
            #expect(summaryLines(otherChanges) == smallWorkloadSummary)

            let outcome = try first.commit(changes), otherOutcome = try second.commit(otherChanges)
            #expect(outcome == .committed(changes: workspaceWorkloadSummary.count), "\(outcome)")
            #expect(otherOutcome == .committed(changes: smallWorkloadSummary.count), "\(otherOutcome)")
            #expect(TreeSnapshot.take(tree) == expected)
            #expect(TreeSnapshot.take(other) == expectedOther)
            #expect(Workspace.list(storage: storage).isEmpty && Workspace.list(storage: otherStorage).isEmpty)
        }
    }

    @Test("overlapping workdirs, a storage inside another workdir, or no workspace: a clear error and nothing runs; disjoint ones run")
    func overlapRefused() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let (other, otherStorage) = try makeSecondTree(in: directory)
            let policy = Fixture.basePolicy.with { $0.fsWritable = [tree, other] }
            let outer = try Workspace.create(workdir: tree, storage: storage)
            let inner = try Workspace.create(workdir: tree + "/sub", storage: storage)
            let twin = try Workspace.create(workdir: tree, storage: storage)
            let before = TreeSnapshot.take(tree)

            for (a, b) in [(outer, inner), (inner, outer)] {
                let message = await attachError([a, b], policy: policy)
                #expect(message?.contains("'\(inner.workdir)' (workspace \(inner.id)) is inside '\(outer.workdir)' (workspace \(outer.id))") == true,
                        "\(message ?? "no error")")
            }
            let same = await attachError([outer, twin], policy: policy)
            #expect(same?.contains("is the same tree as") == true && same?.contains(outer.id) == true && same?.contains(twin.id) == true,
                    "\(same ?? "no error")")
            let none = await attachError([], policy: policy)
            #expect(none?.contains("at least one workspace") == true, "\(none ?? "no error")")

            // Create only checks a workspace's storage against its own workdir.
            let storedInside = try Workspace.create(workdir: other, storage: tree + "/.cow")
            let storageMessage = await attachError([outer, storedInside], policy: policy)
            #expect(storageMessage?.contains("the storage '\(tree)/.cow' of workspace \(storedInside.id) and the workdir '\(tree)' of workspace \(outer.id) overlap") == true,
                    "\(storageMessage ?? "no error")")
            try storedInside.discard()
            try FileManager.default.removeItem(atPath: tree + "/.cow")
            // Nothing ran: the tree and every upper are as they were.
            #expect(TreeSnapshot.take(tree) == before)
            for workspace in [outer, inner, twin] { #expect(try workspace.changes().changes.isEmpty) }

            // Positive control: a workdir below the first tree is fine beside a disjoint one.
            let beside = try Workspace.create(workdir: other, storage: otherStorage)
            let result = try await Sandbox(policy: policy).run(
                ["/bin/sh", "-c", "echo a > made.txt && echo b > '\(other)/made.txt'"], workspace: .attached([inner, beside]))
            #expect(result.success, "\(result.stderrText)")
            #expect(try inner.changes().summary == "A made.txt\n")
            #expect(try beside.changes().summary == "A made.txt\n")
            for workspace in [outer, inner, twin, beside] { try workspace.discard() }
        }
    }

    @Test("grants inside the second tree: read-only there is enforced on its overlay, a write grant below works")
    func grantsInsideSecondOverlay() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let (other, otherStorage) = try makeSecondTree(in: directory)
            let first = try Workspace.create(workdir: tree, storage: storage)
            let second = try Workspace.create(workdir: other, storage: otherStorage)
            let policy = Fixture.basePolicy.with {
                $0.fsReadable.append(other)
                $0.fsWritable = [tree, other + "/sub"]
            }
            let script = """
                echo one > one.txt
                cat '\(other)/untouched.txt'
                echo no > '\(other)/denied.txt' || echo denied
                echo no >> '\(other)/modify.txt' || echo denied
                echo yes > '\(other)/sub/allowed.txt'
                """
            let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script], workspace: .attached([first, second]))
            #expect(result.success, "\(result.stderrText)")
            #expect(result.stdoutText == "same\ndenied\ndenied\n", "\(result.stderrText)")
            #expect(result.stderrText.contains("Permission denied"))
            #expect(try first.changes().summary == "A one.txt\n")
            #expect(try second.changes().summary == "A sub/allowed.txt\n")
            #expect(!FileManager.default.fileExists(atPath: other + "/sub/allowed.txt"))
            try first.discard()
            try second.discard()
        }
    }

    @Test("an unprivileged caller: both overlays in one user namespace (userxattr)",
          Fixture.needs(.root, .unprivilegedUserNamespaces))
    func twoWorkspacesUnprivileged() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let (other, otherStorage) = try makeSecondTree(in: directory)
            #expect(try Fixture.runBare(["/bin/chown", "-R", "65534:65534", tree, directory + "/second"]).status == 0)
            let expected = try bareResult(of: smallWorkload, on: tree, copy: directory + "/expected")
            let expectedOther = try bareResult(of: smallWorkload, on: other, copy: directory + "/expected-other")
            let before = TreeSnapshot.take(tree, times: true), beforeOther = TreeSnapshot.take(other, times: true)

            // A child process of the test switches to nobody and runs the sandbox, checks the
            // untouched trees and the change sets, and commits; FAIL lines on its stderr say what
            // went wrong.
            let child = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
                [tree = tree as String, other = other as String, storage = storage as String,
                 otherStorage = otherStorage as String, before = before as [String: String],
                 beforeOther = beforeOther as [String: String]] in
                var failures: [String] = []
                do {
                    guard becomeNobody() else { throw Errno.current }
                    let first = try Workspace.create(workdir: tree, storage: storage)
                    let second = try Workspace.create(workdir: other, storage: otherStorage)
                    let policy = Fixture.basePolicy.with { $0.fsWritable = [tree, other] }
                    let script = "id -u; ( \(smallWorkload)\n) && cd '\(other)' && ( \(smallWorkload)\n)"
                    let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script], workspace: .attached([first, second]))
                    if !result.success || result.stdoutText != "65534\n" {
                        failures.append("run: \(result.reason) \(result.stdoutText) \(result.stderrText)")
                    }
                    if TreeSnapshot.take(tree, times: true) != before { failures.append("the first tree changed during the run") }
                    if TreeSnapshot.take(other, times: true) != beforeOther { failures.append("the second tree changed during the run") }
                    for (name, workspace) in [("first", first), ("second", second)] {
                        let changes = try workspace.changes()
                        if summaryLines(changes) != smallWorkloadSummary { failures.append("\(name) changes: \(changes.summary)") }
                        let outcome = try workspace.commit(changes)
                        if outcome != .committed(changes: smallWorkloadSummary.count) { failures.append("\(name) commit: \(outcome)") }
                    }
                } catch {
                    failures.append("\(error)")
                }
                // Exits 0 either way, so the parent gets the stderr to show.
                FileHandle.standardError.write(Data(failures.map { "FAIL: \($0)\n" }.joined().utf8))
            }
            let stderr = String(decoding: child?.standardErrorContent ?? [], as: UTF8.self)
            #expect(child != nil && !stderr.contains("FAIL:"), "\(stderr)")
            #expect(TreeSnapshot.take(tree) == expected)
            #expect(TreeSnapshot.take(other) == expectedOther)
            var info = stat()
            #expect(lstat(other + "/made/file.txt", &info) == 0 && info.st_uid == 65534)
        }
    }
}
