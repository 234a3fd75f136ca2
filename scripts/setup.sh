#!/usr/bin/env bash
# Installs what statedock needs on a fresh Debian 12 machine, and nothing twice:
# Debian's containerd, runc, busybox-static and tini (the daemon supervises containerd; tests run
# busybox containers; tini-static is docker-init for --init), attr (setfattr: image layers' opaque
# directories and extended attributes; getfattr: overlay's opaque directories for docker diff, cp
# and commit), iproute2 and iptables (container networking: bridges, veths, the daemon's chains;
# iptables 1.8 with the nf_tables backend), with --test also chromium and its fonts (the
# inspector's browser tests; the page uses DejaVu), docker-registry, apache2-utils (htpasswd),
# openssl and zstd (the registry tests; openssl also makes the API's TLS test certificates),
# bsdutils (`script`: a terminal for the CLI's detach-keys and exec terminal tests), curl (the exec
# tests' raw API calls), docker-compose (1.29, the compose test; installed without its recommended
# docker.io, which would bring a dockerd and a docker0 of its own), and the npm packages from
# package-lock.json. Prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

# The daemon loads built-in modules it needs late with process.getBuiltinModule (Node 20.16).
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 16) ? 0 : 1)' ||
  { echo "statedock needs Node 20.16 or newer; this is $(node -v)" >&2; exit 1; }

extra=()
lean=()
if [ "${1:-}" = "--test" ]; then
  extra=(chromium fonts-dejavu-core docker-registry apache2-utils openssl zstd bsdutils curl)
  lean=(docker-compose)
  shift
fi
missing() {
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || echo "$pkg"
  done
}
mapfile -t need < <(missing containerd runc busybox-static tini attr iproute2 iptables "${extra[@]}" "$@")
mapfile -t need_lean < <(missing "${lean[@]}")
if [ $((${#need[@]} + ${#need_lean[@]})) -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "statedock needs the Debian packages: ${need[*]} ${need_lean[*]}; install them as root (apt-get install ${need[*]} ${need_lean[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]} (apt) …"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ${#need_lean[@]} -gt 0 ]; then
    echo "setup: installing ${need_lean[*]} without recommended packages (apt) …"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_lean[@]}" >/dev/null
  fi
fi

# npm ci only when package-lock.json changed since the last install here (a stamp holds its hash).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.statedock-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup: installing npm packages (npm ci) …"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.statedock-lock-hash
fi
