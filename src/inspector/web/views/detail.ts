import { RowKind } from '../../row-kinds.ts';
import type { SourceLine } from '../../rows.ts';
import { api } from '../api.ts';
import type { View } from '../context.ts';
import { fill, h, ms, shortActor } from '../dom.ts';

/** The current record in full (fetched on demand), with links between an effect's request and its result. */
export class DetailView {
  readonly el: HTMLElement;
  private readonly head: HTMLElement;
  private readonly links: HTMLElement;
  private readonly body: HTMLPreElement;
  private readonly v: View;
  private readonly cache = new Map<number, SourceLine>();
  private shown = -2;

  constructor(v: View) {
    this.v = v;
    this.head = h('h2', {});
    this.links = h('div', { class: 'detail-links' });
    this.body = h('pre', { class: 'json', 'data-testid': 'record-json' });
    this.el = h(
      'section',
      { class: 'panel detail', 'data-testid': 'detail' },
      this.head,
      this.links,
      this.body,
    );
  }

  render(): void {
    const v = this.v;
    const m = v.model;
    const row = v.pos;
    if (row === this.shown) return;
    this.shown = row;
    if (row < 0) {
      fill(this.head, 'Record');
      fill(this.links);
      this.body.textContent = 'Before the first record. Press → or ▶.';
      return;
    }
    const seq = m.seq[row] as number;
    fill(
      this.head,
      'Record ',
      h('span', { 'data-testid': 'record-seq' }, seq >= 0 ? `#${seq}` : 'gap'),
      h(
        'span',
        { class: 'muted' },
        ` · ${shortActor(m.actors[m.actorOf[row] as number]?.id ?? '')} · ${ms(m.t[row] as number)}`,
      ),
    );
    const link = (r: number, text: string): HTMLElement =>
      h(
        'a',
        {
          class: 'rec-link',
          href: `#record=${m.seq[r]}`,
          onclick: (ev: Event) => (ev.preventDefault(), v.goTo(r)),
        },
        text,
      );
    const kind = m.kind[row];
    const e = m.ref[row] as number;
    if (kind === RowKind.effectRequest) {
      const res = m.effRes[e] ?? -1;
      fill(
        this.links,
        res >= 0
          ? h(
              'span',
              {},
              m.kind[res] === RowKind.effectFailed ? 'failed: ' : 'result: ',
              link(res, `#${m.seq[res]}`),
              ` after ${ms(m.extra[res] as number)}`,
            )
          : h('span', { class: 'muted' }, 'no result recorded'),
      );
    } else if (kind === RowKind.effectDone || kind === RowKind.effectFailed) {
      const req = m.effReq[e] ?? -1;
      fill(
        this.links,
        req >= 0
          ? h(
              'span',
              {},
              'request: ',
              link(req, `#${m.seq[req]}`),
              ` · took ${ms(m.extra[row] as number)}`,
            )
          : null,
      );
    } else {
      fill(this.links);
    }
    const cached = this.cache.get(row);
    if (cached) {
      this.body.textContent = JSON.stringify(cached, null, 2);
      return;
    }
    this.body.textContent = m.str(m.text[row] as number);
    // Fetch a window around the record: stepping on needs no round trip per key.
    const from = Math.max(0, row - 20);
    const to = Math.min(m.length - 1, row + 80);
    api.records(v.source.id, from, to).then(
      (lines) => {
        if (this.cache.size > 5000) this.cache.clear();
        lines.forEach((l, i) => this.cache.set(from + i, l));
        if (this.shown === row) {
          const l = this.cache.get(row);
          if (l) this.body.textContent = JSON.stringify(l, null, 2);
        }
      },
      (err: unknown) => {
        if (this.shown === row)
          this.body.textContent = `cannot load the record: ${(err as Error).message}`;
      },
    );
  }

  /** Forget what was shown (a new source or new rows). */
  reset(): void {
    this.shown = -2;
  }
}
