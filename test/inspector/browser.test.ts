import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { MemoryTrace, makeHeader } from '../../effects/record.ts';
import { Session } from '../../effects/runner.ts';
import { SimScheduler, type SimEffects } from '../../effects/sim/scheduler.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import { machines } from '../../machines/registry.ts';
import type { StartupOutput } from '../../machines/daemon-startup/machine.ts';
import { ApiServer } from '../../src/api/server.ts';
import { registerInspectionFeed } from '../../src/daemon/inspection-feed.ts';
import { localCatalog } from '../../src/inspector/local-catalog.ts';
import type { InspectorServer } from '../../src/inspector/server.ts';
import { LiveSource, TraceSource } from '../../src/inspector/sources.ts';
import { newRecord } from '../../src/sim/containers.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { defaultConfig } from '../support/configs.ts';
import {
  daemonArgs,
  daemonDirs,
  docker,
  ping,
  realDaemonUnavailable,
  removeDaemonDirs,
  importImage,
} from '../support/daemon-process.ts';
import {
  activeStates,
  actorStatesAndEvents,
  buildPage,
  chromiumMissing,
  launchBrowser,
  openInspector,
  positionSeq,
  releasedInOrder,
  screenshot,
  serve,
  settle,
  stepStatus,
  type Browser,
} from './browser-support.ts';

const missing = chromiumMissing();
if (missing) process.stdout.write(`# browser tests skipped: ${missing}\n`);

const layerStoreFails = [
  { effect: '*', step: 'layerStore', nth: 1, action: { fail: 'EIO' as const } },
];

/** The failing start-up the tests open: layerStore's first effect fails with EIO. */
function failingStartup(): {
  records: TraceRecord[];
  startup: Extract<StartupOutput, { status: 'failed' }>;
  header: ReturnType<typeof makeHeader>;
} {
  const run = simulate({ config: defaultConfig(), seed: 1, faults: layerStoreFails });
  if (!run.trace || run.startup.status !== 'failed')
    throw new Error('the simulated start-up did not fail');
  return { records: run.trace.records, startup: run.startup, header: run.trace.header };
}

const seqOf = (records: TraceRecord[], pred: (r: TraceRecord) => boolean): number => {
  const r = records.find(pred);
  if (!r) throw new Error('no such record');
  return r.seq;
};

async function pressUntil(page: Page, key: string, seq: number, max = 500): Promise<void> {
  for (let i = 0; i < max && (await positionSeq(page)) !== String(seq); i++)
    await page.keyboard.press(key);
  assert.equal(await positionSeq(page), String(seq));
}

describe('the inspector in chromium', { skip: missing ?? false }, () => {
  let browser: Browser;
  let page: { dir: string; remove(): void };

  before(async () => {
    page = await buildPage();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    page?.remove();
  });

  test('a failing start-up: step to the failure, see the failed step in red, then the releases in order', async () => {
    const { records, startup, header } = failingStartup();
    const server = await serve(
      [new TraceSource('t0', 'layerStore-eio.jsonl', { header, records }, localCatalog())],
      page.dir,
    );
    try {
      const p = await openInspector(browser, server.url);
      // A trace opens at its end, with the actor that failed selected.
      assert.equal(await positionSeq(p), String(records.length));
      assert.match((await p.textContent('.actor-row.selected')) ?? '', /daemon.*failed/s);

      await p.keyboard.press('Home');
      assert.equal(await positionSeq(p), '1');
      const failedSeq = seqOf(records, (r) => r.kind === 'mark' && r.mark.mark === 'step.failed');
      await pressUntil(p, 'ArrowRight', failedSeq);
      await settle(p);
      assert.deepEqual(await activeStates(p), ['starting']);
      assert.equal(await stepStatus(p, 'layerStore'), 'failed');
      assert.equal(
        await p.$eval(
          '[data-testid=steps] g.step[data-step="layerStore"] rect',
          (r) => getComputedStyle(r).fill,
        ),
        'rgb(220, 38, 38)',
        'the failed step is red',
      );
      assert.equal(await stepStatus(p, 'pidfile'), 'done');
      assert.equal(await stepStatus(p, 'imageStore'), 'notRun');
      assert.equal(await p.textContent('[data-testid=failed-step]'), 'layerStore');
      assert.deepEqual(
        await releasedInOrder(p),
        [],
        'nothing is released at the moment of the failure',
      );
      await screenshot(p, 'startup-failure.png');

      await pressUntil(
        p,
        'ArrowRight',
        seqOf(records, (r) => r.kind === 'transition' && r.to === 'draining'),
      );
      assert.deepEqual(await activeStates(p), ['draining']);
      // Start-up failed and nothing is released yet, but the releases are still to come: pending, not broken.
      await settle(p);
      assert.equal(
        await p.getAttribute('[data-constraint=everyAcquiredReleasedOnFailure]', 'data-status'),
        'pending',
      );
      await p.keyboard.press('ArrowLeft');
      assert.deepEqual(await activeStates(p), ['starting']);

      await p.keyboard.press('End');
      await settle(p);
      assert.equal(await positionSeq(p), String(records.length));
      assert.deepEqual(await activeStates(p), ['failed']);
      assert.equal(
        await p.getAttribute('[data-testid=chart] g.state[data-path=failed]', 'class'),
        'state final active stopped',
      );
      assert.deepEqual(
        await releasedInOrder(p),
        startup.releases.map((r) => r.resource),
      );
      assert.deepEqual((await releasedInOrder(p)).slice(-3), [
        'pidfile',
        'dir:execRoot',
        'dir:dataRoot',
      ]);
      assert.equal(
        await p.$$eval('[data-testid=constraints] .constraint', (cs) =>
          cs.every((c) => c.getAttribute('data-status') === 'pass'),
        ),
        true,
      );
      // The failed effect shows its error and how long it took (at the failure: the releases'
      // effects come after it).
      await p.click('.actor-row[data-actor=daemon]');
      await p.keyboard.press('Home');
      await pressUntil(p, 'ArrowRight', failedSeq);
      await settle(p);
      const failedEffect = await p.$$eval('[data-testid=effects] .effect.failed', (rows) =>
        rows.map((r) => r.textContent ?? ''),
      );
      assert.ok(
        failedEffect.some((t) => /fs\.stat.*EIO.*ms/.test(t)),
        failedEffect.join('\n'),
      );
      await screenshot(p, 'startup-releases.png');

      // Space plays, and plays on; space again pauses.
      await p.keyboard.press('Home');
      await p.keyboard.press(' ');
      await p.waitForFunction(
        () => Number(document.querySelector('[data-testid=position-seq]')?.textContent) > 3,
      );
      await p.keyboard.press(' ');
      const paused = await positionSeq(p);
      await p.waitForTimeout(300);
      assert.equal(await positionSeq(p), paused);
      assert.deepEqual((p as Page & { errors?: string[] }).errors, []);
      await p.close();
    } finally {
      await server.close();
    }
  });

  test('a deep link opens the record it names; the address follows; a broken constraint links to its records', async () => {
    const { records, header } = failingStartup();
    // A tampered trace: pidfile released a second time, which the checker must catch.
    const last = records.at(-1) as TraceRecord;
    const twice = [
      ...records.slice(0, -1),
      {
        seq: last.seq,
        t: last.t,
        actor: 'daemon',
        kind: 'mark',
        mark: { mark: 'resource.released', resource: 'pidfile' },
      } as TraceRecord,
      { ...last, seq: last.seq + 1 },
    ];
    const server = await serve(
      [
        new TraceSource('t0', 'layerStore-eio.jsonl', { header, records }, localCatalog()),
        new TraceSource('t1', 'released-twice.jsonl', { header, records: twice }, localCatalog()),
      ],
      page.dir,
    );
    try {
      const target = seqOf(
        records,
        (r) =>
          r.kind === 'mark' &&
          r.mark.mark === 'resource.released' &&
          r.mark['resource'] === 'metadataStore',
      );
      const p = await openInspector(browser, `${server.url}#record=${target}`);
      assert.equal(await positionSeq(p), String(target));
      assert.match(
        (await p.textContent('[data-testid=record-json]')) ?? '',
        new RegExp(`"seq": ${target},`),
      );
      // The layer store fails after the API is served: what the steps acquired goes newest
      // first, up to the metadata store (the API's sockets, which listen before it, go later).
      assert.deepEqual(await releasedInOrder(p), [
        'containerd',
        'file:key.json',
        'dir:networkDb',
        'env:TMPDIR',
        'dir:pluginsExec',
        'ticker:execGc',
        'metadataStore',
      ]);
      assert.deepEqual(await activeStates(p), ['releasing']);
      await screenshot(p, 'deep-link.png');
      await p.keyboard.press('ArrowRight');
      await p.waitForFunction((seq) => location.hash === `#record=${seq}`, target + 1);
      await p.keyboard.press('ArrowRight');
      await p.waitForFunction((seq) => location.hash === `#record=${seq}`, target + 2);
      // Another source, by link: the broken constraint, and a click on one of its records.
      await p.close();
      const q = await openInspector(browser, `${server.url}#source=t1&record=1`);
      assert.equal(await positionSeq(q), '1');
      assert.equal(await q.textContent('.source-select option:checked'), 'released-twice.jsonl');
      await q.keyboard.press('End');
      await settle(q);
      const broken = await q.$$eval(
        '[data-testid=constraints] .constraint[data-status=fail]',
        (cs) => cs.map((c) => c.getAttribute('data-constraint')),
      );
      assert.deepEqual(broken, ['releasedNewestFirst', 'releasedOnce']);
      const pidfileRelease = seqOf(
        records,
        (r) =>
          r.kind === 'mark' &&
          r.mark.mark === 'resource.released' &&
          r.mark['resource'] === 'pidfile',
      );
      await q.click(`[data-constraint=releasedOnce] a.rec-link[data-seq="${pidfileRelease}"]`);
      assert.equal(await positionSeq(q), String(pidfileRelease));
      await screenshot(q, 'broken-constraint.png');
      await q.close();
    } finally {
      await server.close();
    }
  });

  test('follows a live feed: actors appear and change state as a daemon-like server streams its records', async () => {
    const dir = mkdtempSync('/tmp/sdlive-');
    const sock = `${dir}/d.sock`;
    const api = new ApiServer({ serverHeader: 'statedock-test' });
    // The daemon's start-up on a host of its own, the container on a containerd and store of its own
    // (as src/sim/containers.ts sets them up): one scheduler, one session, one feed.
    const host = new SimWorld({ seed: 1, faults: layerStoreFails });
    const engine = new SimWorld({ seed: 2 });
    engine.containerd.connectedTo = '/sim/containerd.sock';
    engine.store.stores.set('/sim/metadata.db', new Map());
    engine.store.openStore = '/sim/metadata.db';
    const id = 'c0ffee'.repeat(10) + 'c0ff';
    engine.behaviours.set(id, { exitAfterMs: 2000, exitCode: 0, ignoresTerm: false });
    const worldOf = (call: { id: string }): SimWorld =>
      call.id.startsWith('container:') ? engine : host;
    const world: SimEffects = {
      judge: (call) => worldOf(call).judge(call),
      complete: (call, judgement, now) => worldOf(call).complete(call, judgement, now),
      takeEvents: () => [...host.takeEvents(), ...engine.takeEvents()],
    };
    const scheduler = new SimScheduler(world);
    const trace = new MemoryTrace(makeHeader('test', {}));
    const session = new Session({
      executor: scheduler,
      sink: trace,
      now: () => scheduler.now,
      later: (fn) => scheduler.schedule(scheduler.now, fn),
    });
    scheduler.deliverExternal = (actorId, event) => session.send(actorId, event);
    const feed = registerInspectionFeed(api, session, machines);
    await api.listen([sock]);
    const live = new LiveSource('live', `unix://${sock}`, sock);
    await live.connect();
    const server = await serve([live], page.dir);
    try {
      const p = await openInspector(browser, server.url);
      assert.equal(await p.textContent('.live-badge'), '● live');
      session.spawn('daemonStartup', 'daemon', { config: defaultConfig() });
      const actorId = `container:${id}`;
      if (machines['container']) {
        session.spawn('container', actorId, {
          actorId,
          record: newRecord(id, { name: 'web' }),
          origin: 'create',
          req: 'create',
          spec: { process: { args: ['sh'] } },
          dir: `/sim/containers/${id}`,
          rootfs: { driver: 'overlay2', layers: ['/sim/layers/busybox'] },
        });
        scheduler.at(10, actorId, { type: 'api.start', req: 'r1' });
        scheduler.at(3000, actorId, { type: 'api.remove', req: 'r2', force: false });
      }
      // The daemon's pace, not the simulator's: a few records every 20 ms.
      while (!scheduler.idle) {
        scheduler.runUntilIdle(4);
        await new Promise((r) => setTimeout(r, 20));
      }
      await p.waitForFunction(
        (seq) => document.querySelector('[data-testid=position-seq]')?.textContent === String(seq),
        feed.latestSeq,
        { timeout: 20_000 },
      );
      assert.match(
        (await p.textContent('.actor-row[data-actor=daemon] [data-testid=actor-state]')) ?? '',
        /^failed ■$/,
      );
      await p.click('.actor-row[data-actor=daemon]');
      await settle(p);
      const snapshot = session.actors.get('daemon')?.actor.getSnapshot() as
        { output: Extract<StartupOutput, { status: 'failed' }> } | undefined;
      const output = snapshot?.output;
      assert.ok(output, 'start-up has no output');
      assert.equal(output.failure.step, 'layerStore');
      assert.equal(await stepStatus(p, 'layerStore'), 'failed');
      assert.equal(await p.textContent('[data-testid=failed-step]'), 'layerStore');
      assert.deepEqual(
        await releasedInOrder(p),
        output.releases.map((r) => r.resource),
      );
      await screenshot(p, 'live-startup.png');
      if (machines['container']) {
        await p.click(`.actor-row[data-actor="${actorId}"]`);
        await settle(p);
        // What the page received: the container went running, exited, was removed — with Docker's events in order.
        const seen = await actorStatesAndEvents(p, actorId);
        assert.ok(
          seen.states.includes('"running"') &&
            seen.states.indexOf('"running"') < seen.states.indexOf('{"exiting":"deletingTask"}'),
          seen.states.join(' '),
        );
        assert.deepEqual(seen.events, ['create', 'start', 'die', 'destroy']);
        assert.match(
          (await p.textContent(`.actor-row[data-actor="${actorId}"] [data-testid=actor-state]`)) ??
            '',
          /^removed ■$/,
        );
        assert.equal(
          await p.textContent(`.actor-row[data-actor="${actorId}"] [data-testid=docker-status]`),
          'removed',
        );
        assert.deepEqual(await activeStates(p), ['removed']);
        await screenshot(p, 'live-container.png');
      }
      assert.deepEqual((p as Page & { errors?: string[] }).errors, []);
      await p.close();
    } finally {
      await server.close();
      live.close();
      feed.close();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(
  'the inspector on a real daemon',
  {
    skip:
      missing ??
      realDaemonUnavailable() ??
      (existsSync('/bin/busybox') ? false : 'needs /bin/busybox (apt-get install busybox-static)'),
  },
  () => {
    test('docker run: the container actor goes created → running → exited, live', async (t) => {
      if (!machines['container']) {
        t.skip('needs the container machine (issue 4)');
        return;
      }
      const d = daemonDirs('sdi');
      const cfg = `${d.dir}/docker-config`;
      mkdirSync(cfg);
      const rootfs = `${d.dir}/rootfs`;
      mkdirSync(`${rootfs}/bin`, { recursive: true });
      cpSync('/bin/busybox', `${rootfs}/bin/busybox`);
      for (const a of ['sh', 'sleep', 'true']) symlinkSync('busybox', `${rootfs}/bin/${a}`);
      for (const sub of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(`${rootfs}/${sub}`);
      execFileSync('tar', ['-C', rootfs, '-cf', `${d.dir}/busybox.tar`, '.']);
      const built = await buildPage();
      // From source: the daemon mounts the inspection feed on its API socket itself.
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'cli-entry.ts'), ...daemonArgs(d)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => resolve(code)),
      );
      let server: InspectorServer | null = null;
      let live: LiveSource | null = null;
      const browser = await launchBrowser();
      try {
        const deadline = Date.now() + 60_000;
        while (!(existsSync(d.sock) && (await ping(d.sock)))) {
          assert.ok(
            Date.now() < deadline && child.exitCode === null,
            `the daemon did not answer:\n${output}`,
          );
          await new Promise((r) => setTimeout(r, 50));
        }
        const run = (...args: string[]) => docker(d.sock, args, cfg);
        importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox:latest');
        live = new LiveSource('live', `unix://${d.sock}`, d.sock);
        await live.connect();
        server = await serve([live], built.dir);
        const p = await openInspector(browser, server.url);
        const r = run(
          'run',
          '--name',
          'inspected',
          '--network',
          'none',
          'busybox',
          'sh',
          '-c',
          'sleep 1; exit 3',
        );
        assert.equal(r.status, 3, r.stderr);
        const id = run('inspect', '--format', '{{.Id}}', 'inspected').stdout.trim();
        assert.match(id, /^[0-9a-f]{64}$/);
        const actorId = `container:${id}`;
        const seen = (): Promise<{ states: string[]; events: string[] }> =>
          actorStatesAndEvents(p, actorId);
        const until = Date.now() + 20_000;
        let s = await seen();
        while (!s.events.includes('die') && Date.now() < until) {
          await new Promise((res) => setTimeout(res, 100));
          s = await seen();
        }
        // created (idle after creating) → running → exited (idle again, after the exit was recorded).
        assert.deepEqual(s.events, ['create', 'start', 'die'], s.states.join(' '));
        const running = s.states.indexOf('"running"');
        assert.ok(
          s.states.indexOf('"idle"') >= 0 && s.states.indexOf('"idle"') < running,
          s.states.join(' '),
        );
        assert.ok(running >= 0 && s.states.lastIndexOf('"idle"') > running, s.states.join(' '));
        await p.click(`.actor-row[data-actor="${actorId}"]`);
        await settle(p);
        assert.match(
          (await p.textContent(`.actor-row[data-actor="${actorId}"] [data-testid=actor-state]`)) ??
            '',
          /^idle$/,
        );
        assert.equal(
          await p.textContent(`.actor-row[data-actor="${actorId}"] [data-testid=docker-status]`),
          'exited',
        );
        // Scrubbing back shows each of Docker's statuses in turn: created, running, exited.
        const statuses: string[] = [];
        const rows = await p.evaluate((aid) => {
          const m = (
            window as unknown as {
              inspector: {
                app: {
                  model: {
                    actors: { id: string; rows: { length: number; at(i: number): number } }[];
                  };
                };
              };
            }
          ).inspector.app.model;
          const a = m.actors.find((x) => x.id === aid);
          return a ? Array.from({ length: a.rows.length }, (_, i) => a.rows.at(i)) : [];
        }, actorId);
        for (const row of rows) {
          await p.evaluate(
            (r) =>
              (
                window as unknown as { inspector: { app: { goTo(r: number): void } } }
              ).inspector.app.goTo(r),
            row,
          );
          const st = await p.evaluate(
            (sel) => document.querySelector(sel)?.textContent ?? '',
            `.actor-row[data-actor="${actorId}"] [data-testid=docker-status]`,
          );
          if (st !== '' && statuses.at(-1) !== st) statuses.push(st);
        }
        assert.deepEqual(statuses, ['created', 'running', 'exited']);
        await p.keyboard.press('End');
        assert.deepEqual(await activeStates(p), ['idle']);
        await screenshot(p, 'live-daemon-container.png');
        assert.deepEqual((p as Page & { errors?: string[] }).errors, []);
        await p.close();
        run('rm', 'inspected');
      } finally {
        await browser.close();
        await server?.close();
        live?.close();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
        removeDaemonDirs(d);
        built.remove();
      }
    });
  },
);
