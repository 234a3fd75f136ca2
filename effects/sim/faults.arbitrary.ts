import fc from 'fast-check';
import type { EffectErrorCode } from '../errors.ts';
import type { FaultRule } from './faults.ts';

const codes: EffectErrorCode[] = [
  'EIO',
  'ENOSPC',
  'EACCES',
  'EROFS',
  'ENOENT',
  'EBUSY',
  'ETIMEDOUT',
  'ECONNREFUSED',
];

/** One fault: an effect (or family) failing at some occurrence, a step's first call failing, or a delay. */
export function arbFaultRule(
  effectNames: readonly string[],
  stepNames: readonly string[],
): fc.Arbitrary<FaultRule> {
  const families = [...new Set(effectNames.map((e) => `${e.slice(0, e.indexOf('.'))}.*`))];
  const failure = fc.constantFrom(...codes).map((fail) => ({ fail }));
  return fc.oneof(
    fc.record({
      effect: fc.constantFrom(...effectNames),
      nth: fc.integer({ min: 1, max: 6 }),
      action: failure,
    }),
    fc.record({ effect: fc.constantFrom(...effectNames), action: failure }),
    fc.record({ effect: fc.constant('*'), step: fc.constantFrom(...stepNames), action: failure }),
    fc.record({ effect: fc.constant('*'), nth: fc.integer({ min: 1, max: 80 }), action: failure }),
    fc.record({
      effect: fc.constantFrom(...families, ...effectNames),
      action: fc.integer({ min: 1, max: 500 }).map((delayMs) => ({ delayMs })),
    }),
  );
}

/** Up to four faults at once, including ones that hit releases. */
export function arbFaultPlan(
  effectNames: readonly string[],
  stepNames: readonly string[],
): fc.Arbitrary<FaultRule[]> {
  return fc.array(arbFaultRule(effectNames, stepNames), { minLength: 0, maxLength: 4 });
}
