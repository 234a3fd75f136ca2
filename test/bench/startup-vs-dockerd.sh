#!/usr/bin/env bash
# Benchmark (issue 16): start-up against Debian's dockerd 20.10, the two measured in alternation
# so the shared machine's load falls on both alike. Per daemon, medians of RUNS runs of:
#   startup_cold  exec → first /_ping on a new data root
#   startup_warm  exec → first /_ping on the root the cold start left
#   first_run     exec → the end of the first `docker run --rm IMAGE true`, on a root that
#                 already holds the image (the run is sent the moment /_ping answers)
#   startup_with_N  exec → first /_ping with N stored containers (only with STORED=N, e.g. 1000)
# then the ratios statedock/dockerd, and statedock's start-up phases from its flight recorder's
# header (process ms / CPU ms at each: Node's bootstrap, the bundle, the recorder, the pidfile,
# the API listening, a first client served, every step its answers wait for done, containerd ready, containerd's
# client connected, ready).
# statedock runs as installed (bin/statedock); both daemons with their own --data-root, --exec-root, -H,
# --pidfile, --iptables=false and --bridge=none (no network set-up on either side). Root only; uses its own mktemp dir under /tmp and stops, by PID,
# only what it starts. RUNS (default 7), STORED (default 0). OTHER=<checkout of another build,
# built> runs that build's bin/statedock as a third daemon in the same alternation, and prints
# the ratios statedock/other too (a change to start-up measured like for like).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-7}; STORED=${STORED:-0}
command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
bash scripts/setup.sh >/dev/null
node scripts/build.mjs 2>/dev/null
BASE=$(mktemp -d /tmp/sdstartup.XXXX); PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; fi
  for m in $(grep -o "$BASE[^ ]*" /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p $BASE/rootfs/bin && cp /bin/busybox $BASE/rootfs/bin/ && for a in sh true; do ln -sf busybox $BASE/rootfs/bin/$a; done && tar -C $BASE/rootfs -cf $BASE/img.tar .
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR==0) print "NA"; else print a[int((NR+1)/2)]}'; }
declare -A CMD R
CMD[dockerd]="dockerd --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none"
CMD[statedock]="$(pwd)/bin/statedock daemon --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none"
NAMES=(dockerd statedock)
if [ -n "${OTHER:-}" ]; then
  CMD[other]="$OTHER/bin/statedock daemon --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none"
  NAMES+=(other)
fi

# Starts daemon $1 on dir $2 (PID set); returns once /_ping answers, LAST = ms from exec.
start() {
  local cmd=${CMD[$1]} d=$2; mkdir -p $d
  cmd=${cmd//\{root\}/$d/root}; cmd=${cmd//\{exec\}/$d/exec}; cmd=${cmd//\{sock\}/$d/d.sock}; cmd=${cmd//\{pid\}/$d/d.pid}
  T0=$(now); setsid bash -c "exec $cmd" >>$d/log 2>&1 & PID=$!
  local i=0
  until curl -sf --unix-socket $d/d.sock http://x/_ping >/dev/null 2>&1; do
    sleep 0.002; i=$((i+1))
    if [ $i -gt 15000 ] || ! kill -0 $PID 2>/dev/null; then echo "$1 did not answer; log $d/log:" >&2; tail -5 $d/log >&2; exit 1; fi
  done
  LAST=$(ms $T0 $(now))
}
stop() { kill -TERM $PID; while kill -0 $PID 2>/dev/null; do sleep 0.01; done; PID=""; }
# statedock's phases, from the header of the newest flight recorder under exec root $1.
phases() {
  local f; f=$(ls -t $1/traces/*.jsonl 2>/dev/null | head -1 || true)
  [ -n "$f" ] && head -1 "$f" | node -e 'let s="";process.stdin.on("data",(c)=>s+=c).on("end",()=>{for (const p of JSON.parse(s).meta.phases ?? []) console.log(`${p.phase} ${Math.round(p.ms)} ${Math.round(p.cpuMs)}`)})'
}

# A root per daemon that holds the image (and, with STORED, N created containers).
for n in "${NAMES[@]}"; do
  start $n $BASE/$n-img
  DOCKER_HOST=unix://$BASE/$n-img/d.sock docker import $BASE/img.tar bench:latest >/dev/null
  stop
  if [ "$STORED" -gt 0 ]; then
    start $n $BASE/$n-stored
    DOCKER_HOST=unix://$BASE/$n-stored/d.sock docker import $BASE/img.tar bench:latest >/dev/null
    echo "$n: creating $STORED containers …" >&2
    for i in $(seq $STORED); do curl -sf --unix-socket $BASE/$n-stored/d.sock -X POST -H 'Content-Type: application/json' -d '{"Image":"bench","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}' http://x/v1.41/containers/create >/dev/null; done
    stop
  fi
done

for i in $(seq $RUNS); do
  for n in "${NAMES[@]}"; do
    d=$BASE/$n-cold-$i
    start $n $d; R[startup_cold|$n]+="$LAST "; stop
    start $n $d; R[startup_warm|$n]+="$LAST "; stop
    d=$BASE/$n-img
    start $n $d
    DOCKER_HOST=unix://$d/d.sock docker run --rm --network none bench true >/dev/null || { echo "$n: the first run failed" >&2; tail -5 $d/log >&2; }
    R[first_run|$n]+="$(ms $T0 $(now)) "
    stop
    if [ $n != dockerd ]; then
      while read -r phase wall cpu; do R[phase_ms|$n|$phase]+="$wall "; R[phase_cpu|$n|$phase]+="$cpu "; done < <(phases $d/exec)
    fi
    rm -rf $BASE/$n-cold-$i
    if [ "$STORED" -gt 0 ]; then start $n $BASE/$n-stored; R[startup_with_$STORED|$n]+="$LAST "; stop; fi
  done
done

metrics=(startup_cold startup_warm first_run); [ "$STORED" -gt 0 ] && metrics+=(startup_with_$STORED)
for m in "${metrics[@]}"; do
  line="metric=$m"; runs="(runs:"
  for n in "${NAMES[@]}"; do line+=" $n=$(echo ${R[$m|$n]} | median)"; runs+=" $n ${R[$m|$n]};"; done
  echo "$line $runs)"
done
for n in "${NAMES[@]}"; do
  [ $n = dockerd ] && continue
  echo "$n's phases at the first run (median process ms / CPU ms):"
  for p in bootstrap bundle modules recorder pidfile listening served answering containerdReady containerdConnected ready; do
    [ -n "${R[phase_ms|$n|$p]:-}" ] && echo "  phase=$p ms=$(echo ${R[phase_ms|$n|$p]} | median) cpu_ms=$(echo ${R[phase_cpu|$n|$p]} | median)"
  done
done
ratio() { awk -v a="$(echo ${R[$1|$3]} | median)" -v b="$(echo ${R[$1|$2]} | median)" 'BEGIN{printf "%.2f", b/a}'; }
for m in "${metrics[@]}"; do
  echo "ratio metric=$m statedock/dockerd=$(ratio $m statedock dockerd)"
  if [ -n "${OTHER:-}" ]; then echo "ratio metric=$m statedock/other=$(ratio $m statedock other)"; fi
done
