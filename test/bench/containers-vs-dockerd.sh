#!/usr/bin/env bash
# Benchmark (issue 4's figures beyond the shared harness): in one run, for Debian's dockerd and
# statedock: `docker ps -a` with N (1,000) containers, daemon start-up (exec → first /_ping)
# with those N containers on disk, and 50 concurrent `docker run --rm`. Prints medians and the
# ratios statedock/dockerd. Root only; uses /tmp/sdbench.* and stops only what it starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000}; RUNS=${RUNS:-5}; CONC=${CONC:-50}
command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
bash scripts/setup.sh >/dev/null; node scripts/build.mjs 2>/dev/null
BASE=$(mktemp -d /tmp/sdbench.XXXX); PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done; for m in $(grep -o "$BASE[^ ]*" /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done; rm -rf "$BASE"; }
trap cleanup EXIT
mkdir -p $BASE/rootfs/bin && cp /bin/busybox $BASE/rootfs/bin/ && for a in sh true sleep; do ln -sf busybox $BASE/rootfs/bin/$a; done && tar -C $BASE/rootfs -cf $BASE/img.tar .
now() { date +%s%N; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A R
start() { # name cmd dir
  local cmd=$2 d=$3; mkdir -p $d
  cmd=${cmd//\{root\}/$d/root}; cmd=${cmd//\{exec\}/$d/exec}; cmd=${cmd//\{sock\}/$d/d.sock}; cmd=${cmd//\{pid\}/$d/d.pid}
  local t0; t0=$(now); setsid bash -c "exec $cmd" >>$d/log 2>&1 & PID=$!
  until curl -sf --unix-socket $d/d.sock http://x/_ping >/dev/null 2>&1; do sleep 0.005; kill -0 $PID 2>/dev/null || { tail -5 $d/log; exit 1; }; done
  LAST=$(( ($(now) - t0) / 1000000 ))
}
stop() { kill -TERM $PID; while kill -0 $PID 2>/dev/null; do sleep 0.05; done; PID=""; }
for spec in "dockerd|dockerd --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none" \
            "statedock|node $(pwd)/bin/statedock.js daemon --data-root {root} --exec-root {exec} -H unix://{sock} --pidfile {pid} --iptables=false --bridge=none"; do
  name=${spec%%|*}; cmd=${spec#*|}; d=$BASE/$name
  start $name "$cmd" $d; export DOCKER_HOST=unix://$d/d.sock
  docker import $BASE/img.tar bench:latest >/dev/null
  echo "$name: creating $N containers …" >&2
  for i in $(seq $N); do curl -sf --unix-socket $d/d.sock -X POST -H 'Content-Type: application/json' -d '{"Image":"bench","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}' http://x/v1.41/containers/create >/dev/null; done
  for r in $(seq $RUNS); do t0=$(now); docker ps -a >/dev/null; R[ps|$name]+="$(( ($(now)-t0)/1000000 )) "; done
  echo "$name: $CONC concurrent docker run --rm …" >&2
  for r in $(seq $RUNS); do t0=$(now); pids=(); for j in $(seq $CONC); do docker run --rm --network none bench true >/dev/null 2>&1 & pids+=($!); done; wait "${pids[@]}"; R[conc|$name]+="$(( ($(now)-t0)/1000000 )) "; done
  stop
  for r in $(seq $RUNS); do start $name "$cmd" $d; R[startup|$name]+="$LAST "; stop; done
  unset DOCKER_HOST
done
for m in ps conc startup; do
  a=$(echo ${R[$m|dockerd]} | median); b=$(echo ${R[$m|statedock]} | median)
  label=$m; [ $m = ps ] && label="ps_a_${N}"; [ $m = conc ] && label="concurrent${CONC}_run_rm"; [ $m = startup ] && label="startup_with_${N}"
  echo "metric=$label dockerd=$a statedock=$b ratio=$(awk -v a=$a -v b=$b 'BEGIN{printf "%.2f", b/a}')"
done
