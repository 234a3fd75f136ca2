import type { LogEntry } from '../stdio.ts';
import type { LogFormat } from './reader.ts';

/**
 * The local logging driver's file format: each entry is a protocol-buffers LogEntry
 * (source = 1, time_nano = 2, line = 3, partial = 4) framed by its length as a big-endian
 * uint32 before and after it. The line is kept without its newline; a line that ended
 * without one (the output's last, unterminated) is marked partial.
 */

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function field(tag: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag, ...varint(BigInt(bytes.length))]), bytes]);
}

export function encodeLocalEntry(e: LogEntry): Buffer {
  const ended = e.log.length > 0 && e.log[e.log.length - 1] === 10;
  const line = ended ? e.log.subarray(0, e.log.length - 1) : e.log;
  const nanos = BigInt(Date.parse(e.time)) * 1_000_000n;
  const body = Buffer.concat([
    field(0x0a, Buffer.from(e.stream === 1 ? 'stdout' : 'stderr')),
    Buffer.from([0x10, ...varint(nanos)]),
    field(0x1a, line),
    ...(ended ? [] : [Buffer.from([0x20, 0x01])]),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body, len]);
}

/** The entries of a file's bytes; a torn last record (a crash mid-write) ends the list. */
export function decodeLocalEntries(buf: Buffer): LogEntry[] {
  return decodeLocalFrames(buf).entries;
}

/** The whole records at the start of `buf`, and how many bytes they took. */
export function decodeLocalFrames(buf: Buffer): { entries: LogEntry[]; used: number } {
  const out: LogEntry[] = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = buf.readUInt32BE(at);
    if (at + 8 + len > buf.length) break;
    const body = buf.subarray(at + 4, at + 4 + len);
    at += 8 + len;
    let source = 'stdout';
    let nanos = 0n;
    let line = Buffer.alloc(0);
    let partial = false;
    let p = 0;
    const readVarint = (): bigint => {
      let v = 0n;
      let shift = 0n;
      for (;;) {
        const b = body[p++] ?? 0;
        v |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0 || p >= body.length) return v;
        shift += 7n;
      }
    };
    while (p < body.length) {
      const key = Number(readVarint());
      const wire = key & 7;
      const num = key >> 3;
      if (wire === 0) {
        const v = readVarint();
        if (num === 2) nanos = v;
        if (num === 4) partial = v !== 0n;
      } else if (wire === 2) {
        const n = Number(readVarint());
        const bytes = body.subarray(p, p + n);
        p += n;
        if (num === 1) source = bytes.toString('utf8');
        if (num === 3) line = Buffer.from(bytes);
      } else break;
    }
    out.push({
      stream: source === 'stderr' ? 2 : 1,
      log: partial ? line : Buffer.concat([line, Buffer.from('\n')]),
      time: new Date(Number(nanos / 1_000_000n)).toISOString(),
    });
  }
  return { entries: out, used: at };
}

/** The local format for readers: records found backwards by the length after each. */
export const localLogFormat: LogFormat = {
  decode: decodeLocalFrames,
  async tailOffset(seg, end, n) {
    const len = Buffer.alloc(4);
    let at = end;
    let found = 0;
    while (at >= 8 && found < n) {
      if ((await seg.readAt(len, 4, at - 4)) < 4) break;
      const start = at - 8 - len.readUInt32BE(0);
      // A torn record at the end (a crash mid-write) has no trustworthy length after it.
      if (start < 0) break;
      at = start;
      found += 1;
    }
    return found >= n ? { offset: at, found } : { offset: 0, found };
  },
};
