import type { Catalog, SourceInfo } from '../protocol.ts';
import type { TraceModel } from './model.ts';

/** What every view reads, and the two things any view may ask for. */
export interface View {
  readonly model: TraceModel;
  readonly catalog: Catalog;
  readonly source: SourceInfo;
  /** The current row (-1 before the first). */
  readonly pos: number;
  /** The selected actor's index. */
  readonly selected: number;
  /** All actors' states at `pos`. */
  readonly state: { value: Int32Array; status: Uint8Array };
  goTo(row: number, opts?: { select?: boolean }): void;
  select(actor: number): void;
}
