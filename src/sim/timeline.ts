import type { TraceRecord } from '../../effects/trace.ts';

/** One-line summary of an effect call's arguments: the path, key or address it is about. */
export function callSummary(call: Record<string, unknown>): string {
  const parts: string[] = [String(call['effect'])];
  for (const k of ['path', 'from', 'key', 'name', 'address', 'prefix', 'container', 'dir']) {
    const v = call[k];
    if (typeof v === 'string' && v !== '') parts.push(v);
  }
  if (Array.isArray(call['sockets'])) parts.push((call['sockets'] as string[]).join(','));
  if (Array.isArray(call['paths'])) parts.push(`${(call['paths'] as string[]).length} path(s)`);
  if (typeof call['value'] === 'string') parts.push(`= ${call['value']}`);
  if (typeof call['ms'] === 'number') parts.push(`${call['ms']} ms`);
  return parts.join(' ');
}

function resultSummary(result: unknown): string {
  if (result === null || typeof result !== 'object') return 'ok';
  const entries = Object.entries(result as Record<string, unknown>);
  if (entries.length === 0) return 'ok';
  const text = entries
    .map(
      ([k, v]) =>
        `${k}=${Array.isArray(v) ? `[${v.length}]` : typeof v === 'object' && v !== null ? '{…}' : String(v)}`,
    )
    .join(' ');
  return `ok ${text.length > 48 ? `${text.slice(0, 47)}…` : text}`;
}

const pad = (s: string, n: number): string =>
  s.length >= n ? `${s.slice(0, n - 1)}… ` : s + ' '.repeat(n - s.length);
const ms = (t: number): string => t.toFixed(3).padStart(10);

/** Renders a trace as the timeline `statedock sim` prints: step, effect, result, virtual duration. */
export function renderTimeline(records: readonly TraceRecord[]): string[] {
  const calls = new Map<string, { summary: string; step: string }>();
  const lines: string[] = [];
  lines.push(
    `${'t (ms)'.padStart(10)}  ${pad('actor', 16)}${pad('step', 30)}${pad('effect', 58)}${pad('result', 40)}took (ms)`,
  );
  let releasing = false;
  for (const r of records) {
    if (r.kind === 'effect.request') {
      calls.set(r.call.id, {
        summary: callSummary(r.call),
        step: r.call.step ?? '',
      });
      continue;
    }
    if (
      r.kind === 'event' &&
      (r.event.type === 'effect.done' || r.event.type === 'effect.failed')
    ) {
      const call = calls.get(String(r.event['id']));
      if (!call) continue;
      const outcome =
        r.event.type === 'effect.done'
          ? resultSummary(r.event['result'])
          : `✗ ${(r.event['error'] as { code: string }).code}`;
      const step = call.step.startsWith('release:') ? `↩ ${call.step.slice(8)}` : `  ${call.step}`;
      lines.push(
        `${ms(r.t)}  ${pad(r.actor, 16)}${pad(step, 30)}${pad(call.summary, 58)}${pad(outcome, 40)}${(r.durationMs ?? 0).toFixed(3)}`,
      );
      continue;
    }
    if (r.kind === 'mark') {
      const m = r.mark;
      switch (m.mark) {
        case 'step.start':
          lines.push(`${ms(r.t)}  ${pad(r.actor, 16)}▶ ${String(m['step'])}`);
          break;
        case 'step.failed':
          lines.push(
            `${ms(r.t)}  ${pad(r.actor, 16)}✗ ${String(m['step'])} failed: ${String(m['message'])}`,
          );
          break;
        case 'warning':
          lines.push(
            `${ms(r.t)}  ${pad(r.actor, 16)}! ${String(m['step'])}: ${String(m['message'])}`,
          );
          break;
        case 'release.failed':
          lines.push(
            `${ms(r.t)}  ${pad(r.actor, 16)}✗ release of ${String(m['resource'])} failed: ${String(m['message'])} (the others go on)`,
          );
          break;
        case 'release.skipped':
          lines.push(
            `${ms(r.t)}  ${pad(r.actor, 16)}= ${String(m['resource'])} kept: ${String(m['reason'])}`,
          );
          break;
        case 'containers.leftRunning':
          lines.push(
            `${ms(r.t)}  ${pad(r.actor, 16)}= live-restore: containers left running: ${(m['ids'] as string[]).join(', ') || 'none'}`,
          );
          break;
        case 'shutdown.forced':
          lines.push(
            `${ms(r.t)}  ${pad(r.actor, 16)}! Force shutdown daemon after ${String(m['afterS'])} s`,
          );
          break;
        default:
          break;
      }
      continue;
    }
    if (r.kind === 'transition') {
      if (r.to === 'releasing' && !releasing) {
        releasing = true;
        lines.push(`${ms(r.t)}  ${pad(r.actor, 16)}releasing what was acquired, newest first:`);
      } else if (
        r.to === 'ready' ||
        r.to === 'failed' ||
        r.to === 'stopped' ||
        r.to === 'draining'
      ) {
        lines.push(`${ms(r.t)}  ${pad(r.actor, 16)}→ ${String(r.to)}`);
      }
    }
  }
  return lines;
}
