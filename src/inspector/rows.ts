import type { TraceRecord } from '../../effects/trace.ts';
import { callSummary } from '../sim/timeline.ts';
import type { Row, RowChunk } from './protocol.ts';
import { formatStateValue, markKinds, RowKind } from './row-kinds.ts';

/** What the daemon's feed sends when records were lost for a reader (protocol of inspection-feed.ts). */
export interface GapLine {
  kind: 'gap';
  dropped: number;
  /** Why, when it is not records lost (e.g. the daemon restarted). */
  note?: string;
  /** Each actor's machine and state just before the first record after the gap. */
  actors?: Record<string, { machine: string; value: unknown; status: string }>;
}

export type SourceLine = TraceRecord | GapLine;

function brief(value: unknown, max = 60): string {
  if (value === null || typeof value !== 'object') return String(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '';
  const text = entries
    .map(
      ([k, v]) =>
        `${k}=${Array.isArray(v) ? `[${v.length}]` : typeof v === 'object' && v !== null ? '{…}' : String(v)}`,
    )
    .join(' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function eventSummary(event: { type: string } & Record<string, unknown>): string {
  const { type, ...rest } = event;
  const args = brief(rest);
  return args === '' ? type : `${type} ${args}`;
}

/**
 * Compiles records into compact rows for the page (protocol.ts `Row`), once per record: the
 * page indexes 100,000 of them in milliseconds and asks for a record's full JSON only when it
 * shows it. Strings (names, summaries, state values) are interned in one table per source.
 */
export class RowCompiler {
  readonly rows: Row[] = [];
  readonly strings: string[] = [];
  readonly actors: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  private readonly actorIndex = new Map<string, number>();
  private readonly effects = new Map<string, { index: number; effect: string }>();
  private nextEffect = 0;
  private lastT = 0;

  str(s: string): number {
    let i = this.stringIndex.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.stringIndex.set(s, i);
    }
    return i;
  }

  private actor(id: string): number {
    let i = this.actorIndex.get(id);
    if (i === undefined) {
      i = this.actors.length;
      this.actors.push(id);
      this.actorIndex.set(id, i);
    }
    return i;
  }

  private effect(id: string, effect: string): { index: number; effect: string } {
    let e = this.effects.get(id);
    if (!e) {
      e = { index: this.nextEffect++, effect };
      this.effects.set(id, e);
    }
    return e;
  }

  /** Compiles one record (or a gap line of a live feed) and keeps the row. */
  add(line: SourceLine): Row {
    const row = this.compile(line);
    this.rows.push(row);
    return row;
  }

  private compile(line: SourceLine): Row {
    if (line.kind === 'gap') {
      const text = this.str(
        line.note ??
          `${line.dropped} record(s) not received (the viewer fell behind the daemon's buffer)`,
      );
      // The actors' states, interned, so the page can seed its state index here: {actor: [machine, value]}.
      const actors = line.actors
        ? Object.fromEntries(
            Object.entries(line.actors).map(([id, a]) => [
              this.actor(id),
              [this.str(a.machine), this.str(JSON.stringify(a.value))],
            ]),
          )
        : null;
      return [
        -1,
        this.lastT,
        this.actor('—'),
        RowKind.gap,
        line.dropped,
        text,
        actors ? this.str(JSON.stringify(actors)) : -1,
      ];
    }
    const r = line;
    const a = this.actor(r.actor);
    // Microseconds are plenty on screen, and short numbers keep 100,000 rows small.
    const t = typeof r.t === 'number' ? Math.round(r.t * 1000) / 1000 : this.lastT;
    this.lastT = t;
    switch (r.kind) {
      case 'actor.start':
        return [
          r.seq,
          t,
          a,
          RowKind.actorStart,
          this.str(r.machine),
          this.str(`spawned from ${r.machine}`),
          -1,
        ];
      case 'actor.stop':
        return [
          r.seq,
          t,
          a,
          RowKind.actorStop,
          this.str(r.status),
          this.str(`stopped in ${r.status}`),
          -1,
        ];
      case 'transition':
        return [
          r.seq,
          t,
          a,
          RowKind.transition,
          this.str(JSON.stringify(r.to)),
          this.str(`${formatStateValue(r.from)} → ${formatStateValue(r.to)}`),
          -1,
        ];
      case 'effect.request': {
        const call = r.call as unknown as Record<string, unknown> & {
          id: string;
          effect: string;
          step?: string;
        };
        const e = this.effect(String(call.id), call.effect);
        return [
          r.seq,
          t,
          a,
          RowKind.effectRequest,
          e.index,
          this.str(callSummary(call)),
          typeof call.step === 'string' ? this.str(call.step) : -1,
        ];
      }
      case 'event': {
        const ev = r.event;
        const duration =
          typeof r.durationMs === 'number' ? Math.round(r.durationMs * 1000) / 1000 : -1;
        if (
          (ev.type === 'effect.done' || ev.type === 'effect.failed') &&
          typeof ev['id'] === 'string'
        ) {
          const e = this.effect(ev['id'], '?');
          if (ev.type === 'effect.done') {
            const res = brief(ev['result'], 48);
            return [
              r.seq,
              t,
              a,
              RowKind.effectDone,
              e.index,
              this.str(`${e.effect} ✓${res === '' ? '' : ` ${res}`}`),
              duration,
            ];
          }
          const err = (ev['error'] ?? {}) as { code?: string; message?: string };
          return [
            r.seq,
            t,
            a,
            RowKind.effectFailed,
            e.index,
            this.str(`${e.effect} ✗ ${err.code ?? '?'}: ${err.message ?? ''}`),
            duration,
          ];
        }
        return [r.seq, t, a, RowKind.event, this.str(ev.type), this.str(eventSummary(ev)), -1];
      }
      case 'mark': {
        const m = r.mark;
        const kind = markKinds[m.mark];
        const s = (k: string): string => (typeof m[k] === 'string' ? m[k] : '');
        switch (kind) {
          case RowKind.stepStart:
            return [r.seq, t, a, kind, this.str(s('step')), this.str(`▶ ${s('step')}`), -1];
          case RowKind.stepDone:
            return [r.seq, t, a, kind, this.str(s('step')), this.str(`✓ ${s('step')}`), -1];
          case RowKind.stepFailed:
          case RowKind.startupFailed:
          case RowKind.warning: {
            const prefix =
              kind === RowKind.stepFailed
                ? `✗ ${s('step')} failed`
                : kind === RowKind.startupFailed
                  ? `start-up failed at ${s('step')}`
                  : `! ${s('step')}`;
            return [
              r.seq,
              t,
              a,
              kind,
              this.str(s('step')),
              this.str(`${prefix}: ${s('message')}`),
              this.str(s('message')),
            ];
          }
          case RowKind.resourceAcquired:
            return [
              r.seq,
              t,
              a,
              kind,
              this.str(s('resource')),
              this.str(`+ ${s('resource')} (acquired by ${s('step')})`),
              this.str(s('step')),
            ];
          case RowKind.resourceReleased:
            return [
              r.seq,
              t,
              a,
              kind,
              this.str(s('resource')),
              this.str(`↩ ${s('resource')} released`),
              -1,
            ];
          case RowKind.releaseFailed:
            return [
              r.seq,
              t,
              a,
              kind,
              this.str(s('resource')),
              this.str(`✗ release of ${s('resource')} failed: ${s('message')}`),
              this.str(s('message')),
            ];
          case RowKind.releaseSkipped:
            return [
              r.seq,
              t,
              a,
              kind,
              this.str(s('resource')),
              this.str(`= ${s('resource')} kept: ${s('reason')}`),
              this.str(s('reason')),
            ];
          case RowKind.dockerEvent: {
            const { mark: _mark, action: _action, ...rest } = m;
            return [
              r.seq,
              t,
              a,
              kind,
              this.str(s('action')),
              this.str(`docker event ${s('action')}${brief(rest) === '' ? '' : ` ${brief(rest)}`}`),
              -1,
            ];
          }
          default: {
            const { mark, ...rest } = m;
            const args = brief(rest);
            return [
              r.seq,
              t,
              a,
              RowKind.mark,
              this.str(mark),
              this.str(args === '' ? mark : `${mark} ${args}`),
              -1,
            ];
          }
        }
      }
      default: {
        const unknown = r as { seq: number; kind: string };
        return [
          unknown.seq,
          t,
          a,
          RowKind.mark,
          this.str(String(unknown.kind)),
          this.str(`unknown record kind ${String(unknown.kind)}`),
          -1,
        ];
      }
    }
  }

  /** The rows from `from` on, with the strings and actors added since the counts given. */
  chunk(from: number, stringsSent: number, actorsSent: number): RowChunk {
    return {
      from,
      rows: this.rows.slice(from),
      strings: { base: stringsSent, add: this.strings.slice(stringsSent) },
      actors: { base: actorsSent, add: this.actors.slice(actorsSent) },
    };
  }
}
