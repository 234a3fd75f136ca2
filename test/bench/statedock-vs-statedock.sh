#!/usr/bin/env bash
# Benchmark: this statedock against another build of it (issue 10, "no benchmark gets worse"),
# like for like and in one run: both daemons are up at once and every operation alternates
# between them (the first one first in odd rounds, second in even ones), so a noisy shared
# machine weighs on both alike. Times the stock docker CLI: run --rm, create, start, kill+wait,
# rm, and (CONC=1) ten concurrent run --rm; prints medians and the ratios this/other.
#
#   OTHER=/tmp/old-e3a RUNS=7 bash test/bench/statedock-vs-statedock.sh
#
# OTHER: the other checkout, built (its bin/statedock.js). ALLOW_ALL_SECCOMP=1 gives this build
# an allow-all seccomp profile, for an OTHER that applied no filter (e3a993d). The image is a
# busybox whose commands are copies, not symlinks (e3a993d's import cannot run symlinked ones).
# Needs root, the docker CLI and /bin/busybox; uses /tmp/sd-vs-sd.* and stops only its daemons.
set -euo pipefail
cd "$(dirname "$0")/../.."
OTHER=${OTHER:?OTHER=<path of the other statedock checkout>}
RUNS=${RUNS:-5}
node scripts/build.mjs >/dev/null 2>&1 || { echo "the build failed: node scripts/build.mjs" >&2; exit 1; }
work=$(mktemp -d /tmp/sd-vs-sd.XXXXXX)
mkdir -p "$work/rootfs/bin"
for a in busybox sh true sleep echo; do cp /bin/busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
declare -A CMD PID R IDS
NAMES=(other this)
CMD[other]="node $OTHER/bin/statedock.js daemon"
CMD[this]="node $(pwd)/bin/statedock.js daemon"
if [ -n "${ALLOW_ALL_SECCOMP:-}" ]; then
  echo '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}' >"$work/allow.json"
  CMD[this]+=" --seccomp-profile $work/allow.json"
fi
cleanup() {
  for n in "${NAMES[@]}"; do [ -n "${PID[$n]:-}" ] && kill -TERM "${PID[$n]}" 2>/dev/null || true; done
  for n in "${NAMES[@]}"; do
    [ -n "${PID[$n]:-}" ] || continue
    while kill -0 "${PID[$n]}" 2>/dev/null; do sleep 0.05; done
  done
  rm -rf "$work"
}
trap cleanup EXIT
for n in "${NAMES[@]}"; do
  d=$work/$n
  mkdir -p "$d"
  setsid bash -c "exec ${CMD[$n]} --data-root $d/root --exec-root $d/exec -H unix://$d/d.sock --pidfile $d/d.pid --iptables=false --bridge=none" >>"$d/log" 2>&1 </dev/null &
  PID[$n]=$!
done
for n in "${NAMES[@]}"; do
  until curl -sf --unix-socket "$work/$n/d.sock" http://x/_ping >/dev/null 2>&1; do
    kill -0 "${PID[$n]}" 2>/dev/null || { echo "$n did not start:" >&2; tail -5 "$work/$n/log" >&2; exit 1; }
    sleep 0.05
  done
  DOCKER_HOST=unix://$work/$n/d.sock docker import "$work/busybox.tar" bench-busybox >/dev/null
done
now() { date +%s%N; }
rec() { R[$1|$2]+="$(( ($(now) - $3) / 1000000 )) "; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then ORDER=(other this); else ORDER=(this other); fi
  each() { for n in "${ORDER[@]}"; do export DOCKER_HOST=unix://$work/$n/d.sock; "$@"; done; }
  op_run() { local t; t=$(now); docker run --rm --network none bench-busybox true >/dev/null; rec run_rm "$n" "$t"; }
  op_create() { local t; t=$(now); IDS[$n]=$(docker create --network none bench-busybox sleep 1000); rec create "$n" "$t"; }
  op_start() { local t; t=$(now); docker start "${IDS[$n]}" >/dev/null; rec start "$n" "$t"; }
  op_stop() { local t; t=$(now); docker kill "${IDS[$n]}" >/dev/null; docker wait "${IDS[$n]}" >/dev/null; rec stop "$n" "$t"; }
  op_rm() { local t; t=$(now); docker rm "${IDS[$n]}" >/dev/null; rec rm "$n" "$t"; }
  op_conc() {
    local t pids=() j
    t=$(now)
    for j in $(seq 10); do docker run --rm --network none bench-busybox true >/dev/null & pids+=($!); done
    wait "${pids[@]}"
    rec concurrent10 "$n" "$t"
  }
  each op_run; each op_create; each op_start; each op_stop; each op_rm
  [ -z "${CONC:-}" ] || each op_conc
done
for m in run_rm create start stop rm concurrent10; do
  [ -n "${R[$m|this]:-}" ] || continue
  a=$(median "${R[$m|other]}"); b=$(median "${R[$m|this]}")
  echo "metric=$m other=$a this=$b ratio this/other=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')"
done
