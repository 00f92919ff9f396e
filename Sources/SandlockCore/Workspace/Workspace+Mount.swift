#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// What the sandbox's init needs to mount its workspaces (prepared in the parent, applied by
/// `mount_workspaces` in spawn.c before chdir and Landlock): one private mount namespace
/// (inside one user namespace when the caller is not root) holding one overlay per workspace.
struct WorkspaceMounts: Sendable {
    /// One overlay mount.
    struct Overlay: Sendable, Hashable {
        /// Mount point: the workspace's workdir itself.
        var target: String
        /// `lowerdir=<lowers…>:<workdir>,upperdir=…,workdir=…` plus `userxattr` in a user
        /// namespace, or `redirect_dir=off,metacopy=off` as root (uppers stay self-contained: a
        /// renamed lower directory is copied, and every copied-up file carries its data).
        var options: String
    }

    /// In the order they are mounted (the workspaces' order; their workdirs are disjoint).
    var overlays: [Overlay]
    /// unshare(CLONE_NEWUSER) with identity maps of the caller's uid and gid, for all of them.
    var userNamespace: Bool
    var uidMap: String
    var gidMap: String
    /// The command's working directory, entered by path after the mounts.
    var cwd: String
    /// The workspace storages, each hidden under an empty read-only tmpfs once every overlay
    /// is up; distinct, and none below another (a covered one is hidden already).
    var storages: [String]
    /// Landlock rules for paths inside the overlays.
    var lateRules: [LandlockRuleset.LateRule]

    /// The mounts for a sandbox attached to `workspaces` (checked by
    /// `Workspace.checkAttachable`). `cwd` defaults to the first workspace's workdir.
    init(_ workspaces: [Workspace], cwd: String?, lateRules: [LandlockRuleset.LateRule]) throws(SandboxError) {
        guard let first = workspaces.first else { throw .workspace("no workspace to mount") }
        for workspace in workspaces { try workspace.checkOverlayPaths() }
        let userNamespace = Workspace.mountsInUserNamespace
        if userNamespace, let problem = Workspace.userNamespaceProblem() {
            throw .kernelFeatureMissing(
                feature: "Unprivileged user namespaces",
                detail: "\(problem); a copy-on-write workdir needs an overlay mount, which a caller without root can only make in its own user namespace",
                field: "workdir")
        }
        var overlays: [Overlay] = []
        for workspace in workspaces {
            overlays.append(Overlay(target: workspace.workdir, options: try workspace.overlayOptions(userNamespace: userNamespace)))
        }
        var directory = first.workdir
        if let cwd {
            // A directory that exists only in a workspace (made in its upper) is entered too.
            guard let real = Workspace.canonicalPath(cwd)
                    ?? LandlockRuleset.missingPath(cwd, below: workspaces.map(\.workdir)) else {
                throw .pathNotFound(path: cwd, field: "cwd", error: .current)
            }
            directory = real
        }
        var storages: [String] = []
        for storage in Set(workspaces.map(\.storage)).sorted() where !storages.contains(where: { Workspace.isSame(storage, orBelow: $0) }) {
            storages.append(storage) // sorted: an enclosing storage comes before the ones below it
        }
        self.init(overlays: overlays, userNamespace: userNamespace,
                  uidMap: UserNamespaceMaps.uid, gidMap: UserNamespaceMaps.gid,
                  cwd: directory, storages: storages, lateRules: lateRules)
    }

    init(overlays: [Overlay], userNamespace: Bool, uidMap: String, gidMap: String, cwd: String,
         storages: [String], lateRules: [LandlockRuleset.LateRule]) {
        self.overlays = overlays
        self.userNamespace = userNamespace
        self.uidMap = uidMap
        self.gidMap = gidMap
        self.cwd = cwd
        self.storages = storages
        self.lateRules = lateRules
    }
}

extension Workspace {
    /// The storage directory this workspace lives in (`fs_storage`), canonical when it exists.
    var storage: String {
        let parent = Files.parent(of: directory)
        return Self.canonicalPath(parent) ?? parent
    }

    /// Every path the overlay options name must be expressible in them.
    func checkOverlayPaths() throws(SandboxError) {
        for path in lowers + [workdir, upperDirectory, overlayWorkDirectory] {
            if path.contains(where: { $0 == "," || $0 == ":" || $0 == "\\" }) {
                throw .workspace("'\(path)' contains ',', ':' or '\\', which overlayfs mount options cannot carry; use another workdir or fs_storage")
            }
        }
    }

    /// The overlayfs mount options for this workspace's overlay (paths checked by
    /// `checkOverlayPaths`).
    func overlayOptions(userNamespace: Bool) throws(SandboxError) -> String {
        let layers = lowers + [workdir]
        var options = "lowerdir=\(layers.joined(separator: ":")),upperdir=\(upperDirectory),workdir=\(overlayWorkDirectory)"
        options += userNamespace ? ",userxattr" : ",redirect_dir=off,metacopy=off"
        guard options.utf8.count < Self.maximumMountOptionsLength else {
            throw .workspace("the overlay mount options are longer than a page (\(options.utf8.count) bytes): too many or too long stacked layers")
        }
        return options
    }

    /// mount(2) copies its options into one page (4096 bytes, the terminating NUL included);
    /// a little is kept back for the options the sandbox's init adds.
    static let maximumMountOptionsLength = 4000

    /// Without root (or its capabilities) the overlays are mounted in a user namespace, with
    /// `userxattr`: their markers are `user.overlay.*` instead of `trusted.overlay.*`.
    static var mountsInUserNamespace: Bool { geteuid() != 0 || csl_has_effective_capabilities() == 0 }

    /// Why an unprivileged process cannot create a user namespace here, naming the setting,
    /// or nil. `read` returns a sysctl's integer value from its /proc/sys path.
    static func userNamespaceProblem(read: (String) -> Int? = readSysctl) -> String? {
        if read("/proc/sys/user/max_user_namespaces") == 0 {
            return "unprivileged user namespaces are disabled: sysctl user.max_user_namespaces is 0 (raise it, e.g. sysctl -w user.max_user_namespaces=15000)"
        }
        if read("/proc/sys/kernel/unprivileged_userns_clone") == 0 {
            return "unprivileged user namespaces are disabled: sysctl kernel.unprivileged_userns_clone is 0 (enable it with sysctl -w kernel.unprivileged_userns_clone=1)"
        }
        if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 {
            return "AppArmor restricts unprivileged user namespaces: sysctl kernel.apparmor_restrict_unprivileged_userns is 1 (set it to 0, or give sandlock an AppArmor profile with 'userns')"
        }
        return nil
    }

    static func readSysctl(_ path: String) -> Int? {
        guard let bytes = try? Files.read(path, limit: 64, flags: O_NOFOLLOW) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self).trimmingSpaces)
    }
}
