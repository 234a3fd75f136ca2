#!/usr/bin/env bash
# Installs what statedock needs on a fresh Debian 12 machine, and nothing twice:
# Debian's containerd, runc and busybox-static (the daemon supervises containerd; tests run
# busybox containers), iproute2 and iptables (container networking: bridges, veths, the
# daemon's chains; iptables 1.8 with the nf_tables backend), with --test also chromium and its
# fonts (the inspector's browser tests; the page uses DejaVu) and docker-compose (1.29, the
# compose test), and the npm packages from package-lock.json. Prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=()
if [ "${1:-}" = "--test" ]; then
  extra=(chromium fonts-dejavu-core docker-compose)
  shift
fi
need=()
for pkg in containerd runc busybox-static iproute2 iptables "${extra[@]}" "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "statedock needs the Debian packages: ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]} (apt) …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# npm ci only when package-lock.json changed since the last install here (a stamp holds its hash).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.statedock-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup: installing npm packages (npm ci) …"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.statedock-lock-hash
fi
