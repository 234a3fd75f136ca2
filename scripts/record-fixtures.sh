#!/usr/bin/env bash
# Records the fixture traces test/effects/fixtures.test.ts replays (test/fixtures/traces/), with
# the current build: the three daemon-* ones are the flight recorders of a real `statedock
# daemon` driven by the stock docker CLI and stopped with SIGTERM, the sim one is the
# simulator's trace. Run it after a machine change makes a fixture diverge, as root, after
# `node scripts/build.mjs`:
#
#   bash scripts/record-fixtures.sh            # all four
#   bash scripts/record-fixtures.sh network    # one of: run push network sim
#
# Everything it makes lives under its own temp dir, its own bridge (sdfx-<pid>) and subnets
# in 10.231.0.0/16 (never docker0, never 172.17/16); it stops only the processes it started,
# by PID, and removes its bridges, veths, iptables chains, mounts and temp dirs on exit.
# sim-fail-layerstore.jsonl is not recorded here (it still replays; `statedock sim --seed 7
# --fail layerStore:EIO --trace FILE` makes it).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/test/fixtures/traces"
statedock=(node "$repo/bin/statedock.js")
[ "$(id -u)" = 0 ] || { echo "record-fixtures: needs root (containerd, mounts, bridges)" >&2; exit 1; }
for b in containerd runc docker docker-registry ip iptables-save; do
  command -v "$b" >/dev/null || { echo "record-fixtures: needs $b (scripts/setup.sh --test)" >&2; exit 1; }
done
[ -f "$repo/dist/statedock.cjs" ] || { echo "record-fixtures: run node scripts/build.mjs first" >&2; exit 1; }

work=$(mktemp -d /tmp/sdfx-XXXXXX)
daemon_pid=''
registry_pid=''
bridges=()
roots=()

log() { echo "record-fixtures: $*" >&2; }

# The daemon's iptables chains are named after a hash of its data root (machines/network/rules.ts).
chain_tag() {
  (cd "$repo" && node --import tsx -e \
    "import('./machines/network/rules.ts').then((m) => console.log('SD-' + m.chainTag(process.argv[1])))" "$1")
}

remove_rules() {
  local tag table='' line chain rest
  tag=$(chain_tag "$1")
  grep -q -- "$tag" <(iptables-save) || return 0
  # Jumps into the daemon's chains from the host's chains, then its own chains.
  while IFS= read -r line; do
    case "$line" in
      \**) table=${line#\*} ;;
      "-A $tag"*) ;;
      -A*"$tag"*)
        rest=${line#-A }
        chain=${rest%% *}
        eval "iptables -t $table -D $chain ${rest#* }" || true
        ;;
    esac
  done < <(iptables-save)
  for pass in F X; do
    table=''
    while IFS= read -r line; do
      case "$line" in
        \**) table=${line#\*} ;;
        ":$tag"*) chain=${line#:}; iptables -t "$table" "-$pass" "${chain%% *}" || true ;;
      esac
    done < <(iptables-save)
  done
}

cleanup() {
  set +e
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"; sleep 5; kill -KILL "$daemon_pid" 2>/dev/null
  fi
  [ -n "$registry_pid" ] && kill -TERM "$registry_pid" 2>/dev/null
  for root in "${roots[@]}"; do
    remove_rules "$root"
    # Bridges of user networks the daemon made and did not remove.
    for f in "$root"/network/files/network.*.json; do
      [ -f "$f" ] || continue
      b=$(node -e 'const n=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if (n.ownsBridge && n.bridge) console.log(n.bridge)' "$f")
      [ -n "$b" ] && bridges+=("$b")
    done
  done
  # containerd processes our daemons started (their config lives under our temp dir).
  for pid in $(pgrep -f "$work/.*/containerd/containerd.toml"); do kill -KILL "$pid"; done
  for b in "${bridges[@]}"; do
    for p in $(ip -o link show master "$b" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip link del "$p"
    done
    ip link show "$b" >/dev/null 2>&1 && ip link del "$b"
  done
  awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT

busybox_tar() { # dir applets...
  local dir=$1; shift
  mkdir -p "$dir/rootfs/bin"
  cp /bin/busybox "$dir/rootfs/bin/busybox"
  for a in "$@"; do ln -s busybox "$dir/rootfs/bin/$a"; done
  mkdir -p "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/tmp" "$dir/rootfs/etc"
  tar -C "$dir/rootfs" -cf "$dir/busybox.tar" .
}

start_daemon() { # dir flags...
  local dir=$1; shift
  roots+=("$dir/root")
  mkdir -p "$dir/docker-config"
  "${statedock[@]}" daemon --data-root "$dir/root" --exec-root "$dir/exec" -H "unix://$dir/d.sock" \
    --pidfile "$dir/d.pid" "$@" >"$dir/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 300); do
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$dir/daemon.log" >&2; exit 1; }
    [ -S "$dir/d.sock" ] && dk "$dir" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "daemon did not answer"; cat "$dir/daemon.log" >&2; exit 1
}

dk() { # dir docker-args...
  local dir=$1; shift
  DOCKER_CONFIG="$dir/docker-config" docker -H "unix://$dir/d.sock" "$@"
}

stop_daemon_and_keep() { # dir fixture-name
  local dir=$1 name=$2
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || { log "daemon exited with $?"; cat "$dir/daemon.log" >&2; exit 1; }
  daemon_pid=''
  local traces=("$dir"/exec/traces/daemon-*.jsonl)
  [ "${#traces[@]}" = 1 ] || { log "expected one flight recorder, found ${traces[*]}"; exit 1; }
  cp "${traces[0]}" "$out/$name"
  log "recorded $name ($(wc -l <"$out/$name") records)"
}

no_host_networking=(--bridge=none --iptables=false --ip-forward=false)

# docker run --rm, run -d / stop -t 1 / rm, and a --restart always container stopped at shutdown.
record_run() {
  local dir="$work/run" id
  mkdir -p "$dir"
  busybox_tar "$dir" sh echo true sleep cat
  start_daemon "$dir" "${no_host_networking[@]}"
  dk "$dir" import "$dir/busybox.tar" bb >/dev/null
  dk "$dir" run --rm bb echo hi
  id=$(dk "$dir" run -d bb sleep 1000)
  dk "$dir" stop -t 1 "$id" >/dev/null
  dk "$dir" rm "$id" >/dev/null
  dk "$dir" run -d --restart always --stop-timeout 1 bb sleep 1000 >/dev/null
  stop_daemon_and_keep "$dir" daemon-run-stop-rm-and-shutdown.jsonl
}

# push to Debian's docker-registry on loopback, rmi, pull, run --rm of the pulled image.
record_push() {
  local dir="$work/push" port ref
  mkdir -p "$dir/registry"
  busybox_tar "$dir" sh echo true sleep cat
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  cat >"$dir/registry/config.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $dir/registry/storage}, delete: {enabled: true}}
http: {addr: "127.0.0.1:$port"}
EOF
  docker-registry serve "$dir/registry/config.yml" >"$dir/registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 150); do grep -q 'listening on' "$dir/registry/log" && break; sleep 0.1; done
  grep -q 'listening on' "$dir/registry/log" || { cat "$dir/registry/log" >&2; exit 1; }
  start_daemon "$dir" "${no_host_networking[@]}"
  ref="127.0.0.1:$port/fx/bb:1"
  dk "$dir" import --change 'ENV PATH=/bin' "$dir/busybox.tar" "$ref" >/dev/null
  dk "$dir" push "$ref" >/dev/null
  dk "$dir" rmi "$ref" >/dev/null
  dk "$dir" pull "$ref" >/dev/null
  dk "$dir" run --rm "$ref" echo hello
  stop_daemon_and_keep "$dir" daemon-push-pull-run-and-shutdown.jsonl
  kill -TERM "$registry_pid"; wait "$registry_pid" || true
  registry_pid=''
}

# On a bridge of its own with iptables: -p, network create/connect/disconnect, rm -f, network
# rm, and a container stopped at shutdown.
record_network() {
  local dir="$work/network" bridge="sdfx-$$" id
  local octet=$((2 + $$ % 120))
  if ip -4 route | grep -qE "^10\.231\.($octet|$((octet + 120)))\."; then
    log "10.231.$octet.0/24 or 10.231.$((octet + 120)).0/24 is in use here; run again"
    exit 1
  fi
  mkdir -p "$dir"
  busybox_tar "$dir" sh echo true sleep cat
  ip link add "$bridge" type bridge
  bridges+=("$bridge")
  ip addr add "10.231.$octet.1/24" dev "$bridge"
  ip link set "$bridge" up
  start_daemon "$dir" -b "$bridge" --default-address-pool "base=10.231.$((octet + 120)).0/24,size=28"
  dk "$dir" import --change 'CMD ["/bin/sh"]' "$dir/busybox.tar" busybox:latest >/dev/null
  id=$(dk "$dir" run -d -p 80 busybox sleep 1000)
  dk "$dir" network create fxnet >/dev/null
  dk "$dir" network connect fxnet "$id"
  dk "$dir" network disconnect fxnet "$id"
  dk "$dir" rm -f "$id" >/dev/null
  dk "$dir" network rm fxnet >/dev/null
  dk "$dir" run -d --stop-timeout 1 busybox sleep 1000 >/dev/null
  stop_daemon_and_keep "$dir" daemon-network-publish-connect.jsonl
}

# The simulator: a normal start-up and shutdown whose pidfile removal fails.
record_sim() {
  "${statedock[@]}" sim --seed 7 --fault fs.removePidfile=EIO --shutdown --quiet \
    --trace "$out/sim-shutdown-release-fails.jsonl" >&2
  log "recorded sim-shutdown-release-fails.jsonl ($(wc -l <"$out/sim-shutdown-release-fails.jsonl") records)"
}

for what in "${@:-run push network sim}"; do
  for w in $what; do
    case "$w" in
      run) record_run ;;
      push) record_push ;;
      network) record_network ;;
      sim) record_sim ;;
      *) echo "record-fixtures: unknown fixture $w (run push network sim)" >&2; exit 2 ;;
    esac
  done
done
