import Foundation

extension Requirement {
    /// A Slurm controller that answers and a node that takes jobs (`sinfo` lists one idle,
    /// mixed or allocated): what `Scripts/slurm-setup.sh` starts on a single machine.
    public static let slurm: Requirement = {
        let name = "Slurm (sinfo shows a usable node)"
        guard let sinfo = ["/usr/bin/sinfo", "/usr/local/bin/sinfo"].first(where: FileManager.default.isExecutableFile) else {
            return Requirement(name, missing: "no sinfo: run Scripts/slurm-setup.sh (as root) to install and start a single-node Slurm")
        }
        guard let result = try? Fixture.runBare([sinfo, "-h", "-o", "%T"]) else {
            return Requirement(name, missing: "sinfo could not be started")
        }
        let states = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if result.status == 0, states.contains(where: { ["idle", "mixed", "allocated"].contains($0) }) {
            return Requirement(name, missing: nil)
        }
        let said = (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
        return Requirement(name, missing: "sinfo: \(said.isEmpty ? "no usable node" : said) (run Scripts/slurm-setup.sh)")
    }()
}
