#!/usr/bin/env bash
# Benchmark: `docker rm` of an exited container, statedock against Debian's dockerd, the two
# daemons running side by side and measured in alternation (one container on each, then the
# next), so that the load of a shared machine falls on both alike; the shared harness measures
# one daemon after the other, where a change of load shows as a change of ratio. Prints, per
# daemon, the median, min and max of `docker rm` (the CLI: /_ping + DELETE) and of the DELETE
# alone (curl), then the ratios statedock/dockerd. RUNS (default 20). Root only; installs
# docker.io if missing; uses its own temporary roots and stops only the daemons it started.
# With BEFORE=/path/to/an/older/statedock/checkout a third daemon runs that checkout's build.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-20}
if ! command -v dockerd >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
node scripts/build.mjs >/dev/null
base=$(mktemp -d /tmp/rm-bench.XXXX)
declare -A pid
cleanup() { for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done; sleep 1; rm -rf "$base" 2>/dev/null || true; }
trap cleanup EXIT
mkdir -p "$base/rootfs/bin" "$base/cfg" && cp /bin/busybox "$base/rootfs/bin/" && for a in sh true sleep; do ln -s busybox "$base/rootfs/bin/$a"; done
tar -C "$base/rootfs" -cf "$base/busybox.tar" .
names=(dockerd statedock)
declare -A cmd=(
  [dockerd]="dockerd --iptables=false --bridge=none"
  [statedock]="node $(pwd)/bin/statedock.js daemon --iptables=false --bridge=none"
)
if [ -n "${BEFORE:-}" ]; then names+=(before); cmd[before]="node $BEFORE/bin/statedock.js daemon --iptables=false --bridge=none"; fi
for n in "${names[@]}"; do
  d=$base/$n; mkdir -p "$d"
  setsid bash -c "exec ${cmd[$n]} --data-root $d/root --exec-root $d/exec -H unix://$d/d.sock --pidfile $d/d.pid" >"$d/log" 2>&1 &
  pid[$n]=$!
  for _ in $(seq 300); do curl -sf --unix-socket "$d/d.sock" http://x/_ping >/dev/null 2>&1 && break; sleep 0.05; done
  DOCKER_CONFIG=$base/cfg docker -H "unix://$d/d.sock" import "$base/busybox.tar" bench-busybox >/dev/null
done
now() { date +%s%N; }
declare -A cli api
for i in $(seq $((runs + 2))); do
  for n in "${names[@]}"; do
    export DOCKER_HOST=unix://$base/$n/d.sock DOCKER_CONFIG=$base/cfg
    for how in cli api; do
      id=$(docker create --network none bench-busybox sleep 1000)
      docker start "$id" >/dev/null; docker kill "$id" >/dev/null; docker wait "$id" >/dev/null
      t0=$(now)
      if [ $how = cli ]; then docker rm "$id" >/dev/null; else curl -sf -X DELETE --unix-socket "$base/$n/d.sock" "http://x/v1.41/containers/$id"; fi
      t=$(( ($(now) - t0) / 100000 ))
      # the first two rounds warm both daemons up; they are not counted
      if [ "$i" -gt 2 ]; then if [ $how = cli ]; then cli[$n]+="$t "; else api[$n]+="$t "; fi; fi
    done
  done
done
stats() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %.1f", a[int((NR+1)/2)]/10, a[1]/10, a[NR]/10}'; }
declare -A med
for n in "${names[@]}"; do
  for how in cli api; do
    if [ $how = cli ]; then v=${cli[$n]}; else v=${api[$n]}; fi
    read -r m lo hi <<<"$(echo "$v" | stats)"
    med[$n.$how]=$m
    echo "metric=rm_$how daemon=$n median=$m min=$lo max=$hi (ms, $runs runs)"
  done
done
for n in "${names[@]:1}"; do
  for how in cli api; do
    echo "ratio metric=rm_$how $n/dockerd=$(awk -v a="${med[$n.$how]}" -v b="${med[dockerd.$how]}" 'BEGIN {printf "%.2f", a / b}')"
  done
done
