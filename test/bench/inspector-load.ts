// Benchmark: the inspector on a 100,000-record trace in Debian's chromium at 1280×800 —
// time to first render (navigation to actors, timeline and controls on screen), time until
// the chart is laid out, and time per scrub step (jump to a random record: state from the
// nearest checkpoint, every view updated, style and layout done), with the daemon and with a
// container selected. Prints figures; targets: first render < 1 s, scrub step < 50 ms.
import { writeFileSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { readTraceFile } from '../../effects/trace-file.ts';
import { localCatalog } from '../../src/inspector/local-catalog.ts';
import { TraceSource } from '../../src/inspector/sources.ts';
import {
  buildPage,
  chromiumMissing,
  launchBrowser,
  serve,
  screenshot,
} from '../inspector/browser-support.ts';
import { bigTrace } from './inspector-trace.ts';

const missing = chromiumMissing();
if (missing) {
  console.log(`inspector bench skipped: ${missing}`);
  process.exit(0);
}

const count = Number(process.env['RECORDS'] ?? 100_000);
const dir = mkdtempSync('/tmp/sdbench-');
const file = `${dir}/big.jsonl`;
let t0 = performance.now();
const { header, records } = bigTrace(count);
writeFileSync(
  file,
  [JSON.stringify(header), ...records.map((r) => JSON.stringify(r))].join('\n') + '\n',
);
console.log(
  `trace: ${records.length.toLocaleString('en-US')} records, ${new Set(records.map((r) => r.actor)).size} actors, ${(statSync(file).size / 1e6).toFixed(1)} MB (generated in ${Math.round(performance.now() - t0)} ms)`,
);

t0 = performance.now();
const source = new TraceSource('t0', 'big.jsonl', readTraceFile(file), localCatalog());
console.log(`server: read, parsed and compiled in ${Math.round(performance.now() - t0)} ms`);
const page = await buildPage();
const server = await serve([source], page.dir);
const browser = await launchBrowser();

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
  return `median ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms, max ${(s[s.length - 1] as number).toFixed(1)} ms (${s.length} steps)`;
};

try {
  const firsts: number[] = [];
  const charts: number[] = [];
  for (let run = 0; run < 3; run++) {
    const p = await browser.context.newPage();
    await p.goto(server.url);
    await p.waitForFunction(
      () =>
        ((window as unknown as { inspector?: { app?: { metrics: { firstRender: number } } } })
          .inspector?.app?.metrics.firstRender ?? 0) > 0,
      null,
      { timeout: 60_000 },
    );
    await p.waitForFunction(
      () =>
        ((window as unknown as { inspector: { app: { metrics: { chartDrawn: number } } } })
          .inspector.app.metrics.chartDrawn ?? 0) > 0,
      null,
      { timeout: 60_000 },
    );
    const m = await p.evaluate(
      () =>
        (
          window as unknown as {
            inspector: { app: { metrics: { firstRender: number; chartDrawn: number } } };
          }
        ).inspector.app.metrics,
    );
    firsts.push(m.firstRender);
    charts.push(m.chartDrawn);
    if (run < 2) await p.close();
    else {
      await screenshot(p, 'bench-100k.png');
      const scrub = async (label: string): Promise<number[]> => {
        const times = await p.evaluate(async () => {
          const app = (
            window as unknown as {
              inspector: { app: { model: { length: number }; goTo(r: number): void } };
            }
          ).inspector.app;
          // No named functions in here: the page has no esbuild helper (__name) for them.
          let seed = 7;
          const out: number[] = [];
          for (let i = 0; i < 300; i++) {
            seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
            const row = Math.floor((seed / 2 ** 32) * app.model.length);
            const t = performance.now();
            app.goTo(row);
            document.body.getBoundingClientRect();
            out.push(performance.now() - t);
            if (i % 10 === 0) await new Promise((r) => requestAnimationFrame(() => r(null)));
          }
          return out;
        });
        console.log(`scrub step, ${label}: ${stats(times)}`);
        return times;
      };
      const frames = async (label: string): Promise<void> => {
        const times = await p.evaluate(async () => {
          const app = (
            window as unknown as {
              inspector: { app: { model: { length: number }; goTo(r: number): void } };
            }
          ).inspector.app;
          const out: number[] = [];
          for (let i = 0; i < 60; i++) {
            const t = performance.now();
            app.goTo(Math.floor((i / 60) * app.model.length));
            await new Promise((r) =>
              requestAnimationFrame(() => requestAnimationFrame(() => r(null))),
            );
            out.push(performance.now() - t);
          }
          return out;
        });
        console.log(`scrub step to the next painted frame, ${label}: ${stats(times)}`);
      };
      const keys = async (label: string): Promise<void> => {
        const t = performance.now();
        for (let i = 0; i < 100; i++) await p.keyboard.press('ArrowRight');
        console.log(
          `→ key step (playwright round trip included), ${label}: ${((performance.now() - t) / 100).toFixed(1)} ms per key`,
        );
      };
      await scrub('daemon selected');
      await frames('daemon selected');
      await keys('daemon selected');
      // A container in the middle of the trace: the large chart.
      await p.evaluate(() => {
        const app = (
          window as unknown as {
            inspector: { app: { model: { actors: { id: string }[] }; select(i: number): void } };
          }
        ).inspector.app;
        app.select(app.model.actors.findIndex((a) => a.id.startsWith('container:')) + 400);
      });
      await p.evaluate(
        () =>
          (window as unknown as { inspector: { app: { chartPanel: { drawn: Promise<void> } } } })
            .inspector.app.chartPanel.drawn,
      );
      await scrub('a container selected');
      await keys('a container selected');
      await screenshot(p, 'bench-100k-container.png');
      await p.close();
    }
  }
  console.log(
    `time to first render: ${firsts.map((x) => x.toFixed(0)).join(', ')} ms (3 loads; target < 1000 ms)`,
  );
  console.log(`time until the chart is laid out: ${charts.map((x) => x.toFixed(0)).join(', ')} ms`);
} finally {
  await browser.close();
  await server.close();
  page.remove();
  rmSync(dir, { recursive: true, force: true });
}
