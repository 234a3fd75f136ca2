#!/usr/bin/env bash
# Benchmark: docker pull (cold, and with 4 of 5 layers present) and docker push of a ~50 MB
# image of 5 layers, statedock against Debian's dockerd 20.10 in one run, against the same
# local docker-registry; prints medians and the ratios statedock/dockerd. RUNS=3 by default;
# LAYER_MB (12) sizes each random layer. Installs docker.io and docker-registry if missing. Root only.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} …"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash scripts/setup.sh
node scripts/build.mjs
exec node --import tsx test/bench/pull-push-vs-dockerd.ts
