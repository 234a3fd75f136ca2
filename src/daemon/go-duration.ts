/**
 * Go's time.ParseDuration, which dockerd uses wherever a client writes a duration (a prune's
 * `until`, HEALTHCHECK's periods): an optional sign, then one or more decimal numbers each
 * with a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), as in `300ms`, `-1.5h`, `2h45m`;
 * `0` alone needs no unit. A fraction's nanoseconds are truncated, as Go's are, and a duration
 * beyond Go's int64 nanoseconds (about 292 years) is no duration.
 */

/** Nanoseconds per unit. The micro signs are escaped: the bundle must be ASCII. */
const nanosecondsPer: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n,
  '\u03bcs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** Go's limit: a duration is an int64 of nanoseconds. */
const maxNanoseconds = 2n ** 63n - 1n;

/** One term: digits, an optional fraction (at least one digit in all), then a unit. */
const term = /(\d*)(?:\.(\d*))?([^\d.]*)/y;

/**
 * A fraction's nanoseconds as Go reckons them: its digits as an integer (those past int64's
 * range ignored) times the unit over its scale, in floating point, truncated.
 */
function fractionOf(digits: string, unit: bigint): bigint {
  let value = 0n;
  let scale = 1;
  for (const digit of digits) {
    const next = value * 10n + BigInt(digit);
    if (next > 2n ** 63n) continue;
    value = next;
    scale *= 10;
  }
  return BigInt(Math.trunc(Number(value) * (Number(unit) / scale)));
}

/**
 * The duration `text` means, in nanoseconds (signed), or null when Go would refuse it. Past
 * 2^53 ns (104 days) the number is rounded to a double's precision.
 */
export function parseGoDuration(text: string): number | null {
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return null;
  let total = 0n;
  term.lastIndex = 0;
  while (term.lastIndex < rest.length) {
    const m = term.exec(rest);
    if (m === null) return null;
    const [, whole = '', fraction, unitName = ''] = m;
    if (whole === '' && (fraction === undefined || fraction === '')) return null;
    const unit = nanosecondsPer[unitName];
    if (unit === undefined) return null;
    total += BigInt(whole === '' ? '0' : whole) * unit;
    if (fraction !== undefined && fraction !== '') total += fractionOf(fraction, unit);
    if (total > maxNanoseconds + (negative ? 1n : 0n)) return null;
  }
  return Number(negative ? -total : total);
}
