import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { logDriverFor, parseJsonLog } from '../../src/daemon/logging/drivers.ts';
import {
  LogWriter,
  realLogFs,
  type LogFileHandle,
  type LogFs,
} from '../../src/daemon/logging/writer.ts';
import type { LogReader } from '../../src/daemon/logging/reader.ts';
import { writeLogs } from '../../src/daemon/logs.ts';
import { StdioHub, type LogEntry } from '../../src/daemon/stdio.ts';
import { StdioHubs } from '../../src/daemon/task-stdio.ts';

const root = mkdtempSync('/tmp/logs4-writer-');
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => mkdtempSync(`${root}/${dirs++}-`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const entry = (text: string, stream: 1 | 2 = 1): LogEntry => ({
  stream,
  log: Buffer.from(`${text}\n`),
  time: '2026-12-05T00:00:00.000Z',
});

/** The real file operations, with every write made by `write` on the real file's handle. */
function wrapWrites(
  write: (h: LogFileHandle, data: Buffer | string) => ReturnType<LogFileHandle['write']>,
): LogFs {
  return {
    ...realLogFs,
    open: async (path, flags, mode) => {
      const h = await realLogFs.open(path, flags, mode);
      return {
        stat: () => h.stat(),
        truncate: (n) => h.truncate(n),
        close: () => h.close(),
        write: (data) => write(h, data),
      };
    },
  };
}

/** The real file operations, with every write first awaiting `delay()` (a slow or stuck disk). */
function slowFs(delay: () => Promise<void>, counts = { writes: 0, done: 0 }): LogFs {
  return wrapWrites(async (h, data) => {
    counts.writes += 1;
    await delay();
    const r = await h.write(data);
    counts.done += 1;
    return r;
  });
}

/** A gate the slow file system's writes wait at until it is opened. */
function gate(): { wait: () => Promise<void>; open: () => void; opened: boolean } {
  let release!: () => void;
  const opened = new Promise<void>((r) => (release = r));
  const g = {
    opened: false,
    wait: () => opened,
    open: () => {
      g.opened = true;
      release();
    },
  };
  return g;
}

const lines = (dir: string, id: string): Promise<string[]> =>
  logDriverFor(dir, id, { driver: 'json-file', maxSize: null, maxFile: 1 })
    .read()
    .then((es) => (es ?? []).map((e) => e.log.toString().trimEnd()));

describe('a container log written off the event loop', () => {
  test('entries from many concurrent producers reach the files in the order they were queued, across rotations', async () => {
    const dir = freshDir();
    const driver = logDriverFor(dir, 'c', { driver: 'json-file', maxSize: 2000, maxFile: 200 });
    // Every write is held a random few milliseconds: batches and rotations interleave with producers.
    const writer = driver.writer(slowFs(() => sleep(Math.floor(Math.random() * 4))));
    const queued: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, p) => {
        for (let i = 0; i < 150; i++) {
          const text = `p${p}-${i}`;
          queued.push(text);
          writer.write(entry(text, p % 2 === 0 ? 1 : 2));
          if (i % 7 === p % 7) await new Promise((r) => setImmediate(r));
        }
      }),
    );
    await writer.close();
    const kept = ((await driver.read()) ?? []).map((e) => e.log.toString().trimEnd());
    assert.equal(kept.length, 1200);
    assert.deepEqual(kept, queued);
    // Each rotated file was cut once it had reached max-size, not before, and not an entry late.
    const files = readdirSync(dir).filter((f) => /^c-json\.log\.\d+$/.test(f));
    assert.ok(files.length > 20 && files.length < 199, `${files.length} rotated files`);
    for (const f of files) {
      const text = readFileSync(`${dir}/${f}`, 'utf8');
      const last = text.slice(0, -1).lastIndexOf('\n') + 1;
      assert.ok(text.length >= 2000, `${f}: ${text.length} bytes`);
      assert.ok(last < 2000, `${f}: its last entry began at ${last}`);
    }
  });

  test('rotation keeps max-file files, the newest entries, none torn, under slow asynchronous writes', async () => {
    const dir = freshDir();
    const driver = logDriverFor(dir, 'c', { driver: 'json-file', maxSize: 300, maxFile: 3 });
    const writer = driver.writer(slowFs(() => sleep(1)));
    for (let i = 0; i < 200; i++) writer.write(entry(`line-${i}`));
    await writer.close();
    assert.deepEqual(readdirSync(dir).sort(), ['c-json.log', 'c-json.log.1', 'c-json.log.2']);
    const kept = ((await driver.read()) ?? []).map((e) => e.log.toString().trimEnd());
    // The newest entries, contiguous: a suffix of what was queued.
    const first = Number(kept[0]?.slice(5));
    assert.deepEqual(
      kept,
      Array.from({ length: 200 - first }, (_, i) => `line-${first + i}`),
    );
    assert.ok(kept.length >= 6 && kept.length < 40, `${kept.length} kept`);
    // local: the rotated files gzipped, whole.
    const local = logDriverFor(dir, 'c', {
      driver: 'local',
      maxSize: 200,
      maxFile: 3,
      compress: true,
    });
    const lw = local.writer(slowFs(() => sleep(1)));
    for (let i = 0; i < 100; i++) lw.write(entry(`e-${i}`, 2));
    await lw.close();
    assert.deepEqual(readdirSync(`${dir}/local-logs`).sort(), [
      'container.log',
      'container.log.1.gz',
      'container.log.2.gz',
    ]);
    assert.equal(((await local.read()) ?? []).at(-1)?.log.toString(), 'e-99\n');
  });

  test('the event loop runs on while a log write is pending', async () => {
    const dir = freshDir();
    const counts = { writes: 0, done: 0 };
    const writer = logDriverFor(dir, 'c', undefined).writer(slowFs(() => sleep(400), counts));
    const t0 = performance.now();
    assert.equal(writer.write(entry('slow')), true);
    const queuedIn = performance.now() - t0;
    // A timer due long before the write completes fires while the write is still pending.
    const atTimer = await new Promise<{ writes: number; done: number }>((r) =>
      setTimeout(() => r({ ...counts }), 20),
    );
    assert.deepEqual(atTimer, { writes: 1, done: 0 }, 'the timer fired while the write waited');
    assert.ok(queuedIn < 100, `queueing took ${queuedIn} ms`);
    assert.deepEqual(await lines(dir, 'c'), [], 'nothing in the file yet');
    await writer.close();
    assert.deepEqual(counts, { writes: 1, done: 1 });
    assert.deepEqual(await lines(dir, 'c'), ['slow']);
  });

  test('a stuck disk: the backlog stops at its bound (write says pause), and drains in order once the disk moves', async () => {
    const dir = freshDir();
    const g = gate();
    const writer = new LogWriter({
      path: `${dir}/c.log`,
      maxSize: null,
      maxFile: 1,
      compress: false,
      dir: null,
      encode: (e) => e.log.toString(),
      fs: slowFs(g.wait),
      highWaterBytes: 4096,
    });
    let drained = 0;
    writer.listener = { ...writer.listener, drained: () => (drained += 1) };
    let accepted = 0;
    while (writer.write(entry(`l-${accepted}`))) accepted += 1;
    accepted += 1;
    assert.ok(writer.backlogBytes >= 4096 && writer.backlogBytes < 4096 + 20);
    assert.ok(accepted < 4096 / 4, `${accepted} entries queued before the pause`);
    assert.equal(drained, 0);
    g.open();
    await writer.close();
    assert.equal(drained, 1, 'the source was told to go on');
    assert.equal(writer.backlogBytes, 0);
    assert.deepEqual(
      readFileSync(`${dir}/c.log`, 'utf8').trimEnd().split('\n'),
      Array.from({ length: accepted }, (_, i) => `l-${i}`),
    );
  });

  test('a write that fails (a full disk) leaves no torn entry, is said once, and the log is written again after', async () => {
    const dir = freshDir();
    let failing = false;
    const fs = wrapWrites(async (h, data) => {
      if (!failing) return h.write(data);
      // Half of it goes in, then the disk is full.
      const bytes = Buffer.from(data);
      await h.write(bytes.subarray(0, Math.ceil(bytes.length / 2)));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
        code: 'ENOSPC',
      });
    });
    const writer = logDriverFor(dir, 'c', undefined).writer(fs);
    const problems: (string | null)[] = [];
    writer.listener = { ...writer.listener, problem: (e) => problems.push(e?.message ?? null) };
    writer.write(entry('before'));
    await writer.flushed();
    failing = true;
    for (let i = 0; i < 5; i++) {
      writer.write(entry(`lost-${i}`));
      await writer.flushed();
    }
    failing = false;
    // A short write that goes in (the slack of a full disk's last page) is not yet "written again".
    writer.write(entry('after'));
    await writer.flushed();
    assert.deepEqual(problems, ['ENOSPC: no space left on device, write']);
    for (let i = 0; i < 2000; i++) writer.write(entry(`more-${i}`));
    await writer.close();
    assert.deepEqual(problems, ['ENOSPC: no space left on device, write', null]);
    assert.deepEqual((await lines(dir, 'c')).slice(0, 3), ['before', 'after', 'more-0']);
    assert.doesNotThrow(() =>
      readFileSync(`${dir}/c-json.log`, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    );
  });
});

test('an exit and the daemon’s stop wait for a stuck log no longer than their bounds', async () => {
  const dir = freshDir();
  const g = gate();
  const writer = logDriverFor(dir, 'c', undefined).writer(slowFs(g.wait)) as LogWriter;
  const hubs = new StdioHubs(() => ({ writer: () => writer }));
  hubs.hub('c');
  writer.write(entry('stuck'));
  let t0 = performance.now();
  await hubs.drained('c', 150);
  const exitWaited = performance.now() - t0;
  t0 = performance.now();
  await hubs.closeLogs(150);
  const stopWaited = performance.now() - t0;
  assert.ok(exitWaited >= 140 && exitWaited < 1500, `the exit waited ${exitWaited} ms`);
  assert.ok(stopWaited >= 140 && stopWaited < 1500, `the stop waited ${stopWaited} ms`);
  assert.equal(writer.backlogBytes > 0, true, 'the disk is still stuck');
  g.open();
  await writer.close();
  assert.deepEqual(await lines(dir, 'c'), ['stuck']);
});

const hasMkfifo = spawnSync('mkfifo', ['--version']).status === 0;

test('a logs read of a log whose disk is stuck answers, after its bound, with what is on disk', async () => {
  const dir = freshDir();
  const g = gate();
  let stuck = false;
  const writer = logDriverFor(dir, 'c', {
    driver: 'json-file',
    maxSize: null,
    maxFile: 1,
  }).writer(slowFs(() => (stuck ? g.wait() : Promise.resolve())));
  const hub = new StdioHub(writer);
  for (let i = 0; i < 5; i++) writer.write(entry(`on-disk-${i}`));
  await writer.flushed();
  stuck = true;
  for (let i = 0; i < 5; i++) writer.write(entry(`queued-${i}`));
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeLogs(out, logDriverFor(dir, 'c', undefined).reader() as LogReader, hub, {
    raw: true,
    stdout: true,
    stderr: true,
    follow: false,
    timestamps: false,
    since: 0,
    until: 0,
    tail: 3,
    flushWaitMs: 300,
  });
  assert.equal(g.opened, false, 'answered while the disk is still stuck');
  assert.deepEqual(Buffer.concat(chunks).toString().trimEnd().split('\n'), [
    'on-disk-2',
    'on-disk-3',
    'on-disk-4',
  ]);
  g.open();
  await writer.flushed();
  assert.deepEqual((await lines(dir, 'c')).slice(-2), ['queued-3', 'queued-4']);
  await writer.close();
});

describe('a container’s output through its hub to a slow log', { skip: !hasMkfifo }, () => {
  /** A hub reading a FIFO that `sh -c script` writes; its log written through `fs`. */
  const run = (dir: string, script: string, fs: LogFs, highWaterBytes?: number) => {
    const fifo = `${dir}/out.fifo`;
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const writer = new LogWriter({
      path: `${dir}/c-json.log`,
      maxSize: null,
      maxFile: 1,
      compress: false,
      dir: null,
      encode: (e) =>
        `${JSON.stringify({ log: e.log.toString(), stream: 'stdout', time: e.time })}\n`,
      fs,
      ...(highWaterBytes === undefined ? {} : { highWaterBytes }),
    });
    const hub = new StdioHub(writer);
    hub.openFifos(fifo, null);
    const child = spawn('sh', ['-c', `${script} > ${fifo}`], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    return { hub, writer, child, exited };
  };
  const kept = (dir: string): string[] =>
    parseJsonLog(readFileSync(`${dir}/c-json.log`, 'utf8')).map((e) => e.log.toString().trimEnd());
  const count = 20_000;
  const script = `i=0; while [ $i -lt ${count} ]; do echo line-$i; i=$((i+1)); done`;

  test('a stuck log pauses the container’s output (it blocks writing), memory stays bounded, and nothing is lost', async () => {
    const dir = freshDir();
    const g = gate();
    const { hub, writer, child, exited } = run(dir, script, slowFs(g.wait), 64 * 1024);
    let most = 0;
    let exitedEarly = false;
    void exited.then(() => (exitedEarly = !g.opened));
    for (let i = 0; i < 30; i++) {
      await sleep(50);
      most = Math.max(most, writer.backlogBytes);
    }
    // Over its bound by at most what one read of the FIFO (64 KiB of output) encodes to.
    assert.ok(most >= 64 * 1024, `backlog ${most}`);
    assert.ok(most < 64 * 1024 + 8 * 64 * 1024, `backlog ${most}`);
    assert.equal(exitedEarly, false, 'the writer is blocked on its output');
    assert.equal(child.exitCode, null);
    g.open();
    await exited;
    await hub.whenEnded();
    await hub.logFlushed();
    const got = kept(dir);
    assert.equal(got.length, count);
    assert.deepEqual(
      got,
      Array.from({ length: count }, (_, i) => `line-${i}`),
    );
  });

  test('a logs read sees every line written before it, though the writer still had them queued', async () => {
    const dir = freshDir();
    const g = gate();
    const { hub, exited } = run(
      dir,
      'i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done',
      slowFs(g.wait),
    );
    await exited;
    await hub.whenEnded();
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const reading = writeLogs(out, logDriverFor(dir, 'c', undefined).reader() as LogReader, hub, {
      raw: true,
      stdout: true,
      stderr: true,
      follow: false,
      timestamps: false,
      since: 0,
      until: 0,
      tail: null,
    });
    await sleep(200);
    assert.equal(statSync(`${dir}/c-json.log`, { throwIfNoEntry: false })?.size ?? 0, 0);
    g.open();
    await reading;
    const text = Buffer.concat(chunks).toString();
    assert.deepEqual(
      text.trimEnd().split('\n'),
      Array.from({ length: 300 }, (_, i) => `line-${i}`),
    );
  });
});
