/**
 * A deep copy of plain data (arrays, objects made by literals or JSON.parse, and primitives),
 * as `structuredClone` makes it, without its serialisation: the simulated host copies what it
 * stores and what it hands back (the network database) on every start-up. Anything else in the
 * value (a class instance, a Map, a Date) is left to `structuredClone`. Two references to one
 * object come out as two copies; nothing reads the simulated host's copies by identity.
 */
export function copyPlain<T>(value: T): T {
  if (typeof value !== 'object' || value === null) {
    // structuredClone refuses these as it always did.
    if (typeof value === 'function' || typeof value === 'symbol') return structuredClone(value);
    return value;
  }
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return structuredClone(value);
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      // A hole stays a hole.
      if (i in value) out[i] = copyPlain(value[i] as unknown);
    }
    return out as T;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    const v = copyPlain((value as Record<string, unknown>)[k]);
    // An own key named __proto__ (JSON.parse makes them) stays a key.
    if (k === '__proto__')
      Object.defineProperty(out, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else out[k] = v;
  }
  return out as T;
}
