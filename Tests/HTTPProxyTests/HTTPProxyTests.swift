import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

private var readFlags: [String] { Fixture.readablePaths.flatMap { ["-r", $0] } }

/// `sandlock run` with `flags`, then `command`, as `uid` when given; (status, stdout, stderr).
private func sandlock(_ flags: [String], _ command: [String], environment: [String: String] = [:],
                      asUser uid: Int? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    var argv = [Fixture.sandlockCLI, "run"] + readFlags + flags + ["--"] + command
    if let uid { argv = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + argv }
    return try Fixture.runBare(argv, environment: merged)
}

/// curl inside the sandbox: the status code, then the body.
private func curl(_ url: String, _ extra: [String] = []) -> [String] {
    ["/usr/bin/curl", "-sS", "--path-as-is", "-w", "\n%{http_code}"] + extra + [url]
}

/// A Python client inside the sandbox that writes `requests` (raw bytes, each its own send)
/// on one connection to localhost:port and prints every status line it gets back.
private func rawClient(port: UInt16, _ requests: [String]) -> [String] {
    let literal = requests.map { "b'" + $0.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n") + "'" }
    let script = """
    import socket, sys
    s = socket.create_connection(("localhost", \(port)))
    for part in [\(literal.joined(separator: ", "))]:
        s.sendall(part)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    for line in data.split(b"\\r\\n"):
        if line.startswith(b"HTTP/1."):
            print(line.decode())
        if line.startswith(b"saw ") or line.startswith(b"Blocked") or line.startswith(b"sandlock:"):
            print(line.decode())
    """
    return ["/usr/bin/python3", "-c", script]
}

@Suite("HTTP ACL proxy", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct HTTPProxyTests {
    @Test("an allowed GET passes; a denied path or method gets 403 naming the rule, and never reaches the server")
    func allowAndDeny() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let flags = ["--http-port", "\(port)", "--http-allow", "GET localhost/ok/*", "--http-allow", "POST localhost/submit"]
            let allowed = try sandlock(flags, curl("http://localhost:\(port)/ok/page"))
            #expect(allowed.status == 0)
            #expect(allowed.stdout.contains("saw GET /ok/page host=localhost:\(port)"))
            #expect(allowed.stdout.hasSuffix("\n200"))
            let path = try sandlock(flags, curl("http://localhost:\(port)/secret"))
            #expect(path.stdout.hasSuffix("\n403"))
            #expect(path.stdout.contains("Blocked by sandlock: GET localhost:\(port)/secret (no http_allow rule matches)"))
            #expect(path.stderr.contains("sandlock: denied HTTP requests: GET localhost:\(port)/secret (no http_allow rule matches) (1x)"))
            let method = try sandlock(flags, curl("http://localhost:\(port)/ok/page", ["-X", "DELETE"]))
            #expect(method.stdout.hasSuffix("\n403"))
            let post = try sandlock(flags, curl("http://localhost:\(port)/submit", ["-d", "x=1"]))
            #expect(post.stdout.contains("saw POST /submit host=localhost:\(port) body=x=1"))
            #expect(!server.seen.contains("/secret") && !server.seen.contains("DELETE"))
        }
    }

    @Test("deny rules are checked first; with only deny rules everything else passes")
    func denyFirst() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let both = ["--http-port", "\(port)", "--http-allow", "* localhost/*", "--http-deny", "* */admin/*"]
            #expect(try sandlock(both, curl("http://localhost:\(port)/public")).stdout.hasSuffix("\n200"))
            let denied = try sandlock(both, curl("http://localhost:\(port)/admin/users"))
            #expect(denied.stdout.contains("(http_deny '* */admin/*')") && denied.stdout.hasSuffix("\n403"))
            let onlyDeny = ["--http-port", "\(port)", "--http-deny", "GET LOCALHOST./private*"]
            #expect(try sandlock(onlyDeny, curl("http://localhost:\(port)/anything")).stdout.hasSuffix("\n200"))
            #expect(try sandlock(onlyDeny, curl("http://localhost:\(port)/private/x")).stdout.hasSuffix("\n403"))
            // An explicit port in a rule matches only that port.
            let otherPort = ["--http-port", "\(port)", "--http-port", "81", "--http-allow", "GET localhost:81/*"]
            #expect(try sandlock(otherPort, curl("http://localhost:\(port)/x")).stdout.hasSuffix("\n403"))
            let samePort = ["--http-port", "\(port)", "--http-allow", "GET localhost:\(port)/*"]
            #expect(try sandlock(samePort, curl("http://localhost:\(port)/x")).stdout.hasSuffix("\n200"))
        }
    }

    @Test("paths are normalized before matching: /%61dmin/, /ok/../admin, //admin are the admin tree")
    func normalization() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let flags = ["--http-port", "\(port)", "--http-deny", "* */admin*"]
            #expect(try sandlock(flags, curl("http://localhost:\(port)/ok/x")).stdout.hasSuffix("\n200"))
            for path in ["/%61dmin/", "/ok/../admin", "//admin", "/./admin", "/%2e%2e/admin"] {
                let result = try sandlock(flags, curl("http://localhost:\(port)\(path)"))
                #expect(result.stdout.hasSuffix("\n403"), "\(path): \(result.stdout)")
            }
            // The server gets the normalized form: what was judged is what is sent.
            #expect(try sandlock(flags, curl("http://localhost:\(port)/ok/./a/%7Eb//c")).stdout.contains("saw GET /ok/a/~b/c "))
            #expect(!server.seen.contains("admin"))
        }
    }

    @Test("every request of a keep-alive connection is judged; a request split across writes is whole")
    func keepAlive() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let host = "Host: localhost:\(port)\r\n"
            let result = try sandlock(["--http-port", "\(port)", "--http-allow", "GET localhost/ok*"], rawClient(port: port, [
                "GET /ok1 HTTP/1.1\r\n\(host)\r\n", "GET /admin HTTP/1.1\r\n\(host)\r\n",
                "GET /ok2 HT", "TP/1.1\r\nHo", "st: localhost:\(port)\r\nConnection: close\r\n\r\n",
            ]))
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines == ["HTTP/1.1 200 OK", "saw GET /ok1 host=localhost:\(port) body=", "HTTP/1.1 403 Forbidden",
                              "Blocked by sandlock: GET localhost:\(port)/admin (no http_allow rule matches)",
                              "HTTP/1.1 200 OK", "saw GET /ok2 host=localhost:\(port) body="], "\(result)")
        }
    }

    @Test("Host lies are refused: the proxy forwards only to the original destination, named by its pinned names")
    func hostSpoofing() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let flags = ["--http-port", "\(port)", "--http-allow", "GET */public/*", "--net-allow", "localhost:\(port)"]
            #expect(try sandlock(flags, curl("http://localhost:\(port)/public/x")).stdout.hasSuffix("\n200"))
            let lie = try sandlock(flags, curl("http://localhost:\(port)/public/x", ["-H", "Host: api.example.com"]))
            #expect(lie.stdout.hasSuffix("\n400"))
            #expect(lie.stdout.contains("Host 'api.example.com' does not name 127.0.0.1"))
            let portLie = try sandlock(flags, curl("http://localhost:\(port)/public/x", ["-H", "Host: localhost:1"]))
            #expect(portLie.stdout.hasSuffix("\n400"))
            #expect(!server.seen.contains("api.example.com"))
        }
    }

    @Test("ambiguous requests get 400 and are never forwarded: CL+TE, two Hosts, obs-fold, absolute-form mismatch, CONNECT")
    func smuggling() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let host = "Host: localhost:\(port)\r\n"
            let flags = ["--http-port", "\(port)", "--http-allow", "* localhost/ok*"]
            let bad = [
                "POST /ok HTTP/1.1\r\n\(host)Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\(host)\r\n",
                "GET /ok HTTP/1.1\r\n\(host)\(host)\r\n",
                "GET /ok HTTP/1.1\r\n\(host)X-A: 1\r\n folded\r\n\r\n",
                "GET http://other.example/ok HTTP/1.1\r\n\(host)\r\n",
                "CONNECT localhost:\(port) HTTP/1.1\r\n\(host)\r\n",
                "GET /ok HTTP/1.1\n\(host)\r\n",
                "POST /ok HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n",
                "GET /ok HTTP/2.0\r\n\(host)\r\n",
            ]
            for request in bad {
                let result = try sandlock(flags, rawClient(port: port, [request]))
                #expect(result.stdout.hasPrefix("HTTP/1.1 400 Bad Request\n"), "\(request.debugDescription): \(result.stdout)")
            }
            #expect(server.seen.isEmpty, "\(server.seen)")
            // Controls: a chunked body, an absolute-form target naming the destination, HTTP/1.0.
            let chunked = try sandlock(flags, rawClient(port: port, ["POST /ok HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"]))
            #expect(chunked.stdout.contains("saw POST /ok host=localhost:\(port) body=abcde"), "\(chunked)")
            let absolute = try sandlock(flags, rawClient(port: port, ["GET http://localhost:\(port)/ok HTTP/1.1\r\n\(host)\r\n"]))
            #expect(absolute.stdout.contains("saw GET /ok host=localhost:\(port)"), "\(absolute)")
            let old = try sandlock(flags, rawClient(port: port, ["GET /ok HTTP/1.0\r\n\r\n"]))
            #expect(old.stdout.contains("saw GET /ok host=None"), "\(old)")
        }
    }

    @Test("a sandbox that reaches the proxy's listener directly, with a forged preamble, gets nothing")
    func forgedPreamble() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            // The proxied socket's peer is the proxy's listener; the script then connects to it
            // directly and claims a destination in the preamble.
            let script = """
            import socket
            proxied = socket.create_connection(("localhost", \(port)))
            listener = proxied.getpeername()[1]
            proxied.sendall(b"GET /ok HTTP/1.1\\r\\nHost: localhost:\(port)\\r\\n\\r\\n")
            print(proxied.recv(65536).split(b"\\r\\n")[0].decode())
            direct = socket.create_connection(("127.0.0.1", listener))
            direct.sendall(b"SANDLOCK-HTTP/1 " + b"0" * 64 + b" 127.0.0.1 \(port) localhost\\nGET /admin HTTP/1.1\\r\\nHost: localhost:\(port)\\r\\n\\r\\n")
            print("direct:", direct.recv(65536))
            """
            let result = try sandlock(["--http-port", "\(port)", "--http-allow", "GET localhost/ok", "--net-allow", "127.0.0.1:1-65535"],
                                      ["/usr/bin/python3", "-c", script])
            #expect(result.stdout == "HTTP/1.1 200 OK\ndirect: b''\n", "\(result)")
            #expect(!server.seen.contains("/admin"))
        }
    }

    @Test("the proxy holds 200 concurrent keep-alive connections")
    func concurrentConnections() throws {
        try withScratchDirectory { directory in
            let server = try TestHTTPServer(directory: directory)
            defer { server.stop() }
            let port = server.port
            let script = """
            import http.client
            conns = [http.client.HTTPConnection("localhost", \(port)) for _ in range(200)]
            ok = 0
            for round in range(2):
                for c in conns:
                    c.request("GET", "/ok")
                    r = c.getresponse()
                    r.read()
                    ok += r.status == 200
            print(ok)
            """
            let result = try sandlock(["--http-port", "\(port)", "--http-allow", "GET localhost/ok"], ["/usr/bin/python3", "-c", script])
            #expect(result.stdout == "400\n", "\(result)")
        }
    }

    @Test("bad HTTP settings are refused with what to do")
    func badSettings() throws {
        try withScratchDirectory { directory in
            let cases: [([String], String)] = [
                (["--http-allow", "GET"], "http_allow"),
                (["--http-allow", "GET localhost:8080/x"], "names port 8080, which is not intercepted; add --http-port 8080"),
                (["--http-allow", "GET localhost/x", "--https-ca", "\(directory)/missing.pem", "--https-key", "\(directory)/missing-key.pem"],
                 "\(directory)/missing.pem"),
                (["--http-allow", "GET localhost/x", "--https-ca", "/etc/hostname"], "--https-ca and --https-key go together"),
                (["--http-port", "8080"], "intercepts nothing without --http-allow or --http-deny rules"),
            ]
            for (flags, message) in cases {
                let result = try sandlock(flags, ["/bin/true"])
                #expect(result.status == 125 && result.stderr.contains(message), "\(flags): \(result.stderr)")
            }
            let certificates = try TestCertificates(directory: directory)
            let other = try TestCertificates(directory: directory, prefix: "other")
            let mismatch = try sandlock(["--http-allow", "GET localhost/x", "--https-ca", certificates.caCertificate, "--https-key", other.caKey], ["/bin/true"])
            #expect(mismatch.status == 125 && mismatch.stderr.contains("https_key: is not the key of the https_ca certificate"), "\(mismatch.stderr)")
            let notCA = try sandlock(["--http-allow", "GET localhost/x", "--https-ca", certificates.serverCertificate, "--https-key", certificates.serverKey], ["/bin/true"])
            #expect(notCA.status == 125 && notCA.stderr.contains("the certificate is not a CA"), "\(notCA.stderr)")
            let good = try sandlock(["--http-allow", "GET localhost/x", "--https-ca", certificates.caCertificate, "--https-key", certificates.caKey], ["/bin/true"])
            #expect(good.status == 0, "\(good.stderr)")
        }
    }
}

@Suite("HTTPS interception", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct HTTPSInterceptionTests {
    @Test("with a CA: a leaf for the SNI name signed by it; allowed requests pass, denied ones get 403; an untrusting client fails closed")
    func intercepted() throws {
        try withScratchDirectory { directory in
            let upstreamCA = try TestCertificates(directory: directory, prefix: "upstream")
            let intercepting = try TestCertificates(directory: directory, prefix: "intercept")
            let server = try TestHTTPServer(directory: directory, certificate: upstreamCA.serverCertificate, key: upstreamCA.serverKey)
            defer { server.stop() }
            let port = server.port
            let flags = ["--http-port", "\(port)", "--http-allow", "GET localhost/ok*", "-r", directory,
                         "--https-ca", intercepting.caCertificate, "--https-key", intercepting.caKey]
            // The proxy trusts the upstream server's CA (SSL_CERT_FILE); the sandbox trusts ours.
            let environment = ["SSL_CERT_FILE": upstreamCA.caCertificate]
            let allowed = try sandlock(flags, curl("https://localhost:\(port)/ok", ["-v", "--cacert", intercepting.caCertificate]), environment: environment)
            #expect(allowed.stdout.contains("saw GET /ok host=localhost:\(port)") && allowed.stdout.hasSuffix("\n200"), "\(allowed)")
            #expect(allowed.stderr.contains("issuer: CN=sandlock test CA intercept"), "\(allowed.stderr)")
            #expect(allowed.stderr.contains("ALPN: server accepted http/1.1"), "\(allowed.stderr)")
            let denied = try sandlock(flags, curl("https://localhost:\(port)/admin", ["--cacert", intercepting.caCertificate]), environment: environment)
            #expect(denied.stdout.hasSuffix("\n403") && denied.stdout.contains("Blocked by sandlock: GET localhost:\(port)/admin"), "\(denied)")
            // Two requests of one run: one leaf minted for the name, reused.
            let fetch = "/usr/bin/curl -sS --cacert \(intercepting.caCertificate) https://localhost:\(port)"
            let twice = try sandlock(flags, ["/bin/sh", "-c", "\(fetch)/ok1 && \(fetch)/ok2"], environment: environment)
            #expect(twice.stdout.contains("saw GET /ok1") && twice.stdout.contains("saw GET /ok2"), "\(twice)")
            // A client that trusts only the upstream CA does not accept our leaf.
            let untrusting = try sandlock(flags, curl("https://localhost:\(port)/ok", ["--cacert", upstreamCA.caCertificate]), environment: environment)
            #expect(untrusting.status == 60, "\(untrusting)")
            // An upstream the proxy does not trust: 502, never a silent downgrade.
            let untrusted = try sandlock(flags, curl("https://localhost:\(port)/ok", ["--cacert", intercepting.caCertificate]),
                                         environment: ["SSL_CERT_FILE": intercepting.caCertificate])
            #expect(untrusted.stdout.hasSuffix("\n502"), "\(untrusted)")
            #expect(server.seen.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 3, "\(server.seen)")
        }
    }

    @Test("without a CA, TLS to a port that is not intercepted passes raw, as with --net-allow host:port")
    func rawWithoutCA() throws {
        try withScratchDirectory { directory in
            let upstreamCA = try TestCertificates(directory: directory, prefix: "upstream")
            let server = try TestHTTPServer(directory: directory, certificate: upstreamCA.serverCertificate, key: upstreamCA.serverKey)
            defer { server.stop() }
            let port = server.port
            let flags = ["--http-allow", "GET localhost/nothing", "--net-allow", "localhost:\(port)", "-r", directory]
            let raw = try sandlock(flags, curl("https://localhost:\(port)/anything", ["-v", "--cacert", upstreamCA.caCertificate]))
            #expect(raw.stdout.contains("saw GET /anything") && raw.stdout.hasSuffix("\n200"), "\(raw)")
            #expect(raw.stderr.contains("issuer: CN=sandlock test CA upstream"), "\(raw.stderr)")
        }
    }
}

@Suite("HTTP proxy as nobody", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd, .root]))
struct HTTPProxyUnprivilegedTests {
    @Test("as nobody: the ACL allows and denies, and HTTPS is intercepted with the caller's CA")
    func asNobody() throws {
        try withScratchDirectory { directory in
            let upstreamCA = try TestCertificates(directory: directory, prefix: "upstream")
            let intercepting = try TestCertificates(directory: directory, prefix: "intercept")
            let plain = try TestHTTPServer(directory: directory)
            defer { plain.stop() }
            let tls = try TestHTTPServer(directory: directory, certificate: upstreamCA.serverCertificate, key: upstreamCA.serverKey)
            defer { tls.stop() }
            let flags = ["--http-port", "\(plain.port)", "--http-allow", "GET localhost/ok*"]
            #expect(try sandlock(flags, curl("http://localhost:\(plain.port)/ok"), asUser: 65534).stdout.hasSuffix("\n200"))
            #expect(try sandlock(flags, curl("http://localhost:\(plain.port)/admin"), asUser: 65534).stdout.hasSuffix("\n403"))
            let intercept = ["--http-port", "\(tls.port)", "--http-allow", "GET localhost/ok*", "-r", directory,
                             "--https-ca", intercepting.caCertificate, "--https-key", intercepting.caKey]
            let environment = ["SSL_CERT_FILE": upstreamCA.caCertificate]
            let allowed = try sandlock(intercept, curl("https://localhost:\(tls.port)/ok", ["--cacert", intercepting.caCertificate]),
                                       environment: environment, asUser: 65534)
            #expect(allowed.stdout.contains("saw GET /ok") && allowed.stdout.hasSuffix("\n200"), "\(allowed)")
            let denied = try sandlock(intercept, curl("https://localhost:\(tls.port)/admin", ["--cacert", intercepting.caCertificate]),
                                      environment: environment, asUser: 65534)
            #expect(denied.stdout.hasSuffix("\n403"), "\(denied)")
        }
    }
}

@Suite("HTTP rules")
struct HTTPRuleTests {
    @Test("methods, hosts, ports and paths match as documented")
    func matching() throws {
        let list = try HTTPAccessList(allow: ["GET api.example.com/v1/*", "* *.cdn.test/*", "post localhost:8080/submit"],
                                      deny: ["* */admin/*"])
        #expect(list.verdict(method: "GET", host: "api.example.com", port: 80, path: "/v1/chat") == .allowed)
        #expect(list.verdict(method: "get", host: "api.example.com", port: 80, path: "/v1/chat") == .allowed)
        #expect(list.verdict(method: "POST", host: "api.example.com", port: 80, path: "/v1/chat") == .denied(by: nil))
        #expect(list.verdict(method: "PUT", host: "img.cdn.test", port: 80, path: "/a") == .allowed)
        #expect(list.verdict(method: "PUT", host: "img.cdn.test", port: 80, path: "/admin/a") == .denied(by: "http_deny '* */admin/*'"))
        #expect(list.verdict(method: "POST", host: "localhost", port: 8080, path: "/submit") == .allowed)
        #expect(list.verdict(method: "POST", host: "localhost", port: 80, path: "/submit") == .denied(by: nil))
        #expect(list.verdict(method: "POST", host: "localhost", port: 8080, path: "/submit/x") == .denied(by: nil))
        #expect(try HTTPRule(parsing: "GET Example.COM.").host == "example.com")
        #expect(try HTTPRule(parsing: "GET example.com").path == "/*")
        for bad in ["GET", "GET a b", "G(T example.com/", "GET exa mple.com/", "GET :80/x", "GET host:0/x"] {
            #expect(throws: SandboxError.self, "\(bad)") { try HTTPRule(parsing: bad) }
        }
    }

    @Test("path normalization")
    func paths() {
        let cases = ["/%61dmin/": "/admin/", "/ok/../admin": "/admin", "//admin": "/admin", "/a/./b/": "/a/b/",
                     "/a/b/..": "/a/", "/../..": "/", "/%7e%2F": "/~%2F", "/x%2e%2e/": "/x../", "/": "/"]
        for (raw, normalized) in cases { #expect(HTTPPath.normalized(raw) == normalized, "\(raw)") }
        for bad in ["admin", "/%zz", "/%4", "/a b"] { #expect(HTTPPath.normalized(bad) == nil, "\(bad)") }
    }
}
