#!/usr/bin/env bash
# Benchmark (issue 16): how the daemon's bundle is best loaded at start. bin/statedock.js runs
# it from V8's code cache; the alternative measured here is a user-land V8 startup snapshot
# (node --build-snapshot, Node >= 18.20): the bundle evaluated once at build time, its heap
# deserialized at start. Both start statedock's daemon on a data root of their own, in
# alternation, RUNS times (default 7); prints exec → first /_ping medians and their ratio.
# statedock keeps the code cache while this ratio is above 1 (see the README's figures).
# Root only; uses its own mktemp dir under /tmp and stops, by PID, only what it starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-7}
node scripts/build.mjs 2>/dev/null
BASE=$(mktemp -d /tmp/sdsnap.XXXX); PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; fi
  for m in $(grep -o "$BASE[^ ]*" /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bundle=$(pwd)/dist/statedock.cjs
# The snapshot's entry: evaluates the bundle (its packages outside the bundle are required
# from node_modules only at run time), and runs the CLI when the snapshot is deserialized.
cat > $BASE/entry.js <<EOF
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const vm = require('node:vm');
const v8 = require('node:v8');
const bundlePath = '$bundle';
let outside = null;
const load = (id) => {
  try {
    return require(id);
  } catch (err) {
    if (v8.startupSnapshot.isBuildingSnapshot()) throw err;
    outside ??= createRequire(bundlePath);
    return outside(id);
  }
};
const module = { exports: {} };
vm.runInThisContext(readFileSync(bundlePath, 'utf8'), { filename: bundlePath })(
  module.exports, load, module, bundlePath, '$(pwd)/dist');
v8.startupSnapshot.setDeserializeMainFunction(() => {
  outside = createRequire(bundlePath);
  void module.exports.main(process.argv.slice(1), { startedUp() {} }).then((c) => (process.exitCode = c));
});
EOF
node --snapshot-blob $BASE/statedock.blob --build-snapshot $BASE/entry.js 2>/dev/null
# Both without NODE_EXTRA_CA_CERTS, as bin/statedock starts the daemon.
declare -A CMD R
CMD[code_cache]="env -u NODE_EXTRA_CA_CERTS node $(pwd)/bin/statedock.js daemon"
CMD[snapshot]="env -u NODE_EXTRA_CA_CERTS node --snapshot-blob $BASE/statedock.blob daemon"
now() { date +%s%N; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq $((RUNS + 1))); do
  for n in code_cache snapshot; do
    d=$BASE/$n; mkdir -p $d
    t0=$(now)
    setsid bash -c "exec ${CMD[$n]} --data-root $d/root --exec-root $d/exec -H unix://$d/d.sock --pidfile $d/d.pid" >>$d/log 2>&1 &
    PID=$!
    until curl -sf --unix-socket $d/d.sock http://x/_ping >/dev/null 2>&1; do
      sleep 0.002; kill -0 $PID 2>/dev/null || { echo "$n did not start:" >&2; tail -5 $d/log >&2; exit 1; }
    done
    # The first start of each writes the code cache, or warms the files: not counted.
    [ $i -gt 1 ] && R[$n]+="$(( ($(now) - t0) / 1000000 )) "
    kill -TERM $PID; while kill -0 $PID 2>/dev/null; do sleep 0.01; done; PID=""
  done
done
a=$(echo ${R[code_cache]} | median); b=$(echo ${R[snapshot]} | median)
echo "metric=startup_warm code_cache=$a snapshot=$b (runs: code cache ${R[code_cache]}; snapshot ${R[snapshot]})"
echo "ratio metric=startup_warm snapshot/code_cache=$(awk -v a=$a -v b=$b 'BEGIN{printf "%.2f", b/a}')"
