import { kindLabel, RowKind } from '../../row-kinds.ts';
import type { View } from '../context.ts';
import { h, ms, shortActor } from '../dom.ts';
import { VirtualList } from '../virtual-list.ts';

const kindClass: Record<number, string> = {
  [RowKind.effectFailed]: 'bad',
  [RowKind.stepFailed]: 'bad',
  [RowKind.startupFailed]: 'bad',
  [RowKind.releaseFailed]: 'bad',
  [RowKind.gap]: 'bad',
  [RowKind.warning]: 'warn',
  [RowKind.stepDone]: 'good',
  [RowKind.effectDone]: 'good',
  [RowKind.resourceReleased]: 'release',
  [RowKind.releaseSkipped]: 'release',
  [RowKind.transition]: 'state',
  [RowKind.actorStart]: 'state',
  [RowKind.actorStop]: 'state',
  [RowKind.dockerEvent]: 'docker',
};

/** The records, one row each (all actors, or the selected one's only); the current one marked. */
export class TimelineView {
  readonly list: VirtualList;
  private readonly v: View;
  /** The rows shown: null for every row, else the selected actor's. */
  onlySelected = false;

  constructor(v: View) {
    this.v = v;
    this.list = new VirtualList(
      'timeline-list',
      22,
      (i, row) => this.renderRow(i, row),
      (i) => v.goTo(this.rowAt(i)),
    );
  }

  count(): number {
    const m = this.v.model;
    return this.onlySelected ? (m.actors[this.v.selected]?.rows.length ?? 0) : m.length;
  }

  rowAt(i: number): number {
    return this.onlySelected ? (this.v.model.actors[this.v.selected]?.rows.at(i) ?? 0) : i;
  }

  /** The list index of the last shown row at or before `row`. */
  indexOf(row: number): number {
    if (!this.onlySelected) return row;
    const rows = this.v.model.actors[this.v.selected]?.rows;
    return rows ? rows.countAtMost(row) - 1 : -1;
  }

  update(): void {
    this.list.setCount(this.count());
  }

  render(): void {
    const i = this.indexOf(this.v.pos);
    if (i >= 0) this.list.reveal(i);
    else this.list.refresh();
  }

  private renderRow(i: number, el: HTMLDivElement): void {
    const m = this.v.model;
    const r = this.rowAt(i);
    const kind = m.kind[r] as number;
    const seq = m.seq[r] as number;
    el.className = `vl-row rec ${kindClass[kind] ?? ''}${r === this.v.pos ? ' current' : r > this.v.pos ? ' future' : ''}`;
    el.dataset['seq'] = String(seq);
    el.replaceChildren(
      h('span', { class: 'c-seq' }, seq >= 0 ? String(seq) : '—'),
      h('span', { class: 'c-t' }, ms(m.t[r] as number)),
      h('span', { class: 'c-actor' }, shortActor(m.actors[m.actorOf[r] as number]?.id ?? '')),
      h('span', { class: 'c-kind' }, kindLabel[kind] ?? ''),
      h('span', { class: 'c-text' }, m.str(m.text[r] as number)),
    );
  }
}
