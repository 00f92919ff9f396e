import FoundationEssentials
import SandlockCore
#if canImport(Glibc)
import Glibc
#endif

/// The library's one entry point (see `ProfileLibrary` in SandlockCore): parses the profile
/// `text` read from `path`. Returns 0 with the policy as JSON in `*answer`, or 1 with a
/// `ProfileError` as JSON; `*answer` is malloc'd, the caller frees it.
@_cdecl("sandlock_profile_parse")
public func sandlockProfileParse(_ path: UnsafePointer<CChar>, _ text: UnsafePointer<CChar>,
                                 _ answer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let path = String(cString: path)
    let parsed: Result<Policy, ProfileError>
    do throws(ProfileError) {
        parsed = .success(try ProfileParser(path: path, text: String(cString: text)).policy())
    } catch {
        parsed = .failure(error)
    }
    let encoded: Data?
    switch parsed {
    case .success(let policy): encoded = try? JSONEncoder().encode(policy)
    case .failure(let error): encoded = try? JSONEncoder().encode(error)
    }
    let status: Int32 = encoded != nil && (try? parsed.get()) != nil ? 0 : 1
    let bytes = encoded ?? Data(#"{"path":"","message":"cannot encode the profile parser's answer"}"#.utf8)
    answer.pointee = bytes.withUnsafeBytes { bytes in
        let copy = malloc(bytes.count + 1)!.assumingMemoryBound(to: CChar.self)
        memcpy(copy, bytes.baseAddress!, bytes.count)
        copy[bytes.count] = 0
        return copy
    }
    return status
}
