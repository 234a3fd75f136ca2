import { InvalidRequest } from './errors.ts';
import { capabilityNames, defaultCapabilities } from './defaults.ts';

/** A CapAdd or CapDrop entry the daemon refuses, with Docker's words. */
export class CapabilityError extends InvalidRequest {
  override name = 'CapabilityError';
}

/**
 * CapAdd/CapDrop as Docker normalises them: upper-cased, `CAP_` prefixed, `ALL` kept. A name
 * the kernel does not know, or one the daemon itself lacks (so no container could get it),
 * is refused with Docker's message.
 */
export function normalizeCapabilities(
  list: readonly string[],
  available: readonly string[],
): string[] {
  return list.map((raw) => {
    let c = raw.toUpperCase();
    if (c === 'ALL') return c;
    if (!c.startsWith('CAP_')) c = `CAP_${c}`;
    if (!capabilityNames.includes(c))
      throw new CapabilityError(`unknown capability: ${JSON.stringify(c)}`);
    if (!available.includes(c))
      throw new CapabilityError(
        `capability not supported by your kernel or not available in the current environment: ${JSON.stringify(c)}`,
      );
    return c;
  });
}

/**
 * The container's capabilities (Docker's TweakCapabilities): all the daemon has when
 * privileged; `CapAdd ALL` is all but the dropped ones; `CapDrop ALL` keeps only the added
 * ones; otherwise the defaults minus the dropped plus the added.
 */
export function containerCapabilities(o: {
  add: readonly string[];
  drop: readonly string[];
  privileged: boolean;
  /** What the daemon's own process holds: all a container can get. */
  available: readonly string[];
}): string[] {
  if (o.privileged) return [...o.available];
  const add = normalizeCapabilities(o.add, o.available);
  const drop = normalizeCapabilities(o.drop, o.available);
  let caps: string[];
  if (add.includes('ALL')) caps = o.available.filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = [...add];
  else caps = [...defaultCapabilities.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

/** The capability names of a /proc/<pid>/status mask (`CapEff: 000001fffeffffff`). */
export function capabilitiesOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return capabilityNames.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The /proc/<pid>/status mask of a set of capabilities, as the kernel prints it (16 hex digits). */
export function maskOfCapabilities(caps: readonly string[]): string {
  let mask = 0n;
  for (const c of caps) {
    const bit = capabilityNames.indexOf(c);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, '0');
}
