#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// What the sandbox's init needs to mount a workspace (prepared in the parent, applied by
/// `mount_workspace` in spawn.c before chdir and Landlock).
struct OverlayMount: Sendable {
    /// Mount point: the workdir itself.
    var target: String
    /// `lowerdir=<lowers…>:<workdir>,upperdir=…,workdir=…` plus `userxattr` in a user
    /// namespace, or `redirect_dir=off,metacopy=off` as root (uppers stay self-contained: a
    /// renamed lower directory is copied, and every copied-up file carries its data).
    var options: String
    /// unshare(CLONE_NEWUSER) with identity maps of the caller's uid and gid.
    var userNamespace: Bool
    var uidMap: String
    var gidMap: String
    /// The command's working directory, entered by path after the mount.
    var cwd: String
    /// The workspace storage, hidden under an empty read-only tmpfs once the overlay is up.
    var storage: String
    /// Landlock rules for paths inside the overlay.
    var lateRules: [LandlockRuleset.LateRule]
}

extension Workspace {
    /// The mount for a sandbox attached to this workspace. `cwd` defaults to the workdir.
    func overlayMount(cwd: String?, lateRules: [LandlockRuleset.LateRule]) throws(SandboxError) -> OverlayMount {
        let layers = lowers + [workdir]
        for path in layers + [upperDirectory, overlayWorkDirectory] {
            if path.contains(where: { $0 == "," || $0 == ":" || $0 == "\\" }) {
                throw .workspace("'\(path)' contains ',', ':' or '\\', which overlayfs mount options cannot carry; use another workdir or fs_storage")
            }
        }
        let userNamespace = geteuid() != 0 || csl_has_effective_capabilities() == 0
        if userNamespace, let problem = Self.userNamespaceProblem() {
            throw .kernelFeatureMissing(
                feature: "Unprivileged user namespaces",
                detail: "\(problem); a copy-on-write workdir needs an overlay mount, which a caller without root can only make in its own user namespace",
                field: "workdir")
        }
        var options = "lowerdir=\(layers.joined(separator: ":")),upperdir=\(upperDirectory),workdir=\(overlayWorkDirectory)"
        options += userNamespace ? ",userxattr" : ",redirect_dir=off,metacopy=off"
        guard options.utf8.count < 4000 else {
            throw .workspace("the overlay mount options are longer than a page (\(options.utf8.count) bytes): too many or too long stacked layers")
        }
        var directory = workdir
        if let cwd {
            guard let real = Self.canonicalPath(cwd) else {
                throw .pathNotFound(path: cwd, field: "cwd", error: .current)
            }
            directory = real
        }
        return OverlayMount(target: workdir, options: options, userNamespace: userNamespace,
                            uidMap: "\(geteuid()) \(geteuid()) 1\n", gidMap: "\(getegid()) \(getegid()) 1\n",
                            cwd: directory, storage: FileSystem.parent(of: self.directory), lateRules: lateRules)
    }

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
        guard let bytes = FileSystem.readFile(path, limit: 64) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self).trimmingSpaces)
    }
}
