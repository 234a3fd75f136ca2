import type { AnyStateMachine } from 'xstate';
import { daemonShutdownMachine } from './daemon-shutdown/machine.ts';
import { daemonStartupMachine } from './daemon-startup/machine.ts';

/** Every machine by the name traces use, so replay and the inspector can find it. */
export const machines: Record<string, AnyStateMachine> = {
  daemonStartup: daemonStartupMachine,
  daemonShutdown: daemonShutdownMachine,
};

export function registerMachine(name: string, machine: AnyStateMachine): void {
  machines[name] = machine;
}
