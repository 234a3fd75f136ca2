// tar-stream's header codec (its extract.js decodes with it), which ships no types of its own.
declare module 'tar-stream/headers.js' {
  import type { Headers } from 'tar-stream';
  /** A 512-byte header block; null for a block of zeros (an archive's end). Throws on a bad checksum. */
  export function decode(
    buf: Buffer,
    filenameEncoding: string,
    allowUnknownFormat: boolean,
  ): Headers | null;
  export function decodeLongPath(buf: Buffer, encoding: string): string;
  export function decodePax(buf: Buffer): Record<string, string>;
}
