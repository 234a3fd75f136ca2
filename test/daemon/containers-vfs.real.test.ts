import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { mountPoints } from '../../effects/kernel/real.ts';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  removeDaemonDirs,
  importImage,
} from '../support/daemon-process.ts';

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

describe(
  'containers on the vfs storage driver (--storage-driver vfs)',
  { skip: unavailable ?? false },
  () => {
    let d: DaemonDirs;
    let daemon: RunningDaemon;
    let cfg: string;
    const run = (...args: string[]) => docker(d.sock, args, cfg);

    before(async () => {
      d = daemonDirs('sdv');
      cfg = `${d.dir}/docker-config`;
      mkdirSync(cfg);
      busyboxTarball(d.dir, ['sh', 'echo', 'true', 'cat', 'head', 'ls']);
      daemon = await startDaemon(d, ['--storage-driver', 'vfs']);
      importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox:latest');
    });

    after(async () => {
      if (daemon) await stopDaemon(daemon);
      removeDaemonDirs(d);
    });

    test('docker info says vfs, and a container runs on a copy of its image (no mount at all)', () => {
      assert.equal(run('info', '--format', '{{.Driver}}').stdout.trim(), 'vfs');
      const r = run(
        'run',
        '--name',
        'v1',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'echo changed > /new; ls /bin | head -1; echo hi',
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'busybox\nhi\n');
      const id = run('inspect', '--format', '{{.Id}}', 'v1').stdout.trim();
      assert.equal(
        run('inspect', '--format', '{{.Driver}} {{.GraphDriver.Name}}', 'v1').stdout.trim(),
        'vfs vfs',
      );
      assert.ok(
        existsSync(`${d.root}/vfs/dir/${id}/bin/busybox`),
        'the copy is under vfs/dir/<id>',
      );
      assert.equal(
        execFileSync('cat', [`${d.root}/vfs/dir/${id}/new`], { encoding: 'utf8' }),
        'changed\n',
      );
      assert.equal(
        existsSync(`${d.root}/overlay2/${id}`),
        false,
        'no overlay2 layer for a vfs container',
      );
      assert.deepEqual(
        mountPoints().filter((m) => m.includes(id)),
        [],
        'a vfs root needs no mount',
      );
      // Only what differs from the image counts as written (Docker's naive diff): "changed\n".
      assert.match(
        run('ps', '-a', '--size', '--filter', 'name=v1', '--format', '{{.Size}}').stdout.trim(),
        /^8B \(virtual [\d.]+MB\)$/,
      );
      assert.equal(
        run('start', '-a', 'v1').stdout,
        'busybox\nhi\n',
        'it starts again on the same copy',
      );
      assert.equal(run('rm', 'v1').status, 0);
      assert.equal(existsSync(`${d.root}/vfs/dir/${id}`), false, 'rm removes the copy');
    });

    test('the rest works the same on vfs: -i stdin, run -d and stop, rm -f, --rm leaves nothing', () => {
      const i = docker(
        d.sock,
        ['run', '-i', '--rm', '--network', 'none', 'busybox', 'cat'],
        cfg,
        'piped\n',
      );
      assert.equal(i.stdout, 'piped\n', i.stderr);
      run(
        'run',
        '-d',
        '--name',
        'bg',
        '--stop-timeout',
        '1',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'while true; do sleep 1; done',
      );
      assert.equal(run('inspect', '--format', '{{.State.Status}}', 'bg').stdout.trim(), 'running');
      assert.equal(run('stop', 'bg').status, 0);
      assert.equal(run('inspect', '--format', '{{.State.ExitCode}}', 'bg').stdout.trim(), '137');
      assert.equal(run('rm', '-f', 'bg').status, 0);
      assert.equal(run('ps', '-aq').stdout.trim(), '');
      assert.deepEqual(readdirSync(`${d.root}/vfs/dir`), [], 'every container copy is gone');
    });
  },
);
