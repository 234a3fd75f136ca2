import { setFlagsFromString } from 'node:v8';

let tuned = false;

/**
 * The simulator makes thousands of short-lived XState snapshots a second. After a few hundred
 * runs V8's allocation-site pretenuring starts allocating XState's per-action objects in the old
 * generation, and every context they point to then survives each scavenge: about a third of a
 * simulated start-up's time went to that (measured with --cpu-prof and GC traces). Turned off
 * for the process on the simulator's first use; the daemon never loads this module.
 */
export function tuneForSimulation(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--no-allocation-site-pretenuring');
}
