// Latency of the containerd client on a private containerd (root, containerd, runc, busybox):
//   1. spawnContainerd → first successful Version, over a few fresh starts;
//   2. one short container, sh -c 'echo hi', end to end: Containers.Create, FIFOs opened,
//      Tasks.Create, Wait (held), Start, exit, stdout drained, Tasks.Delete,
//      Containers.Delete; 2 warm-up runs, then the median of N (default 10).
// Usage: node --import tsx test/bench/containerd-roundtrip.ts [runs] [starts]
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ContainerdClient } from '../../effects/containerd/client.ts';
import {
  spawnContainerd,
  stopContainerd,
  waitContainerdReady,
  writeContainerdConfig,
  type SpawnedContainerd,
} from '../../effects/containerd/process.ts';
import {
  cleanNamespace,
  fifoReader,
  median,
  realContainerdUnavailable,
  removeCgroups,
} from '../effects/containerd-fixture.ts';
import { busyboxRootfs, ociSpec } from '../effects/oci-spec-fixture.ts';

const runs = Number(process.argv[2] ?? 10);
const starts = Number(process.argv[3] ?? 5);

const unavailable = realContainerdUnavailable();
if (unavailable) {
  console.log(`containerd-roundtrip: skipped: ${unavailable}`);
  process.exit(0);
}

const fmt = (ms: number): string => ms.toFixed(1);
function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${fmt(median(s))} ms (min ${fmt(s[0] ?? NaN)}, p90 ${fmt(s[Math.min(s.length - 1, Math.ceil(s.length * 0.9) - 1)] ?? NaN)}, max ${fmt(s[s.length - 1] ?? NaN)}, n=${s.length})`;
}

const dir = mkdtempSync('/tmp/sdk-');
const namespace = `sdkbench-${randomBytes(3).toString('hex')}`;
let containerd: SpawnedContainerd | null = null;
let client: ContainerdClient | null = null;
const ids: string[] = [];

try {
  // 1. Start-up: each start on fresh roots, stopped before the next.
  const startTimes: number[] = [];
  for (let i = 0; i < starts; i++) {
    const configPath = writeContainerdConfig({
      execRoot: `${dir}/s${i}/x`,
      dataRoot: `${dir}/s${i}/d`,
    });
    const t0 = performance.now();
    const s = spawnContainerd({ configPath });
    await waitContainerdReady(s.address, { timeoutMs: 20_000 });
    startTimes.push(performance.now() - t0);
    await stopContainerd(s.pid);
  }
  console.log(
    `spawnContainerd → first Version: ${summary(startTimes)}; each: ${startTimes.map(fmt).join(', ')}`,
  );

  // 2. Round trips on one containerd.
  const configPath = writeContainerdConfig({ execRoot: `${dir}/x`, dataRoot: `${dir}/d` });
  containerd = spawnContainerd({ configPath });
  await waitContainerdReady(containerd.address, { timeoutMs: 20_000 });
  client = await ContainerdClient.connect(containerd.address, namespace);
  const c = client;
  const rootfs = busyboxRootfs(dir);
  const runcRoot = `${dir}/runc`;
  const phases: Record<string, number[]> = {};
  const mark = (name: string, ms: number): void => void (phases[name] ??= []).push(ms);

  const once = async (n: number): Promise<number> => {
    const id = `rt${n}-${randomBytes(3).toString('hex')}`;
    ids.push(id);
    const fifos = `${dir}/fifo/${id}`;
    let t = performance.now();
    const t0 = t;
    const lap = (name: string): void => {
      const now = performance.now();
      mark(name, now - t);
      t = now;
    };
    await c.createContainer({
      id,
      spec: ociSpec({ id, rootfs, args: ['sh', '-c', 'echo hi'] }),
      runtime: { name: 'io.containerd.runc.v2', options: { root: runcRoot } },
    });
    lap('Containers.Create');
    mkdirSync(fifos, { recursive: true });
    const out = fifoReader(`${fifos}/stdout`);
    const err = fifoReader(`${fifos}/stderr`);
    lap('mkfifo + open readers');
    await c.createTask({ containerId: id, stdout: `${fifos}/stdout`, stderr: `${fifos}/stderr` });
    lap('Tasks.Create');
    const waited = c.waitTask(id);
    await c.startTask(id);
    lap('Tasks.Start');
    const exit = await waited;
    lap('Wait after Start');
    const text = await out.text;
    await err.text;
    lap('stdio EOF');
    await c.deleteTask(id);
    lap('Tasks.Delete');
    await c.deleteContainer(id);
    lap('Containers.Delete (with its task check)');
    const total = performance.now() - t0;
    rmSync(fifos, { recursive: true, force: true });
    if (exit.exitStatus !== 0 || text !== 'hi\n')
      throw new Error(`run ${n}: exit ${exit.exitStatus}, stdout ${JSON.stringify(text)}`);
    return total;
  };

  for (let i = 0; i < 2; i++) await once(-1 - i);
  for (const k of Object.keys(phases)) delete phases[k];
  const totals: number[] = [];
  for (let i = 0; i < runs; i++) totals.push(await once(i));
  console.log(
    `create+start+wait+delete of sh -c 'echo hi' (FIFO stdio, output checked): ${summary(totals)}`,
  );
  for (const [name, xs] of Object.entries(phases))
    console.log(`  ${name}: median ${fmt(median(xs))} ms`);
} finally {
  if (client) {
    const problems = await cleanNamespace(client);
    if (problems.length > 0) console.log(`clean-up: ${problems.join('; ')}`);
    client.close();
  }
  if (containerd) await stopContainerd(containerd.pid);
  removeCgroups(ids);
  rmSync(dir, { recursive: true, force: true });
}
