import { TraceFileError } from '../../effects/trace-file.ts';
import { mainUsage, UsageError } from './usage.ts';
import type { StartupPhase } from '../daemon/startup-phases.ts';

/** What the program that runs the CLI offers it (bin/statedock.js: see there). */
export interface CliHost {
  /** The daemon has started up: what it compiled on the way is worth keeping (V8's code cache). */
  startedUp(): void;
  /** The daemon started its first container: what a container's run compiles is worth keeping too. */
  ranContainer?: () => void;
  /** The process's start-up phases measured before the CLI ran (Node's bootstrap, loading the bundle). */
  phases?: StartupPhase[];
}

type Command = (argv: string[], out: (line: string) => void) => number | Promise<number>;

// Each command's modules are evaluated only when it runs: the daemon's start-up runs no
// simulator, checker or inspector code.
const commands: Record<string, (host: CliHost) => Promise<Command>> = {
  sim: async () => (await import('../sim/command.ts')).simCommand,
  replay: async () => (await import('../replay/command.ts')).replayCommand,
  check: async () => (await import('../check/command.ts')).checkCommand,
  explore: async () => (await import('../explore/command.ts')).exploreCommand,
  daemon: async (host) => {
    const { daemonCommand } = await import('../daemon/command.ts');
    const { phaseNow } = await import('../daemon/startup-phases.ts');
    host.phases?.push(phaseNow('modules'));
    return (argv, out) => daemonCommand(argv, out, host);
  },
  inspect: async () => (await import('../inspector/command.ts')).inspectCommand,
};

/** The `statedock` command; returns the exit status. */
export async function main(
  argv: string[],
  host: CliHost = { startedUp: () => undefined },
): Promise<number> {
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
    process.stderr.write(
      `statedock: unknown command ${JSON.stringify(name)}; see 'statedock --help'\n`,
    );
    return 2;
  }
  try {
    const command = await load(host);
    return await command(rest, out);
  } catch (err) {
    if (
      err instanceof UsageError ||
      err instanceof TraceFileError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`statedock ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}
