import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { replayTrace } from '../../effects/replay.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import { mountPoints } from '../../effects/kernel/real.ts';
import { busyboxTarball, busyboxUnavailable } from '../support/busybox-image.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
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

describe('containers with the stock docker CLI', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let cfg: string;
  const run = (...args: string[]) => docker(d.sock, args, cfg);
  const run2 = (args: string[], input: string) => docker(d.sock, args, cfg, input);

  before(async () => {
    d = daemonDirs();
    cfg = `${d.dir}/docker-config`;
    mkdirSync(cfg);
    busyboxTarball(d.dir);
    daemon = await startDaemon(d);
    const imp = importImage(d.sock, cfg, `${d.dir}/busybox.tar`, 'busybox:latest');
    assert.match(imp, /^sha256:[0-9a-f]{64}$/m);
  });

  after(async () => {
    if (daemon) await stopDaemon(daemon);
    removeDaemonDirs(d);
  });

  test('docker images lists the imported image', () => {
    const r = run('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^busybox:latest [0-9a-f]{12}$/m);
  });

  test('docker run --rm busybox echo hi prints hi, exits 0 and leaves nothing', () => {
    const r = run('run', '--rm', '--network', 'none', 'busybox', 'echo', 'hi');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.equal(run('ps', '-aq').stdout.trim(), '');
  });

  test('the exit code and stderr come through; the exited container stays until removed', () => {
    const r = run(
      'run',
      '--name',
      'three',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    );
    assert.equal(r.status, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.match(
      run('ps', '-a', '--format', '{{.Names}} {{.Status}}').stdout,
      /^three Exited \(3\)/m,
    );
    assert.equal(
      run('inspect', '--format', '{{.State.ExitCode}} {{.State.Status}}', 'three').stdout.trim(),
      '3 exited',
    );
    assert.equal(run('rm', 'three').status, 0);
  });

  test('import --change: one list with commit (USER, ENV, EXPOSE, LABEL, WORKDIR kept); an unknown instruction is refused', () => {
    const imp = run(
      'import',
      ...['--change', 'USER nobody', '--change', 'ENV A=1 B="two words"'],
      ...['--change', 'EXPOSE 80 53/udp', '--change', 'LABEL k=v', '--change', 'WORKDIR /srv'],
      `${d.dir}/busybox.tar`,
      'changed:1',
    );
    assert.equal(imp.status, 0, imp.stderr);
    assert.equal(
      run(
        'image',
        'inspect',
        '--format',
        '{{.Config.User}}|{{json .Config.Env}}|{{json .Config.ExposedPorts}}|{{json .Config.Labels}}|{{.Config.WorkingDir}}',
        'changed:1',
      ).stdout.trim(),
      'nobody|["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1","B=two words"]|{"53/udp":{},"80/tcp":{}}|{"k":"v"}|/srv',
    );
    const bad = run('import', '--change', 'RUN true', `${d.dir}/busybox.tar`, 'changed:2');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /run is not a valid change command/);
    assert.equal(run('rmi', 'changed:1').status, 0);
  });

  test('kill (SIGKILL) answers once the container has exited: inspect right after says so, rm succeeds', () => {
    // dockerd waits for a SIGKILLed container's exit before it answers (issue 11, item 5).
    for (let i = 0; i < 3; i++) {
      const id = run('run', '-d', '--network', 'none', 'busybox', 'sleep', '1000').stdout.trim();
      assert.equal(run('kill', id).status, 0);
      assert.equal(
        run('inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', id).stdout.trim(),
        'false 137',
      );
      const rm = run('rm', id);
      assert.equal(rm.status, 0, rm.stderr);
    }
  });

  test('run -d, stop with SIGKILL after the timeout (137), rm', () => {
    const id = run('run', '-d', '--network', 'none', 'busybox', 'sleep', '1000').stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(
      run('ps', '--format', '{{.ID}} {{.Status}}').stdout,
      new RegExp(`^${id.slice(0, 12)} Up`, 'm'),
    );
    assert.equal(run('stop', '-t', '1', id).status, 0);
    assert.equal(run('inspect', '--format', '{{.State.ExitCode}}', id).stdout.trim(), '137');
    assert.equal(run('stop', id).status, 0, 'stopping a stopped container is not an error (304)');
    assert.equal(run('rm', id).status, 0);
  });

  test('run flags: -e, -w, -u, --entrypoint, -v binds and named volumes, --memory, top', () => {
    mkdirSync(`${d.dir}/hostdir`, { recursive: true });
    execFileSync('sh', ['-c', `chmod 755 ${d.dir} && echo hostfile > ${d.dir}/hostdir/f`]);
    const r = run(
      'run',
      '--rm',
      '--network',
      'none',
      '-e',
      'A=1',
      '-w',
      '/tmp',
      '-u',
      '1000:1000',
      '-v',
      `${d.dir}/hostdir:/h:ro`,
      'busybox',
      'sh',
      '-c',
      'echo $A $(pwd) $(id -u):$(id -g) $(cat /h/f)',
    );
    assert.equal(r.stdout, '1 /tmp 1000:1000 hostfile\n', r.stderr);
    assert.equal(
      run(
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        'vol1:/data',
        'busybox',
        'sh',
        '-c',
        'echo kept > /data/x',
      ).status,
      0,
    );
    assert.equal(
      run('run', '--rm', '--network', 'none', '-v', 'vol1:/data', 'busybox', 'cat', '/data/x')
        .stdout,
      'kept\n',
    );
    assert.equal(
      run('run', '--rm', '--network', 'none', '--entrypoint', '/bin/echo', 'busybox', 'ent').stdout,
      'ent\n',
    );
    const id = run(
      'run',
      '-d',
      '--name',
      'limited',
      '--memory',
      '64m',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    ).stdout.trim();
    assert.equal(
      execFileSync('cat', [`/sys/fs/cgroup/memory/statedock/${id}/memory.limit_in_bytes`], {
        encoding: 'utf8',
      }).trim(),
      String(64 * 1024 * 1024),
    );
    const top = run('top', 'limited');
    assert.match(top.stdout, /^UID\s+PID\s+PPID/);
    assert.match(top.stdout, /sleep 1000/);
    assert.equal(run('rm', '-f', 'limited').status, 0);
    assert.match(run('top', 'nosuch').stderr, /No such container: nosuch/);
  });

  test('a stopped container starts again, and restart restarts a running one', () => {
    run(
      'run',
      '-d',
      '--name',
      'again',
      '--stop-timeout',
      '1',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    );
    assert.equal(run('stop', 'again').status, 0);
    assert.equal(run('start', 'again').status, 0);
    assert.equal(run('inspect', '--format', '{{.State.Status}}', 'again').stdout.trim(), 'running');
    assert.equal(run('restart', '-t', '1', 'again').status, 0);
    assert.equal(run('inspect', '--format', '{{.State.Status}}', 'again').stdout.trim(), 'running');
    assert.equal(run('rm', '-f', 'again').status, 0);
  });

  test('logs: all, --tail, -t, and -f until the container exits', () => {
    assert.equal(
      run(
        'run',
        '--name',
        'talk',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'echo one; echo two >&2; echo three',
      ).status,
      0,
    );
    const all = run('logs', 'talk');
    assert.equal(all.stdout, 'one\nthree\n');
    assert.equal(all.stderr, 'two\n');
    // Across the two streams, log order is the order the daemon read them (as Docker documents).
    const tail = run('logs', '--tail', '1', 'talk');
    assert.equal(`${tail.stdout}${tail.stderr}`.split('\n').filter(Boolean).length, 1);
    const stamped = run('logs', '-t', '--tail', '2', 'talk');
    for (const line of `${stamped.stdout}${stamped.stderr}`.split('\n').filter(Boolean))
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (one|two|three)$/);
    run(
      'run',
      '-d',
      '--name',
      'ticker',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'for i in 1 2 3; do echo t$i; sleep 0.2; done',
    );
    assert.equal(run('logs', '-f', 'ticker').stdout, 't1\nt2\nt3\n');
    assert.equal(run('rm', 'talk', 'ticker').status, 0);
  });

  test('pause, unpause, rename, and the errors of each', () => {
    run('run', '-d', '--name', 'pz', '--network', 'none', 'busybox', 'sleep', '1000');
    assert.equal(run('pause', 'pz').status, 0);
    assert.match(run('ps', '--format', '{{.Names}} {{.Status}}').stdout, /^pz Up .* \(Paused\)$/m);
    assert.equal(run('unpause', 'pz').status, 0);
    assert.match(run('unpause', 'pz').stderr, /Container [0-9a-f]{64} is not paused/);
    assert.equal(run('rename', 'pz', 'pz2').status, 0);
    assert.equal(run('inspect', '--format', '{{.Name}}', 'pz2').stdout.trim(), '/pz2');
    run('create', '--name', 'other', '--network', 'none', 'busybox', 'true');
    assert.match(
      run('rename', 'pz2', 'other').stderr,
      /Error when allocating new name: Conflict\. The container name "\/other" is already in use/,
    );
    assert.match(run('pause', 'other').stderr, /is not running/);
    assert.equal(run('rm', '-f', 'pz2', 'other').status, 0);
  });

  test('ps filters, container prune and events', () => {
    run('run', '--name', 'done1', '--label', 'k=v', '--network', 'none', 'busybox', 'true');
    assert.equal(
      run(
        'ps',
        '-a',
        '--filter',
        'status=exited',
        '--filter',
        'label=k=v',
        '--format',
        '{{.Names}}',
      ).stdout.trim(),
      'done1',
    );
    assert.match(
      run('ps', '-a', '--filter', 'status=bogus').stderr,
      /Unrecognised filter value for status: bogus/,
    );
    const events = run(
      'events',
      '--since',
      '120s',
      '--until',
      '0s',
      '--filter',
      'container=done1',
      '--format',
      '{{.Action}}',
    );
    assert.deepEqual(events.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die']);
    const prune = run('container', 'prune', '-f');
    assert.equal(prune.status, 0);
    assert.match(prune.stdout, /Deleted Containers:\n[0-9a-f]{64}/);
    assert.equal(run('ps', '-aq').stdout.trim(), '');
  });

  test('image tag, inspect and rmi (refused while a container uses it, unless forced)', () => {
    assert.equal(run('tag', 'busybox', 'bb:v1').status, 0);
    assert.match(run('images', '--format', '{{.Repository}}:{{.Tag}}').stdout, /^bb:v1$/m);
    assert.match(
      run('image', 'inspect', '--format', '{{.Id}}', 'bb:v1').stdout,
      /^sha256:[0-9a-f]{64}$/m,
    );
    assert.match(run('image', 'inspect', 'nosuch').stderr, /No such image: nosuch/);
    run('create', '--name', 'user', '--network', 'none', 'bb:v1', 'true');
    assert.match(
      run('rmi', 'bb:v1').stderr,
      /conflict: unable to remove repository reference "bb:v1" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/,
    );
    assert.equal(run('rm', 'user').status, 0);
    assert.match(run('rmi', 'bb:v1').stdout, /Untagged: bb:v1/);
  });

  test('docker save and docker load round-trip an image with its ID, and what is loaded runs', () => {
    assert.equal(run('tag', 'busybox', 'saved:v1').status, 0);
    const id = run('image', 'inspect', '--format', '{{.Id}}', 'saved:v1').stdout.trim();
    assert.equal(run('save', '-o', `${d.dir}/saved.tar`, 'saved:v1').status, 0);
    const listing = execFileSync('tar', ['-tf', `${d.dir}/saved.tar`], { encoding: 'utf8' });
    assert.match(listing, /manifest\.json/);
    assert.match(listing, /[0-9a-f]{64}\/layer\.tar/);
    assert.equal(run('rmi', 'saved:v1').status, 0);
    const loaded = run('load', '-i', `${d.dir}/saved.tar`);
    assert.equal(loaded.stdout.trim(), 'Loaded image: saved:v1');
    assert.equal(run('image', 'inspect', '--format', '{{.Id}}', 'saved:v1').stdout.trim(), id);
    assert.equal(
      run('run', '--rm', '--network', 'none', 'saved:v1', 'echo', 'loaded').stdout,
      'loaded\n',
    );
    assert.equal(run('rmi', 'saved:v1').status, 0);
  });

  test('-t gives a terminal: raw output with \\r\\n, in attach and in logs', () => {
    const r = run('run', '-t', '--rm', '--network', 'none', 'busybox', 'echo', 'tty-hi');
    assert.equal(r.stdout, 'tty-hi\r\n');
    run('run', '-t', '--name', 'tt', '--network', 'none', 'busybox', 'echo', 'logged');
    assert.equal(run('logs', 'tt').stdout, 'logged\r\n');
    assert.equal(run('rm', 'tt').status, 0);
  });

  test('-i: piped stdin reaches the container and its EOF ends it (cat, a here-doc to sh, input larger than a pipe)', () => {
    for (let i = 0; i < 5; i++) {
      const r = run2(['run', '-i', '--rm', '--network', 'none', 'busybox', 'cat'], `hi${i}\n`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `hi${i}\n`);
    }
    const sh = run2(
      ['run', '-i', '--rm', '--network', 'none', 'busybox', 'sh'],
      'echo from-heredoc\nx=$((2+3)); echo $x\nexit 4\n',
    );
    assert.equal(sh.stdout, 'from-heredoc\n5\n');
    assert.equal(sh.status, 4);
    // More than the FIFO's and the process pipe's 64 KiB: nothing is dropped, nothing reordered.
    const big = Array.from({ length: 20000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const copied = run2(['run', '-i', '--rm', '--network', 'none', 'busybox', 'cat'], big);
    assert.equal(copied.stdout.length, big.length);
    assert.equal(copied.stdout, big);
    // Empty input: the process sees EOF at once.
    assert.equal(run2(['run', '-i', '--rm', '--network', 'none', 'busybox', 'cat'], '').status, 0);
    // -it: the CLI needs a terminal of its own (script gives it one); input goes through the pty (echoed).
    const tty = spawnSync(
      'script',
      [
        '-qec',
        `docker -H unix://${d.sock} run -it --rm --network none busybox sh -c 'read x; echo got:$x'`,
        '/dev/null',
      ],
      {
        encoding: 'utf8',
        input: 'abc\n',
        env: { ...process.env, DOCKER_CONFIG: cfg },
        timeout: 30_000,
      },
    );
    assert.equal(tty.status, 0, tty.stderr);
    assert.match(tty.stdout, /got:abc\r\n/);
    // Without -i the container's stdin is /dev/null whatever is piped.
    assert.equal(
      run2(['run', '--rm', '--network', 'none', 'busybox', 'cat'], 'ignored\n').stdout,
      '',
    );
    assert.equal(run('ps', '-aq').stdout.trim(), '');
  });

  test('-i: start -ai attaches stdin for each run; attach sends stdin to a running container; attach is an event', () => {
    run(
      'create',
      '-i',
      '--name',
      'asker',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'read x; echo got $x; exit 7',
    );
    for (const word of ['first', 'second']) {
      const r = run2(['start', '-ai', 'asker'], `${word}\n`);
      assert.equal(r.stdout, `got ${word}\n`, r.stderr);
      assert.equal(r.status, 7);
    }
    run(
      'run',
      '-d',
      '-i',
      '--name',
      'reader',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'read l; echo echo:$l; exit 2',
    );
    // The CLI waits for the container to exit and gives its exit code (dockerd ends this client's
    // output at its stdin's EOF when StdinOnce is off, as here with -d).
    const a = run2(['attach', 'reader'], 'hello\n');
    assert.equal(a.status, 2, a.stderr);
    assert.equal(run('logs', 'reader').stdout, 'echo:hello\n');
    assert.match(
      run('attach', 'reader').stderr,
      /You cannot attach to a stopped container, start it first/,
    );
    const events = run(
      'events',
      '--since',
      '60s',
      '--until',
      '0s',
      '--filter',
      'container=asker',
      '--format',
      '{{.Action}}',
    );
    assert.deepEqual(events.stdout.trim().split('\n').slice(0, 5), [
      'create',
      'attach',
      'start',
      'die',
      'attach',
    ]);
    assert.equal(run('rm', 'asker', 'reader').status, 0);
  });

  test('rm -v removes anonymous volumes, keeps named ones and ones another container mounts; --rm removes its anonymous volumes', () => {
    const volumes = () =>
      run('volume', 'ls', '-q').stdout.trim().split('\n').filter(Boolean).sort();
    let before = volumes();
    run(
      'run',
      '--name',
      'vols',
      '--network',
      'none',
      '-v',
      '/anon',
      '-v',
      'keepme:/named',
      'busybox',
      'sh',
      '-c',
      'echo a > /anon/f; echo n > /named/f',
    );
    const mounts = JSON.parse(run('inspect', '--format', '{{json .Mounts}}', 'vols').stdout) as {
      Type: string;
      Name: string;
      Destination: string;
      Source: string;
    }[];
    const anon = mounts.find((m) => m.Destination === '/anon');
    assert.ok(
      anon && anon.Type === 'volume' && /^[0-9a-f]{64}$/.test(anon.Name),
      JSON.stringify(mounts),
    );
    assert.equal(
      run('inspect', '--format', '{{json .Config.Volumes}}', 'vols').stdout.trim(),
      '{"/anon":{}}',
    );
    assert.deepEqual(volumes(), [...before, anon.Name, 'keepme'].sort());
    assert.equal(
      run('volume', 'inspect', '--format', '{{.Mountpoint}}', anon.Name).stdout.trim(),
      anon.Source,
    );
    // A second container on the same anonymous volume (by its name) keeps it alive through rm -v.
    run(
      'create',
      '--name',
      'sharer',
      '--network',
      'none',
      '-v',
      `${anon.Name}:/s`,
      'busybox',
      'true',
    );
    assert.match(
      run('volume', 'rm', anon.Name).stderr,
      new RegExp(`remove ${anon.Name}: volume is in use - \\[[0-9a-f]{64}`),
    );
    assert.equal(run('rm', '-v', 'vols').status, 0);
    assert.ok(
      volumes().includes(anon.Name),
      'an anonymous volume another container mounts is kept',
    );
    assert.equal(run('rm', 'sharer').status, 0);
    assert.equal(run('volume', 'rm', anon.Name).status, 0);
    assert.match(
      run('volume', 'inspect', anon.Name).stderr,
      new RegExp(`get ${anon.Name}: no such volume`),
    );
    // rm -v of a container whose anonymous volume nobody else mounts: gone with it; the named one stays.
    run(
      'run',
      '--name',
      'vols2',
      '--network',
      'none',
      '-v',
      '/anon2',
      '-v',
      'keepme:/named',
      'busybox',
      'cat',
      '/named/f',
    );
    assert.equal(run('logs', 'vols2').stdout, 'n\n');
    assert.equal(run('rm', '-v', 'vols2').status, 0);
    assert.deepEqual(volumes(), [...before, 'keepme'].sort());
    // Without -v the anonymous volume stays (dangling).
    run('run', '--name', 'vols3', '--network', 'none', '-v', '/anon3', 'busybox', 'true');
    assert.equal(run('rm', 'vols3').status, 0);
    const dangling = run('volume', 'ls', '-q', '--filter', 'dangling=true')
      .stdout.trim()
      .split('\n');
    assert.ok(dangling.includes('keepme') && dangling.length >= 2, dangling.join(','));
    run('create', '--name', 'holder', '--network', 'none', '-v', 'keepme:/k', 'busybox', 'true');
    const pruned = run('volume', 'prune', '-f');
    assert.equal(pruned.status, 0, pruned.stderr);
    assert.match(pruned.stdout, /Deleted Volumes:\n[0-9a-f]{64}\n/);
    assert.doesNotMatch(pruned.stdout, /keepme/, 'a volume in use is not pruned');
    assert.deepEqual(
      volumes(),
      ['keepme'],
      'every unused volume is pruned, named or anonymous (dockerd 20.10)',
    );
    before = [];
    assert.equal(run('rm', 'holder').status, 0);
    // --rm takes its anonymous volumes along (dockerd's AutoRemove removes volumes).
    assert.equal(
      run(
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        '/gone',
        '--mount',
        'type=volume,target=/gone2',
        'busybox',
        'true',
      ).status,
      0,
    );
    assert.deepEqual(volumes(), [...before, 'keepme'].sort());
    assert.equal(run('volume', 'rm', 'keepme').status, 0);
    assert.match(run('volume', 'rm', 'nosuchvol').stderr, /get nosuchvol: no such volume/);
    assert.match(
      run('run', '--rm', '--network', 'none', '-v', 'bad name:/x', 'busybox', 'true').stderr,
      /includes invalid characters for a local volume name/,
    );
  });

  test('ps --size: what the container wrote (SizeRw) and with its image (SizeRootFs); system df the same', () => {
    run(
      'run',
      '--name',
      'writer',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'head -c 5000 /dev/zero > /blob',
    );
    run('create', '--name', 'clean', '--network', 'none', 'busybox', 'true');
    const rows = JSON.parse(
      `[${run('ps', '-a', '--size', '--format', '{{json .}}').stdout.trim().split('\n').join(',')}]`,
    ) as { Names: string; Size: string }[];
    assert.match(rows.find((r) => r.Names === 'writer')?.Size ?? '', /^5kB \(virtual [\d.]+MB\)$/);
    assert.match(rows.find((r) => r.Names === 'clean')?.Size ?? '', /^0B \(virtual [\d.]+MB\)$/);
    const imageSize = Number(
      run('image', 'inspect', '--format', '{{.Size}}', 'busybox').stdout.trim(),
    );
    const api = JSON.parse(
      execFileSync(
        'curl',
        ['-s', '--unix-socket', d.sock, 'http://x/v1.41/containers/json?all=1&size=1'],
        { encoding: 'utf8' },
      ),
    ) as { Names: string[]; SizeRw?: number; SizeRootFs: number }[];
    const writer = api.find((c) => c.Names[0] === '/writer');
    assert.equal(writer?.SizeRw, 5000);
    assert.equal(writer?.SizeRootFs, 5000 + imageSize);
    const clean = api.find((c) => c.Names[0] === '/clean');
    assert.equal(clean?.SizeRw, undefined, 'SizeRw is left out when 0, as dockerd does');
    assert.equal(clean?.SizeRootFs, imageSize);
    assert.match(run('system', 'df', '-v').stdout, /\s5kB\s.*\swriter$/m);
    assert.equal(run('rm', 'writer', 'clean').status, 0);
  });

  test('inspect: the image ID, Env, WorkingDir, User, Hostname, Entrypoint, HostConfig, GraphDriver; nothing left on disk after rm', () => {
    run(
      'create',
      '--name',
      'rich',
      '--network',
      'none',
      '-e',
      'A=1',
      '-w',
      '/tmp',
      '-u',
      '0',
      '-h',
      'hh',
      '--entrypoint',
      'sh',
      '--memory',
      '32m',
      '-v',
      `${d.dir}:/h:ro`,
      'busybox',
      '-c',
      'true',
    );
    const i = (JSON.parse(run('inspect', 'rich').stdout) as unknown[])[0] as Record<
      string,
      Record<string, unknown>
    > & { Image: string; Id: string; LogPath: string };
    assert.equal(i.Image, run('image', 'inspect', '--format', '{{.Id}}', 'busybox').stdout.trim());
    assert.deepEqual(i['Config']?.['Entrypoint'], ['sh']);
    assert.ok((i['Config']?.['Env'] as string[]).includes('A=1'));
    assert.equal(i['Config']?.['WorkingDir'], '/tmp');
    assert.equal(i['Config']?.['User'], '0');
    assert.equal(i['Config']?.['Hostname'], 'hh');
    assert.equal(i['HostConfig']?.['Memory'], 32 * 1024 * 1024);
    assert.deepEqual(i['HostConfig']?.['Binds'], [`${d.dir}:/h:ro`]);
    assert.equal(i['HostConfig']?.['NetworkMode'], 'none');
    assert.deepEqual(i['Mounts'], [
      {
        Type: 'bind',
        Source: d.dir,
        Destination: '/h',
        Mode: 'ro',
        RW: false,
        Propagation: 'rprivate',
      },
    ]);
    assert.equal((i['GraphDriver'] as { Name: string }).Name, 'overlay2');
    assert.match(i.LogPath, new RegExp(`/containers/${i.Id}/${i.Id}-json\\.log$`));
    assert.equal(run('rm', 'rich').status, 0);
    for (const p of [`${d.root}/containers/${i.Id}`, `${d.root}/overlay2/${i.Id}`])
      assert.equal(existsSync(p), false, `${p} was left`);
    const id = run('run', '-d', '--rm', '--network', 'none', 'busybox', 'true').stdout.trim();
    run('wait', id);
    for (
      let n = 0;
      n < 50 &&
      (existsSync(`${d.root}/containers/${id}`) || existsSync(`${d.root}/overlay2/${id}`));
      n++
    )
      execFileSync('sleep', ['0.1']);
    assert.equal(
      existsSync(`${d.root}/containers/${id}`),
      false,
      'a --rm container left its directory',
    );
    assert.equal(existsSync(`${d.root}/overlay2/${id}`), false, 'a --rm container left its layer');
  });

  test('removing a running container needs force (409 with Docker’s words); rm -f kills and removes', () => {
    const id = run(
      'run',
      '-d',
      '--name',
      'busy',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    ).stdout.trim();
    const refused = run('rm', 'busy');
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `You cannot remove a running container ${id}\\. Stop the container before attempting removal or force remove`,
      ),
    );
    assert.equal(run('rm', '-f', 'busy').status, 0);
    assert.equal(run('ps', '-aq').stdout.trim(), '');
    const ns = execFileSync(
      'ctr',
      ['-a', `${d.exec}/containerd/containerd.sock`, '-n', 'statedock', 'tasks', 'ls', '-q'],
      { encoding: 'utf8' },
    );
    assert.equal(ns.trim(), '', 'a containerd task was left');
  });

  test('errors the CLI shows: no such container, name conflict, unsupported network, no such image', () => {
    assert.match(run('stop', 'nosuch').stderr, /No such container: nosuch/);
    run('create', '--name', 'dup', '--network', 'none', 'busybox', 'true');
    assert.match(
      run('create', '--name', 'dup', '--network', 'none', 'busybox', 'true').stderr,
      /Conflict\. The container name "\/dup" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\./,
    );
    assert.equal(run('rm', 'dup').status, 0);
    assert.match(
      run('run', '--rm', '--network', 'mynet', 'busybox', 'true').stderr,
      /network mynet not found/,
    );
    const nosuch = run('run', '--rm', 'nosuchimage', 'true');
    assert.equal(nosuch.status, 125);
    assert.match(nosuch.stderr, /Unable to find image 'nosuchimage:latest' locally/);
  });

  test('a removed container, a finished operation and a volume cleanup leave no actor in the daemon (SIGUSR1 dump)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = run('run', '-d', '--network', 'none', '-v', `gone${i}:/data`, 'busybox', 'true');
      assert.equal(r.status, 0, r.stderr);
      ids.push(r.stdout.trim());
    }
    for (const id of ids) assert.equal(run('wait', id).status, 0);
    for (const id of ids) assert.equal(run('rm', '-v', id).status, 0);
    for (let i = 0; i < 3; i++) assert.equal(run('volume', 'rm', `gone${i}`).status, 0);
    const before = new Set(readdirSync(d.exec).filter((f) => f.startsWith('statedock-actors-')));
    process.kill(daemon.pid, 'SIGUSR1');
    let file: string | undefined;
    for (let i = 0; i < 100 && !file; i++) {
      await new Promise((r) => setTimeout(r, 20));
      file = readdirSync(d.exec).find((f) => f.startsWith('statedock-actors-') && !before.has(f));
    }
    assert.ok(file, 'no dump file');
    const actors = Object.keys(
      JSON.parse(readFileSync(`${d.exec}/${file}`, 'utf8')) as Record<string, unknown>,
    );
    for (const id of ids)
      assert.ok(
        !actors.includes(`container:${id}`),
        `container:${id} is still in ${actors.join(', ')}`,
      );
    const finished = actors.filter((a) => /^(operation|reap|net):/.test(a));
    assert.deepEqual(finished, [], 'finished operation actors are kept');
  });

  test('shutdown stops running containers, and the flight recorder replays and checks with every container actor', async () => {
    run('run', '-d', '--stop-timeout', '1', '--network', 'none', 'busybox', 'sleep', '1000');
    assert.equal(await stopDaemon(daemon), 0, daemon.output());
    assert.equal(
      spawnSync('pgrep', ['-f', `containerd-shim-runc-v2 -namespace statedock .*${d.exec}`]).status,
      1,
      'a shim was left',
    );
    assert.deepEqual(
      mountPoints().filter((m) => m.startsWith(`${d.root}/`) || m.startsWith(`${d.exec}/`)),
      [],
      'a mount was left',
    );
    const trace = execFileSync('sh', ['-c', `ls -t ${d.exec}/traces/*.jsonl | head -1`], {
      encoding: 'utf8',
    }).trim();
    const { records } = readTraceFile(trace);
    assert.ok(records.some((r) => r.kind === 'actor.start' && r.machine === 'container'));
    assert.deepEqual(violationsOf(checkTrace(records, constraintsForTrace(records))), []);
    replayTrace(records);
  });
});
