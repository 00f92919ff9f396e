import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The TOML parser of profiles, loaded only when a profile is read.
///
/// Why a library loaded at run time: TOMLKit needs the whole of Foundation (and its ICU
/// data), which linked into `sandlock` put 6.8 ms of CPU on every start (13.5 → 20.3 ms
/// task-clock for `sandlock run -- /bin/true`, debug build), with or without a profile.
/// `libSandlockProfiles.so` (the `SandlockProfiles` product, built beside the executables)
/// exports one C function, `sandlock_profile_parse`, which answers with JSON.
public final class ProfileLibrary: Sendable {
    public static let shared = ProfileLibrary()

    private typealias ParseFunction = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    ) -> Int32

    /// `sandlock_profile_parse`, or why it could not be loaded.
    private let entry: Result<ParseFunction, ProfileError>

    private init() {
        let path = Self.executableDirectory() + "/libSandlockProfiles.so"
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            entry = .failure(ProfileError(path: path, message: "cannot load the profile parser (\(reason)); it is built with sandlock (`swift build`) and must stay beside the executable"))
            return
        }
        guard let symbol = dlsym(handle, "sandlock_profile_parse") else {
            entry = .failure(ProfileError(path: path, message: "not sandlock's profile parser: no sandlock_profile_parse"))
            return
        }
        entry = .success(unsafeBitCast(symbol, to: ParseFunction.self))
    }

    /// The policy of the profile text read from `path`.
    func parse(path: String, text: String) throws(ProfileError) -> Policy {
        let parse = try entry.get()
        var answer: UnsafeMutablePointer<CChar>?
        let status = parse(path, text, &answer)
        guard let answer else { throw ProfileError(path: path, message: "the profile parser gave no answer") }
        defer { free(answer) }
        let json = Data(bytes: answer, count: strlen(answer))
        do {
            if status == 0 { return try JSONDecoder().decode(Policy.self, from: json) }
            throw try JSONDecoder().decode(ProfileError.self, from: json)
        } catch let error as ProfileError {
            throw error
        } catch {
            throw ProfileError(path: path, message: "the profile parser's answer does not decode: \(error)")
        }
    }

    private static func executableDirectory() -> String {
        let executable = Files.readLink("/proc/self/exe") ?? ""
        guard let slash = executable.lastIndex(of: "/") else { return "." }
        return String(executable[..<slash])
    }
}
