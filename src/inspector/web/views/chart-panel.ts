import { activePaths } from '../../row-kinds.ts';
import { chartMessage, drawChart, highlightChart, stateCount, type ChartLayout } from '../chart.ts';
import type { View } from '../context.ts';
import { fill, h } from '../dom.ts';
import { Status } from '../model.ts';
import { ZoomFrame } from './zoom.ts';

/** The selected actor's machine as a statechart, its active states highlighted at the current record. */
export class ChartPanel {
  readonly el: HTMLElement;
  private readonly title: HTMLElement;
  private readonly frame = new ZoomFrame('chart-scroll', 0.75);
  private readonly v: View;
  private readonly layouts = new Map<string, Promise<ChartLayout>>();
  private shown: { machine: string; layout: ChartLayout } | null = null;
  private want = '';
  /** Resolves when the chart of the selected machine is drawn. */
  drawn: Promise<void> = Promise.resolve();
  private lastActive = '';

  constructor(v: View) {
    this.v = v;
    this.title = h('span', {});
    this.el = h(
      'section',
      { class: 'panel chart', 'data-testid': 'chart' },
      h('h2', {}, this.title, this.frame.controls),
      this.frame.el,
    );
  }

  /** After the selection changed: draw (or reuse) the chart of the selected actor's machine. */
  select(): void {
    const v = this.v;
    const a = v.model.actors[v.selected];
    const machine = a?.machine ?? '';
    fill(
      this.title,
      'Statechart ',
      h('b', {}, machine || '—'),
      a ? h('span', { class: 'muted' }, ` · ${a.id}`) : null,
    );
    if (machine === this.want) return;
    this.want = machine;
    this.shown = null;
    this.lastActive = '';
    const def = v.catalog.machines[machine];
    if (!def) {
      this.frame.show(
        chartMessage(
          machine
            ? `No definition of machine ${machine} here (recorded by another statedock?)`
            : 'No actor selected',
        ),
      );
      return;
    }
    this.frame.show(chartMessage(`laying out ${machine} …`));
    let p = this.layouts.get(machine);
    if (!p) {
      // Both ways, and the one that fits the panel better: a chain of five states reads best
      // left to right, a machine of nested states top-down.
      const small = stateCount(def.chart) <= 12;
      p = Promise.all([
        drawChart(def.chart, 'DOWN'),
        small ? drawChart(def.chart, 'RIGHT') : null,
      ]).then(([down, right]) => {
        const w = Math.max(200, this.frame.el.clientWidth - 8);
        const hgt = Math.max(120, this.frame.el.clientHeight - 8);
        const fit = (l: ChartLayout): number => Math.min(w / l.width, hgt / l.height);
        return right && fit(right) > fit(down) * 1.15 ? right : down;
      });
      this.layouts.set(machine, p);
    }
    this.drawn = p.then(
      (layout) => {
        if (this.want !== machine) return;
        this.shown = { machine, layout };
        // A left-to-right chain may shrink a little more to show whole: it has few states.
        this.frame.minFit = layout.svg.dataset['direction'] === 'RIGHT' ? 0.66 : 0.75;
        this.frame.show(layout.svg, layout.width, layout.height);
        this.render();
      },
      (err: unknown) =>
        this.frame.show(chartMessage(`cannot lay out ${machine}: ${(err as Error).message}`)),
    );
  }

  render(): void {
    const v = this.v;
    if (!this.shown) return;
    const value = v.model.valueOf(v.state, v.selected);
    const active = activePaths(value);
    const status = v.state.status[v.selected] ?? Status.unborn;
    // The transition of the current record, if it is one of this actor's.
    let taken: { from: string[]; to: string[] } | null = null;
    if (v.pos >= 0 && v.model.actorOf[v.pos] === v.selected && v.model.kind[v.pos] === 2) {
      const prev = v.model.previousValue(v.selected, v.pos);
      taken = {
        from: prev >= 0 ? activePaths(JSON.parse(v.model.str(prev)) as unknown) : [],
        to: active,
      };
    }
    highlightChart(this.shown.layout, active, taken, status === Status.stopped);
    const key = active.join(',');
    if (key !== this.lastActive) {
      this.lastActive = key;
      const deepest = active.at(-1);
      const g = deepest ? this.shown.layout.nodes.get(deepest) : undefined;
      if (g) this.frame.reveal(g);
    }
  }
}
