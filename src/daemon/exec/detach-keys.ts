/**
 * Detach keys (`--detach-keys`, default ctrl-p,ctrl-q), as dockerd reads them (moby's
 * term.ToBytes) and watches a terminal's input for them (its escape proxy): bytes that may
 * begin the sequence are held back, let through when the sequence breaks, and the whole
 * sequence detaches the client (the process runs on).
 */

export const defaultDetachKeys = Buffer.from([16, 17]);

/** `ctrl-p,ctrl-q` → [16, 17]; null when a key is not one dockerd knows. */
export function detachKeyBytes(spec: string): Buffer | null {
  if (spec === '') return defaultDetachKeys;
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const k = part.trim().toLowerCase();
    if (k.length > 1 && k.startsWith('ctrl-')) {
      const c = k.slice(5);
      if (c.length !== 1) return null;
      const code = c.charCodeAt(0);
      if (c >= 'a' && c <= 'z') out.push(code - 96);
      else if (c === '@') out.push(0);
      else if (c === '[') out.push(27);
      else if (c === '\\') out.push(28);
      else if (c === ']') out.push(29);
      else if (c === '^') out.push(30);
      else if (c === '_') out.push(31);
      else return null;
    } else if (part.length === 1) out.push(part.charCodeAt(0));
    else return null;
  }
  return Buffer.from(out);
}

/** Watches input for the sequence: `push` returns what to pass on, and whether it was seen. */
export class EscapeProxy {
  private readonly keys: Buffer;
  private held = 0;

  constructor(keys: Buffer) {
    this.keys = keys;
  }

  push(chunk: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held += 1;
        if (this.held === this.keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      // The sequence broke: what was held back goes on, then this byte starts afresh.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i] as number);
      this.held = 0;
      if (b === this.keys[0]) this.held = 1;
      else out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
