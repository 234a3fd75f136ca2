#!/usr/bin/env bash
# Installs what statedock needs on a fresh Debian 12 machine, and nothing twice:
# Debian's containerd, runc, busybox-static and tini (the daemon supervises containerd; tests run
# busybox containers; tini-static is docker-init for --init), attr (setfattr: image layers' opaque
# directories and extended attributes; getfattr: overlay's opaque directories for docker diff, cp
# and commit), with --test also chromium and its fonts (the inspector's browser tests; the page
# uses DejaVu), docker-registry, apache2-utils (htpasswd), openssl and zstd (the registry tests;
# openssl also makes the API's TLS test certificates), bsdutils (`script`: a terminal for the
# CLI's detach-keys and exec terminal tests), curl (the exec tests' raw API calls), and the npm
# packages from package-lock.json. Prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=()
if [ "${1:-}" = "--test" ]; then
  extra=(chromium fonts-dejavu-core docker-registry apache2-utils openssl zstd bsdutils curl)
  shift
fi
need=()
for pkg in containerd runc busybox-static tini attr "${extra[@]}" "$@"; do
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
