import { request, type IncomingMessage } from 'node:http';

/** GET over a unix socket, the whole body as text. */
export function getText(
  socketPath: string,
  path: string,
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A reader of an NDJSON stream: every line parsed, waitable, pausable. */
export class LineReader {
  readonly lines: Record<string, unknown>[] = [];
  res!: IncomingMessage;
  private buffer = '';
  private waiters: (() => void)[] = [];
  private readonly opened: Promise<void>;
  private closeRequest: (() => void) | null = null;

  constructor(socketPath: string, path: string, opts: { paused?: boolean } = {}) {
    this.opened = new Promise((resolve, reject) => {
      const req = request({ socketPath, path, method: 'GET' }, (res) => {
        this.res = res;
        res.setEncoding('utf8');
        if (opts.paused) res.pause();
        res.on('data', (c: string) => {
          this.buffer += c;
          let nl: number;
          while ((nl = this.buffer.indexOf('\n')) >= 0) {
            const line = this.buffer.slice(0, nl);
            this.buffer = this.buffer.slice(nl + 1);
            if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
          }
          for (const w of this.waiters.splice(0)) w();
        });
        resolve();
      });
      req.on('error', reject);
      this.closeRequest = () => req.destroy();
      req.end();
    });
  }

  ready(): Promise<void> {
    return this.opened;
  }

  /** Resolves once `predicate` holds of the lines read (checked after every chunk). */
  async until(
    predicate: (lines: Record<string, unknown>[]) => boolean,
    timeoutMs = 5000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.lines)) {
      if (Date.now() > deadline)
        throw new Error(
          `stream: condition not met within ${timeoutMs} ms; ${this.lines.length} lines read, last ${JSON.stringify(this.lines.at(-1))}`,
        );
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.closeRequest?.();
  }
}
