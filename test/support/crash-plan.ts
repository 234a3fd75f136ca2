/**
 * The crash campaign's plan, as data drawn from a seed: what each crash point runs, with
 * which restart policy and live-restore setting, and when (as a fraction of the operation's
 * window) the daemon is SIGKILLed. Same seed, same plan; the host's timing decides the rest.
 */

export type Scenario =
  | 'runRm'
  | 'rmForce'
  | 'stop'
  | 'shutdown'
  /** `docker run -d -p`: a published port's proxy, rules and veth. */
  | 'publish'
  /** `docker network connect --alias` of a running container to a user network. */
  | 'connect'
  /** `docker network disconnect` of a running container. */
  | 'disconnect'
  /** `docker network rm` of a network without containers. */
  | 'networkRm';
export type Policy = 'no' | 'always' | 'unless-stopped' | 'on-failure:2';

/** A container the point starts before the crash. */
export interface Target {
  autoRemove: boolean;
  policy: Policy;
  /** Exits at once on SIGTERM; otherwise `sleep 1000` (PID 1 ignores SIGTERM) is killed after `--stop-timeout 1`. */
  fastStop: boolean;
}

export interface CrashPlan {
  index: number;
  scenario: Scenario;
  /** The daemon restarted after this crash runs with --live-restore (and so does the next point's). */
  liveRestore: boolean;
  /** A `docker create`d container never started, beside the operation. */
  fresh: boolean;
  /** A running container beside the operation. */
  bystander: Target | null;
  /** rmForce and stop: the container acted on; shutdown: the running containers. */
  targets: Target[];
  /** runRm: the command of `docker run --rm`. */
  command: string[];
  /** When the SIGKILL lands, as a fraction of the scenario's window (> 1: after the operation ended). */
  at: number;
  /** runRm: the window opens at the CLI's first request, or at its start request (the task's creation and start). */
  fromStart: boolean;
}

/** mulberry32: a small seeded generator, enough to pick plans. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const policies: readonly Policy[] = ['no', 'always', 'unless-stopped', 'on-failure:2'];
const scenarios: readonly Scenario[] = [
  'runRm',
  'rmForce',
  'stop',
  'shutdown',
  'publish',
  'connect',
  'disconnect',
  'networkRm',
];

/** The scenarios that need the daemon's networking (the others run `--network none`). */
export const networkScenarios: readonly Scenario[] = [
  'publish',
  'connect',
  'disconnect',
  'networkRm',
];
const rmCommands: readonly string[][] = [
  ['true'],
  ['sleep', '0.2'],
  ['sh', '-c', 'exit 3'],
  ['sleep', '1'],
];

/** Point `index` of the campaign `seed`: each point draws from its own stream, so points replay alone. */
export function planPoint(
  seed: number,
  index: number,
  only: readonly Scenario[] = scenarios,
): CrashPlan {
  const r = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const target = (): Target => {
    const autoRemove = r() < 0.35;
    return { autoRemove, policy: autoRemove ? 'no' : pick(policies), fastStop: r() < 0.7 };
  };
  // Round-robin over the scenarios, so every one gets its quarter of the points.
  const scenario = only[index % only.length] as Scenario;
  return {
    index,
    scenario,
    liveRestore: r() < 0.5,
    fresh: r() < 0.4,
    bystander: r() < 0.5 ? target() : null,
    targets:
      scenario === 'shutdown'
        ? Array.from({ length: 1 + Math.floor(r() * 3) }, target)
        : scenario === 'runRm' || scenario === 'publish' || scenario === 'networkRm'
          ? []
          : [target()],
    command: pick(rmCommands),
    at: r() * 1.15,
    fromStart: r() < 0.5,
  };
}

/** The `docker run`/`create` flags of a target: policy, --rm, a 1 s stop timeout. */
export function targetFlags(t: Target): string[] {
  return [
    ...(t.autoRemove ? ['--rm'] : ['--restart', t.policy]),
    '--stop-timeout',
    '1',
    '--network',
    'none',
  ];
}

export function targetCommand(t: Target): string[] {
  return t.fastStop ? ['sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'] : ['sleep', '1000'];
}

export function describePlan(p: CrashPlan): string {
  const t = (x: Target): string =>
    `${x.autoRemove ? '--rm' : x.policy}${x.fastStop ? '' : ' slow'}`;
  const what =
    p.scenario === 'runRm'
      ? `run --rm ${p.command.join(' ')}${p.fromStart ? ' (from start)' : ''}`
      : p.scenario === 'shutdown'
        ? `shutdown with [${p.targets.map(t).join(', ')}]`
        : p.scenario === 'publish' || p.scenario === 'networkRm'
          ? p.scenario
          : `${p.scenario} ${t(p.targets[0] as Target)}`;
  return `#${p.index} ${what} at ${p.at.toFixed(2)}${p.fresh ? ' +created' : ''}${p.bystander ? ` +running ${t(p.bystander)}` : ''} → restart${p.liveRestore ? ' --live-restore' : ''}`;
}
