import type { EffectCall } from './requests.ts';

/**
 * statedock's trace format: versioned JSON lines, statedock's own (not XState's
 * inspection events, which change in v6). The first line is a header; every other line
 * is one record of one actor, in the order things happened. The simulator, the daemon's
 * flight recorder, replay, check and the inspector all read and write this.
 */
export const traceFormat = 'statedock-trace';
/**
 * The version of the trace format and of the machines that record it: a trace replays with
 * the machines of its version. Version 2: the container host shared by the daemon and the
 * simulator (container files, mounts and stdio as effects; shutdown and restore check talking
 * to the containers by message).
 */
export const traceVersion = 2;

export interface TraceHeader {
  kind: 'header';
  format: typeof traceFormat;
  version: number;
  program: 'sim' | 'daemon' | 'test' | 'explore';
  createdAt: string | null;
  meta: Record<string, unknown>;
}

interface Base {
  seq: number;
  /** Milliseconds since the session started: virtual in the simulator, real in the daemon. */
  t: number;
  /** Stable actor id (`daemon`, `daemon-shutdown`, `container:<id>`), never XState's session id. */
  actor: string;
}

export type TraceRecord =
  | (Base & { kind: 'actor.start'; machine: string; input: unknown })
  | (Base & {
      kind: 'event';
      event: { type: string } & Record<string, unknown>;
      durationMs?: number;
    })
  | (Base & { kind: 'effect.request'; call: EffectCall })
  | (Base & { kind: 'mark'; mark: { mark: string } & Record<string, unknown> })
  | (Base & { kind: 'transition'; from: unknown; to: unknown })
  | (Base & { kind: 'actor.stop'; status: string; output: unknown });

/** A record before the sink numbers it. */
export type RecordBody = TraceRecord extends infer R
  ? R extends TraceRecord
    ? Omit<R, 'seq'>
    : never
  : never;

export type TraceLine = TraceHeader | TraceRecord;

/** Kinds the machine produces (compared in replay); the rest are what it was given. */
export function isOutputRecord(r: TraceRecord): boolean {
  return (
    r.kind === 'effect.request' ||
    r.kind === 'mark' ||
    r.kind === 'transition' ||
    r.kind === 'actor.stop'
  );
}
