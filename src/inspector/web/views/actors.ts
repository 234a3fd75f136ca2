import { formatStateValue } from '../../row-kinds.ts';
import type { View } from '../context.ts';
import { h, shortActor } from '../dom.ts';
import { Status } from '../model.ts';
import { VirtualList } from '../virtual-list.ts';

/** The actors with their machine and their state at the current record; a click selects one. */
export class ActorsView {
  readonly el: HTMLElement;
  private readonly list: VirtualList;
  private readonly count: HTMLElement;
  private order: number[] = [];
  private readonly v: View;

  constructor(v: View) {
    this.v = v;
    this.count = h('span', { class: 'count' });
    this.list = new VirtualList(
      'actors-list',
      40,
      (i, row) => this.renderRow(i, row),
      (i) => {
        const a = this.order[i];
        if (a !== undefined) v.select(a);
      },
    );
    this.el = h(
      'section',
      { class: 'panel actors', 'data-testid': 'actors' },
      h('h2', {}, 'Actors ', this.count),
      this.list.el,
    );
  }

  /** After actors were added. */
  update(): void {
    // The pseudo-actor of gap rows is no actor.
    this.order = this.v.model.actors.filter((a) => a.id !== '—').map((a) => a.index);
    this.count.textContent = String(this.order.length);
    this.list.setCount(this.order.length);
    this.list.refresh();
  }

  render(): void {
    this.list.refresh();
  }

  /** Scrolls the selected actor into view (a selection made elsewhere: a link, a constraint). */
  revealSelected(): void {
    const i = this.order.indexOf(this.v.selected);
    if (i >= 0) this.list.reveal(i);
  }

  private renderRow(i: number, row: HTMLDivElement): void {
    const v = this.v;
    const a = v.model.actors[this.order[i] as number];
    if (!a) return;
    const status = v.state.status[a.index] ?? Status.unborn;
    const value = v.model.valueOf(v.state, a.index);
    const failed = a.startupFailedRow >= 0 && a.startupFailedRow <= v.pos;
    const label =
      status === Status.unborn ? 'not spawned yet' : value === null ? '…' : formatStateValue(value);
    const docker = v.model.dockerStatusAt(a.index, v.pos);
    row.className = `vl-row actor-row${a.index === v.selected ? ' selected' : ''} s${status}${failed ? ' failed' : ''}`;
    row.dataset['actor'] = a.id;
    row.title = `${a.id} (${a.machine ?? 'unknown machine'})`;
    row.replaceChildren(
      h(
        'div',
        { class: 'actor-line' },
        h('span', { class: 'dot' }),
        h('span', { class: 'actor-id' }, shortActor(a.id)),
      ),
      h(
        'div',
        { class: 'actor-line sub' },
        h('span', { class: 'machine' }, a.machine ?? '?'),
        h(
          'span',
          { class: 'actor-state', 'data-testid': 'actor-state' },
          status === Status.stopped ? `${label} ■` : label,
        ),
        docker
          ? h(
              'span',
              {
                class: `docker-status ${docker}`,
                'data-testid': 'docker-status',
                title: "Docker's status, from the events the container emitted",
              },
              docker,
            )
          : null,
      ),
    );
  }
}
