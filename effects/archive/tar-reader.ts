import type { Headers } from 'tar-stream';
import { decode, decodeLongPath, decodePax } from 'tar-stream/headers.js';

/** Where an entry's bytes go, as they come. */
export interface TarEntrySink {
  data(bytes: Buffer): void;
  end(): void;
}

/** A tar entry's header, as tar-stream decodes it. */
export type TarHeader = Headers;

const BLOCK = 512;

/** Bytes of padding after `size` bytes of data, to the next 512-byte block. */
function padding(size: number): number {
  const over = size & (BLOCK - 1);
  return over === 0 ? 0 : BLOCK - over;
}

/**
 * A tar parser with synchronous calls, as tar-stream's extract parses (its header codec, its
 * handling of GNU long names and pax headers, the same errors): every byte given to `write` is
 * handed on, to an entry's sink, before it returns, and nothing keeps a view of it after (a
 * header cut between two writes is copied). So a writer may reuse its buffer at once, and no
 * stream, promise or buffer list stands between the bytes and the disk.
 */
export class TarReader {
  private readonly onEntry: (header: TarHeader) => TarEntrySink | null;
  /** The entry whose data comes next, and how much of it. */
  private sink: TarEntrySink | null = null;
  private dataLeft = 0;
  /** Bytes to pass over: an entry's padding, or the data of an entry nobody reads. */
  private skip = 0;
  /** A header (or a long name, a pax record) cut between two writes: its bytes so far, copied. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** A long name or pax header being read, and its size. */
  private long: { type: string; size: number } | null = null;
  private gnuLongPath: string | null = null;
  private gnuLongLinkPath: string | null = null;
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;

  /** `onEntry` gets each entry's header; its sink (null: the data is passed over) gets the data. */
  constructor(onEntry: (header: TarHeader) => TarEntrySink | null) {
    this.onEntry = onEntry;
  }

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - at);
        this.dataLeft -= n;
        const sink = this.sink;
        if (this.dataLeft === 0) this.sink = null;
        sink?.data(chunk.subarray(at, at + n));
        at += n;
        if (this.dataLeft === 0) sink?.end();
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const need = this.long ? this.long.size : BLOCK;
      let block: Buffer;
      if (this.heldBytes === 0 && chunk.length - at >= need) {
        block = chunk.subarray(at, at + need);
        at += need;
      } else {
        const n = Math.min(need - this.heldBytes, chunk.length - at);
        this.held.push(Buffer.from(chunk.subarray(at, at + n)));
        this.heldBytes += n;
        at += n;
        if (this.heldBytes < need) return;
        block = Buffer.concat(this.held, need);
        this.held = [];
        this.heldBytes = 0;
      }
      this.consume(block);
    }
  }

  /** The archive's end: throws when it stops inside an entry or a header (tar-stream's error). */
  end(): void {
    if (this.dataLeft > 0 || this.skip > 0 || this.heldBytes > 0 || this.long)
      throw new Error('Unexpected end of data');
  }

  private consume(block: Buffer): void {
    if (this.long) {
      const { type, size } = this.long;
      this.long = null;
      this.skip = padding(size);
      if (type === 'gnu-long-path') this.gnuLongPath = decodeLongPath(block, 'utf-8');
      else if (type === 'gnu-long-link-path') this.gnuLongLinkPath = decodeLongPath(block, 'utf-8');
      else if (type === 'pax-global-header') this.paxGlobal = decodePax(block);
      else
        this.pax =
          this.paxGlobal === null
            ? decodePax(block)
            : Object.assign({}, this.paxGlobal, decodePax(block));
      return;
    }
    const header = decode(block, 'utf-8', false);
    // A block of zeros: the archive's end (or padding after it).
    if (!header) return;
    const type = header.type;
    if (
      type === 'gnu-long-path' ||
      type === 'gnu-long-link-path' ||
      type === 'pax-global-header' ||
      type === 'pax-header'
    ) {
      // An empty one has nothing to read (tar-stream reads nothing either).
      if ((header.size ?? 0) > 0) this.long = { type, size: header.size ?? 0 };
      return;
    }
    this.applyLongHeaders(header);
    const size = header.size ?? 0;
    const sink = this.onEntry(header);
    // A directory's size is not data, as tar-stream reads it: the next header follows.
    if (size === 0 || header.type === 'directory') {
      sink?.end();
      return;
    }
    this.sink = sink;
    this.dataLeft = size;
    this.skip = padding(size);
  }

  private applyLongHeaders(header: TarHeader): void {
    if (this.gnuLongPath) {
      header.name = this.gnuLongPath;
      this.gnuLongPath = null;
    }
    if (this.gnuLongLinkPath) {
      header.linkname = this.gnuLongLinkPath;
      this.gnuLongLinkPath = null;
    }
    if (this.pax) {
      if (this.pax['path']) header.name = this.pax['path'];
      if (this.pax['linkpath']) header.linkname = this.pax['linkpath'];
      if (this.pax['size']) header.size = parseInt(this.pax['size'], 10);
      this.pax = null;
    }
  }
}
