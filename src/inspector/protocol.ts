import type { Constraint } from '../../machines/check/constraints.ts';
import type { TraceHeader } from '../../effects/trace.ts';

/**
 * What the inspector's server and page say to each other, and what the daemon's inspection
 * feed serves as its machine catalog. JSON only: the page is a separate bundle.
 */

/** One transition of a state node, as the chart draws it. */
export interface ChartTransition {
  /** The event type; '' for an eventless (`always`) transition. */
  event: string;
  /** Paths of the target nodes (`starting.creatingTask`); empty when it only runs actions. */
  targets: string[];
  guard?: string;
  actions: string[];
  /** `reenter: true`: the source is exited and entered again. */
  reenter: boolean;
}

/** A state node: its path from the root ('' for the root), kind, children and transitions. */
export interface ChartNode {
  path: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child of a compound node. */
  initial?: string;
  description?: string;
  entry: string[];
  children: ChartNode[];
  transitions: ChartTransition[];
}

/** A start-up step as the step DAG shows it. */
export interface CatalogStep {
  id: string;
  needs: string[];
  title: string;
}

/** Everything the page knows of one machine. */
export interface CatalogMachine {
  name: string;
  chart: ChartNode;
  constraints: Constraint[];
  /** The step table of a machine that runs steps (the start-up machine). */
  steps?: CatalogStep[];
  /** XState's own `machine.toJSON()`, for other tools (it omits eventless transitions and higher-order guards, hence `chart`). */
  xstate?: unknown;
}

export interface Catalog {
  machines: Record<string, CatalogMachine>;
}

/** A trace or a live daemon, as the page lists them. */
export interface SourceInfo {
  id: string;
  kind: 'trace' | 'live';
  title: string;
  header: TraceHeader | null;
}

/**
 * A compiled record: `[seq, t, actor, kind, ref, text, extra]`. `actor` indexes the chunk's
 * actor table, `text` the string table; `ref` and `extra` depend on the kind (see rows.ts).
 */
export type Row = [number, number, number, number, number, number, number];

/** A batch of rows the server streams to the page (one per line of `/rows`). */
export interface RowChunk {
  /** Index of the first row of this chunk in the source. */
  from: number;
  rows: Row[];
  /** Strings added to the source's table since the previous chunk, starting at index `base`. */
  strings: { base: number; add: string[] };
  /** Actors added since the previous chunk (their index is their position). */
  actors: { base: number; add: string[] };
  /** Whether a live source is connected to its daemon right now. */
  live?: { connected: boolean; message?: string };
}

/** A constraint's verdict on the records up to a row. */
export interface ConstraintVerdict {
  constraint: string;
  machine: string;
  why?: string;
  /** `pending`: broken on the prefix but holds on the whole trace (e.g. releases still to come). */
  status: 'pass' | 'fail' | 'pending';
  violations: { message: string; records: number[] }[];
}
