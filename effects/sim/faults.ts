import { effectErrorCodes, isEffectErrorCode, type EffectErrorCode } from '../errors.ts';
import type { EffectCall } from '../requests.ts';

/**
 * A fault plan: what fails, and what is slow, in a simulated run. Rules are data and have a
 * one-line text form, the way containerd's fault injection takes short text rules:
 *
 *   fs.mkdirAll#2@/var/lib/statedock/image=ENOSPC   the 2nd fs.mkdirAll under that path fails with ENOSPC
 *   containerd.*+300ms                               every containerd effect answers 300 ms later
 *   step:layerStore=EIO                              the first effect the step layerStore asks for fails
 *   fs.removePidfile=EIO                             a release fails (faults inside releases)
 *   *#17=EIO                                         the 17th effect of the run, whatever it is, fails
 */
export interface FaultRule {
  /** Effect name, `family.*`, or `*`. */
  effect: string;
  /** Only calls made by this step (the call's `step`; releases are `release:<resource>`). */
  step?: string;
  /** Only calls whose path (or address, key) starts with this. */
  under?: string;
  /** Only the nth matching call (1-based); every matching call when absent. */
  nth?: number;
  action: { fail: EffectErrorCode } | { delayMs: number };
}

export class FaultSyntaxError extends Error {
  override name = 'FaultSyntaxError';
}

const shape =
  /^(?:step:([\w:.-]+)|([\w]+\.(?:\*|[\w]+)|\*))(?:#(\d+))?(?:@(\/[^=+]*))?(?:=([A-Z]+)|\+(\d+)ms)$/;

/** Parses one rule; errors say what the syntax is. */
export function parseFaultRule(text: string): FaultRule {
  const m = shape.exec(text.trim());
  if (!m) {
    throw new FaultSyntaxError(
      `bad fault rule ${JSON.stringify(text)}: write EFFECT[#N][@PATH]=ERRNO, EFFECT+MSms or step:STEP=ERRNO (e.g. fs.mkdirAll#2@/var/lib/statedock/image=ENOSPC, containerd.*+300ms)`,
    );
  }
  const [, step, effect, nth, under, errno, delay] = m;
  const rule: FaultRule = { effect: effect ?? '*', action: { delayMs: 0 } };
  if (step !== undefined) rule.step = step;
  if (nth !== undefined) {
    const n = Number(nth);
    if (n < 1)
      throw new FaultSyntaxError(`bad fault rule ${JSON.stringify(text)}: #N counts from 1`);
    rule.nth = n;
  }
  if (under !== undefined) rule.under = under;
  if (errno !== undefined) {
    if (!isEffectErrorCode(errno))
      throw new FaultSyntaxError(
        `bad fault rule ${JSON.stringify(text)}: unknown error ${errno}; one of ${effectErrorCodes.join(', ')}`,
      );
    rule.action = { fail: errno };
  } else {
    rule.action = { delayMs: Number(delay) };
  }
  return rule;
}

export function parseFaultPlan(texts: readonly string[]): FaultRule[] {
  return texts.map(parseFaultRule);
}

export function formatFaultRule(r: FaultRule): string {
  const head = r.step !== undefined && r.effect === '*' ? `step:${r.step}` : r.effect;
  return `${head}${r.nth !== undefined ? `#${r.nth}` : ''}${r.under !== undefined ? `@${r.under}` : ''}${'fail' in r.action ? `=${r.action.fail}` : `+${r.action.delayMs}ms`}`;
}

function pathOf(call: EffectCall): string | undefined {
  const c = call as unknown as Record<string, unknown>;
  for (const k of ['path', 'from', 'address', 'key', 'prefix', 'dir'])
    if (typeof c[k] === 'string') return c[k];
  if (Array.isArray(c['paths'])) return (c['paths'] as string[])[0];
  return undefined;
}

function effectMatches(pattern: string, effect: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return effect.startsWith(pattern.slice(0, -1));
  return pattern === effect;
}

/** Applies a plan to calls as they happen, counting matches per rule. */
export class FaultInjector {
  private readonly rules: FaultRule[];
  private readonly counts: number[];

  constructor(rules: readonly FaultRule[]) {
    this.rules = [...rules];
    this.counts = rules.map(() => 0);
  }

  /** What the plan does to this call: a failure code, an added delay, or nothing. */
  judge(call: EffectCall): { fail: EffectErrorCode | null; delayMs: number } {
    let fail: EffectErrorCode | null = null;
    let delayMs = 0;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i] as FaultRule;
      if (!effectMatches(r.effect, call.effect)) continue;
      if (r.step !== undefined && call.step !== r.step) continue;
      if (r.under !== undefined && !(pathOf(call) ?? '').startsWith(r.under)) continue;
      const n = (this.counts[i] as number) + 1;
      this.counts[i] = n;
      // step:X without #N means the first call of that step.
      const nth = r.nth ?? (r.step !== undefined && 'fail' in r.action ? 1 : undefined);
      if (nth !== undefined && n !== nth) continue;
      if ('fail' in r.action) fail ??= r.action.fail;
      else delayMs += r.action.delayMs;
    }
    return { fail, delayMs };
  }
}
