import fc from 'fast-check';
import type { RestartPolicy } from '../../machines/container/restart.ts';
import type { CrashScenario } from './crash.ts';
import type { ClientOp, TimedOp } from './daemon.ts';

const names = ['a', 'b', 'c'] as const;

const arbBehaviour = fc.record({
  exitAfterMs: fc.option(fc.integer({ min: 1, max: 8_000 }), { nil: null, freq: 2 }),
  exitCode: fc.constantFrom(0, 1, 3),
  ignoresTerm: fc.boolean(),
});

const arbPolicy: fc.Arbitrary<RestartPolicy> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ name: 'no' as const, maximumRetryCount: 0 }) },
  fc.constant({ name: 'always' as const, maximumRetryCount: 0 }),
  fc.constant({ name: 'unless-stopped' as const, maximumRetryCount: 0 }),
  fc
    .integer({ min: 0, max: 2 })
    .map((n) => ({ name: 'on-failure' as const, maximumRetryCount: n })),
);

const arbName = fc.constantFrom(...names);

const arbOp: fc.Arbitrary<ClientOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('run' as const),
      name: arbName,
      rm: fc.boolean(),
      restart: arbPolicy,
      stopTimeout: fc.constantFrom(0, 1, 2),
      behaviour: arbBehaviour,
    }),
  },
  fc.record({
    op: fc.constant('create' as const),
    name: arbName,
    rm: fc.boolean(),
    restart: arbPolicy,
    stopTimeout: fc.constantFrom(0, 1, 2),
    behaviour: arbBehaviour,
  }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('start' as const), name: arbName }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('stop' as const),
      name: arbName,
      timeoutS: fc.constantFrom(0, 1),
    }),
  },
  fc.record({
    op: fc.constant('restart' as const),
    name: arbName,
    timeoutS: fc.constantFrom(0, 1),
  }),
  fc.record({
    op: fc.constant('kill' as const),
    name: arbName,
    signal: fc.constantFrom('KILL', 'TERM'),
  }),
  fc.record({ op: fc.constant('pause' as const), name: arbName }),
  fc.record({ op: fc.constant('unpause' as const), name: arbName }),
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('rm' as const), name: arbName, force: fc.boolean() }),
  },
  fc.constant({ op: 'shutdown' as const }),
  fc.record({
    op: fc.constant('exec' as const),
    name: arbName,
    exec: fc.constantFrom('e1', 'e2'),
    behaviour: fc.record({
      exitAfterMs: fc.option(fc.integer({ min: 1, max: 4_000 }), { nil: null }),
      exitCode: fc.constantFrom(0, 1),
    }),
  }),
  fc.record({
    op: fc.constant('commit' as const),
    name: arbName,
    tag: fc.constantFrom('snap:a', 'snap:b'),
  }),
);

/** Docker refuses `--rm` with a restart policy; a scenario never asks for both. */
function docker(op: ClientOp): ClientOp {
  if ((op.op === 'run' || op.op === 'create') && op.rm && op.restart?.name !== 'no')
    return { ...op, rm: false };
  return op;
}

/** A random crash scenario: a few client operations over a few seconds, then the power is cut somewhere. */
export interface RandomCrashCase {
  scenario: CrashScenario;
  /** Where the power is cut, as a fraction of the first life's records (null: it runs to its end). */
  cutAt: number | null;
  seed: number;
}

export const arbCrashCase: fc.Arbitrary<RandomCrashCase> = fc
  .record({
    liveRestore: fc.boolean(),
    power: fc.constantFrom('daemon' as const, 'daemon' as const, 'host' as const),
    downtimeMs: fc.constantFrom(0, 1_000, 10_000),
    ops: fc.array(fc.record({ atMs: fc.integer({ min: 0, max: 6_000 }), op: arbOp }), {
      minLength: 1,
      maxLength: 7,
    }),
    cutAt: fc.option(fc.double({ min: 0.3, max: 1, noNaN: true }), { nil: null, freq: 8 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 2 }),
  })
  .map((r) => {
    const ops: TimedOp[] = [...r.ops]
      .sort((x, y) => x.atMs - y.atMs)
      .map((o) => ({ atMs: o.atMs, op: docker(o.op) }));
    return {
      scenario: {
        name: 'random',
        liveRestore: r.liveRestore,
        power: r.power,
        downtimeMs: r.downtimeMs,
        ops,
        horizonMs: 12_000,
      },
      cutAt: r.cutAt,
      seed: r.seed,
    };
  });
