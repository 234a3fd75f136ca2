#!/usr/bin/env bash
# Benchmark: statedock against Debian's dockerd 20.10, side by side in one run, alternating run
# by run (each daemon with its own roots, socket and pidfile, --bridge=none --iptables=false for
# both; stopped by PID):
#   exec_true_ms    docker exec CONTAINER true
#   cp_in_ms        docker cp of a SIZE_MB directory into a running container
#   cp_out_ms       docker cp of that directory out of it
#   stats_ms        docker stats --no-stream with COUNT running containers
# Prints each daemon's median of RUNS and the ratio statedock/dockerd (target ≤ 0.8).
# Knobs: RUNS (default 10), COUNT (default 20), SIZE_MB (default 50), ONLY (a metric's name,
# e.g. ONLY=cp for both copies: the others are skipped and print no figure). Installs docker.io if
# missing. Root only. A check with small counts: RUNS=2 COUNT=3 SIZE_MB=5 bash test/bench/exec-cp-stats-vs-dockerd.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-10}
count=${COUNT:-20}
size_mb=${SIZE_MB:-50}
only=${ONLY:-}
# wanted METRIC: whether METRIC is measured in this run.
wanted() { [ -z "$only" ] || [[ $1 == $only* ]]; }
if ! command -v dockerd >/dev/null; then
  echo "installing Debian's docker.io (dockerd 20.10) to compare against …"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
bash scripts/setup.sh >/dev/null
node scripts/build.mjs >/dev/null

work=$(mktemp -d /tmp/ecsb-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null || true; done
  grep " $work/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A busybox image, and the directory to copy (SIZE_MB in 1 MiB files).
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc" "$work/payload"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep cat; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
for i in $(seq 1 "$size_mb"); do head -c 1048576 /dev/urandom > "$work/payload/f$i"; done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

# start NAME COMMAND… : runs a daemon in the background, waits for its socket, records its PID.
start() {
  local name=$1; shift
  mkdir -p "$work/$name"
  "$@" >"$work/$name/log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 300); do
    curl -s --unix-socket "$work/$name/d.sock" http://x/_ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2; tail -20 "$work/$name/log" >&2; exit 1
}

declare -A result
daemons=(dockerd statedock)
cli() { docker -H "unix://$work/$1/d.sock" "${@:2}"; }
# timed NAME METRIC COMMAND…: runs the command, appends its milliseconds to NAME's METRIC.
timed() {
  local t0; t0=$(now_ms); "${@:3}" >/dev/null; echo $(( $(now_ms) - t0 )) >> "$work/$1.$2"
}

# Both daemons run at once (each idle while the other is measured); every metric alternates
# between them run by run, so a machine shared with other work weighs on both alike.
start dockerd dockerd --data-root "$work/dockerd/root" --exec-root "$work/dockerd/exec" -H "unix://$work/dockerd/d.sock" \
  --pidfile "$work/dockerd/d.pid" --iptables=false --bridge=none
# The same network set-up as dockerd's: no default bridge (never the host's docker0), no iptables rules.
start statedock node "$(pwd)/bin/statedock.js" daemon --data-root "$work/statedock/root" --exec-root "$work/statedock/exec" \
  -H "unix://$work/statedock/d.sock" --pidfile "$work/statedock/d.pid" --bridge=none --iptables=false
for n in "${daemons[@]}"; do
  cli "$n" import "$work/busybox.tar" bench:latest >/dev/null
  cli "$n" run -d --name web --network none bench sleep 100000 >/dev/null
done
if wanted exec; then
  for _ in $(seq 1 "$runs"); do for n in "${daemons[@]}"; do timed "$n" exec cli "$n" exec web true; done; done
fi
# Page cache in memory this virtual machine's guest has not touched lately costs ~10x more to
# fill (measured: 50 MiB of new files in 20 ms, then 400-550 ms once ~150 MiB were written,
# the same writes in 25 ms once memory had been used and freed). The copies in would then time
# the host's page faults, falling on whichever daemon writes first into cold memory: as much
# memory as they will write, and more, is filled and freed once before.
if wanted cp; then
  dd if=/dev/zero of="$work/warm" bs=1M count=$((size_mb * runs * 2 + 512)) status=none
  rm -f "$work/warm"
  for i in $(seq 1 "$runs"); do for n in "${daemons[@]}"; do timed "$n" cp_in cli "$n" cp "$work/payload" "web:/tmp/p$i"; done; done
  for i in $(seq 1 "$runs"); do
    for n in "${daemons[@]}"; do
      rm -rf "$work/$n/out"; mkdir "$work/$n/out"
      timed "$n" cp_out cli "$n" cp "web:/tmp/p$i" "$work/$n/out/"
    done
  done
fi
if wanted stats; then
  for n in "${daemons[@]}"; do for i in $(seq 2 "$count"); do cli "$n" run -d --network none bench sleep 100000 >/dev/null; done; done
  for _ in $(seq 1 "$runs"); do for n in "${daemons[@]}"; do timed "$n" stats cli "$n" stats --no-stream; done; done
fi
for n in "${daemons[@]}"; do
  cli "$n" rm -f $(cli "$n" ps -aq) >/dev/null
  for m in exec cp_in cp_out stats; do
    if [ -s "$work/$n.$m" ]; then result[$n.$m]=$(median < "$work/$n.$m"); else result[$n.$m]=-; fi
  done
done

printf '%-16s %10s %10s %8s\n' metric statedock dockerd ratio
for m in exec cp_in cp_out stats; do
  s=${result[statedock.$m]}; k=${result[dockerd.$m]}
  [ "$s" = - ] && continue
  label=$m; [ "$m" = exec ] && label=exec_true_ms || label=${m}_ms
  printf '%-16s %10s %10s %8s\n' "$label" "$s" "$k" "$(awk -v a="$s" -v b="$k" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
done
echo "(medians of $runs runs; cp of $size_mb MiB in $size_mb files; stats with $count containers)"
