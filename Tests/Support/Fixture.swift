import Foundation
import SandlockCore

/// Shared test fixtures: where the built binaries are, a temp directory per test, and a
/// policy that can run the system's tools and our test probe.
public enum Fixture {
    /// The folder holding the test bundle, `sandlock` and `sandlock-test-probe`.
    public static let productsDirectory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the test bundle is `….xctest` (a file) next to the other products.
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("sandlock-test-probe").path),
              url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.path
    }()

    public static var probe: String { productsDirectory + "/sandlock-test-probe" }
    public static var sandlockCLI: String { productsDirectory + "/sandlock" }

    /// The directory of the Swift runtime our binaries link against (not a system path).
    public static let swiftRuntimeDirectory: String = {
        // procfs files report size 0: read to EOF rather than trusting the size.
        let data = try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps")).readToEnd()
        let maps = data.map { String(decoding: $0, as: UTF8.self) } ?? ""
        for line in maps.split(separator: "\n") {
            if let range = line.range(of: "/", options: []), line.hasSuffix("libswiftCore.so") {
                return URL(fileURLWithPath: String(line[range.lowerBound...])).deletingLastPathComponent().path
            }
        }
        return "/usr/lib/swift/linux"
    }()

    /// System trees plus the build products and the Swift runtime.
    public static var readablePaths: [String] {
        ["/usr", "/lib", "/lib64", "/bin", "/etc", productsDirectory, swiftRuntimeDirectory]
            .filter { FileManager.default.fileExists(atPath: $0) }
    }

    public static var basePolicy: Policy {
        var policy = Policy()
        policy.fsReadable = readablePaths
        return policy
    }

    /// A fresh directory under /tmp, removed by `body`'s end. World-accessible so that
    /// tests running as an unprivileged user can use it.
    public static func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        var template = Array("/tmp/sandlock-test-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        chmod(path, 0o777)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    /// Runs a program outside any sandbox and returns (status, stdout, stderr).
    public static func runBare(_ argv: [String], environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both before waiting: outputs larger than a pipe buffer must not deadlock.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// True when running as root (some tests check capability dropping).
    public static var isRoot: Bool { geteuid() == 0 }

    /// Is a process with this pid still alive (and not a zombie)?
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let data = try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/status")).readToEnd()
        else { return false }
        let status = String(decoding: data, as: UTF8.self)
        return !status.contains("State:\tZ")
    }
}
