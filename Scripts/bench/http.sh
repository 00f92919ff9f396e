#!/usr/bin/env bash
# Cost of the HTTP ACL proxy: a loopback server (fixed 2-byte response, asyncio) and a
# Python client doing keep-alive GETs on one connection (requests/s, p50/p99 latency) and
# one new connection per GET (connect + request). Cases, interleaved round by round in one
# run: the client bare, sandboxed with `--net-allow localhost:PORT` (direct), and sandboxed
# with `--http-allow` (through our proxy); the same over TLS (direct = raw TLS, proxy = MITM
# with a CA made here). Prints medians over ROUNDS rounds and the machine's load.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Scripts/setup.sh
ROUNDS=${ROUNDS:-5} REQUESTS=${REQUESTS:-3000} CONNECTIONS=${CONNECTIONS:-300}

swift build -c release --product sandlock >/dev/null
swift build -c release --product sandlock-http-proxy >/dev/null
work=$(mktemp -d /tmp/sandlock-bench-http-XXXXXX)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A CA for interception and one for the server, with a localhost certificate.
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$1-key.pem" -out "$work/$1.pem" \
    -days 2 -subj "/CN=bench $1" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
}
ca intercept; ca upstream
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/server-key.pem" -out "$work/server.csr" \
  -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/upstream.pem" -CAkey "$work/upstream-key.pem" -CAcreateserial \
  -out "$work/server.pem" -days 2 -extfile "$work/ext.cnf" 2>/dev/null

cat >"$work/server.py" <<'PY'
import asyncio, ssl, sys
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    context = None
    if sys.argv[1] != "-":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
    plain = await asyncio.start_server(serve, "127.0.0.1", 0)
    tls = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    print(plain.sockets[0].getsockname()[1], tls.sockets[0].getsockname()[1], flush=True)
    await asyncio.gather(plain.serve_forever(), tls.serve_forever())
asyncio.run(main())
PY
cat >"$work/client.py" <<'PY'
import http.client, ssl, sys, time
scheme, port, requests, connections, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def connect():
    if scheme == "https":
        return http.client.HTTPSConnection("localhost", port, context=ssl.create_default_context(cafile=ca))
    return http.client.HTTPConnection("localhost", port)
def get(c):
    c.request("GET", "/bench")
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
c = connect(); get(c)
latencies = []
start = time.perf_counter()
for _ in range(requests):
    t = time.perf_counter(); get(c); latencies.append(time.perf_counter() - t)
elapsed = time.perf_counter() - start
latencies.sort()
fresh = []
for _ in range(connections):
    t = time.perf_counter(); n = connect(); get(n); n.close(); fresh.append(time.perf_counter() - t)
fresh.sort()
ms = lambda xs, q: xs[int(len(xs) * q)] * 1000
print("%.0f %.3f %.3f %.3f" % (requests / elapsed, ms(latencies, 0.5), ms(latencies, 0.99), ms(fresh, 0.5)))
PY

python3 "$work/server.py" "$work/server.pem" "$work/server-key.pem" >"$work/ports" &
server_pid=$!
while [ ! -s "$work/ports" ]; do sleep 0.1; done
read -r plain tls <"$work/ports"

sandbox=(.build/release/sandlock run -r /usr -r /lib -r /lib64 -r /bin -r /etc -r "$work")
client() { "$@" /usr/bin/python3 "$work/client.py" "$scheme" "$port" "$REQUESTS" "$CONNECTIONS" "$cafile"; }
declare -A results
for round in $(seq "$ROUNDS"); do
  for scheme in http https; do
    if [ "$scheme" = http ]; then port=$plain; cafile=-; else port=$tls; cafile=$work/upstream.pem; fi
    results["$scheme bare"]+="$(client env)"$'\n'
    results["$scheme sandboxed, direct"]+="$(client "${sandbox[@]}" --net-allow "localhost:$port" --)"$'\n'
    if [ "$scheme" = http ]; then
      results["$scheme sandboxed, through the proxy"]+="$(client "${sandbox[@]}" --http-port "$port" --http-allow "GET localhost/bench" --)"$'\n'
    else
      cafile=$work/intercept.pem
      results["$scheme sandboxed, through the proxy"]+="$(SSL_CERT_FILE=$work/upstream.pem client "${sandbox[@]}" --http-port "$port" \
        --http-allow "GET localhost/bench" --https-ca "$work/intercept.pem" --https-key "$work/intercept-key.pem" --)"$'\n'
    fi
  done
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores; $ROUNDS rounds, medians"
printf '%-36s %10s %10s %10s %14s\n' case "req/s" "p50 ms" "p99 ms" "new conn ms"
for key in "http bare" "http sandboxed, direct" "http sandboxed, through the proxy" \
           "https bare" "https sandboxed, direct" "https sandboxed, through the proxy"; do
  printf '%s' "${results[$key]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
print("%-36s %10.0f %10.3f %10.3f %14.3f" % (sys.argv[1], *med))' "$key"
done
