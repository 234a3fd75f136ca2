import { replayTrace } from '../../effects/replay.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import {
  checkInvariants,
  restoreInvariants,
  shutdownInvariants,
  type HostView,
} from '../../machines/container/invariants.ts';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import {
  containerdOrderings,
  startupOrderings,
} from '../../machines/daemon-startup/constraints.ts';
import { ClientHistory, SimDaemon, type TimedOp } from './daemon.ts';
import { constraintsForTrace } from '../check/command.ts';
import { simConfig } from './config.ts';
import type { SimRegistryFaults } from '../../effects/registry/sim.ts';

/**
 * Crash simulation: a scenario runs on a simulated host and the power is cut after any record
 * of the daemon's trace; the daemon starts again on what survived (the store's durable
 * writes; containerd and its tasks when only the daemon died), restore runs, and the
 * invariants of `machines/container/invariants.ts` are checked, along with every ordering
 * constraint of the second life's trace, its replay, and that every container left can be
 * removed.
 */
export interface CrashScenario {
  name: string;
  /** One line: what the user does, and what must come of it. */
  title?: string;
  liveRestore?: boolean;
  ops: TimedOp[];
  /** How long the first life runs once it answers (virtual ms; default: the last op + 30 s). */
  horizonMs?: number;
  /** What the crash takes down: the daemon process (containerd and the containers live on) or the whole host. */
  power?: 'daemon' | 'host';
  /** How long the host waits before the daemon starts again (virtual ms; processes go on exiting). */
  downtimeMs?: number;
  /** Images in the simulated registry (`registry.sim/<repository>:<tag>`), each layer's content its blob. */
  images?: { repository: string; tag: string; layers: string[] }[];
  /** What the simulated registry does wrong. */
  registryFaults?: SimRegistryFaults;
}

/** Registered machine names to run instead of the real ones (a test removes an ordering to prove it matters). */
export interface MachineChoice {
  startupMachine?: string;
  containerMachine?: string;
  shutdownMachine?: string;
  execSweepMachine?: string;
  exitsHeardFrom?: 'connect' | 'restore';
}

export interface CrashProblem {
  /** An invariant's kind, a constraint's name, or `settle`, `restart`, `removal`, `replay`. */
  kind: string;
  message: string;
}

export interface CrashOutcome {
  scenario: string;
  seed: number;
  /** The record after which the power was cut (null: the first life ran to its end). */
  crashAt: number | null;
  /** How the first life ended. */
  firstLife: 'crashed' | 'exited' | 'running';
  firstRecords: number;
  problems: CrashProblem[];
  /** Both lives' traces (the first up to the crash). */
  traces: [TraceRecord[], TraceRecord[]];
  /** What clients were told, in order. */
  replies: string[];
}

/** How long the crash check waits for the host to be quiet: past the latest orphan's completion. */
const lateOrphanMs = 10_000;

function configOf(s: CrashScenario): StartupConfig {
  return { ...simConfig(null), liveRestore: s.liveRestore ?? false };
}

/** Runs a life until its API answers (maybe before containerd's client is connected), or start-up ends without. */
function bootUntilAnswered(d: SimDaemon): void {
  while (!d.answering && d.startup === null && !d.crashed && !d.scheduler.idle)
    d.scheduler.runUntilIdle(1);
}

const firstLifeConstraints = [...startupOrderings, ...containerdOrderings];

const acknowledgedOnly = restoreInvariants.filter((i) => i.kind === 'acknowledgedCreatesPresent');

/**
 * One crash run: the scenario's first life, cut at `crashAt` (or run to its end, where a
 * daemon still running loses power too), then a second life that restores and settles.
 */
export function crashRun(
  s: CrashScenario,
  crashAt: number | null,
  seed: number,
  machines: MachineChoice = {},
): CrashOutcome {
  const world = new SimWorld({ seed });
  const history = new ClientHistory();
  const config = configOf(s);
  world.dataRoot = config.dataRoot;
  for (const img of s.images ?? [])
    world.registry.publish(`registry.sim/${img.repository}`, img.tag, img.layers);
  world.registry.faults = s.registryFaults ?? {};
  const problems: CrashProblem[] = [];
  const first = new SimDaemon({
    world,
    config,
    seed,
    history,
    crashAtRecord: crashAt,
    ...machines,
  });
  bootUntilAnswered(first);
  if (first.answering) {
    first.schedule(s.ops);
    const horizon = s.horizonMs ?? Math.max(0, ...s.ops.map((o) => o.atMs)) + 30_000;
    first.runFor(horizon);
  }
  const firstLife = first.crashed ? 'crashed' : first.exited ? 'exited' : 'running';
  if (firstLife === 'exited' && first.shutdownOutput !== null) {
    // A normal shutdown leaves the host as restore would: nothing stranded (moby 51692).
    for (const v of checkInvariants(shutdownView(first, world), shutdownInvariants))
      problems.push({ kind: v.invariant, message: `after shutdown: ${v.message}` });
  }
  if (firstLife !== 'exited') {
    if ((s.power ?? 'daemon') === 'host') world.hostRebooted();
    else world.daemonExited();
  }
  world.advance(s.downtimeMs ?? 5_000);

  const second = new SimDaemon({ world, config, seed: seed + 1, history, ...machines });
  bootUntilAnswered(second);
  // Settling waits for start-up to finish too (containerd's client may connect after the API answers).
  const settled = second.answering && second.runUntilSettled();
  if (second.startup?.status !== 'ready') {
    problems.push({
      kind: 'restart',
      message: `the daemon did not start again: ${second.startup?.status === 'failed' ? `${second.startup.failure.step}: ${second.startup.failure.message}` : 'start-up never finished'}`,
    });
  } else if (!settled) {
    problems.push({
      kind: 'settle',
      message: `restored containers did not settle: ${unsettled(second).join(', ')}`,
    });
  } else {
    // The daemon's own restore check (recorded in its trace), and what only the clients know: their acknowledged creates.
    const verdict = second.checkRestore();
    if (verdict === null || verdict.unchecked !== null)
      problems.push({
        kind: 'restoreCheck',
        message: `the restore check did not judge the host: ${verdict?.unchecked ?? 'it never finished'}`,
      });
    for (const v of verdict?.violations ?? [])
      problems.push({ kind: v.invariant, message: v.message });
    for (const v of checkInvariants(second.view(), acknowledgedOnly))
      problems.push({ kind: v.invariant, message: v.message });
    // The user can always remove what is left (moby 22312: "Removal In Progress" forever).
    const left = second.view().containers;
    second.schedule(
      left.map((c) => ({
        atMs: 0,
        op: { op: 'rm' as const, name: c.name.replace(/^\//, ''), force: true },
      })),
    );
    second.runFor(1);
    second.runUntilSettled();
    // The host goes quiet: what the dead daemon had asked and containerd finishes late (at
    // most a few seconds) happens, and the daemon deals with it (a late task is reaped).
    second.runFor(lateOrphanMs);
    second.runUntilSettled();
    const after = second.view();
    const net = after.network;
    const netLeft = net
      ? [
          ...net.endpoints.map((e) => `endpoint ${e.hostIf}`),
          ...net.sandboxes.map((x) => `sandbox ${x.netns}`),
          ...net.veths.map((v) => `veth ${v}`),
          ...net.netns.map((n) => `namespace ${n}`),
          ...net.ruleAddresses.map((a) => `rules for ${a}`),
        ]
      : [];
    if (netLeft.length > 0)
      problems.push({
        kind: 'removal',
        message: `docker rm -f of every container left network state: ${netLeft.join(', ')}`,
      });
    if (
      after.containers.length > 0 ||
      after.tasks.length > 0 ||
      after.containerdContainers.length > 0
    ) {
      problems.push({
        kind: 'removal',
        message: `docker rm -f left ${after.containers.map((c) => `${c.id.slice(0, 12)} (${c.status})`).join(', ') || 'no container'}; containerd still has ${after.tasks.length} task(s), ${after.containerdContainers.length} container(s)`,
      });
    }
  }
  const records: [TraceRecord[], TraceRecord[]] = [
    first.trace?.records ?? [],
    second.trace?.records ?? [],
  ];
  // The first life is cut: only its orderings are judged (a cut trace keeps or breaks those as the whole would).
  for (const v of violationsOf(checkTrace(records[0], firstLifeConstraints)))
    problems.push({ kind: v.constraint, message: `first life: ${v.message}` });
  for (const v of violationsOf(checkTrace(records[1], constraintsForTrace(records[1]))))
    problems.push({ kind: v.constraint, message: `second life: ${v.message}` });
  try {
    replayTrace(records[0], { allowCut: true });
    replayTrace(records[1]);
  } catch (err) {
    problems.push({ kind: 'replay', message: (err as Error).message });
  }
  return {
    scenario: s.name,
    seed,
    crashAt,
    firstLife,
    firstRecords: first.records,
    problems,
    traces: records,
    replies: history.replies,
  };
}

/**
 * The host as a normal shutdown must leave it. Under live-restore the shutdown hands each
 * container it leaves running to the next start's restore when that container tells it it is
 * settled; from then on the container ignores its exit (machines/container), the client and the
 * store close, and the process exits. A task that exits after that instant stops while its
 * record still says running, as under dockerd, and no daemon could record it before exiting:
 * it is judged live here, and the second life checks that restore records its exit. Exits
 * before the hand-over, and everything else, are judged as the daemon left them.
 */
function shutdownView(d: SimDaemon, world: SimWorld): HostView {
  const view = d.view();
  const handedOver = handOverTimes(d);
  if (handedOver.size === 0) return view;
  const stored = new Map(view.containers.map((c) => [c.id, c.status]));
  return {
    ...view,
    tasks: view.tasks.map((t) => {
      const at = handedOver.get(t.id);
      const exitedAt = world.containerd.tasks.get(t.id)?.exitedAtMs ?? null;
      if (t.status !== 'stopped' || at === undefined || exitedAt === null || exitedAt < at)
        return t;
      return { ...t, status: stored.get(t.id) === 'paused' ? 'paused' : 'running' };
    }),
  };
}

/** When the shutdown left each container running: the virtual time of its `container.settled`. */
function handOverTimes(d: SimDaemon): Map<string, number> {
  const left = new Set(d.shutdownOutput?.leftRunning ?? []);
  const out = new Map<string, number>();
  for (const r of d.trace?.records ?? []) {
    if (r.kind !== 'mark' || r.mark.mark !== 'message' || !r.actor.startsWith('container:'))
      continue;
    const e = r.mark['event'] as { type?: string; container?: string };
    if (e.type === 'container.settled' && e.container !== undefined && left.has(e.container))
      out.set(e.container, r.t);
  }
  return out;
}

function unsettled(d: SimDaemon): string[] {
  const out: string[] = [];
  for (const [id, e] of d.session.actors) {
    const snap = e.actor.getSnapshot() as { status: string; value: unknown };
    if (id.startsWith('container:') && snap.status === 'active')
      out.push(`${id.slice(10, 22)} in ${JSON.stringify(snap.value)}`);
  }
  return out;
}

export interface ExploreResult {
  scenario: string;
  /** Crash points tried (every record of the first life, plus its uncut run). */
  points: number;
  failures: CrashOutcome[];
}

/** Every crash point of a scenario: after each record of its first life, and the uncut run. */
export function exploreCrashPoints(
  s: CrashScenario,
  seed: number,
  machines: MachineChoice = {},
  onPoint?: (done: number, total: number) => void,
): ExploreResult {
  const uncut = crashRun(s, null, seed, machines);
  const failures = uncut.problems.length > 0 ? [uncut] : [];
  const total = uncut.firstRecords;
  for (let k = 1; k <= total; k++) {
    const o = crashRun(s, k, seed, machines);
    if (o.problems.length > 0) failures.push(o);
    onPoint?.(k, total);
  }
  return { scenario: s.name, points: total + 1, failures };
}
