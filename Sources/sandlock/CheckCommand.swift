import ArgumentParser
import SandlockCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Print the Landlock ABI and which protections this kernel can enforce.",
        // The kernel-layer protections are described in docs/security.md.
        discussion: "Exits 0 when every protection is available, 1 otherwise."
    )

    func run() throws {
        let support = KernelSupport.probe()
        print(support.landlockABI > 0 ? "Landlock ABI: \(support.landlockABI)" : "Landlock: not available")
        for feature in support.features {
            let state = feature.available ? "available" : "UNAVAILABLE"
            print("  \(feature.name.padding(to: 38))\(state.padding(to: 13))(\(feature.detail))")
        }
        let enforcer = support.processLimit.inKernel ? "kernel" : "supervisor"
        print("  \("max_processes (-P)".padding(to: 38))\(enforcer.padding(to: 13))(\(support.processLimit.mechanism))")
        if !support.complete {
            print("Some protections are missing: sandboxes refuse to start unless --allow-degraded is given.")
            throw ExitCode(1)
        }
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
