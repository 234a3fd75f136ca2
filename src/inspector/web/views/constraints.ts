import type { ConstraintVerdict } from '../../protocol.ts';
import { api } from '../api.ts';
import type { View } from '../context.ts';
import { fill, h } from '../dom.ts';

/**
 * The ordering constraints of the machines in the source, each with its verdict on the
 * records so far: ✓ holds, ✗ broken (with the records that show it, as links), or … broken
 * so far but not by the end (a release still to come). Asked of the server when the position
 * rests: checking 100,000 records takes longer than a scrub step may.
 */
export class ConstraintsView {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly v: View;
  private timer: number | null = null;
  private abort: AbortController | null = null;
  private asked = -2;
  /** Resolves once the verdicts for the current position are shown (tests wait on it). */
  settled: Promise<void> = Promise.resolve();
  private resolveSettled: (() => void) | null = null;

  constructor(v: View) {
    this.v = v;
    this.summary = h('span', { class: 'count' });
    this.list = h('div', { class: 'constraint-list' });
    this.el = h(
      'section',
      { class: 'panel constraints', 'data-testid': 'constraints' },
      h('h2', {}, 'Constraints ', this.summary),
      this.list,
    );
  }

  render(force = false): void {
    const upto = this.v.pos;
    if (upto === this.asked && !force) return;
    this.asked = upto;
    if (!this.resolveSettled)
      this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
    this.el.classList.add('loading');
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.fetch(upto), 120);
  }

  private fetch(upto: number): void {
    this.timer = null;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    api.constraints(this.v.source.id, Math.max(upto, 0), abort.signal).then(
      (verdicts) => {
        if (abort.signal.aborted || upto !== this.asked) return;
        this.show(upto < 0 ? [] : verdicts);
        this.el.classList.remove('loading');
        this.resolveSettled?.();
        this.resolveSettled = null;
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        fill(this.list, h('div', { class: 'muted' }, `cannot check: ${(err as Error).message}`));
        this.el.classList.remove('loading');
      },
    );
  }

  private show(verdicts: ConstraintVerdict[]): void {
    const v = this.v;
    const m = v.model;
    const count = (s: ConstraintVerdict['status']): number =>
      verdicts.filter((x) => x.status === s).length;
    fill(
      this.summary,
      h('span', { class: 'ok' }, `${count('pass')} ✓`),
      ' ',
      count('fail') > 0 ? h('span', { class: 'bad' }, `${count('fail')} ✗`) : null,
      ' ',
      count('pending') > 0 ? h('span', { class: 'pending' }, `${count('pending')} …`) : null,
    );
    if (verdicts.length === 0) {
      fill(
        this.list,
        h(
          'div',
          { class: 'muted' },
          v.pos < 0 ? 'Nothing recorded yet.' : 'No machine in this source declares constraints.',
        ),
      );
      return;
    }
    // Broken first, then pending, then the ones that hold.
    const order = { fail: 0, pending: 1, pass: 2 };
    const sorted = [...verdicts].sort((a, b) => order[a.status] - order[b.status]);
    fill(
      this.list,
      ...sorted.map((c) => {
        const icon = c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '…';
        const title = `${c.constraint} (${c.machine})${c.why ? `\n${c.why}` : ''}${c.status === 'pending' ? '\nbroken so far, holds by the end of what was recorded' : ''}`;
        const item = h(
          'div',
          {
            class: `constraint ${c.status}`,
            'data-status': c.status,
            'data-constraint': c.constraint,
            title,
          },
          h(
            'div',
            { class: 'c-line' },
            h('span', { class: 'c-icon' }, icon),
            h('span', { class: 'c-name' }, c.constraint),
          ),
        );
        if (c.status === 'fail') {
          for (const viol of c.violations.slice(0, 3)) {
            item.append(
              h(
                'div',
                { class: 'violation' },
                viol.message,
                ' ',
                ...viol.records.map((seq) => {
                  const row = m.rowOfSeq(seq);
                  return h(
                    'a',
                    {
                      class: 'rec-link',
                      href: `#record=${seq}`,
                      'data-seq': seq,
                      onclick: (ev: Event) => (
                        ev.preventDefault(),
                        row >= 0 && v.goTo(row, { select: true })
                      ),
                    },
                    `#${seq}`,
                  );
                }),
              ),
            );
          }
          if (c.violations.length > 3)
            item.append(h('div', { class: 'violation muted' }, `+${c.violations.length - 3} more`));
        }
        return item;
      }),
    );
  }
}
