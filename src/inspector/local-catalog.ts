import { startupSteps } from '../../machines/daemon-startup/steps.ts';
import { constraintsByMachine, machines } from '../../machines/registry.ts';
import { machineCatalog, type StepTables } from './catalog.ts';
import type { Catalog } from './protocol.ts';

/** The step tables statedock's machines run: the start-up machine's (its DAG in the inspector). */
export const stepTables: StepTables = { daemonStartup: startupSteps };

/** The catalog of the machines this statedock was built with (what recorded traces are shown with). */
export function localCatalog(): Catalog {
  return machineCatalog(machines, constraintsByMachine, stepTables);
}
