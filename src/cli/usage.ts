/** A user error: one clear line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const mainUsage = `Usage: statedock COMMAND [OPTIONS]

A Docker-compatible container engine whose start-up, shutdown and container lifecycle are
state machines with every effect recorded, replayable and checked.

Commands:
  daemon    run the daemon (dockerd's flags: --data-root, --exec-root, -H, --pidfile, ...)
  sim       run the daemon's start-up in a simulated world and print its timeline
  replay    replay a trace against the machines and report the first divergence
  check     check a trace against the machines' ordering constraints
  explore   cut the power at every record of crash scenarios, restart, and check what restore left
  inspect   serve the visual inspector for traces and/or a live daemon

Run 'statedock COMMAND --help' for a command's options.`;
