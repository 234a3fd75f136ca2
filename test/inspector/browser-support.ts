import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { buildInspectorPage } from '../../src/inspector/build.mjs';
import { startInspectorServer, type InspectorServer } from '../../src/inspector/server.ts';
import type { Source } from '../../src/inspector/sources.ts';

/** Debian's chromium (apt-get install chromium); the browser tests skip, saying so, without it. */
export const chromiumPath = '/usr/bin/chromium';

export function chromiumMissing(): string | null {
  return existsSync(chromiumPath)
    ? null
    : `needs Debian's chromium at ${chromiumPath} (apt-get install chromium)`;
}

/** Where screenshots go for a reviewer (gitignored). */
export const shotsDir = join(import.meta.dirname, '../../test-output/inspector');

/** The flags the CI runs chromium with: no sandbox (root), no GPU, nothing from the network. */
export const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The page built from the current sources into a directory of the test's own. */
export async function buildPage(): Promise<{ dir: string; remove(): void }> {
  const dir = mkdtempSync('/tmp/sdpage-');
  await buildInspectorPage({ quiet: true, outDir: dir });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh profile, at 1280×800. */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync('/tmp/sdchr-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function serve(sources: Source[], assetsDir: string): Promise<InspectorServer> {
  return startInspectorServer({ sources, assetsDir });
}

/** Opens the inspector and waits for its first render (and the chart of the selected actor). */
export async function openInspector(browser: Browser, url: string): Promise<Page> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  (page as Page & { errors?: string[] }).errors = errors;
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  await page
    .waitForFunction(
      () =>
        ((window as unknown as { inspector?: { app?: { metrics: { firstRender: number } } } })
          .inspector?.app?.metrics.firstRender ?? 0) > 0,
      null,
      { timeout: 30_000 },
    )
    .catch((err: unknown) => {
      throw new Error(
        `the inspector did not render: ${errors.join('; ') || (err as Error).message}`,
      );
    });
  await settle(page);
  return page;
}

/** Waits until the chart and step DAG are drawn and the constraints checked for the current record. */
export async function settle(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const app = (
      window as unknown as {
        inspector: {
          app: {
            chartPanel: { drawn: Promise<void> };
            stepsPanel: { drawn: Promise<void> };
            constraintsView: { settled: Promise<void> };
          };
        };
      }
    ).inspector.app;
    await app.chartPanel.drawn;
    await app.stepsPanel.drawn;
    await app.constraintsView.settled;
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: join(shotsDir, name) });
}

export async function positionSeq(page: Page): Promise<string> {
  return (await page.textContent('[data-testid=position-seq]')) ?? '';
}

/** Paths of the highlighted states of the chart. */
export async function activeStates(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid=chart] g.state.active', (gs) =>
    gs.map((g) => g.getAttribute('data-path') ?? ''),
  );
}

export async function stepStatus(page: Page, step: string): Promise<string | null> {
  return page.getAttribute(`[data-testid=steps] g.step[data-step="${step}"]`, 'data-status');
}

export async function releasedInOrder(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid=releases] li', (lis) =>
    lis.map((li) => li.getAttribute('data-resource') ?? ''),
  );
}

/**
 * What the page's model holds of one actor: its states (row kind 2) and its Docker events
 * (row kind 18), each as the model's text, in order.
 */
export async function actorStatesAndEvents(
  page: Page,
  actorId: string,
): Promise<{ states: string[]; events: string[] }> {
  return page.evaluate((aid) => {
    const m = (
      window as unknown as {
        inspector: {
          app: {
            model: {
              actors: { id: string; rows: { length: number; at(i: number): number } }[];
              kind: Uint8Array;
              ref: Int32Array;
              str(i: number): string;
            };
          };
        };
      }
    ).inspector.app.model;
    const a = m.actors.find((x) => x.id === aid);
    const states: string[] = [];
    const events: string[] = [];
    for (let i = 0; a && i < a.rows.length; i++) {
      const r = a.rows.at(i);
      if (m.kind[r] === 2) states.push(m.str(m.ref[r] as number));
      if (m.kind[r] === 18) events.push(m.str(m.ref[r] as number));
    }
    return { states, events };
  }, actorId);
}
