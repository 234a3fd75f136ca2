import { readFileSync } from 'node:fs';

/**
 * bin/statedock.js reads the bundle as latin1, not UTF-8 (decoding 1.5 MB of UTF-8 cost every
 * start ~5 ms): that reads it right only if it is ASCII. esbuild escapes non-ASCII characters in
 * strings and identifiers but not in regular expression literals: write those as \uXXXX.
 */
export function assertAscii(path) {
  const bytes = readFileSync(path);
  const at = bytes.findIndex((b) => b > 0x7f);
  if (at < 0) return;
  const line = bytes.subarray(0, at).toString('latin1').split('\n').length;
  const around = bytes.subarray(Math.max(0, at - 60), at + 20).toString('utf8');
  throw new Error(
    `${path}:${line}: the bundle must be ASCII (bin/statedock.js reads it as latin1); a non-ASCII character is in: ${around}`,
  );
}
