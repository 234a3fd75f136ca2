import ElkModule from 'elkjs/lib/elk-api.js';
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';

/**
 * Automatic layout with elkjs (Eclipse's layered algorithm), in its Web Worker so a large
 * chart never blocks the timeline. Served from the package (dist/inspector/elk-worker.js).
 */
// elkjs is CommonJS: the bundler hands over its default export, the types describe the module.
const Elk = ElkModule.default ?? ElkModule;
let elk: ELK | null = null;

export function layoutGraph(graph: ElkNode): Promise<ElkNode> {
  elk ??= new Elk({ workerUrl: new URL('./elk-worker.js', import.meta.url).href });
  return elk.layout(graph);
}

let ctx: CanvasRenderingContext2D | null = null;

/** Text width in px for a CSS font (the SVG draws with the same one). */
export function textWidth(text: string, font: string): number {
  ctx ??= document.createElement('canvas').getContext('2d');
  if (!ctx) return text.length * 7;
  ctx.font = font;
  return ctx.measureText(text).width;
}

export const fontFamily = '"DejaVu Sans", "Segoe UI", system-ui, sans-serif';

export interface Point {
  x: number;
  y: number;
}

/** The points of a laid-out edge (ROOT coordinates), start to end. */
export function edgePoints(e: ElkExtendedEdge): Point[] {
  const pts: Point[] = [];
  for (const s of e.sections ?? []) {
    pts.push(s.startPoint, ...(s.bendPoints ?? []), s.endPoint);
  }
  return pts;
}

/** An orthogonal polyline with rounded corners. */
export function roundedPath(pts: Point[], radius = 6): string {
  if (pts.length === 0) return '';
  const first = pts[0] as Point;
  let d = `M${first.x},${first.y}`;
  for (let i = 1; i < pts.length - 1; i++) {
    const p = pts[i - 1] as Point;
    const c = pts[i] as Point;
    const n = pts[i + 1] as Point;
    const d1 = Math.hypot(c.x - p.x, c.y - p.y);
    const d2 = Math.hypot(n.x - c.x, n.y - c.y);
    const r = Math.min(radius, d1 / 2, d2 / 2);
    const ax = c.x + ((p.x - c.x) / (d1 || 1)) * r;
    const ay = c.y + ((p.y - c.y) / (d1 || 1)) * r;
    const bx = c.x + ((n.x - c.x) / (d2 || 1)) * r;
    const by = c.y + ((n.y - c.y) / (d2 || 1)) * r;
    d += ` L${ax},${ay} Q${c.x},${c.y} ${bx},${by}`;
  }
  const last = pts[pts.length - 1] as Point;
  d += ` L${last.x},${last.y}`;
  return d;
}

export const rootCoords = {
  'elk.json.edgeCoords': 'ROOT',
  'elk.json.shapeCoords': 'ROOT',
} as const;
