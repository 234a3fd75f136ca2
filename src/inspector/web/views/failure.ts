import type { View } from '../context.ts';
import { fill, h } from '../dom.ts';

/**
 * For an actor whose start-up failed: the failing step and its error, and what was released
 * after it, in order (newest acquisition first), each with its outcome. Releases of a normal
 * shutdown show the same way.
 */
export class FailureView {
  readonly el: HTMLElement;
  private readonly v: View;
  private key = '';

  constructor(v: View) {
    this.v = v;
    this.el = h('section', { class: 'panel failure', 'data-testid': 'failure', hidden: true });
  }

  render(): void {
    const v = this.v;
    const m = v.model;
    const a = m.actors[v.selected];
    if (!a) return;
    const failedRow =
      a.stepFailedRow >= 0 && a.stepFailedRow <= v.pos
        ? a.stepFailedRow
        : a.startupFailedRow >= 0 && a.startupFailedRow <= v.pos
          ? a.startupFailedRow
          : -1;
    const releases = m.releasesAt(a.index, v.pos);
    const key = `${a.index}:${failedRow}:${releases.length}`;
    if (key === this.key) return;
    this.key = key;
    if (failedRow < 0 && releases.length === 0) {
      this.el.hidden = true;
      return;
    }
    this.el.hidden = false;
    const link = (row: number, text: string): HTMLElement =>
      h(
        'a',
        {
          class: 'rec-link',
          href: `#record=${m.seq[row]}`,
          onclick: (ev: Event) => (ev.preventDefault(), v.goTo(row)),
        },
        text,
      );
    const parts: (Node | null)[] = [];
    if (failedRow >= 0) {
      const step = m.str(m.ref[failedRow] as number);
      parts.push(
        h(
          'div',
          { class: 'failure-head' },
          h('span', { class: 'failure-icon' }, '✗'),
          h('span', {}, 'Start-up failed at step '),
          h('b', { 'data-testid': 'failed-step' }, step),
          ' ',
          link(failedRow, `#${m.seq[failedRow]}`),
        ),
        h('div', { class: 'failure-message' }, m.str(m.extra[failedRow] as number)),
      );
    }
    if (releases.length > 0) {
      parts.push(
        h(
          'div',
          { class: 'releases-head' },
          failedRow >= 0
            ? `Released after the failure, newest first (${releases.length})`
            : `Released, newest first (${releases.length})`,
        ),
        h(
          'ol',
          { class: 'releases', 'data-testid': 'releases' },
          ...releases.map((r) =>
            h(
              'li',
              {
                class: `release ${r.outcome}`,
                'data-resource': r.resource,
                title: r.message ?? '',
              },
              h(
                'span',
                { class: 'rel-icon' },
                r.outcome === 'released' ? '↩' : r.outcome === 'failed' ? '✗' : '=',
              ),
              h('span', { class: 'rel-resource' }, r.resource),
              r.step ? h('span', { class: 'rel-step' }, r.step) : null,
              link(r.row, `#${m.seq[r.row]}`),
            ),
          ),
        ),
      );
    } else if (failedRow >= 0) {
      parts.push(
        h(
          'div',
          { class: 'releases-head muted' },
          'Nothing released yet (effects in flight settle first)',
        ),
      );
    }
    fill(this.el, h('h2', {}, failedRow >= 0 ? 'Failure' : 'Releases'), ...parts);
  }
}
