import type { AnyStateMachine } from 'xstate';
import type { Constraint } from '../../machines/check/constraints.ts';
import type {
  Catalog,
  CatalogMachine,
  CatalogStep,
  ChartNode,
  ChartTransition,
} from './protocol.ts';

/**
 * Machine definitions as the inspector draws them. XState's `toJSON()` leaves out eventless
 * (`always`) transitions — every transition of the start-up machine is one — and guards built
 * with `and`/`or`/`not`, so the chart is read from the state nodes themselves.
 */

interface NodeLike {
  key: string;
  path: string[];
  type: ChartNode['type'];
  description?: string;
  entry: unknown[];
  states: Record<string, NodeLike>;
  initial?: { target?: NodeLike[] };
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
}

interface TransitionLike {
  eventType: string;
  target?: readonly NodeLike[] | undefined;
  guard?: unknown;
  actions?: readonly unknown[];
  reenter?: boolean;
}

/** A guard as text: `isPending`, `and(isPending, autoRemove)`, `not(x)`, `inline`. */
export function guardLabel(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const nested = (guard as { guards?: unknown[] }).guards;
    if (Array.isArray(nested))
      return `${guard.name || 'guard'}(${nested.map((g) => guardLabel(g) ?? '?').join(', ')})`;
    return guard.name && guard.name !== 'guard' ? guard.name : 'inline guard';
  }
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string')
    return (guard as { type: string }).type;
  return 'guard';
}

function actionLabel(action: unknown): string | null {
  if (typeof action === 'string') return action;
  if (
    typeof action === 'object' &&
    action !== null &&
    typeof (action as { type?: unknown }).type === 'string'
  )
    return (action as { type: string }).type;
  if (typeof action === 'function')
    return action.name && !action.name.startsWith('xstate.')
      ? action.name
      : ((action as { type?: string }).type ?? null);
  return null;
}

function transitionOf(t: TransitionLike): ChartTransition {
  const out: ChartTransition = {
    event: t.eventType ?? '',
    targets: (t.target ?? []).map((n) => n.path.join('.')),
    actions: (t.actions ?? []).map(actionLabel).filter((a): a is string => a !== null),
    reenter: t.reenter === true,
  };
  const g = guardLabel(t.guard);
  if (g !== undefined) out.guard = g;
  return out;
}

function nodeOf(n: NodeLike): ChartNode {
  const transitions: ChartTransition[] = [];
  for (const list of n.transitions.values())
    for (const t of list) transitions.push(transitionOf(t));
  for (const t of n.always ?? []) transitions.push(transitionOf({ ...t, eventType: '' }));
  const node: ChartNode = {
    path: n.path.join('.'),
    key: n.key,
    type: n.type,
    entry: n.entry.map(actionLabel).filter((a): a is string => a !== null),
    children: Object.values(n.states).map(nodeOf),
    transitions,
  };
  const initial = n.initial?.target?.[0];
  if (n.type === 'compound' && initial) node.initial = initial.key;
  if (n.description) node.description = n.description;
  return node;
}

/** The chart of a machine: nested and parallel states, every transition with its event and guard. */
export function describeMachine(machine: AnyStateMachine): ChartNode {
  return nodeOf(machine.root as unknown as NodeLike);
}

/** Steps of machines that run a step table, by machine name (the start-up machine's DAG). */
export type StepTables = Record<
  string,
  readonly { id: string; needs: readonly string[]; title: string }[]
>;

/** The catalog the page and the daemon's feed serve: each machine's chart, constraints and step table. */
export function machineCatalog(
  machinesByName: Readonly<Record<string, AnyStateMachine>>,
  constraintsByMachine: Readonly<Record<string, readonly Constraint[]>>,
  stepTables: StepTables = {},
  opts: { xstateJson?: boolean } = {},
): Catalog {
  const machines: Record<string, CatalogMachine> = {};
  for (const [name, machine] of Object.entries(machinesByName)) {
    const entry: CatalogMachine = {
      name,
      chart: describeMachine(machine),
      constraints: [...(constraintsByMachine[name] ?? [])],
    };
    const steps = stepTables[name];
    if (steps)
      entry.steps = steps.map((s): CatalogStep => ({
        id: s.id,
        needs: [...s.needs],
        title: s.title,
      }));
    if (opts.xstateJson) entry.xstate = machine.toJSON();
    machines[name] = entry;
  }
  return { machines };
}
