import type { View } from '../context.ts';
import { drawDag, paintDag, type DagLayout } from '../dag.ts';
import { h } from '../dom.ts';
import { ZoomFrame } from './zoom.ts';

/** The start-up step DAG of the selected actor (when its machine runs steps), by status at the current record. */
export class StepsPanel {
  readonly el: HTMLElement;
  private readonly frame = new ZoomFrame('dag-scroll', 0.85);
  private readonly v: View;
  private readonly layouts = new Map<string, DagLayout>();
  private shown: DagLayout | null = null;
  private want = '';
  private focus = '';
  drawn: Promise<void> = Promise.resolve();

  constructor(v: View) {
    this.v = v;
    const legend = h(
      'span',
      { class: 'legend' },
      ...(['pending', 'running', 'done', 'failed', 'interrupted', 'notRun'] as const).map((st) =>
        h(
          'span',
          { class: `lg ${st}` },
          {
            pending: 'pending',
            running: 'running',
            done: 'done',
            failed: 'failed',
            interrupted: 'cut short',
            notRun: 'not run',
          }[st],
        ),
      ),
      h('span', { class: 'lg-note' }, '↩ released'),
    );
    this.el = h(
      'section',
      { class: 'panel steps', 'data-testid': 'steps', hidden: true },
      h('h2', {}, 'Start-up steps ', legend, this.frame.controls),
      this.frame.el,
    );
  }

  select(): void {
    const v = this.v;
    const machine = v.model.actors[v.selected]?.machine ?? '';
    const steps = v.catalog.machines[machine]?.steps;
    this.el.hidden = !steps;
    document.body.classList.toggle('with-steps', Boolean(steps));
    if (machine === this.want) return;
    this.want = machine;
    this.shown = null;
    if (!steps) return;
    // Laid out for the panel's width, once it has one.
    this.drawn = new Promise<void>((resolve) => requestAnimationFrame(() => resolve())).then(() => {
      if (this.want !== machine) return;
      let layout = this.layouts.get(machine);
      if (!layout) {
        layout = drawDag(steps, this.frame.el.clientWidth - 24);
        this.layouts.set(machine, layout);
      }
      this.shown = layout;
      this.focus = '';
      this.frame.show(layout.svg, layout.width, layout.height);
      this.render();
    });
  }

  render(): void {
    const v = this.v;
    if (!this.shown || this.el.hidden) return;
    const { status, warnings, failedAfter } = v.model.stepsAt(v.selected, v.pos);
    paintDag(this.shown, status, failedAfter, warnings, v.model.releasesAt(v.selected, v.pos));
    // Keep in view the step that failed, else the one the latest step mark is about.
    const a = v.model.actors[v.selected];
    let focus = '';
    if (a) {
      const failed = a.stepFailedRow >= 0 && a.stepFailedRow <= v.pos ? a.stepFailedRow : -1;
      const n = a.stepRows.countAtMost(v.pos);
      const row = failed >= 0 ? failed : n > 0 ? a.stepRows.at(n - 1) : -1;
      if (row >= 0) focus = v.model.str(v.model.ref[row] as number);
    }
    if (focus !== this.focus) {
      this.focus = focus;
      const g = this.shown.nodes.get(focus);
      if (g) this.frame.reveal(g);
    }
  }
}
