/**
 * Whether two values are the same JSON, whatever the order of their objects' keys, decided
 * without writing either out. Replay compares every record the machines produce with the
 * recorded one this way: serialising both took a quarter of its time.
 *
 * It answers `true` only when `JSON.stringify` of both, with every object's keys sorted, would
 * give the same text. It answers `false` for anything it does not decide on its own (a number
 * JSON writes as null, a function, a class instance, an object with `toJSON`): the caller then
 * compares the texts, so `false` means "not shown equal here", never "different".
 */
export function sameJson(a: unknown, b: unknown): boolean {
  // (A BigInt is left to JSON.stringify, which refuses it.)
  if (a === b) return typeof a !== 'bigint';
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || !isPlain(a) || !isPlain(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra);
  if (ka.length === Object.keys(rb).length) {
    // As many keys on both sides, each of a's with a value JSON writes and the same in b's own:
    // then they are the same keys.
    let k = 0;
    for (; k < ka.length; k++) {
      const key = ka[k] as string;
      const va = ra[key];
      if (va === undefined || !writable(key, va)) break;
      if (!Object.hasOwn(rb, key) || !sameJson(va, rb[key])) return false;
    }
    if (k === ka.length) return true;
  }
  // Keys JSON leaves out (their value is undefined) may differ: count the written ones.
  let shown = 0;
  for (const key of ka) {
    const va = ra[key];
    if (va === undefined) continue;
    if (!writable(key, va)) return false;
    if (!Object.hasOwn(rb, key) || !sameJson(va, rb[key])) return false;
    shown++;
  }
  for (const key of Object.keys(rb)) if (rb[key] !== undefined) shown--;
  return shown === 0;
}

/** A key and value JSON writes as they are: not a function or symbol, and not `toJSON`. */
function writable(key: string, value: unknown): boolean {
  return key !== 'toJSON' && typeof value !== 'function' && typeof value !== 'symbol';
}

/**
 * An object JSON writes as its own keys: made by a literal, `JSON.parse` or `Object.create(null)`
 * (an own `toJSON` is refused key by key, see `writable`).
 */
function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o) as unknown;
  return proto === null || (proto === Object.prototype && !objectPrototypeHasToJson());
}

function objectPrototypeHasToJson(): boolean {
  return (Object.prototype as { toJSON?: unknown }).toJSON !== undefined;
}
