/**
 * The request body's bytes on their way to the extraction thread: a ring of shared memory the
 * event loop copies the body into and the thread reads from, told by small messages where the
 * new bytes are and answering how many it is done with. One SharedArrayBuffer per copy, not an
 * ArrayBuffer per piece moved between threads: every ArrayBuffer a thread receives counts as
 * new external memory of its heap, and 50 MiB of them per copy made the event loop run a full
 * collection of the daemon's heap every copy or two.
 */
export class BodyRing {
  /** 8 MiB: room for the body while the disk is briefly behind; a full ring pauses the body. */
  static readonly BYTES = 8 << 20;
  /** Bytes told to the thread at once: a message per ~256 KiB, not per body chunk (~32 KiB). */
  private static readonly BATCH = 256 << 10;

  readonly shared = new SharedArrayBuffer(BodyRing.BYTES);
  private readonly bytes = Buffer.from(this.shared);
  /** Bytes copied in, told to the thread, and taken by it, since the start (head ≥ told ≥ taken). */
  private head = 0;
  private told = 0;
  private taken = 0;
  /** Chunks that did not fit yet (the body is paused meanwhile). */
  private waiting: Buffer[] = [];
  private readonly tell: (at: number, length: number) => void;

  /** `tell` hands the thread a region of the ring (never one that wraps around). */
  constructor(tell: (at: number, length: number) => void) {
    this.tell = tell;
  }

  /** Copies a chunk in; false when the ring is full (the rest waits: pause the body). */
  add(chunk: Buffer): boolean {
    if (this.waiting.length > 0) {
      this.waiting.push(chunk);
      return false;
    }
    const rest = this.copyIn(chunk);
    if (rest === null) return true;
    this.waiting.push(rest);
    this.flush();
    return false;
  }

  /** The thread is done with `n` more bytes; true once nothing waits (resume the body). */
  release(n: number): boolean {
    this.taken += n;
    while (this.waiting.length > 0) {
      const rest = this.copyIn(this.waiting[0] as Buffer);
      if (rest !== null) {
        this.waiting[0] = rest;
        this.flush();
        return false;
      }
      this.waiting.shift();
    }
    return true;
  }

  /** Whether every byte added is in the ring (none waits). */
  get drained(): boolean {
    return this.waiting.length === 0;
  }

  /** Tells the thread of every byte copied in and not told yet. */
  flush(): void {
    if (this.head === this.told) return;
    this.tell(this.told % BodyRing.BYTES, this.head - this.told);
    this.told = this.head;
  }

  /** Copies what fits of `chunk`; the rest, or null. */
  private copyIn(chunk: Buffer): Buffer | null {
    let at = 0;
    while (at < chunk.length) {
      const pos = this.head % BodyRing.BYTES;
      const room = Math.min(BodyRing.BYTES - (this.head - this.taken), BodyRing.BYTES - pos);
      if (room === 0) return chunk.subarray(at);
      const n = Math.min(room, chunk.length - at);
      chunk.copy(this.bytes, pos, at, at + n);
      this.head += n;
      at += n;
      // A region told never wraps around the ring's end.
      if (this.head - this.told >= BodyRing.BATCH || this.head % BodyRing.BYTES === 0) this.flush();
    }
    return null;
  }
}
