import { h } from './dom.ts';

/**
 * A list of any length with fixed-height rows: only the rows in view (and a few around)
 * exist in the DOM, reused as it scrolls — 100,000 records scroll like 100.
 */
export class VirtualList {
  readonly el: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly rowHeight: number;
  private readonly render: (index: number, row: HTMLDivElement) => void;
  private pool: HTMLDivElement[] = [];
  private count = 0;
  private first = -1;
  private scheduled = false;

  constructor(
    className: string,
    rowHeight: number,
    render: (index: number, row: HTMLDivElement) => void,
    onClick?: (index: number, ev: MouseEvent) => void,
  ) {
    this.rowHeight = rowHeight;
    this.render = render;
    this.spacer = h('div', { class: 'vl-spacer' });
    this.el = h('div', { class: `vl ${className}`, tabindex: -1 }, this.spacer);
    this.el.addEventListener('scroll', () => this.schedule());
    if (onClick) {
      this.el.addEventListener('click', (ev) => {
        const row = (ev.target as Element).closest<HTMLElement>('.vl-row');
        const i = row?.dataset['index'];
        if (i !== undefined) onClick(Number(i), ev);
      });
    }
    new ResizeObserver(() => this.refresh()).observe(this.el);
  }

  setCount(n: number): void {
    if (n === this.count) return;
    this.count = n;
    this.spacer.style.height = `${n * this.rowHeight}px`;
    this.refresh();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw(false);
    });
  }

  /** Re-renders the rows in view (after the data they show changed). */
  refresh(): void {
    this.draw(true);
  }

  private draw(force: boolean): void {
    const height = this.el.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.el.scrollTop / this.rowHeight) - 4);
    const visible = Math.ceil(height / this.rowHeight) + 8;
    while (this.pool.length < visible) {
      const row = h('div', { class: 'vl-row' });
      row.style.height = `${this.rowHeight}px`;
      this.pool.push(row);
      this.spacer.append(row);
    }
    if (!force && first === this.first) return;
    this.first = first;
    for (let k = 0; k < this.pool.length; k++) {
      const row = this.pool[k] as HTMLDivElement;
      const i = first + k;
      if (i >= this.count || k >= visible) {
        row.style.display = 'none';
        continue;
      }
      row.style.display = '';
      row.style.transform = `translateY(${i * this.rowHeight}px)`;
      row.dataset['index'] = String(i);
      this.render(i, row);
    }
  }

  /** Scrolls so that row `i` is in view (centred when it was far away). */
  reveal(i: number): void {
    const top = i * this.rowHeight;
    const view = this.el.clientHeight;
    if (top < this.el.scrollTop || top + this.rowHeight > this.el.scrollTop + view) {
      this.el.scrollTop = Math.max(0, top - view / 2 + this.rowHeight / 2);
    }
    this.draw(true);
  }
}
