// In-process sandbox start-up: N runs of Sandbox.run(["/bin/true"]) from one process, and N
// bare fork+exec runs for comparison. Prints "name median_ms p90_ms" lines.
import Glibc
import SandlockCore

let runs = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 300 : 300
var policy = Policy()
policy.fsReadable = ["/usr", "/lib", "/lib64", "/bin", "/etc"]
let sandbox = Sandbox(policy: policy)
let io = StandardIO(stdin: .null, stdout: .discard, stderr: .discard)

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func report(_ name: String, _ samples: [Double]) {
    let sorted = samples.sorted()
    let median = sorted[sorted.count / 2], p90 = sorted[sorted.count * 9 / 10]
    func format(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        return "\(thousandths / 1000).\(String(thousandths % 1000 + 1000).dropFirst())"
    }
    print(name, format(median), format(p90))
}

var bare: [Double] = []
var sandboxed: [Double] = []
let clock = ContinuousClock()
for _ in 0..<20 { _ = try await sandbox.run(["/bin/true"], io: io) }
for _ in 0..<runs {
    let start = clock.now
    var pid: pid_t = 0
    var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
    posix_spawn(&pid, "/bin/true", nil, nil, &argv, environ)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    free(argv[0])
    bare.append(milliseconds(clock.now - start))

    let begin = clock.now
    let result = try await sandbox.run(["/bin/true"], io: io)
    precondition(result.success, "sandboxed /bin/true failed: \(result.reason)")
    sandboxed.append(milliseconds(clock.now - begin))
}
report("inprocess_bare_posix_spawn", bare)
report("inprocess_sandbox_run", sandboxed)
