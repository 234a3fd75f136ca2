import { h } from '../dom.ts';

/**
 * A scrollable, zoomable frame around an SVG drawn at its natural size: fits by default
 * (never smaller than `minFit`, then it scrolls), − / fit / + buttons, ctrl+wheel.
 */
export class ZoomFrame {
  readonly el: HTMLDivElement;
  readonly controls: HTMLElement;
  private svg: SVGSVGElement | null = null;
  private width = 0;
  private height = 0;
  scale = 1;
  private fitted = true;
  minFit: number;

  constructor(className: string, minFit: number) {
    this.minFit = minFit;
    this.el = h('div', { class: `zoom-frame ${className}` });
    const button = (text: string, title: string, f: () => void): HTMLButtonElement =>
      h('button', { class: 'mini', title, onclick: f }, text);
    this.controls = h(
      'span',
      { class: 'zoom-controls' },
      button('−', 'zoom out', () => this.zoom(this.scale / 1.25)),
      button('fit', 'fit to the panel', () => this.fit()),
      button('+', 'zoom in', () => this.zoom(this.scale * 1.25)),
    );
    this.el.addEventListener(
      'wheel',
      (ev) => {
        if (!ev.ctrlKey) return;
        ev.preventDefault();
        this.zoom(this.scale * (ev.deltaY < 0 ? 1.1 : 1 / 1.1));
      },
      { passive: false },
    );
    new ResizeObserver(() => {
      if (this.fitted) this.fit();
    }).observe(this.el);
    // Drag to pan a chart larger than the panel.
    let drag: { x: number; y: number; left: number; top: number } | null = null;
    this.el.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, left: this.el.scrollLeft, top: this.el.scrollTop };
    });
    this.el.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3)
        this.el.classList.add('panning');
      this.el.scrollLeft = drag.left - (ev.clientX - drag.x);
      this.el.scrollTop = drag.top - (ev.clientY - drag.y);
    });
    const end = (): void => {
      drag = null;
      this.el.classList.remove('panning');
    };
    this.el.addEventListener('pointerup', end);
    this.el.addEventListener('pointerleave', end);
  }

  show(content: SVGSVGElement | HTMLElement, width = 0, height = 0): void {
    this.el.replaceChildren(content);
    this.svg = content instanceof SVGSVGElement ? content : null;
    this.width = width;
    this.height = height;
    this.fit();
  }

  fit(): void {
    this.fitted = true;
    if (!this.svg) return;
    const w = this.el.clientWidth - 8;
    const hgt = this.el.clientHeight - 8;
    if (w <= 0 || hgt <= 0) return;
    this.apply(Math.max(this.minFit, Math.min(1.2, w / this.width, hgt / this.height)));
  }

  zoom(scale: number): void {
    this.fitted = false;
    this.apply(Math.max(0.2, Math.min(3, scale)));
  }

  private apply(scale: number): void {
    if (!this.svg) return;
    this.scale = scale;
    this.svg.setAttribute('width', String(Math.round(this.width * scale)));
    this.svg.setAttribute('height', String(Math.round(this.height * scale)));
  }

  /** Scrolls so that an element of the SVG is in view. */
  reveal(el: SVGGraphicsElement): void {
    if (!this.svg) return;
    const box = el.getBBox();
    const x = box.x * this.scale;
    const y = box.y * this.scale;
    const w = box.width * this.scale;
    const hgt = box.height * this.scale;
    const f = this.el;
    if (x < f.scrollLeft || x + w > f.scrollLeft + f.clientWidth)
      f.scrollLeft = Math.max(0, x + w / 2 - f.clientWidth / 2);
    if (y < f.scrollTop || y + hgt > f.scrollTop + f.clientHeight)
      f.scrollTop = Math.max(0, y + hgt / 2 - f.clientHeight / 2);
  }
}
