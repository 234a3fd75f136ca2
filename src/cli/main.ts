import { TraceFileError } from '../../effects/trace-file.ts';
import { checkCommand } from '../check/command.ts';
import { replayCommand } from '../replay/command.ts';
import { simCommand } from '../sim/command.ts';
import { mainUsage, UsageError } from './usage.ts';

type Command = (argv: string[], out: (line: string) => void) => number | Promise<number>;

const commands: Record<string, () => Promise<Command> | Command> = {
  sim: () => simCommand,
  replay: () => replayCommand,
  check: () => checkCommand,
  explore: async () => (await import('../explore/command.ts')).exploreCommand,
  // The daemon's modules (grpc, level, http) load only when the daemon runs.
  daemon: async () => (await import('../daemon/command.ts')).daemonCommand,
  inspect: async () => (await import('../inspector/command.ts')).inspectCommand,
};

/** The `statedock` command; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainUsage);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`statedock: unknown command ${JSON.stringify(name)}; see 'statedock --help'\n`);
    return 2;
  }
  try {
    const command = await load();
    return await command(rest, out);
  } catch (err) {
    if (err instanceof UsageError || err instanceof TraceFileError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`statedock ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}
