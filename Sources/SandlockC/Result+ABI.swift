import FoundationEssentials
import SandlockCore

/// A result behind a `sandlock_result *`; its output is copied once into memory that lives
/// as long as the handle, for the pointers sandlock_result_stdout/stderr hand out.
final class ResultHandle {
    let result: RunResult
    let stdout: UnsafeMutableBufferPointer<UInt8>
    let stderr: UnsafeMutableBufferPointer<UInt8>

    init(_ result: RunResult) {
        self.result = result
        stdout = Self.copy(result.stdout)
        stderr = Self.copy(result.stderr)
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutableBufferPointer<UInt8> {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = buffer.initialize(from: bytes)
        return buffer
    }

    deinit {
        stdout.deallocate()
        stderr.deallocate()
    }
}

/// The JSON of sandlock_result_json (see the header).
private struct ResultJSON: Encodable {
    let result: RunResult

    enum Key: String, CodingKey {
        case success, reason, exitCode = "exit_code", signal, wallTime = "wall_time", userTime = "user_time"
        case systemTime = "system_time", peakMemory = "peak_memory", peakSandboxMemory = "peak_sandbox_memory"
        case peakProcesses = "peak_processes", leftoverProcessesKilled = "leftover_processes_killed"
        case supervisorNotifications = "supervisor_notifications", deniedConnections = "denied_connections"
        case enforcement, workspace
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(result.success, forKey: .success)
        try container.encode(result.reason, forKey: .reason)
        try container.encode(result.exitCode, forKey: .exitCode)
        try container.encode(result.signal, forKey: .signal)
        try container.encode(Self.seconds(result.wallTime), forKey: .wallTime)
        try container.encode(Self.seconds(result.userTime), forKey: .userTime)
        try container.encode(Self.seconds(result.systemTime), forKey: .systemTime)
        try container.encode(result.peakMemory, forKey: .peakMemory)
        try container.encode(result.peakSandboxMemory, forKey: .peakSandboxMemory)
        try container.encode(result.peakProcesses, forKey: .peakProcesses)
        try container.encode(result.leftoverProcessesKilled, forKey: .leftoverProcessesKilled)
        try container.encode(result.supervisorNotifications, forKey: .supervisorNotifications)
        try container.encode(result.deniedConnections, forKey: .deniedConnections)
        try container.encode(result.enforcement, forKey: .enforcement)
        try container.encode(result.workspace.map(WorkspaceJSON.init), forKey: .workspace)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

private struct WorkspaceJSON: Encodable {
    struct ChangeJSON: Encodable {
        let kind: String
        let path: String
        let from: String?
    }

    let outcome: String
    let message: String?
    let disposition: String
    let directory: String
    let changes: [ChangeJSON]?

    init(_ workspace: WorkspaceResult) {
        switch workspace.outcome {
        case .committed: (outcome, message) = ("committed", nil)
        case .aborted: (outcome, message) = ("aborted", nil)
        case .kept: (outcome, message) = ("kept", nil)
        case .conflict(let conflicts): (outcome, message) = ("conflict", conflicts.map(\.path).joined(separator: ", "))
        case .failed(let reason): (outcome, message) = ("failed", reason)
        }
        disposition = workspace.disposition.rawValue
        directory = workspace.workspace.directory
        changes = workspace.changes?.changes.map { ChangeJSON(kind: $0.kind.rawValue, path: $0.path, from: $0.from) }
    }
}

@_cdecl("sandlock_result_json")
public func sandlockResultJSON(_ result: UnsafeRawPointer) -> UnsafeMutablePointer<CChar> {
    let data = (try? JSONEncoder().encode(ResultJSON(result: object(result, as: ResultHandle.self).result))) ?? Data("{}".utf8)
    return cString(String(decoding: data, as: UTF8.self))
}

private func output(_ buffer: UnsafeMutableBufferPointer<UInt8>, _ bytes: UnsafeMutablePointer<UnsafePointer<UInt8>?>?) -> Int {
    bytes?.pointee = buffer.isEmpty ? nil : UnsafePointer(buffer.baseAddress)
    return buffer.count
}

@_cdecl("sandlock_result_stdout")
public func sandlockResultStdout(_ result: UnsafeRawPointer, _ bytes: UnsafeMutablePointer<UnsafePointer<UInt8>?>?) -> Int {
    output(object(result, as: ResultHandle.self).stdout, bytes)
}

@_cdecl("sandlock_result_stderr")
public func sandlockResultStderr(_ result: UnsafeRawPointer, _ bytes: UnsafeMutablePointer<UnsafePointer<UInt8>?>?) -> Int {
    output(object(result, as: ResultHandle.self).stderr, bytes)
}

@_cdecl("sandlock_result_free")
public func sandlockResultFree(_ result: UnsafeRawPointer?) {
    release(result, as: ResultHandle.self)
}
