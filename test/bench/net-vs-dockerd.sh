#!/usr/bin/env bash
# Benchmark: statedock's container networking against Debian's dockerd 20.10, each on a bridge
# and subnets of the benchmark's own (made here, given with -b; never docker0):
#   run_rm_bridge     docker run --rm on the default bridge (ms)
#   publish_first     docker run -d -p H:80 httpd, then the first answer on 127.0.0.1:H (ms)
#   concurrent10_net  10 concurrent docker run --rm on a user network (ms, all of them)
#   kill_restart      SIGKILL with COUNT containers running on the bridge, then the restart:
#                     until the API answers and no stale veth is left (ms); and each daemon's
#                     own stale-sandbox clean-up (dockerd: its "Removing stale sandbox" log lines,
#                     first to last; statedock: its networkController step, from the flight recorder)
# Prints "metric=... daemon=... median=... min=... max=..." and "ratio metric=... statedock/dockerd=...".
# RUNS (default 5) runs of each of the first three; COUNT (default 100) containers for kill_restart;
# ONLY=a,b narrows the metrics. Installs docker.io if missing. Root only. Stops only what it starts.
set -u
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}; COUNT=${COUNT:-100}; ONLY=${ONLY:-}
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
if ! command -v dockerd >/dev/null; then
  echo "installing Debian's docker.io (dockerd 20.10) to compare against …"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
bash scripts/setup.sh >/dev/null
node scripts/build.mjs >/dev/null
BASE=$(mktemp -d /tmp/net-bench.XXXX)
tag=$(printf '%04x' $((RANDOM % 65536)))
oct=$(( (RANDOM % 40) * 4 + 60 ))   # four /24s of 10.213.0.0/16: bridge, user network, pool, spare
mkdir -p $BASE/rootfs/bin $BASE/rootfs/www
cp /bin/busybox $BASE/rootfs/bin/
for a in sh echo true sleep cat httpd nc; do ln -sf busybox $BASE/rootfs/bin/$a; done
echo bench > $BASE/rootfs/www/index.html
tar -C $BASE/rootfs -cf $BASE/busybox.tar .

declare -A R
PID=""; NAME=""; BR=""; DIR=""
rec() { R[$1|$2]+="$3 "; }
stats() { echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "median=NA min=NA max=NA"} else {print "median=" a[int((NR+1)/2)] " min=" a[1] " max=" a[NR]}}'; }
median() { echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR==0) ? "NA" : a[int((NR+1)/2)]}'; }

cmd_of() { # name dir bridge → the daemon's command line
  local d=$2 common="--data-root $2/root --exec-root $2/exec -H unix://$2/d.sock --pidfile $2/d.pid -b $3 --default-address-pool base=10.213.$(( $4 + 2 )).0/24,size=28"
  if [ "$1" = dockerd ]; then echo "dockerd $common"; else echo "node $(pwd)/bin/statedock.js daemon $common"; fi
}
start() { # name dir bridge octet
  setsid bash -c "exec $(cmd_of $1 $2 $3 $4)" >>$2/log 2>&1 &
  PID=$!
  local i=0
  until curl -sf --unix-socket $2/d.sock http://x/_ping >/dev/null 2>&1; do
    sleep 0.005; i=$((i+1)); if [ $i -gt 12000 ] || ! kill -0 $PID 2>/dev/null; then echo "$1 did not answer; log:"; tail -5 $2/log; return 1; fi
  done
}
stop() { [ -n "$PID" ] && { kill -TERM $PID 2>/dev/null; local i=0; while kill -0 $PID 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; kill -KILL $PID 2>/dev/null; }; PID=""; }
veths() { ip -j link show master $1 2>/dev/null | grep -o '"ifname":"veth[^"]*"' | wc -l; }
# What each daemon leaves: its rules (dockerd's DOCKER chains only when no other dockerd runs), links, mounts.
clean() { # name dir bridge
  if [ "$1" = statedock ]; then
    node --import tsx -e "import('./test/support/net.ts').then((m) => m.cleanupNet({ root: '$2/root', exec: '$2/exec' }, ['$3']))" 2>/dev/null
  else
    for l in $(ip -j link show master $3 2>/dev/null | grep -o '"ifname":"[^"]*"' | cut -d'"' -f4); do ip link del $l 2>/dev/null; done
    # The user network's bridge: br-<the first 12 of its ID>.
    [ -n "${NETID:-}" ] && ip link del br-${NETID:0:12} 2>/dev/null
    # dockerd's chains are global: removed unless another dockerd with iptables runs.
    others=$(for p in $(pgrep -x dockerd); do tr '\0' ' ' < /proc/$p/cmdline; echo; done | grep -v -- '--iptables=false')
    if [ -z "$others" ]; then
      for t in filter nat; do iptables-save -t $t | grep -E '^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*(DOCKER|'"$3"'|10\.213\.'"$4"'\.)' | sed 's/^-A/-D/' | while read -r r; do iptables -t $t $r 2>/dev/null; done
        for c in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do iptables -t $t -F $c 2>/dev/null; iptables -t $t -X $c 2>/dev/null; done; done
    else echo "another dockerd runs: its DOCKER chains are left as they are"; fi
  fi
  # Shims (and their containers) a dead containerd left behind, of this daemon's exec root only.
  for s in $(pgrep -f "containerd-shim-runc-v2 .*-address $2/"); do
    for c in $(pgrep -P $s); do kill -KILL $c 2>/dev/null; done; kill -KILL $s 2>/dev/null
  done
  for m in $(grep " $2/" /proc/mounts | cut -d' ' -f2 | sort -r); do umount -l $m 2>/dev/null; done
  ip link del $3 2>/dev/null
}
cleanup() { stop; [ -n "$NAME" ] && clean $NAME $DIR $BR $BOCT; rm -rf $BASE 2>/dev/null; }
trap cleanup EXIT
trap 'echo "interrupted (SIGINT)"; exit 130' INT
trap 'echo "terminated (SIGTERM)"; exit 143' TERM

i=0
for NAME in dockerd statedock; do
  BOCT=$(( oct + i * 100 )); BOCT=$(( BOCT % 240 + 4 )); i=$((i+1))
  BR=sdb-$NAME-$tag; BR=${BR:0:15}; DIR=$BASE/$NAME; mkdir -p $DIR
  ip link add $BR type bridge && ip addr add 10.213.$BOCT.1/24 dev $BR && ip link set $BR up
  start $NAME $DIR $BR $BOCT || exit 1
  export DOCKER_HOST=unix://$DIR/d.sock DOCKER_CONFIG=$DIR/cli
  mkdir -p $DOCKER_CONFIG
  docker import -c 'CMD ["sh"]' $BASE/busybox.tar bb >/dev/null
  NETID=$(docker network create --subnet 10.213.$(( BOCT + 1 )).0/24 benchnet)
  docker run --rm bb true >/dev/null 2>&1   # warm the image and the bridge
  if want run_rm_bridge; then
    for r in $(seq $RUNS); do t0=$(now); docker run --rm bb true >/dev/null; rec run_rm_bridge $NAME $(ms $t0 $(now)); done
  fi
  if want publish_first; then
    for r in $(seq $RUNS); do
      port=$(( 41000 + RANDOM % 9000 ))
      t0=$(now)
      c=$(docker run -d -p $port:80 bb httpd -f -p 80 -h /www)
      n=0; until curl -sf -m 1 http://127.0.0.1:$port/ >/dev/null 2>&1; do sleep 0.002; n=$((n+1)); [ $n -gt 5000 ] && break; done
      rec publish_first $NAME $(ms $t0 $(now))
      docker rm -f $c >/dev/null
    done
  fi
  if want concurrent10_net; then
    for r in $(seq $RUNS); do
      t0=$(now)
      # Each CLI in a session of its own: a signal one sends to its group never reaches this script.
      pids=()
      for k in $(seq 10); do setsid docker run --rm --network benchnet bb true >/dev/null & pids+=($!); done
      wait "${pids[@]}"   # these only: a bare wait would wait for the daemon too
      rec concurrent10_net $NAME $(ms $t0 $(now))
    done
  fi
  if want kill_restart; then
    for k in $(seq $COUNT); do docker run -d bb sh -c 'trap "exit 0" TERM; sleep 1000 & wait' >/dev/null; done
    echo "$NAME: $COUNT running, $(veths $BR) veths on $BR"
    kill -KILL $PID; while kill -0 $PID 2>/dev/null; do sleep 0.01; done
    # dockerd's containerd dies with it (Pdeathsig); a restart that finds it still exiting waits for
    # a socket that never answers. statedock's containerd lives on and is adopted.
    if [ $NAME = dockerd ]; then
      cpid=$(cat $DIR/exec/containerd/containerd.pid 2>/dev/null || echo)
      n=0; while [ -n "$cpid" ] && kill -0 $cpid 2>/dev/null && [ $n -lt 2000 ]; do sleep 0.01; n=$((n+1)); done
    fi
    : > $DIR/log.restart
    t0=$(now)
    setsid bash -c "exec $(cmd_of $NAME $DIR $BR $BOCT)" >>$DIR/log.restart 2>&1 &
    PID=$!
    until curl -sf --unix-socket $DIR/d.sock http://x/_ping >/dev/null 2>&1; do sleep 0.005; kill -0 $PID 2>/dev/null || break; done
    n=0; until [ "$(veths $BR)" = 0 ] || [ $n -gt 36000 ]; do sleep 0.005; n=$((n+1)); done
    if [ "$(veths $BR)" != 0 ]; then echo "$NAME left $(veths $BR) stale veths (log: $DIR/log.restart)"; tail -3 $DIR/log.restart; fi
    rec kill_restart $NAME $(ms $t0 $(now))
    if [ $NAME = dockerd ]; then
      first=$(grep -m1 'Removing stale sandbox' $DIR/log.restart | grep -o 'time="[^"]*"' | cut -d'"' -f2)
      last=$(grep 'Removing stale sandbox' $DIR/log.restart | tail -1 | grep -o 'time="[^"]*"' | cut -d'"' -f2)
      n=$(grep -c 'Removing stale sandbox' $DIR/log.restart)
      [ -n "$first" ] && rec stale_cleanup $NAME $(( ($(date -d "$last" +%s%N) - $(date -d "$first" +%s%N)) / 1000000 ))
      echo "dockerd removed $n stale sandboxes"
    else
      tr=$(ls -t $DIR/exec/traces/*.jsonl | head -1)
      rec stale_cleanup $NAME $(node -e "
        const rs = require('fs').readFileSync('$tr', 'utf8').trim().split('\n').slice(1).map(JSON.parse);
        const t = (m) => rs.find((r) => r.kind === 'mark' && r.mark.mark === m && r.mark.step === 'networkController').t;
        console.log(Math.round(t('step.done') - t('step.start')));")
    fi
    docker rm -f $(docker ps -aq) >/dev/null 2>&1
  fi
  docker rm -f $(docker ps -aq) >/dev/null 2>&1
  docker network rm benchnet >/dev/null 2>&1
  stop; clean $NAME $DIR $BR $BOCT; NAME=""
done

for m in run_rm_bridge publish_first concurrent10_net kill_restart stale_cleanup; do
  for d in dockerd statedock; do [ -n "${R[$m|$d]:-}" ] && echo "metric=$m daemon=$d $(stats ${R[$m|$d]})"; done
  a=$(median ${R[$m|dockerd]:-}); b=$(median ${R[$m|statedock]:-})
  if [ "$a" != NA ] && [ "$b" != NA ] && [ -n "$a" ] && [ "$a" -gt 0 ] 2>/dev/null; then
    echo "ratio metric=$m statedock/dockerd=$(awk -v a=$a -v b=$b 'BEGIN {printf "%.2f", b/a}')"
  fi
done
