import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { ChartNode, ChartTransition } from '../protocol.ts';
import { h, s } from './dom.ts';
import {
  edgePoints,
  fontFamily,
  layoutGraph,
  rootCoords,
  roundedPath,
  textWidth,
} from './layout.ts';

/**
 * A machine drawn as a statechart from its definition: states as boxes (compound states
 * contain their children, parallel regions are dashed, final states doubly outlined), an
 * initial dot in each compound state, transitions as arrows labelled `event [guard]`
 * (`always` for eventless ones). Transitions without a target are listed inside their state.
 */

const titleFont = `600 12px ${fontFamily}`;
const lineFont = `11px ${fontFamily}`;
const labelFont = `11px ${fontFamily}`;
const lineHeight = 14;
const maxInternal = 3;

export interface ChartLayout {
  width: number;
  height: number;
  svg: SVGSVGElement;
  nodes: Map<string, SVGGElement>;
  /** Edges by `source→target` (paths of the chart nodes). */
  edges: Map<string, SVGGElement[]>;
}

function transitionText(t: ChartTransition): string {
  const ev = t.event === '' ? 'always' : t.event;
  return t.guard ? `${ev} [${t.guard}]` : ev;
}

function internalLines(n: ChartNode): { lines: string[]; all: string[] } {
  const all = n.transitions
    .filter((t) => t.targets.length === 0)
    .map(
      (t) =>
        `${transitionText(t)}${t.actions.length > 0 ? ` / ${t.actions.filter((a) => a !== 'emitOutputs').join(', ') || 'emit'}` : ''}`,
    );
  if (all.length <= maxInternal) return { lines: all, all };
  return {
    lines: [...all.slice(0, maxInternal - 1), `+${all.length - maxInternal + 1} more …`],
    all,
  };
}

interface Built {
  graph: ElkNode;
  edgeInfo: Map<
    string,
    { source: string; target: string; lines: string[]; transitions: ChartTransition[] }
  >;
  chartNodes: Map<string, ChartNode>;
}

function build(chart: ChartNode, direction: 'DOWN' | 'RIGHT'): Built {
  const edges: ElkExtendedEdge[] = [];
  const edgeInfo: Built['edgeInfo'] = new Map();
  const chartNodes = new Map<string, ChartNode>();
  const grouped = new Map<
    string,
    { source: string; target: string; transitions: ChartTransition[] }
  >();
  const id = (path: string): string => (path === '' ? '∅root' : path);

  const visit = (n: ChartNode): ElkNode => {
    chartNodes.set(n.path, n);
    for (const t of n.transitions) {
      for (const target of t.targets) {
        const key = `${n.path}→${target}`;
        let g = grouped.get(key);
        if (!g) grouped.set(key, (g = { source: n.path, target, transitions: [] }));
        g.transitions.push(t);
      }
    }
    const { lines } = internalLines(n);
    const linesWidth = Math.max(0, ...lines.map((l) => textWidth(l, lineFont)));
    const titleWidth = textWidth(n.key, titleFont);
    const headerHeight = 26 + (lines.length > 0 ? lines.length * lineHeight + 4 : 0);
    if (n.children.length === 0) {
      return {
        id: id(n.path),
        width: Math.max(90, titleWidth + 28, linesWidth + 20),
        height: headerHeight + 6,
      };
    }
    const children = n.children.map(visit);
    if (n.type === 'compound' && n.initial !== undefined) {
      const init = `${n.path}#init`;
      children.unshift({ id: init, width: 12, height: 12 });
      edges.push({
        id: `init:${n.path}`,
        sources: [init],
        targets: [id(n.path === '' ? n.initial : `${n.path}.${n.initial}`)],
      });
    }
    return {
      id: id(n.path),
      children,
      layoutOptions: {
        'elk.padding': `[top=${headerHeight + 8},left=14,bottom=14,right=14]`,
        'elk.nodeSize.minimum': `(${Math.max(titleWidth, linesWidth) + 32},40)`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      },
    };
  };

  const children = chart.children.map(visit);
  chartNodes.set('', chart);
  if (chart.initial !== undefined) {
    children.unshift({ id: '#init', width: 12, height: 12 });
    edges.push({ id: 'init:', sources: ['#init'], targets: [chart.initial] });
  }
  for (const n of chart.transitions) void n;
  let k = 0;
  for (const g of grouped.values()) {
    const lines = g.transitions.map(transitionText);
    const eid = `e${k++}`;
    edgeInfo.set(eid, { source: g.source, target: g.target, lines, transitions: g.transitions });
    edges.push({
      id: eid,
      sources: [id(g.source)],
      targets: [id(g.target)],
      labels: [
        {
          text: lines.join('\n'),
          width: Math.max(...lines.map((l) => textWidth(l, labelFont))) + 8,
          height: lines.length * lineHeight + 4,
        },
      ],
    });
  }
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      ...rootCoords,
      'elk.algorithm': 'layered',
      'elk.direction': direction,
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '18',
      'elk.spacing.nodeNode': '16',
      'elk.spacing.edgeNode': '8',
      'elk.spacing.edgeEdge': '5',
      'elk.spacing.edgeLabel': '3',
      'elk.layered.spacing.edgeNodeBetweenLayers': '6',
      'elk.layered.spacing.edgeEdgeBetweenLayers': '5',
      'elk.layered.mergeEdges': 'true',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
    },
    children,
    edges,
  };
  return { graph, edgeInfo, chartNodes };
}

/** Lays out and draws a chart (top-down or left-right); the result is highlighted later with `highlightChart`. */
export async function drawChart(
  chart: ChartNode,
  direction: 'DOWN' | 'RIGHT' = 'DOWN',
): Promise<ChartLayout> {
  const built = build(chart, direction);
  const laid = await layoutGraph(built.graph);
  const width = laid.width ?? 400;
  const height = laid.height ?? 300;
  const svg = s('svg', {
    class: 'chart-svg',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    'data-machine': chart.key,
    'data-direction': direction,
  });
  svg.append(
    s(
      'defs',
      {},
      s(
        'marker',
        {
          id: `arrow-${direction}`,
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 8,
          markerHeight: 8,
          markerUnits: 'userSpaceOnUse',
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
      ),
    ),
  );
  const nodeLayer = s('g', { class: 'nodes' });
  const edgeLayer = s('g', { class: 'edges' });
  const labelLayer = s('g', { class: 'labels' });
  svg.append(nodeLayer, edgeLayer, labelLayer);
  const nodes = new Map<string, SVGGElement>();
  const edges = new Map<string, SVGGElement[]>();

  const drawNode = (n: ElkNode, depth: number): void => {
    const x = n.x ?? 0;
    const y = n.y ?? 0;
    const w = n.width ?? 0;
    const hgt = n.height ?? 0;
    if (n.id.endsWith('#init')) {
      nodeLayer.append(s('circle', { class: 'initial', cx: x + w / 2, cy: y + hgt / 2, r: 5 }));
      return;
    }
    const path = n.id;
    const cn = built.chartNodes.get(path);
    if (!cn) return;
    const parent = path.includes('.')
      ? built.chartNodes.get(path.slice(0, path.lastIndexOf('.')))
      : built.chartNodes.get('');
    const inParallel = parent?.type === 'parallel';
    const g = s('g', {
      class: `state ${cn.type}${cn.children.length > 0 ? ' has-children' : ''}${inParallel ? ' region' : ''}`,
      'data-path': path,
      'data-depth': depth,
    });
    g.append(
      s(
        'title',
        {},
        [path, cn.description ?? '', ...internalLines(cn).all].filter(Boolean).join('\n'),
      ),
    );
    g.append(s('rect', { class: 'box', x, y, width: w, height: hgt, rx: 8 }));
    if (cn.type === 'final')
      g.append(
        s('rect', {
          class: 'final-inner',
          x: x + 3,
          y: y + 3,
          width: w - 6,
          height: hgt - 6,
          rx: 6,
        }),
      );
    g.append(s('text', { class: 'state-title', x: x + 10, y: y + 17 }, cn.key));
    if (cn.type === 'parallel')
      g.append(
        s(
          'text',
          { class: 'state-kind', x: x + w - 8, y: y + 16, 'text-anchor': 'end' },
          'parallel',
        ),
      );
    const { lines } = internalLines(cn);
    lines.forEach((l, i) =>
      g.append(s('text', { class: 'internal', x: x + 10, y: y + 34 + i * lineHeight }, l)),
    );
    nodeLayer.append(g);
    nodes.set(path, g);
    for (const c of n.children ?? []) drawNode(c, depth + 1);
  };
  for (const c of laid.children ?? []) drawNode(c, 0);

  for (const e of laid.edges ?? []) {
    const pts = edgePoints(e);
    if (e.id.startsWith('init:')) {
      edgeLayer.append(
        s('path', {
          class: 'edge init-edge',
          d: roundedPath(pts),
          'marker-end': `url(#arrow-${direction})`,
        }),
      );
      continue;
    }
    const info = built.edgeInfo.get(e.id);
    if (!info) continue;
    const g = s('g', {
      class: 'transition',
      'data-source': info.source,
      'data-target': info.target,
    });
    g.append(
      s(
        'title',
        {},
        info.transitions
          .map(
            (t) =>
              `${transitionText(t)}${t.actions.length ? ` / ${t.actions.join(', ')}` : ''} → ${t.targets.join(', ')}`,
          )
          .join('\n'),
      ),
    );
    g.append(
      s('path', { class: 'edge', d: roundedPath(pts), 'marker-end': `url(#arrow-${direction})` }),
    );
    edgeLayer.append(g);
    const label = e.labels?.[0];
    if (label) {
      const lx = label.x ?? 0;
      const ly = label.y ?? 0;
      const lg = s('g', {
        class: 'edge-label',
        'data-source': info.source,
        'data-target': info.target,
      });
      lg.append(
        s('rect', { x: lx, y: ly, width: label.width ?? 0, height: label.height ?? 0, rx: 3 }),
      );
      info.lines.forEach((l, i) => {
        const m = /^(.*?)( \[.*\])?$/.exec(l);
        const t = s('text', { x: lx + 4, y: ly + 12 + i * lineHeight });
        t.append(s('tspan', { class: 'ev' }, m?.[1] ?? l));
        if (m?.[2]) t.append(s('tspan', { class: 'guard' }, m[2]));
        lg.append(t);
      });
      labelLayer.append(lg);
      edges.set(`${info.source}→${info.target}`, [
        ...(edges.get(`${info.source}→${info.target}`) ?? []),
        g,
        lg,
      ]);
    } else {
      edges.set(`${info.source}→${info.target}`, [
        ...(edges.get(`${info.source}→${info.target}`) ?? []),
        g,
      ]);
    }
  }
  return { width, height, svg, nodes, edges };
}

/** Marks the active states, and the transition just taken (from → to), on a drawn chart. */
export function highlightChart(
  layout: ChartLayout,
  active: readonly string[],
  taken: { from: readonly string[]; to: readonly string[] } | null,
  done: boolean,
): void {
  const on = new Set(active);
  for (const [path, g] of layout.nodes) {
    g.classList.toggle('active', on.has(path));
    g.classList.toggle('stopped', done && on.has(path));
  }
  for (const list of layout.edges.values()) for (const g of list) g.classList.remove('taken');
  if (taken) {
    for (const f of taken.from)
      for (const t of taken.to)
        for (const g of layout.edges.get(`${f}→${t}`) ?? []) g.classList.add('taken');
  }
}

/** How many states a chart has (small ones are also laid out left to right). */
export function stateCount(chart: ChartNode): number {
  return chart.children.reduce((n, c) => n + stateCount(c), chart.children.length);
}

/** A message in place of a chart. */
export function chartMessage(text: string): HTMLElement {
  return h('div', { class: 'chart-message' }, text);
}
