/**
 * A moment of the daemon process's start-up: how long the process had run (ms since it was
 * exec'd, `performance.now()`) and how much CPU it had used. The flight recorder's header
 * carries the list, so a slower start shows which phase grew: Node's own bootstrap, loading the
 * bundle, the daemon's modules and configuration, then the start-up machine's milestones.
 */
export interface StartupPhase {
  phase: string;
  ms: number;
  cpuMs: number;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** The phase that ends now. */
export function phaseNow(phase: string): StartupPhase {
  const u = process.cpuUsage();
  return { phase, ms: round(performance.now()), cpuMs: round((u.user + u.system) / 1000) };
}

/**
 * The start-up steps whose end is a phase: containerd answering (the supervised one is spawned
 * and ready), the API served (its sockets listen, and a first client was answered or waits at
 * its gate), containerd's client connected. Two more: `listening` when the sockets listen, and
 * `answering` when every step the API's answers wait for is done (`answerSteps`).
 */
export const phaseOfStep: Readonly<Record<string, string>> = {
  pidfile: 'pidfile',
  startContainerd: 'containerdReady',
  serveApi: 'served',
  containerdClient: 'containerdConnected',
};
