/** A tiny element builder: the page has no framework, and needs none for a handful of views. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

function set(el: Element, attrs: Attrs | undefined): void {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  set(el, attrs);
  append(el, children);
  return el;
}

const svgNs = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(svgNs, tag);
  set(el, attrs);
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** `container:0123456789abcdef…` → `container:0123456789ab`: container ids are 64 hex digits. */
export function shortActor(id: string): string {
  const m = /^(container:)([0-9a-f]{12})[0-9a-f]{52}$/.exec(id);
  return m ? `${m[1]}${m[2]}` : id;
}

export function ms(t: number): string {
  if (!Number.isFinite(t)) return '';
  if (t >= 10_000) return `${(t / 1000).toFixed(3)} s`;
  return `${t.toFixed(3)} ms`;
}

const iconPaths: Record<string, string> = {
  first: 'M3 2h2v12H3zM14 2v12L6 8z',
  prev: 'M12 2v12L4 8z',
  play: 'M4 2v12l10-6z',
  pause: 'M3 2h4v12H3zM9 2h4v12H9z',
  next: 'M4 2v12l8-6z',
  last: 'M11 2h2v12h-2zM2 2v12l8-6z',
};

/** A 16×16 control icon (the system's fonts lack the media symbols). */
export function icon(name: keyof typeof iconPaths): SVGSVGElement {
  return s(
    'svg',
    { class: 'icon', viewBox: '0 0 16 16', width: 12, height: 12, 'aria-hidden': 'true' },
    s('path', { d: iconPaths[name] ?? '' }),
  );
}
