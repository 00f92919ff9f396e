import Foundation
import SandlockTestSupport

/// A real HTTP/1.1 server (Python's http.server, keep-alive, threaded) on 127.0.0.1, port
/// 0, optionally over TLS: each request is answered with what the server saw (method,
/// path, Host, Authorization, body) and logged to a file the test reads.
final class TestHTTPServer {
    let port: UInt16
    let log: String
    private let process: Process

    static let script = #"""
import sys, ssl, http.server
log_path, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_any(self):
        body = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        elif self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = "saw %s %s host=%s body=%s\n" % (self.command, self.path, self.headers.get("Host"), body.decode())
        with open(log_path, "a") as log:
            log.write(reply)
        data = reply.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if cert != "-":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"""#

    /// Starts the server; returns once it listens (its port is the readiness line).
    init(directory: String, certificate: String? = nil, key: String? = nil) throws {
        log = directory + "/server-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.script, log, certificate ?? "-", key ?? "-"]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data([10]) { line += byte }
        guard let port = UInt16(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw POSIXError(.EIO)
        }
        self.port = port
    }

    /// What reached the server, one line per request.
    var seen: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// SIGKILL: the test process runs with signals blocked (SandlockCore's signal thread),
    /// and its children inherit that mask, so SIGTERM would stay pending.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A CA and a server certificate for `localhost`, made with the openssl CLI in `directory`.
struct TestCertificates {
    let caCertificate: String, caKey: String, serverCertificate: String, serverKey: String

    init(directory: String, prefix: String = "ca") throws {
        caCertificate = "\(directory)/\(prefix).pem"
        caKey = "\(directory)/\(prefix)-key.pem"
        serverCertificate = "\(directory)/\(prefix)-server.pem"
        serverKey = "\(directory)/\(prefix)-server-key.pem"
        let csr = "\(directory)/\(prefix)-server.csr", extensions = "\(directory)/\(prefix)-ext.cnf"
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKey, "-out", caCertificate,
             "-days", "2", "-subj", "/CN=sandlock test CA \(prefix)", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", serverKey, "-out", csr, "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", csr, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial", "-out", serverCertificate,
             "-days", "2", "-extfile", extensions],
        ]
        for step in steps {
            let result = try Fixture.runBare(["/usr/bin/openssl"] + step)
            guard result.status == 0 else { throw POSIXError(.EINVAL) }
        }
        for path in [caCertificate, caKey, serverCertificate, serverKey] { chmod(path, 0o644) }
    }
}

/// A fresh world-accessible directory under /tmp for a synchronous test, removed after `body`.
func withScratchDirectory(_ body: (String) throws -> Void) throws {
    var template = Array("/tmp/sandlock-http-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    chmod(path, 0o777)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}
