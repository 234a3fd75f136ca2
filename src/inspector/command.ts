import { parseArgs } from 'node:util';
import { readTraceFile } from '../../effects/trace-file.ts';
import { UsageError } from '../cli/usage.ts';
import { inspectorAssets } from './assets.ts';
import { localCatalog } from './local-catalog.ts';
import { startInspectorServer, type InspectorServer } from './server.ts';
import { daemonProblem, LiveSource, socketPathOf, TraceSource, type Source } from './sources.ts';

export const inspectUsage = `Usage: statedock inspect [--trace FILE]... [--daemon unix:///PATH.sock] [--port N]

Serves the visual inspector on http://127.0.0.1:PORT/ and prints its address: the actors and
their states, each machine drawn as a statechart, the start-up steps and what was released,
every effect with its result and duration, and the ordering constraints, on a timeline you
can play, step and scrub (←/→, space, Home/End; #record=N links to a record).

Options:
  --trace FILE        a trace (statedock sim --trace, a daemon's flight recorder); repeatable
  --daemon ADDRESS    a running daemon's socket, unix:///PATH.sock: its inspection feed, live
  --port N            the port to listen on (default: one the system chooses)`;

export interface InspectOptions {
  /** Resolves when the inspector should stop (default: SIGINT or SIGTERM). */
  until?: Promise<unknown>;
  err?: (line: string) => void;
}

/** `statedock inspect`: serves until SIGINT/SIGTERM; returns the exit status. */
export async function inspectCommand(
  argv: string[],
  out: (line: string) => void,
  opts: InspectOptions = {},
): Promise<number> {
  const err = opts.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trace: { type: 'string', multiple: true },
      daemon: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(inspectUsage);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[0])}; traces go after --trace (see 'statedock inspect --help')`,
    );
  const traces = values.trace ?? [];
  if (traces.length === 0 && values.daemon === undefined)
    throw new UsageError('nothing to inspect: give --trace FILE and/or --daemon unix:///PATH.sock');
  let port = 0;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535)
      throw new UsageError(
        `--port takes a port number (0-65535), got ${JSON.stringify(values.port)}`,
      );
  }
  let socketPath: string | null = null;
  if (values.daemon !== undefined) {
    socketPath = socketPathOf(values.daemon);
    if (socketPath === null)
      throw new UsageError(
        `--daemon takes unix:///PATH.sock, got ${JSON.stringify(values.daemon)}`,
      );
  }

  const catalog = localCatalog();
  const sources: Source[] = traces.map(
    (path, i) => new TraceSource(`t${i}`, path, readTraceFile(path), catalog),
  );
  let live: LiveSource | null = null;
  if (socketPath !== null) {
    live = new LiveSource('live', values.daemon as string, socketPath);
    try {
      await live.connect();
    } catch (e) {
      err(
        `statedock inspect: cannot read the inspection feed of ${values.daemon as string}: ${daemonProblem(e)}`,
      );
      live.close();
      return 1;
    }
    sources.push(live);
  }

  let server: InspectorServer;
  try {
    const assetsDir = await inspectorAssets(err);
    server = await startInspectorServer({ sources, assetsDir, port });
  } catch (e) {
    live?.close();
    const code = (e as { code?: string }).code;
    err(
      `statedock inspect: ${code === 'EADDRINUSE' ? `port ${port} is already in use on 127.0.0.1; pick another with --port or leave it out` : code === 'EACCES' ? `no permission to listen on port ${port}` : (e as Error).message}`,
    );
    return 1;
  }
  out(`statedock inspect: ${server.url}`);
  const until =
    opts.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  await until;
  live?.close();
  await server.close();
  return 0;
}
