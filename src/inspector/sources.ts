import { request, type ClientRequest } from 'node:http';
import { basename } from 'node:path';
import { checkTrace } from '../../machines/check/checker.ts';
import { constraintName, type Constraint } from '../../machines/check/constraints.ts';
import type { TraceHeader, TraceRecord } from '../../effects/trace.ts';
import type { Catalog, ConstraintVerdict, SourceInfo } from './protocol.ts';
import { RowCompiler, type SourceLine } from './rows.ts';

/**
 * What the inspector shows: a recorded trace (complete when loaded) or a live daemon (grows
 * while the daemon runs). Both keep every line and its compiled row; the page gets the rows
 * and asks for a record's JSON and the constraints' verdicts when it needs them.
 */
export abstract class Source {
  readonly info: SourceInfo;
  readonly lines: SourceLine[] = [];
  readonly compiler = new RowCompiler();
  private listeners = new Set<() => void>();
  private verdictCache = new Map<number, ConstraintVerdict[]>();
  private fullCheck: { length: number; results: ReturnType<typeof checkTrace> } | null = null;

  constructor(info: SourceInfo) {
    this.info = info;
  }

  abstract catalog(): Promise<Catalog>;

  /** Whether a live source is connected now (null for a trace). */
  liveStatus(): { connected: boolean; message?: string } | null {
    return null;
  }

  protected append(line: SourceLine): void {
    this.lines.push(line);
    this.compiler.add(line);
  }

  protected changed(): void {
    this.verdictCache.clear();
    for (const l of this.listeners) l();
  }

  /** Called after lines were appended or the connection changed. Returns the unsubscriber. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records of rows `from`…`to` (inclusive), gaps as they are. */
  records(from: number, to: number): SourceLine[] {
    return this.lines.slice(Math.max(0, from), Math.min(this.lines.length, to + 1));
  }

  /** The constraints of every machine with an actor in the source, each once, with its machine. */
  private constraints(catalog: Catalog): { c: Constraint; machine: string }[] {
    const seen = new Set<string>();
    const out: { c: Constraint; machine: string }[] = [];
    const machinesSeen = new Set<string>();
    for (const l of this.lines) {
      if (l.kind === 'actor.start') machinesSeen.add(l.machine);
      else if (l.kind === 'gap')
        for (const a of Object.values(l.actors ?? {})) machinesSeen.add(a.machine);
    }
    for (const m of machinesSeen) {
      for (const c of catalog.machines[m]?.constraints ?? []) {
        const n = constraintName(c);
        if (seen.has(n)) continue;
        seen.add(n);
        out.push({ c, machine: m });
      }
    }
    return out;
  }

  /**
   * Each constraint on the records up to row `upto`: pass, fail (with the records that show
   * it), or pending — broken on the prefix but not on everything received (a release still
   * to come, a step that finishes later).
   */
  async verdicts(upto: number): Promise<ConstraintVerdict[]> {
    const cached = this.verdictCache.get(upto);
    if (cached) return cached;
    const list = this.constraints(await this.catalog());
    const records = (end: number): TraceRecord[] => {
      const out: TraceRecord[] = [];
      for (let i = 0; i < end && i < this.lines.length; i++) {
        const l = this.lines[i] as SourceLine;
        if (l.kind !== 'gap') out.push(l);
      }
      return out;
    };
    const cs = list.map((x) => x.c);
    if (!this.fullCheck || this.fullCheck.length !== this.lines.length)
      this.fullCheck = {
        length: this.lines.length,
        results: checkTrace(records(this.lines.length), cs),
      };
    const full = this.fullCheck.results;
    const prefix = upto + 1 >= this.lines.length ? full : checkTrace(records(upto + 1), cs);
    const verdicts = prefix.map((r, i): ConstraintVerdict => {
      const { c, machine } = list[i] as { c: Constraint; machine: string };
      const status = r.ok ? 'pass' : full[i]?.ok ? 'pending' : 'fail';
      const v: ConstraintVerdict = {
        constraint: r.constraint,
        machine,
        status,
        violations: r.violations.map((x) => ({ message: x.message, records: x.records })),
      };
      if (c.kind === 'before') v.why = c.why;
      return v;
    });
    if (this.verdictCache.size > 64) this.verdictCache.clear();
    this.verdictCache.set(upto, verdicts);
    return verdicts;
  }
}

/** A trace file, read and compiled once. */
export class TraceSource extends Source {
  private readonly cat: Catalog;

  constructor(
    id: string,
    path: string,
    trace: { header: TraceHeader; records: TraceRecord[] },
    catalog: Catalog,
  ) {
    super({ id, kind: 'trace', title: basename(path), header: trace.header });
    this.cat = catalog;
    for (const r of trace.records) this.append(r);
  }

  catalog(): Promise<Catalog> {
    return Promise.resolve(this.cat);
  }
}

/** `unix:///run/statedock.sock` → `/run/statedock.sock`; null when it is not a unix URL. */
export function socketPathOf(address: string): string | null {
  const m = /^unix:\/\/(\/.+)$/.exec(address);
  return m ? (m[1] as string) : null;
}

function getJson(socketPath: string, path: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(
            Object.assign(
              new Error(
                `GET ${path} answered ${res.statusCode}${res.statusCode === 404 ? ' (the daemon serves no inspection feed)' : ''}`,
              ),
              { code: `HTTP${res.statusCode}` },
            ),
          );
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (cause) {
          reject(new Error(`GET ${path}: not JSON`, { cause }));
        }
      });
    });
    req.on('timeout', () =>
      req.destroy(
        Object.assign(new Error(`GET ${path}: no answer within ${timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        }),
      ),
    );
    req.on('error', reject);
    req.end();
  });
}

/** Why a daemon's socket cannot be used, in a few words. */
export function daemonProblem(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return 'no such socket';
  if (code === 'ECONNREFUSED') return 'connection refused (no daemon listens there)';
  if (code === 'EACCES') return 'permission denied';
  return (err as Error).message;
}

/**
 * A live daemon's inspection feed (src/daemon/inspection-feed.ts): one upstream stream of
 * records, reconnected with `since` after the last record received when the daemon goes away.
 */
export class LiveSource extends Source {
  readonly socketPath: string;
  private cat: Catalog | null = null;
  private lastSeq = 0;
  private connected = false;
  private message: string | undefined;
  private req: ClientRequest | null = null;
  /** The daemon run the records come from (the feed header's `meta.instance`). */
  private instance: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(id: string, address: string, socketPath: string) {
    super({ id, kind: 'live', title: address, header: null });
    this.socketPath = socketPath;
  }

  /** Fetches the catalog once (so a wrong socket fails at start) and opens the stream. */
  async connect(): Promise<void> {
    this.cat = (await getJson(this.socketPath, '/statedock/machines')) as Catalog;
    this.open();
  }

  async catalog(): Promise<Catalog> {
    if (!this.cat) this.cat = (await getJson(this.socketPath, '/statedock/machines')) as Catalog;
    return this.cat;
  }

  override liveStatus(): { connected: boolean; message?: string } {
    return this.message === undefined
      ? { connected: this.connected }
      : { connected: this.connected, message: this.message };
  }

  private open(): void {
    if (this.closed) return;
    let buffer = '';
    const req = request(
      {
        socketPath: this.socketPath,
        path: `/statedock/records?since=${this.lastSeq}`,
        method: 'GET',
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          this.lost(`the daemon answered ${res.statusCode}`);
          return;
        }
        this.connected = true;
        this.message = undefined;
        this.changed();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl: number;
          let added = false;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const text = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (text.trim() === '') continue;
            let line: SourceLine | TraceHeader;
            try {
              line = JSON.parse(text) as SourceLine | TraceHeader;
            } catch {
              continue;
            }
            if (line.kind === 'header') {
              const instance =
                typeof line.meta['instance'] === 'string' ? line.meta['instance'] : '';
              if (this.instance !== null && instance !== this.instance && this.lastSeq > 0) {
                // Another daemon run numbers from 1 again: start over from its first record.
                this.instance = instance;
                this.lastSeq = 0;
                this.append({ kind: 'gap', dropped: 0, note: 'the daemon restarted' });
                added = true;
                this.req = null;
                req.destroy();
                setImmediate(() => this.open());
                break;
              }
              this.instance = instance;
              continue;
            }
            if (line.kind !== 'gap') {
              if (line.seq <= this.lastSeq) continue;
              this.lastSeq = line.seq;
            }
            this.append(line);
            added = true;
          }
          if (added) this.changed();
        });
        res.on('end', () => {
          if (this.req === req) this.lost('the daemon closed the feed');
        });
        res.on('error', (err) => {
          if (this.req === req) this.lost(daemonProblem(err));
        });
      },
    );
    req.on('error', (err) => {
      if (this.req === req) this.lost(daemonProblem(err));
    });
    req.end();
    this.req = req;
  }

  private lost(why: string): void {
    if (this.closed || this.retry) return;
    this.connected = false;
    this.message = why;
    this.changed();
    this.req?.destroy();
    this.req = null;
    // A restarted daemon numbers its records from 1 again; a new catalog may come with it.
    this.retry = setTimeout(() => {
      this.retry = null;
      getJson(this.socketPath, '/statedock/machines').then(
        (cat) => {
          this.cat = cat as Catalog;
          this.open();
        },
        (err: unknown) => this.lost(daemonProblem(err)),
      );
    }, 1000);
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.req?.destroy();
  }
}
