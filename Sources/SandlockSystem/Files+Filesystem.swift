import CSandlock

extension Files {
    /// Filesystems whose files only this machine sees (statfs f_type): tmpfs, ramfs.
    public static let machineLocalFilesystems: [Int: String] = [0x0102_1994: "tmpfs", 0x8584_58f6: "ramfs"]

    /// statfs(2)'s f_type of the filesystem holding `path`; nil when it cannot be reached.
    public static func filesystemType(of path: String) -> Int? {
        let type = csl_filesystem_type(path)
        return type >= 0 ? Int(type) : nil
    }
}
