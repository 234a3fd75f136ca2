import type { AnyStateMachine } from 'xstate';
import type { Constraint } from './check/constraints.ts';
import { startupConstraints } from './daemon-startup/constraints.ts';
import { containerConstraints } from './container/constraints.ts';
import { containerMachine } from './container/machine.ts';
import { containerdSupervisorMachine } from './containerd-supervisor/machine.ts';
import { daemonShutdownMachine } from './daemon-shutdown/machine.ts';
import { daemonStartupMachine } from './daemon-startup/machine.ts';
import { operationMachine } from './operation/machine.ts';
import { restoreCheckMachine } from './restore-check/machine.ts';
import { execMachine } from './exec/machine.ts';
import { resizeMachine } from './resize/machine.ts';
import { extractMachine } from './archive/machine.ts';
import { commitMachine } from './commit/machine.ts';
import { healthMachine } from './health/machine.ts';
import { execSweepMachine } from './exec/sweep.ts';
import { restoreInvariantsHeld } from './check/constraints.ts';
import { execConstraints } from './exec/constraints.ts';
import { imagePullMachine } from './image-pull/machine.ts';
import { pullConstraints } from './image-pull/constraints.ts';
import { imagePushMachine } from './image-push/machine.ts';
import { registryLoginMachine } from './registry-login/machine.ts';
import { imageGcMachine } from './image-gc/machine.ts';
import { netOpMachine } from './network/machine.ts';
import { networkConstraints } from './network/constraints.ts';

/**
 * Every machine by the name traces use, so replay and the inspector can find it. The start-up,
 * the shutdown and containerd's supervisor are built with their modules; the others when first
 * asked for (see build-once.ts).
 */
export const machines: Record<string, AnyStateMachine> = builtWhenAsked(
  {
    daemonStartup: daemonStartupMachine,
    daemonShutdown: daemonShutdownMachine,
    containerdSupervisor: containerdSupervisorMachine,
  },
  {
    container: containerMachine,
    restoreCheck: restoreCheckMachine,
    operation: operationMachine,
    exec: execMachine,
    resize: resizeMachine,
    extract: extractMachine,
    commit: commitMachine,
    health: healthMachine,
    execSweep: execSweepMachine,
    imagePull: imagePullMachine,
    imagePush: imagePushMachine,
    registryLogin: registryLoginMachine,
    imageGc: imageGcMachine,
    netOp: netOpMachine,
  },
);

/** The machines built, with those built on first use as getters that build them when read. */
function builtWhenAsked(
  built: Record<string, AnyStateMachine>,
  builders: Record<string, () => AnyStateMachine>,
): Record<string, AnyStateMachine> {
  const out = { ...built };
  for (const [name, build] of Object.entries(builders))
    Object.defineProperty(out, name, { get: build, enumerable: true, configurable: true });
  return out;
}

/** Builds every machine not built yet, one at a time, calling `between` after each. */
export async function buildMachines(between: () => Promise<void>): Promise<void> {
  for (const name of Object.keys(machines)) {
    void machines[name];
    await between();
  }
}

export function registerMachine(name: string, machine: AnyStateMachine): void {
  Object.defineProperty(machines, name, {
    value: machine,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/** The constraints to check on a machine's traces; a trace is checked against those of every machine in it. */
export const constraintsByMachine: Record<string, Constraint[]> = {
  daemonStartup: startupConstraints,
  daemonShutdown: startupConstraints,
  container: containerConstraints,
  restoreCheck: [restoreInvariantsHeld()],
  imagePull: pullConstraints,
  netOp: networkConstraints,
  exec: execConstraints,
  health: execConstraints,
};
