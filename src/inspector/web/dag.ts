import type { CatalogStep } from '../protocol.ts';
import { s } from './dom.ts';
import type { Release, StepStatus } from './model.ts';
import { fontFamily, textWidth } from './layout.ts';

/**
 * The start-up step DAG: one band per depth (the longest chain of needs before a step),
 * wrapped to the panel's width so 40 steps stay legible without zooming out; each step
 * coloured by its status at the current record, an arrow from each step to the steps that
 * need it. Needs implied by others are left out (transitive reduction); a step that needs
 * (nearly) everything, like serveApi, says so instead of drawing a fan of arrows.
 */

const font = `11.5px ${fontFamily}`;
const nodeHeight = 22;
const gapX = 8;
const gapRow = 8;
const gapBand = 26;
const fanLimit = 6;

export type DagStatus = StepStatus | 'interrupted';

export interface DagLayout {
  svg: SVGSVGElement;
  width: number;
  height: number;
  nodes: Map<string, SVGGElement>;
  badges: Map<string, SVGTextElement>;
  edges: Map<string, SVGPathElement[]>;
}

/** The needs of each step that no other need already implies. */
export function reducedNeeds(steps: readonly CatalogStep[]): Map<string, string[]> {
  const ids = new Set(steps.map((st) => st.id));
  const needs = new Map(steps.map((st) => [st.id, st.needs.filter((n) => ids.has(n))]));
  const reach = new Map<string, Set<string>>();
  const closure = (id: string): Set<string> => {
    let r = reach.get(id);
    if (r) return r;
    r = new Set();
    reach.set(id, r);
    for (const n of needs.get(id) ?? []) {
      r.add(n);
      for (const m of closure(n)) r.add(m);
    }
    return r;
  };
  const out = new Map<string, string[]>();
  for (const [id, list] of needs)
    out.set(
      id,
      list.filter((n) => !list.some((other) => other !== n && closure(other).has(n))),
    );
  return out;
}

interface Box {
  id: string;
  x: number;
  y: number;
  w: number;
}

/** Places the steps: bands by depth, ordered by where their needs are, wrapped at `maxWidth`. */
export function placeSteps(
  steps: readonly CatalogStep[],
  maxWidth: number,
  measure: (t: string) => number,
): { boxes: Map<string, Box>; width: number; height: number } {
  const reduced = reducedNeeds(steps);
  const depth = new Map<string, number>();
  const depthOf = (id: string, seen = new Set<string>()): number => {
    const d = depth.get(id);
    if (d !== undefined) return d;
    if (seen.has(id)) return 0;
    seen.add(id);
    const needs = steps.find((st) => st.id === id)?.needs ?? [];
    const v =
      needs.length === 0
        ? 0
        : 1 +
          Math.max(
            ...needs
              .filter((n) => depth.has(n) || steps.some((x) => x.id === n))
              .map((n) => depthOf(n, seen)),
            -1,
          );
    depth.set(id, v);
    return v;
  };
  for (const st of steps) depthOf(st.id);
  const bands: string[][] = [];
  for (const st of steps) (bands[depth.get(st.id) ?? 0] ??= []).push(st.id);
  const boxes = new Map<string, Box>();
  let y = 0;
  let width = 0;
  for (const band of bands) {
    if (!band) continue;
    // Under the steps they need (barycentre), so arrows stay short.
    const centre = (id: string): number => {
      const xs = (reduced.get(id) ?? [])
        .map((n) => boxes.get(n))
        .filter((b): b is Box => b !== undefined)
        .map((b) => b.x + b.w / 2);
      return xs.length === 0 ? Number.POSITIVE_INFINITY : xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const order = band
      .map((id, i) => ({ id, c: centre(id), i }))
      .sort((a, b) => (a.c === b.c ? a.i - b.i : a.c - b.c));
    let row: Box[] = [];
    let rowWidth = 0;
    const flush = (): void => {
      const offset = Math.max(0, (maxWidth - rowWidth) / 2);
      for (const b of row) {
        b.x += offset;
        b.y = y;
        boxes.set(b.id, b);
      }
      width = Math.max(width, rowWidth);
      y += nodeHeight + gapRow;
      row = [];
      rowWidth = 0;
    };
    for (const { id } of order) {
      const w = Math.ceil(measure(id)) + 26;
      if (row.length > 0 && rowWidth + gapX + w > maxWidth) flush();
      row.push({ id, x: rowWidth + (row.length > 0 ? gapX : 0), y: 0, w });
      rowWidth += (row.length > 1 ? gapX : 0) + w;
    }
    flush();
    y += gapBand - gapRow;
  }
  return { boxes, width: Math.max(width, maxWidth), height: Math.max(0, y - gapBand + 4) };
}

export function drawDag(steps: readonly CatalogStep[], maxWidth: number): DagLayout {
  const reduced = reducedNeeds(steps);
  const { boxes, width, height } = placeSteps(steps, Math.max(320, maxWidth), (t) =>
    textWidth(t, font),
  );
  const pad = 6;
  const svg = s('svg', {
    class: 'dag-svg',
    viewBox: `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`,
    width: width + 2 * pad,
    height: height + 2 * pad,
  });
  svg.append(
    s(
      'defs',
      {},
      s(
        'marker',
        {
          id: 'dag-arrow',
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          markerUnits: 'userSpaceOnUse',
          orient: 'auto',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
      ),
    ),
  );
  const edgeLayer = s('g', { class: 'edges' });
  const nodeLayer = s('g', { class: 'nodes' });
  svg.append(edgeLayer, nodeLayer);
  const edges = new Map<string, SVGPathElement[]>();
  const nodes = new Map<string, SVGGElement>();
  const badges = new Map<string, SVGTextElement>();
  const byId = new Map(steps.map((st) => [st.id, st]));
  for (const [id, needs] of reduced) {
    const to = boxes.get(id);
    if (!to || needs.length > fanLimit) continue;
    for (const n of needs) {
      const from = boxes.get(n);
      if (!from) continue;
      const x1 = from.x + from.w / 2;
      const y1 = from.y + nodeHeight;
      const x2 = to.x + to.w / 2;
      const y2 = to.y;
      const dy = Math.max(12, (y2 - y1) / 2);
      const path = s('path', {
        class: 'edge',
        d: `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2 - 1}`,
        'marker-end': 'url(#dag-arrow)',
      });
      edgeLayer.append(path);
      for (const k of [n, id]) edges.set(k, [...(edges.get(k) ?? []), path]);
    }
  }
  for (const [id, b] of boxes) {
    const st = byId.get(id);
    const needs = reduced.get(id) ?? [];
    const g = s('g', { class: 'step pending', 'data-step': id, 'data-status': 'pending' });
    g.append(
      s('title', {}, `${id}: ${st?.title ?? ''}\nneeds: ${st?.needs.join(', ') || 'nothing'}`),
      s('rect', { x: b.x, y: b.y, width: b.w, height: nodeHeight, rx: 5 }),
      s('text', { x: b.x + 8, y: b.y + 15 }, id),
    );
    const badge = s(
      'text',
      { class: 'badge', x: b.x + b.w - 5, y: b.y + 15, 'text-anchor': 'end' },
      '',
    );
    g.append(badge);
    if (needs.length > fanLimit)
      g.append(
        s(
          'text',
          { class: 'fan-note', x: b.x + b.w + 6, y: b.y + 15 },
          `needs all ${st?.needs.length ?? needs.length} steps above`,
        ),
      );
    g.addEventListener('mouseenter', () => {
      for (const p of edges.get(id) ?? []) p.classList.add('hover');
    });
    g.addEventListener('mouseleave', () => {
      for (const p of edges.get(id) ?? []) p.classList.remove('hover');
    });
    nodeLayer.append(g);
    nodes.set(id, g);
    badges.set(id, badge);
  }
  return { svg, width: width + 2 * pad, height: height + 2 * pad, nodes, badges, edges };
}

/**
 * Colours every step by its status; a step still running when start-up failed was cut short.
 * Marks steps whose acquisitions were given back (↩), failed to be (✗↩) or kept (=).
 */
export function paintDag(
  layout: DagLayout,
  status: ReadonlyMap<string, StepStatus>,
  failedAfter: boolean,
  warnings: ReadonlySet<string>,
  releases: readonly Release[],
): void {
  const released = new Map<string, 'released' | 'failed' | 'kept'>();
  for (const r of releases)
    if (r.step && released.get(r.step) !== 'failed') released.set(r.step, r.outcome);
  const failing = new Set<string>();
  for (const [id, g] of layout.nodes) {
    const raw = status.get(id);
    const st: DagStatus =
      raw === undefined
        ? failedAfter
          ? 'notRun'
          : 'pending'
        : raw === 'running' && failedAfter
          ? 'interrupted'
          : raw;
    if (st === 'failed') failing.add(id);
    if (g.dataset['status'] !== st) {
      g.setAttribute('class', `step ${st}`);
      g.dataset['status'] = st;
    }
    const rel = released.get(id);
    const badge = layout.badges.get(id);
    const text = `${warnings.has(id) ? '! ' : ''}${rel === 'released' ? '↩' : rel === 'failed' ? '✗↩' : rel === 'kept' ? '=' : ''}`;
    if (badge && badge.textContent !== text) badge.textContent = text;
  }
  for (const list of layout.edges.values()) for (const p of list) p.classList.remove('failing');
  for (const id of failing) for (const p of layout.edges.get(id) ?? []) p.classList.add('failing');
}
