#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian/Ubuntu machine:
# libseccomp-dev, libyaml-dev and libssl-dev (the system libraries; OpenSSL only for the HTTP
# proxy), python3-jsonschema for the schema check and python3-venv for the Python SDK's
# tests. Uses sudo when not root; says what to do when neither works.
set -euo pipefail

packages=()
for pair in "libseccomp-dev:/usr/include/seccomp.h" "libyaml-dev:/usr/include/yaml.h" "libssl-dev:/usr/include/openssl/ssl.h"; do
  [ -e "${pair#*:}" ] || packages+=("${pair%%:*}")
done
# The bench and the CLI tests use these everyday tools.
# The HTTP proxy tests: curl and python3 clients, openssl for test CAs, the default trust bundle.
for pair in "util-linux:/usr/bin/setpriv" "bsdutils:/usr/bin/script" "procps:/usr/bin/ps" \
            "curl:/usr/bin/curl" "python3:/usr/bin/python3" "openssl:/usr/bin/openssl" \
            "ca-certificates:/etc/ssl/certs/ca-certificates.crt"; do
  [ -e "${pair#*:}" ] || packages+=("${pair%%:*}")
done

# The Python SDK's tests run in a venv (Scripts/test.sh; python3-venv brings python3 too).
if ! command -v python3 >/dev/null 2>&1 \
  || { command -v dpkg-query >/dev/null 2>&1 && ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed'; }; then
  packages+=(python3-venv)
fi

if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    run_as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run_as_root=(sudo)
  else
    echo "setup: missing packages: ${packages[*]}" >&2
    echo "setup: run as root or with sudo: apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${run_as_root[@]}" apt-get update -qq
  "${run_as_root[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [ -x "$candidate/swift" ] && export PATH="$candidate:$PATH"
  done
fi
command -v swift >/dev/null 2>&1 || { echo "setup: no Swift toolchain (swift 6.x) in PATH" >&2; exit 1; }
