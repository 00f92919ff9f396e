import SandlockCore
#if canImport(Glibc)
import Glibc
#endif

// The C ABI of include/sandlock.h. Handles are retained Swift objects passed as opaque
// pointers; nothing but C types crosses the boundary. Keep this file, the header and
// python/sandlock/_native.py in step.

/// SANDLOCK_ABI_VERSION: raised when a function is removed or changes meaning.
let abiVersion: UInt32 = 1

/// `sandlock_status` of the header.
enum Status: Int32 {
    case ok = 0, argument, invalidPolicy, pathNotFound, kernelFeature, unsupported
    case commandNotFound, childSetup, system, workspace
}

/// A failure as the ABI reports it: a status and a message.
struct Failure: Error {
    let status: Status
    let message: String

    init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    init(_ error: SandboxError) {
        let status: Status = switch error {
        case .pathNotFound: .pathNotFound
        case .kernelFeatureMissing: .kernelFeature
        case .unsupported: .unsupported
        case .invalidPolicy: .invalidPolicy
        case .commandNotFound: .commandNotFound
        case .childSetupFailed, .execDenied: .childSetup
        case .systemCall: .system
        case .workspace: .workspace
        }
        self.init(status, error.description)
    }
}

public typealias ErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

/// Runs `body`, turning a failure into its status and the caller's `*error` message.
func reporting(_ message: ErrorOut, _ body: () throws(Failure) -> Void) -> Int32 {
    message?.pointee = nil
    do throws(Failure) {
        try body()
        return Status.ok.rawValue
    } catch {
        message?.pointee = cString(error.message)
        return error.status.rawValue
    }
}

/// A malloc'd copy of `text` for the caller to free with sandlock_string_free.
func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
    text.withCString { strdup($0)! }
}

/// A NULL-terminated argv as strings; nil when absent or empty.
func strings(_ argv: UnsafePointer<UnsafePointer<CChar>?>?) -> [String]? {
    guard let argv else { return nil }
    var result: [String] = []
    var index = 0
    while let item = argv[index] {
        result.append(String(cString: item))
        index += 1
    }
    return result.isEmpty ? nil : result
}

/// A retained object as an opaque handle, and back.
func handle<T: AnyObject>(_ object: T) -> UnsafeMutableRawPointer {
    Unmanaged.passRetained(object).toOpaque()
}

func object<T: AnyObject>(_ handle: UnsafeRawPointer, as type: T.Type) -> T {
    Unmanaged<T>.fromOpaque(handle).takeUnretainedValue()
}

func release<T: AnyObject>(_ handle: UnsafeRawPointer?, as type: T.Type) {
    guard let handle else { return }
    Unmanaged<T>.fromOpaque(handle).release()
}

@_cdecl("sandlock_abi_version")
public func sandlockABIVersion() -> UInt32 { abiVersion }

@_cdecl("sandlock_string_free")
public func sandlockStringFree(_ string: UnsafeMutablePointer<CChar>?) { free(string) }
