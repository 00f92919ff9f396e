#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

// sandlock-http-proxy: started by the supervisor for a policy with HTTP rules (see
// HTTPProxyProcess). Descriptor 3 is its listener on 127.0.0.1; standard input carries the
// configuration, then stays open until the sandbox is over; standard output answers
// `ready` (or one error line) and, at the end, what was denied.

signal(SIGPIPE, SIG_IGN)
let input = FileDescriptor(adopting: StandardStream.input.rawValue)
let output = StandardStream.output

/// Lines of standard input up to `end`.
func configurationLines() -> [String] {
    var lines: [String] = [], current: [UInt8] = []
    var byte: UInt8 = 0
    while (try? withUnsafeMutableBytes(of: &byte) { buffer throws(Errno) in try input.read(into: buffer) }) == 1 {
        if byte != 10 { current.append(byte); continue }
        let line = String(decoding: current, as: UTF8.self)
        current = []
        if line == "end" { return lines }
        lines.append(line)
    }
    return lines
}

let configuration: ProxyConfiguration
do throws(ProxyError) {
    configuration = try ProxyConfiguration(lines: configurationLines())
    // Everything is loaded: the proxy reads no file from here on.
    var nothing = Policy()
    nothing.allowDegraded = true
    do throws(SandboxError) { try confine(nothing) } catch { throw ProxyError("cannot confine the HTTP proxy: \(error)") }
} catch {
    try? output.writeAll("\(error.message)\n")
    exit(1)
}

let listener = SharedDescriptor(FileDescriptor(adopting: 3))
let accepting = NamedThread.start("http-accept") {
    while true {
        // The proxy never executes anything: its descriptors need no close-on-exec.
        guard let raw = try? retryingInterrupts({ accept(listener.rawValue, nil, nil) }) else { continue }
        var noDelay: Int32 = 1
        _ = setsockopt(raw, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, 4)
        let connection = ProxyConnection(configuration: configuration, client: SharedDescriptor(FileDescriptor(adopting: raw)))
        if !NamedThread.start("http-connection", { connection.run() }) { SocketTransport(connection.client).close() }
    }
}
guard accepting else {
    try? output.writeAll("cannot start the HTTP proxy's accept thread\n")
    exit(1)
}
try? output.writeAll("ready\n")
// The supervisor closes our input when the sandbox is over.
_ = try? input.readAll()
try? output.writeAll(configuration.denials.report)
exit(0)
