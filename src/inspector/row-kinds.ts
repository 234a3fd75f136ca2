/**
 * Kinds of compiled rows (protocol.ts `Row[3]`). A row's `ref` and `extra` mean:
 * - actorStart: ref = machine name (string), extra = -1
 * - actorStop: ref = final status (string)
 * - transition: ref = the JSON of the new state value (string)
 * - event: ref = event type (string)
 * - effectDone / effectFailed: ref = effect index, extra = duration in ms (-1 if unknown)
 * - effectRequest: ref = effect index, extra = the step that asked (string, -1 if none)
 * - step marks, warning, startupFailed: ref = step (string), extra = message (string) or -1
 * - resource marks: ref = resource (string), extra = acquiring step (string) or -1
 * - mark: ref = mark name (string)
 * - gap: ref = records dropped, extra = JSON of `{actor: [machine, value]}` (string indexes) before the gap, or -1
 * - dockerEvent (an `event` mark: a Docker event the actor emits): ref = its action (string)
 * Strings are indexes into the source's string table; plain numbers are kept as numbers.
 */
export const RowKind = {
  actorStart: 0,
  actorStop: 1,
  transition: 2,
  event: 3,
  effectDone: 4,
  effectFailed: 5,
  effectRequest: 6,
  mark: 7,
  stepStart: 8,
  stepDone: 9,
  stepFailed: 10,
  resourceAcquired: 11,
  resourceReleased: 12,
  releaseFailed: 13,
  releaseSkipped: 14,
  startupFailed: 15,
  warning: 16,
  gap: 17,
  dockerEvent: 18,
} as const;

export type RowKindCode = (typeof RowKind)[keyof typeof RowKind];

/** Row fields by position (rows are arrays to keep 100,000 of them small on the wire). */
export const F = { seq: 0, t: 1, actor: 2, kind: 3, ref: 4, text: 5, extra: 6 } as const;

/** Mark names that get a kind of their own. */
export const markKinds: Readonly<Record<string, RowKindCode>> = {
  'step.start': RowKind.stepStart,
  'step.done': RowKind.stepDone,
  'step.failed': RowKind.stepFailed,
  'resource.acquired': RowKind.resourceAcquired,
  'resource.released': RowKind.resourceReleased,
  'release.failed': RowKind.releaseFailed,
  'release.skipped': RowKind.releaseSkipped,
  'startup.failed': RowKind.startupFailed,
  warning: RowKind.warning,
  event: RowKind.dockerEvent,
};

/** The label of a kind in the timeline's kind column. */
export const kindLabel: Readonly<Record<number, string>> = {
  [RowKind.actorStart]: 'spawn',
  [RowKind.actorStop]: 'stop',
  [RowKind.transition]: 'state',
  [RowKind.event]: 'event',
  [RowKind.effectDone]: 'result',
  [RowKind.effectFailed]: 'error',
  [RowKind.effectRequest]: 'effect',
  [RowKind.mark]: 'mark',
  [RowKind.stepStart]: 'step',
  [RowKind.stepDone]: 'step',
  [RowKind.stepFailed]: 'failed',
  [RowKind.resourceAcquired]: 'acquire',
  [RowKind.resourceReleased]: 'release',
  [RowKind.releaseFailed]: 'release',
  [RowKind.releaseSkipped]: 'kept',
  [RowKind.startupFailed]: 'failed',
  [RowKind.warning]: 'warning',
  [RowKind.gap]: 'gap',
  [RowKind.dockerEvent]: 'docker',
};

/** The status a container has after a Docker event (container/state.go); null: the event changes none. */
export const statusAfterEvent: Readonly<Record<string, string>> = {
  create: 'created',
  start: 'running',
  restart: 'running',
  unpause: 'running',
  pause: 'paused',
  die: 'exited',
  destroy: 'removed',
};

/** A state value as one line: `starting.creatingTask`, parallel regions joined by ` | `. */
export function formatStateValue(value: unknown): string {
  if (value === null || value === undefined) return '∅';
  if (typeof value === 'string') return value;
  // A trace's state values are JSON: what is neither a string nor an object is a number or a boolean.
  if (typeof value !== 'object') return JSON.stringify(value) ?? '';
  const parts = Object.entries(value as Record<string, unknown>).map(([k, v]) => {
    const inner = formatStateValue(v);
    return typeof v === 'object' && v !== null && Object.keys(v).length > 1
      ? `${k}.(${inner})`
      : `${k}.${inner}`;
  });
  return parts.join(' | ');
}

/** Paths of every active state node of a state value (`{a: 'b'}` → `a`, `a.b`). */
export function activePaths(value: unknown, prefix = ''): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [prefix === '' ? value : `${prefix}.${value}`];
  if (typeof value !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    out.push(p, ...activePaths(v, p));
  }
  return out;
}
