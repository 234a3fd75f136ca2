import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  ping,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
} from '../support/daemon-process.ts';
import { call, callJson, sleep } from '../support/raw-http.ts';

/**
 * Issue 12's disk-full fault on the real host: the data root is a 48 MiB tmpfs the test
 * mounts. It is filled up while an image is loaded, containers are created, a container
 * writes its log and records are stored. Each gets a clear error, the daemon keeps
 * running; once space is freed everything works again, and a restart finds no record
 * corrupt (every stored container restored, the restore check clean).
 */
const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

describe('a full disk under the data root', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let cfg: string;
  const run = (...args: string[]) => docker(d.sock, args, cfg);
  const filler = () => `${d.root}/filler`;

  /** Fills the filesystem to the last byte (a file grown until ENOSPC). */
  const fill = (): void => {
    const fd = openSync(filler(), 'a');
    const block = Buffer.alloc(64 * 1024, 0x61);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
    try {
      for (;;) writeSync(fd, block, 0, 1);
    } catch {
      // full to the byte
    }
    closeSync(fd);
  };
  const free = (): void => rmSync(filler(), { force: true });

  before(async () => {
    d = daemonDirs('sddf');
    cfg = `${d.dir}/docker-config`;
    mkdirSync(cfg);
    busyboxTarball(d.dir);
    mkdirSync(d.root, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0711', 'sddf', d.root]);
    daemon = await startDaemon(d);
    assert.equal(run('import', `${d.dir}/busybox.tar`, 'busybox:latest').status, 0);
    // An image archive to load later (as the CLI saves one).
    const save = run('save', '-o', `${d.dir}/saved.tar`, 'busybox:latest');
    assert.equal(save.status, 0, save.stderr);
  });

  after(async () => {
    if (daemon && daemon.child.exitCode === null) await stopDaemon(daemon);
    removeDaemonDirs(d);
  });

  test(
    'load, create, log writing and store writes fail clearly on a full disk; the daemon runs on; all works again once space is freed; nothing is corrupt',
    { timeout: 300_000 },
    async () => {
      // Before the disk fills: a container that writes all the time, one stopped, one to rename.
      const writer = run(
        'run',
        '-d',
        '--name',
        'writer',
        // Its log is bounded, so the space freed later is not filled again at once.
        '--log-opt',
        'max-size=1m',
        '--log-opt',
        'max-file=2',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'trap "exit 0" TERM; i=0; while true; do echo line $i; i=$((i+1)); done',
      ).stdout.trim();
      assert.match(writer, /^[0-9a-f]{64}$/);
      assert.equal(
        run('create', '--name', 'stopped', '--network', 'none', 'busybox', 'true').status,
        0,
      );
      await sleep(500);
      fill();

      // Container log writing: the daemon says so once per episode (never once a line). The log
      // is written off the event loop, so the failure comes when its writer next reaches the disk.
      const logSays = (what: string): number =>
        daemon
          .output()
          .split('\n')
          .filter((l) => l.includes(what)).length;
      // A rotation frees the oldest file, which the log would grow into: the disk is kept full.
      const deadline = Date.now() + 15_000;
      while (logSays("cannot write the container's log") === 0 && Date.now() < deadline) {
        fill();
        await sleep(100);
      }
      assert.match(daemon.output(), /cannot write the container's log .*no space left on device/i);
      assert.ok(
        logSays("cannot write the container's log") <= logSays('is written again') + 1,
        'said once per episode, not once a line',
      );
      // The log's writer gives back what it cut (a torn entry, a rotated file): full again.
      fill();
      // create: a clear error, and no half-made container.
      const create = run('create', '--name', 'nospace', '--network', 'none', 'busybox', 'true');
      assert.notEqual(create.status, 0);
      assert.match(create.stderr, /no space left on device/i);
      assert.equal(run('inspect', 'nospace').status, 1, 'a create that failed leaves no container');
      // load: the error in the JSON stream, as dockerd answers it (the CLI prints it).
      fill();
      const load = run('load', '-i', `${d.dir}/saved.tar`);
      assert.notEqual(load.status, 0);
      assert.match(`${load.stdout}${load.stderr}`, /no space left on device/i);
      // Store writes: a rename is a record written. The store's log has room left in its last
      // page for a write or two; then they fail, saying why, and the name stays as it was.
      fill();
      let name = 'stopped';
      let rename = { status: 0, text: '' };
      for (let i = 0; i < 200; i++) {
        const next = name === 'stopped' ? 'renamed' : 'stopped';
        rename = await call(d.sock, 'POST', `/containers/${name}/rename?name=${next}`);
        if (rename.status >= 400) break;
        name = next;
      }
      assert.ok(rename.status >= 400, `rename: ${rename.status} ${rename.text}`);
      assert.match(rename.text, /no space left on device|not saved/i);
      // The container keeps the name its last saved rename gave it (either of the two).
      const start = run('start', name);
      assert.notEqual(start.status, 0);
      process.stdout.write(
        `# disk full: create → ${create.stderr.trim()}\n# load → ${`${load.stdout}${load.stderr}`.trim()}\n# rename → ${rename.status} ${rename.text.trim()}\n# start → ${start.stderr.trim()}\n`,
      );
      assert.equal(await ping(d.sock), true, 'the daemon runs on');
      assert.doesNotMatch(daemon.output(), /uncaught|Unhandled/i);

      free();
      await sleep(500);
      // Everything works again.
      const again = run('run', '--rm', '--network', 'none', 'busybox', 'echo', 'back');
      assert.equal(again.status, 0, again.stderr);
      assert.equal(again.stdout, 'back\n');
      const renamed = name === 'stopped' ? 'renamed' : 'stopped';
      assert.equal(run('rename', name, renamed).status, 0);
      assert.equal(run('start', renamed).status, 0);
      const loaded = run('load', '-i', `${d.dir}/saved.tar`);
      assert.equal(loaded.status, 0, loaded.stderr);
      await sleep(1_000);
      const logs = await call(d.sock, 'GET', `/containers/${writer}/logs?stdout=1&tail=5`);
      assert.equal(logs.status, 200);
      assert.match(daemon.output(), /is written again/);

      // A restart: every record reads back, the restore check is clean.
      const before = (
        await callJson<{ Id: string; Names: string[] }[]>(d.sock, 'GET', '/containers/json?all=1')
      )
        .map((c) => c.Names[0])
        .sort();
      assert.equal(await stopDaemon(daemon), 0, daemon.output());
      const traces = new Set(readdirSync(`${d.exec}/traces`));
      daemon = await startDaemon(d);
      const after = (
        await callJson<{ Id: string; Names: string[] }[]>(d.sock, 'GET', '/containers/json?all=1')
      )
        .map((c) => c.Names[0])
        .sort();
      assert.deepEqual(after, before);
      let tally: { broken: number } | null = null;
      for (let i = 0; i < 100 && tally === null; i++) {
        await sleep(100);
        const fresh = readdirSync(`${d.exec}/traces`).find((f) => !traces.has(f));
        const line = fresh
          ? readFileSync(`${d.exec}/traces/${fresh}`, 'utf8')
              .split('\n')
              .find((l) => l.includes('"invariants.checked"'))
          : undefined;
        if (line) tally = (JSON.parse(line) as { mark: { broken: number } }).mark;
      }
      assert.ok(tally, 'the restore check ran');
      assert.equal(tally.broken, 0);
      run('rm', '-f', 'writer', 'renamed', 'stopped');
    },
  );
});
