#!/usr/bin/env bash
# Benchmark: statedock against Debian's dockerd 20.10 in one run, with the shared harness
# (../shared/bench/daemon-bench.sh): time from exec to the first /_ping (cold and warm),
# SIGTERM to exit, and resident memory of the daemon with its containerd. Prints the
# figures and the ratios statedock/dockerd; with the default ONLY also the container latencies
# (run --rm, create, start, kill+wait, rm, 10 concurrent). Installs docker.io if missing. Root only.
set -euo pipefail
cd "$(dirname "$0")/../.."
harness=../shared/bench/daemon-bench.sh
[ -f "$harness" ] || { echo "the shared harness is missing: $harness" >&2; exit 1; }
if ! command -v dockerd >/dev/null; then
  echo "installing Debian's docker.io (dockerd 20.10) to compare against …"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
bash scripts/setup.sh
node scripts/build.mjs
runs=${RUNS:-5}
exec bash "$harness" --runs "$runs" --only "${ONLY:-startup_cold,startup_warm,shutdown_idle,run_rm,create,start,stop,rm,concurrent10,rss_kib}" \
  dockerd "dockerd --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none" \
  statedock "$(pwd)/bin/statedock daemon --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none"
