import type { AnyStateMachine } from 'xstate';
import type { Constraint } from './check/constraints.ts';
import { startupConstraints } from './daemon-startup/constraints.ts';
import { containerConstraints } from './container/constraints.ts';
import { containerMachine } from './container/machine.ts';
import { containerdSupervisorMachine } from './containerd-supervisor/machine.ts';
import { daemonShutdownMachine } from './daemon-shutdown/machine.ts';
import { daemonStartupMachine } from './daemon-startup/machine.ts';
import { restoreCheckMachine } from './restore-check/machine.ts';
import { restoreInvariantsHeld } from './check/constraints.ts';
import { netOpMachine } from './network/machine.ts';
import { networkConstraints } from './network/constraints.ts';

/** Every machine by the name traces use, so replay and the inspector can find it. */
export const machines: Record<string, AnyStateMachine> = {
  daemonStartup: daemonStartupMachine,
  daemonShutdown: daemonShutdownMachine,
  containerdSupervisor: containerdSupervisorMachine,
  container: containerMachine,
  restoreCheck: restoreCheckMachine,
  netOp: netOpMachine,
};

export function registerMachine(name: string, machine: AnyStateMachine): void {
  machines[name] = machine;
}

/** The constraints to check on a machine's traces; a trace is checked against those of every machine in it. */
export const constraintsByMachine: Record<string, Constraint[]> = {
  daemonStartup: startupConstraints,
  daemonShutdown: startupConstraints,
  container: containerConstraints,
  restoreCheck: [restoreInvariantsHeld()],
  netOp: networkConstraints,
};

export function registerConstraints(machine: string, constraints: Constraint[]): void {
  constraintsByMachine[machine] = constraints;
}
