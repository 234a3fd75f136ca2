import { RowKind } from '../../row-kinds.ts';
import type { View } from '../context.ts';
import { h, ms } from '../dom.ts';
import { VirtualList } from '../virtual-list.ts';

/**
 * The selected actor's effects: each request with its step, and its result or error and
 * duration — or that it is still in flight at the current record, or not asked for yet.
 */
export class EffectsView {
  readonly el: HTMLElement;
  private readonly list: VirtualList;
  private readonly title: HTMLElement;
  private readonly v: View;
  private current = -1;

  constructor(v: View) {
    this.v = v;
    this.title = h('span', { class: 'count' });
    this.list = new VirtualList(
      'effects-list',
      38,
      (i, row) => this.renderRow(i, row),
      (i) => {
        const e = this.effectAt(i);
        const req = v.model.effReq[e] ?? -1;
        const res = v.model.effRes[e] ?? -1;
        // A click goes to the request; a second one to its result.
        const target = v.pos === req && res >= 0 ? res : req >= 0 ? req : res;
        if (target !== undefined && target >= 0) v.goTo(target);
      },
    );
    this.el = h(
      'section',
      { class: 'panel effects', 'data-testid': 'effects' },
      h('h2', {}, 'Effects ', this.title),
      this.list.el,
    );
  }

  private effectAt(i: number): number {
    return this.v.model.actors[this.v.selected]?.effects.at(i) ?? -1;
  }

  update(): void {
    const a = this.v.model.actors[this.v.selected];
    const n = a?.effects.length ?? 0;
    this.title.textContent = a
      ? `of ${a.id.length > 24 ? `${a.id.slice(0, 23)}…` : a.id} · ${n}`
      : '';
    this.list.setCount(n);
  }

  render(): void {
    const v = this.v;
    const m = v.model;
    let cur = -1;
    const kind = m.kind[v.pos];
    if (
      v.pos >= 0 &&
      (kind === RowKind.effectRequest ||
        kind === RowKind.effectDone ||
        kind === RowKind.effectFailed) &&
      m.actorOf[v.pos] === v.selected
    ) {
      const e = m.ref[v.pos] as number;
      const list = m.actors[v.selected]?.effects;
      if (list)
        for (let i = Math.max(0, m.effectsUpTo(v.selected, v.pos) - 64); i < list.length; i++)
          if (list.at(i) === e) cur = i;
    } else {
      cur = m.effectsUpTo(v.selected, v.pos) - 1;
    }
    this.current = cur;
    if (cur >= 0) this.list.reveal(cur);
    else this.list.refresh();
  }

  private renderRow(i: number, el: HTMLDivElement): void {
    const v = this.v;
    const m = v.model;
    const e = this.effectAt(i);
    const req = m.effReq[e] ?? -1;
    const res = m.effRes[e] ?? -1;
    const asked = req >= 0 && req <= v.pos;
    const settled = res >= 0 && res <= v.pos;
    const failed = settled && m.kind[res] === RowKind.effectFailed;
    const state = settled ? (failed ? 'failed' : 'done') : asked ? 'inflight' : 'future';
    const icon = { done: '✓', failed: '✗', inflight: '⋯', future: '·' }[state];
    const summary =
      req >= 0 ? m.str(m.text[req] as number) : m.str(m.text[res] as number).split(' ')[0];
    const step = req >= 0 ? m.str(m.extra[req] as number) : '';
    let outcome =
      state === 'inflight'
        ? 'in flight'
        : state === 'future'
          ? res >= 0
            ? 'later'
            : 'not asked yet'
          : '';
    if (settled) {
      const text = m.str(m.text[res] as number);
      const at = text.indexOf(failed ? '✗' : '✓');
      outcome = at >= 0 ? text.slice(at) : text;
    }
    const duration = settled && (m.extra[res] as number) >= 0 ? ms(m.extra[res] as number) : '';
    el.className = `vl-row effect ${state}${i === this.current ? ' current' : ''}`;
    el.dataset['effect'] = String(e);
    el.replaceChildren(
      h(
        'div',
        { class: 'eff-line' },
        h('span', { class: 'eff-icon' }, icon),
        h('span', { class: 'eff-summary' }, summary),
      ),
      h(
        'div',
        { class: 'eff-line sub' },
        h('span', { class: 'eff-step' }, step.startsWith('release:') ? `↩ ${step.slice(8)}` : step),
        h('span', { class: 'eff-outcome' }, outcome),
        h('span', { class: 'eff-duration' }, duration),
      ),
    );
    el.title = `${summary}\n${outcome}${duration ? ` in ${duration}` : ''}`;
  }
}
