import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { replayTrace } from '../../effects/replay.ts';
import { readTraceFile } from '../../effects/trace-file.ts';
import { checkTrace, violationsOf } from '../../machines/check/checker.ts';
import { constraintsForTrace } from '../../src/check/command.ts';
import { busyboxUnavailable } from '../support/busybox-image.ts';
import { callJson, demux, readAll, sleep } from '../support/raw-http.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  killContainerdOf,
  realDaemonUnavailable,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  unmountUnder,
  importImage,
} from '../support/daemon-process.ts';

const applets = [
  'sh',
  'echo',
  'true',
  'false',
  'sleep',
  'cat',
  'stty',
  'id',
  'pwd',
  'grep',
  'touch',
  'rm',
  'mkdir',
  'ln',
  'test',
  'env',
  'ls',
  'wc',
  'head',
  'dd',
  'stat',
];

const unavailable =
  realDaemonUnavailable() ??
  busyboxUnavailable() ??
  (spawnSync('which', ['script']).status === 0 ? null : 'needs script (util-linux)');

/** A busybox root with a passwd file (nobody, for -u) and a few applets, as a tarball. */
function rootTarball(dir: string): string {
  const root = `${dir}/rootfs`;
  mkdirSync(`${root}/bin`, { recursive: true });
  cpSync('/bin/busybox', `${root}/bin/busybox`);
  for (const a of applets) symlinkSync('busybox', `${root}/bin/${a}`);
  for (const sub of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(`${root}/${sub}`);
  writeFileSync(
    `${root}/etc/passwd`,
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  writeFileSync(`${root}/etc/group`, 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(`${root}/etc/motd`, 'from the image\n');
  execFileSync('tar', ['-C', root, '-cf', `${dir}/root.tar`, '.']);
  return `${dir}/root.tar`;
}

describe(
  'exec, resize, cp, stats, health, commit, export, diff, update with the stock CLI',
  { skip: unavailable ?? false },
  () => {
    let d: DaemonDirs;
    let daemon: RunningDaemon;
    let cfg: string;
    const run = (...args: string[]) => docker(d.sock, args, cfg);
    const ok = (r: { status: number | null; stderr: string; stdout: string }): void =>
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const runIn = (args: string[], input: string) => docker(d.sock, args, cfg, input);
    /** The CLI in a pseudo-terminal of 120×40 (util-linux's script). */
    const inTerminal = (args: string): { status: number | null; stdout: string } => {
      const r = spawnSync(
        'sh',
        [
          '-c',
          // stdin stays open while the command runs (its EOF would close the terminal's input).
          `sleep 5 | script -qec "stty cols 120 rows 40; docker -H unix://${d.sock} ${args.replaceAll('"', '\\"')}" /dev/null`,
        ],
        { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg }, timeout: 60_000 },
      );
      return { status: r.status, stdout: r.stdout };
    };

    /**
     * What a step that failed or hung leaves behind, for its assertion's message: the CLI's
     * status and output, web's processes, its execs not finished (with exec inspect), and the
     * flight recorder's last records of each (the CI keeps no daemon trace).
     */
    const evidence = (
      step: string,
      r: { status: number | null; stdout: string; stderr?: string },
    ): string => {
      const lines = [
        `${step}: status ${r.status}, output ${JSON.stringify(r.stdout + (r.stderr ?? ''))}`,
        `top web:\n${run('top', 'web').stdout}`,
      ];
      const ids = run('inspect', '-f', '{{json .ExecIDs}}', 'web').stdout.trim();
      const traces = existsSync(`${d.exec}/traces`)
        ? readdirSync(`${d.exec}/traces`).map((f) => `${d.exec}/traces/${f}`)
        : [];
      const records = traces.flatMap((t) => readFileSync(t, 'utf8').split('\n'));
      for (const id of (JSON.parse(ids === '' ? 'null' : ids) as string[] | null) ?? []) {
        const inspect = spawnSync(
          'curl',
          ['-s', '--unix-socket', d.sock, `http://x/exec/${id}/json`],
          { encoding: 'utf8' },
        ).stdout;
        const own = records.filter((l) => l.includes(`"actor":"exec:${id}"`)).slice(-20);
        lines.push(`exec ${id}: ${inspect}`, ...own.map((l) => l.slice(0, 400)));
      }
      return lines.join('\n');
    };

    before(async () => {
      d = daemonDirs('sdx');
      cfg = `${d.dir}/docker-config`;
      mkdirSync(cfg);
      rootTarball(d.dir);
      daemon = await startDaemon(d);
      importImage(d.sock, cfg, `${d.dir}/root.tar`, 'busybox:latest');
      const web = run(
        'run',
        '-d',
        '--name',
        'web',
        '--network',
        'none',
        'busybox',
        'sleep',
        '1000',
      );
      assert.equal(web.status, 0, web.stderr);
    });

    after(async () => {
      if (daemon) await stopDaemon(daemon);
      killContainerdOf(d.exec);
      unmountUnder(d.dir);
      if (process.env['EXEC_TEST_KEEP'] === undefined)
        rmSync(d.dir, { recursive: true, force: true });
    });

    test('docker exec: output, exit codes, -u, -w, -e, --privileged, -i, -d, inspect', () => {
      assert.deepEqual(
        [
          run('exec', 'web', 'echo', 'exec-hi').stdout,
          run('exec', 'web', 'echo', 'exec-hi').status,
        ],
        ['exec-hi\n', 0],
      );
      assert.equal(run('exec', 'web', 'sh', '-c', 'echo err >&2; exit 3').status, 3);
      assert.equal(run('exec', 'web', 'sh', '-c', 'echo err >&2; exit 3').stderr, 'err\n');
      assert.equal(run('exec', '-u', 'nobody', 'web', 'id', '-u').stdout, '65534\n');
      assert.equal(run('exec', '-u', '123:456', 'web', 'id').stdout, 'uid=123 gid=456\n');
      assert.equal(
        run('exec', '-w', '/tmp', '-e', 'A=1', 'web', 'sh', '-c', 'pwd; echo $A').stdout,
        '/tmp\n1\n',
      );
      // Docker's 14 default capabilities; --privileged gets every one the daemon has.
      assert.match(
        run('exec', 'web', 'grep', 'CapEff', '/proc/self/status').stdout,
        /00000000a80425fb/,
      );
      assert.doesNotMatch(
        run('exec', '--privileged', 'web', 'grep', 'CapEff', '/proc/self/status').stdout,
        /00000000a80425fb/,
      );
      assert.equal(runIn(['exec', '-i', 'web', 'cat'], 'to stdin\n').stdout, 'to stdin\n');
      assert.equal(
        runIn(['exec', '-i', 'web', 'wc', '-c'], 'x'.repeat(100_000)).stdout.trim(),
        '100000',
      );
      ok(run('exec', '-d', 'web', 'sh', '-c', 'echo detached > /tmp/d'));
      for (let i = 0; i < 50 && run('exec', 'web', 'cat', '/tmp/d').stdout === ''; i++)
        spawnSync('sleep', ['0.1']);
      assert.equal(run('exec', 'web', 'cat', '/tmp/d').stdout, 'detached\n');
    });

    test("exec -i: stdin and its EOF reach the process when start's body comes in a read of its own", async () => {
      // The stock CLI writes exec start's headers and its JSON body in two writes; when the
      // daemon reads them apart (a loaded machine), the stream's input must still flow.
      const { Id } = await callJson<{ Id: string }>(d.sock, 'POST', '/containers/web/exec', {
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Cmd: ['cat'],
      });
      const s = connect(d.sock);
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      const all = readAll(s, Buffer.alloc(0), 20_000);
      const body = '{"Detach":false,"Tty":false}\n';
      s.write(
        `POST /v1.41/exec/${Id}/start HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      await sleep(200);
      s.write(body);
      await sleep(200);
      s.end('to stdin\n');
      const r = await all;
      const text = r.data.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      assert.match(text, /^HTTP\/1\.1 101 UPGRADED\r\n/);
      assert.deepEqual(demux(r.data.subarray(head + 4)), [{ stream: 1, text: 'to stdin\n' }]);
      assert.equal(r.closed, true, 'the stream ended with the process');
      const e = await callJson<{ Running: boolean; ExitCode: number }>(
        d.sock,
        'GET',
        `/exec/${Id}/json`,
      );
      assert.deepEqual([e.Running, e.ExitCode], [false, 0]);
    });

    test('docker exec errors: unknown command (127), not executable (126), no command, stopped and paused containers', () => {
      const nf = run('exec', 'web', 'nosuchcmd');
      assert.equal(nf.status, 127);
      assert.match(nf.stdout + nf.stderr, /executable file not found in \$PATH/);
      assert.equal(run('exec', 'web', '/etc/motd').status, 126);
      assert.equal(
        run('exec', 'nosuch', 'true').stderr.trim(),
        'Error response from daemon: No such container: nosuch',
      );
      const id = run(
        'create',
        '--name',
        'idle',
        '--network',
        'none',
        'busybox',
        'true',
      ).stdout.trim();
      assert.equal(
        run('exec', 'idle', 'true').stderr.trim(),
        `Error response from daemon: Container ${id} is not running`,
      );
      ok(run('pause', 'web'));
      const webId = run('inspect', '-f', '{{.Id}}', 'web').stdout.trim();
      assert.equal(
        run('exec', 'web', 'true').stderr.trim(),
        `Error response from daemon: Container ${webId} is paused, unpause the container before exec`,
      );
      ok(run('unpause', 'web'));
      ok(run('rm', 'idle'));
    });

    test('exec events, ExecIDs, and exec processes die with their container (recorded)', () => {
      const since = String(Math.floor(Date.now() / 1000) - 1);
      run('run', '-d', '--name', 'short', '--network', 'none', 'busybox', 'sleep', '1000');
      ok(run('exec', '-d', 'short', 'sleep', '500'));
      assert.match(run('inspect', '-f', '{{len .ExecIDs}}', 'short').stdout, /^1$/m);
      ok(run('exec', 'short', 'true'));
      ok(run('kill', 'short'));
      const events = run(
        'events',
        '--since',
        since,
        '--until',
        '0s',
        '--filter',
        'container=short',
        '--format',
        '{{.Action}} {{index .Actor.Attributes "exitCode"}}',
      );
      const lines = events.stdout.trim().split('\n');
      assert.ok(lines.includes('exec_create: sleep 500 '), events.stdout);
      assert.ok(
        lines.includes('exec_start: true  ') || lines.includes('exec_start: true '),
        events.stdout,
      );
      assert.ok(lines.includes('exec_die 0'), events.stdout);
      // The sleep exec died with the container's PID namespace: its exit is recorded too.
      assert.ok(lines.includes('exec_die 137'), events.stdout);
      ok(run('rm', 'short'));
    });

    test("execs reuse a container's idle FIFOs, never one a background child still writes to", () => {
      const id = run(
        'run',
        '-d',
        '--name',
        'fifos',
        '--network',
        'none',
        'busybox',
        'sleep',
        '1000',
      ).stdout.trim();
      const idle = (): string[] => {
        const dir = `${d.exec}/containerd/${id}/idle-fifos`;
        return existsSync(dir) ? readdirSync(dir) : [];
      };
      // An exec's process is deleted, and its FIFOs go back, just after its client heard the
      // exit (as dockerd deletes it after recording the exit): the pool is read once it settled.
      const idleSoon = (n: number): string[] => {
        const until = Date.now() + 5000;
        while (idle().length !== n && Date.now() < until)
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        return idle();
      };
      ok(run('exec', 'fifos', 'true'));
      assert.equal(idleSoon(2).length, 2, 'the stdout and stderr FIFOs of a finished exec wait');
      assert.equal(run('exec', 'fifos', 'sh', '-c', 'echo again; echo err >&2').stdout, 'again\n');
      assert.equal(idleSoon(2).length, 2, 'the next exec took them and gave them back');
      // A child keeps the output open past its exec's end: the drain is cut after 2 s, and
      // those FIFOs are removed (the idle ones it took are gone), not kept for the next exec.
      const cut = run('exec', 'fifos', 'sh', '-c', '(sleep 3; echo LATE) & echo first');
      assert.equal(cut.stdout, 'first\n');
      assert.deepEqual(idle(), []);
      // This exec runs while the child writes LATE: none of it reaches this exec's client.
      assert.equal(run('exec', 'fifos', 'sh', '-c', 'sleep 2; echo third').stdout, 'third\n');
      assert.equal(idleSoon(2).length, 2);
      // Execs starting at once share the idle FIFOs without a clash; at most 8 are kept.
      const many = spawnSync(
        'sh',
        [
          '-c',
          `for i in 1 2 3 4 5 6; do docker -H unix://${d.sock} exec fifos sh -c "sleep 1; echo \\$0" $i & done; wait`,
        ],
        { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg }, timeout: 60_000 },
      );
      assert.deepEqual(many.stdout.trim().split('\n').sort(), ['1', '2', '3', '4', '5', '6']);
      assert.equal(idleSoon(8).length, 8);
      ok(run('rm', '-f', 'fifos'));
      assert.equal(existsSync(`${d.exec}/containerd/${id}`), false);
    });

    test('terminals: docker run -it and exec -it in a 120×40 terminal see stty size 40 120, and a resize', () => {
      const r = inTerminal('run -it --rm --network none busybox stty size');
      if (!/40 120/.test(r.stdout)) assert.fail(evidence('run -it', r));
      // exec -t: the CLI resizes once the exec started (no initial size before API 1.42), so the
      // script waits for the size to arrive.
      const waitSize =
        'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do s=$(stty size 2>/dev/null); [ -n "$s" ] && [ "$s" != "0 0" ] && break; sleep 0.1; done; echo "$s"';
      const written = runIn(['exec', '-i', 'web', 'sh', '-c', 'cat > /tmp/size.sh'], waitSize);
      if (written.status !== 0) assert.fail(evidence('exec -i', written));
      const e = inTerminal('exec -it web sh /tmp/size.sh');
      if (!/40 120/.test(e.stdout)) assert.fail(evidence('exec -it', e));
      const bad = run('exec', 'web', 'true');
      assert.equal(bad.status, 0);
    });

    test('docker cp both ways: files, directories, symlinks, trailing /., a new destination, volumes and binds, stopped containers', () => {
      mkdirSync(`${d.dir}/bind`, { recursive: true });
      const r = run(
        'run',
        '-d',
        '--name',
        'files',
        '--network',
        'none',
        '-v',
        'cpvol:/vol',
        '-v',
        `${d.dir}/bind:/bind`,
        'busybox',
        'sh',
        '-c',
        'mkdir -p /data/sub && echo one > /data/sub/f && ln -sf /etc/motd /data/motd-link && sleep 1000',
      );
      assert.equal(r.status, 0, r.stderr);
      for (
        let i = 0;
        i < 50 && run('exec', 'files', 'test', '-e', '/data/motd-link').status !== 0;
        i++
      )
        spawnSync('sleep', ['0.1']);
      const out = `${d.dir}/out`;
      mkdirSync(out);
      ok(run('cp', 'files:/data', `${out}/`));
      assert.equal(readFileSync(`${out}/data/sub/f`, 'utf8'), 'one\n');
      assert.equal(readlinkSync(`${out}/data/motd-link`), '/etc/motd');
      ok(run('cp', 'files:/data/.', `${out}/dotted`));
      assert.ok(existsSync(`${out}/dotted/sub/f`));
      ok(run('cp', '-L', 'files:/data/motd-link', `${out}/followed`));
      assert.equal(readFileSync(`${out}/followed`, 'utf8'), 'from the image\n');
      const missing = run('cp', 'files:/nosuch', out);
      assert.match(missing.stderr, /Could not find the file \/nosuch in container files/);
      // Into the container: a file, a directory to a destination that does not exist yet, a volume, a bind.
      writeFileSync(`${d.dir}/local.txt`, 'local\n');
      mkdirSync(`${d.dir}/localdir/inner`, { recursive: true });
      writeFileSync(`${d.dir}/localdir/inner/x`, 'x\n');
      ok(run('cp', `${d.dir}/local.txt`, 'files:/tmp/'));
      assert.equal(run('exec', 'files', 'cat', '/tmp/local.txt').stdout, 'local\n');
      ok(run('cp', `${d.dir}/localdir`, 'files:/newdir'));
      assert.equal(run('exec', 'files', 'cat', '/newdir/inner/x').stdout, 'x\n');
      ok(run('cp', `${d.dir}/local.txt`, 'files:/vol/in-volume'));
      assert.equal(
        run('run', '--rm', '--network', 'none', '-v', 'cpvol:/v', 'busybox', 'cat', '/v/in-volume')
          .stdout,
        'local\n',
      );
      ok(run('cp', `${d.dir}/local.txt`, 'files:/bind/in-bind'));
      assert.equal(readFileSync(`${d.dir}/bind/in-bind`, 'utf8'), 'local\n');
      // A stopped container: read from its layers, written into them.
      ok(run('stop', '-t', '0', 'files'));
      ok(run('cp', 'files:/tmp/local.txt', `${out}/from-stopped`));
      assert.equal(readFileSync(`${out}/from-stopped`, 'utf8'), 'local\n');
      ok(run('cp', `${d.dir}/local.txt`, 'files:/etc/written-stopped'));
      ok(run('start', 'files'));
      assert.equal(run('exec', 'files', 'cat', '/etc/written-stopped').stdout, 'local\n');
    });

    test('docker cp never leaves the container: a hostile symlink and .. resolve inside its root', () => {
      const victim = `${d.dir}/victim`;
      mkdirSync(victim);
      writeFileSync(`${d.dir}/payload`, 'payload\n');
      // Links aiming at the host's directory: absolute, and climbing out with ...
      ok(
        run(
          'exec',
          'files',
          'sh',
          '-c',
          `ln -s ${victim} /evil && ln -s ../../../../../../..${victim} /evil2 && mkdir -p ${victim}`,
        ),
      );
      ok(run('cp', `${d.dir}/payload`, 'files:/evil/p1'));
      ok(run('cp', `${d.dir}/payload`, 'files:/evil2/p2'));
      ok(run('cp', `${d.dir}/payload`, 'files:/../../../..' + victim + '/p3'));
      assert.equal(
        existsSync(`${victim}/p1`) || existsSync(`${victim}/p2`) || existsSync(`${victim}/p3`),
        false,
        'written on the host',
      );
      assert.equal(
        run('exec', 'files', 'cat', `${victim}/p1`, `${victim}/p2`, `${victim}/p3`).stdout,
        'payload\npayload\npayload\n',
      );
      // Reading through a link that points at the host's /etc reads the container's.
      ok(run('exec', 'files', 'ln', '-s', '/etc', '/etclink'));
      ok(run('cp', 'files:/etclink/passwd', `${d.dir}/out/passwd-copy`));
      assert.equal(
        readFileSync(`${d.dir}/out/passwd-copy`, 'utf8'),
        readFileSync(`${d.dir}/rootfs/etc/passwd`, 'utf8'),
      );
      const containerPasswd = readFileSync(`${d.dir}/rootfs/etc/passwd`, 'utf8');
      assert.notEqual(containerPasswd, readFileSync('/etc/passwd', 'utf8'));
      // Out through a link climbing with ../ : the container's root is as high as it goes.
      ok(run('exec', 'files', 'ln', '-s', '../../../../../../../..', '/up'));
      ok(run('cp', 'files:/up/etc/passwd', `${d.dir}/out/passwd-up`));
      assert.equal(readFileSync(`${d.dir}/out/passwd-up`, 'utf8'), containerPasswd);
      // A directory only the host has is not found through either link.
      for (const through of [`/up${d.dir}/payload`, `/etclink/../..${d.dir}/payload`])
        assert.match(
          run('cp', `files:${through}`, `${d.dir}/out/nothing`).stderr,
          /Could not find the file/,
        );
      assert.equal(existsSync(`${d.dir}/out/nothing`), false);
      // In through the link to /etc, and through the ../ one: the container's /etc gets it.
      ok(run('cp', `${d.dir}/payload`, 'files:/etclink/statedock-cp-in'));
      ok(run('cp', `${d.dir}/payload`, 'files:/up/etc/statedock-cp-up'));
      assert.equal(existsSync('/etc/statedock-cp-in') || existsSync('/etc/statedock-cp-up'), false);
      assert.equal(
        run('exec', 'files', 'cat', '/etc/statedock-cp-in', '/etc/statedock-cp-up').stdout,
        'payload\npayload\n',
      );
      // A tarball that makes its own link to / and writes through it (PUT archive, as
      // dockerode sends it): the entry lands in the container's /etc.
      const tar = `${d.dir}/hostile.tar`;
      const staging = `${d.dir}/hostile`;
      mkdirSync(`${staging}/root/etc`, { recursive: true });
      symlinkSync('/', `${staging}/root-link`);
      writeFileSync(`${staging}/root/etc/statedock-tar-in`, 'from the tar\n');
      // The link first, then a file under its name (tar's --transform renames root/ to root-link/).
      execFileSync('tar', [
        '-C',
        staging,
        '--transform=s,^root/,root-link/,',
        '-cf',
        tar,
        'root-link',
        'root/etc/statedock-tar-in',
      ]);
      const put = execFileSync(
        'curl',
        [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--unix-socket',
          d.sock,
          '-X',
          'PUT',
          '-H',
          'Content-Type: application/x-tar',
          '--data-binary',
          `@${tar}`,
          'http://x/containers/files/archive?path=/tmp',
        ],
        { encoding: 'utf8' },
      );
      assert.equal(put, '200');
      assert.equal(existsSync('/etc/statedock-tar-in'), false);
      assert.equal(run('exec', 'files', 'cat', '/etc/statedock-tar-in').stdout, 'from the tar\n');
    });

    test("docker stats --no-stream prints dockerd's columns; stream=false JSON from the cgroup", () => {
      const r = run('stats', '--no-stream', 'web');
      assert.equal(r.status, 0, r.stderr);
      const [head, row] = r.stdout.trim().split('\n');
      assert.match(
        head ?? '',
        /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/,
      );
      assert.match(
        row ?? '',
        /^[0-9a-f]{12}\s+web\s+\d+\.\d\d%\s+[\d.]+[KMG]i?B \/ [\d.]+[KMG]iB\s+\d+\.\d\d%\s+0B \/ 0B\s+\S+ \/ \S+\s+1$/,
      );
      const j = JSON.parse(
        execFileSync(
          'curl',
          ['-s', '--unix-socket', d.sock, 'http://x/containers/web/stats?stream=false'],
          { encoding: 'utf8' },
        ),
      ) as {
        pids_stats: { current: number };
        memory_stats: { usage: number; limit: number };
        cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number };
        precpu_stats: { system_cpu_usage: number };
        name: string;
      };
      assert.equal(j.pids_stats.current, 1);
      assert.ok(j.memory_stats.usage > 0 && j.memory_stats.limit > 0);
      assert.ok(j.cpu_stats.cpu_usage.total_usage > 0);
      assert.ok(j.cpu_stats.system_cpu_usage >= j.precpu_stats.system_cpu_usage);
      assert.equal(j.name, '/web');
    });

    test('health checks: healthy, then unhealthy when the probe starts failing; ps, filter, inspect, events', () => {
      const since = String(Math.floor(Date.now() / 1000) - 1);
      const r = run(
        'run',
        '-d',
        '--name',
        'hc',
        '--network',
        'none',
        '--health-cmd',
        'test -e /tmp/ok',
        '--health-interval',
        '200ms',
        '--health-retries',
        '2',
        'busybox',
        'sh',
        '-c',
        'touch /tmp/ok; sleep 1000',
      );
      assert.equal(r.status, 0, r.stderr);
      const status = (): string =>
        run('inspect', '-f', '{{.State.Health.Status}}', 'hc').stdout.trim();
      for (let i = 0; i < 100 && status() !== 'healthy'; i++) spawnSync('sleep', ['0.1']);
      assert.equal(status(), 'healthy');
      assert.match(
        run('ps', '--filter', 'name=hc', '--format', '{{.Status}}').stdout,
        /^Up .* \(healthy\)$/m,
      );
      assert.equal(
        run('ps', '--filter', 'health=healthy', '--format', '{{.Names}}').stdout.trim(),
        'hc',
      );
      ok(run('exec', 'hc', 'rm', '/tmp/ok'));
      for (let i = 0; i < 100 && status() !== 'unhealthy'; i++) spawnSync('sleep', ['0.1']);
      assert.equal(status(), 'unhealthy');
      const log = JSON.parse(run('inspect', '-f', '{{json .State.Health}}', 'hc').stdout) as {
        FailingStreak: number;
        Log: { ExitCode: number }[];
      };
      assert.ok(log.FailingStreak >= 2 && log.Log.length <= 5 && log.Log.at(-1)?.ExitCode === 1);
      const events = run(
        'events',
        '--since',
        since,
        '--until',
        '0s',
        '--filter',
        'container=hc',
        '--filter',
        'event=health_status',
        '--format',
        '{{.Action}}',
      );
      assert.deepEqual(events.stdout.trim().split('\n'), [
        'health_status: healthy',
        'health_status: unhealthy',
      ]);
      // --no-healthcheck turns the image's off; bad options are refused with dockerd's words.
      assert.match(
        run(
          'run',
          '-d',
          '--network',
          'none',
          '--health-cmd',
          'true',
          '--health-retries',
          '-1',
          'busybox',
          'true',
        ).stderr,
        /Retries in Healthcheck cannot be negative|retries/,
      );
      ok(run('rm', '-f', 'hc'));
    });

    test("a create's Healthcheck is type-checked and validated with dockerd's status and words", () => {
      const create = (healthcheck: unknown): { status: number; message: string } => {
        const out = execFileSync(
          'curl',
          [
            '-s',
            '-w',
            '\n%{http_code}',
            '--unix-socket',
            d.sock,
            '-H',
            'Content-Type: application/json',
            '-d',
            JSON.stringify({ Image: 'busybox', Cmd: ['true'], Healthcheck: healthcheck }),
            'http://x/v1.41/containers/create',
          ],
          { encoding: 'utf8' },
        );
        const [body, code] = [
          out.slice(0, out.lastIndexOf('\n')),
          out.slice(out.lastIndexOf('\n') + 1),
        ];
        return {
          status: Number(code),
          message: (JSON.parse(body) as { message?: string }).message ?? '',
        };
      };
      const field = (name: string, kind: string, type: string): string =>
        `json: cannot unmarshal ${kind} into Go struct field HealthConfig.Healthcheck.${name} of type ${type}`;
      const cases: [unknown, string][] = [
        [
          'CMD true',
          'json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Healthcheck of type container.HealthConfig',
        ],
        [{ Test: 'CMD true' }, field('Test', 'string', '[]string')],
        [{ Test: ['CMD', 1] }, field('Test', 'number', 'string')],
        [{ Test: ['CMD', 'true'], Interval: '1s' }, field('Interval', 'string', 'time.Duration')],
        [{ Test: ['CMD', 'true'], Timeout: 1.5 }, field('Timeout', 'number 1.5', 'time.Duration')],
        [
          { Test: ['CMD', 'true'], StartPeriod: true },
          field('StartPeriod', 'bool', 'time.Duration'),
        ],
        [{ Test: ['CMD', 'true'], Retries: '3' }, field('Retries', 'string', 'int')],
        [
          { Test: ['CMD', 'true'], Interval: -1_000_000_000 },
          'Interval in Healthcheck cannot be less than 1ms',
        ],
        [
          { Test: ['CMD', 'true'], Interval: 500_000 },
          'Interval in Healthcheck cannot be less than 1ms',
        ],
        [{ Test: ['CMD', 'true'], Timeout: -5 }, 'Timeout in Healthcheck cannot be less than 1ms'],
        [{ Test: ['CMD', 'true'], Retries: -1 }, 'Retries in Healthcheck cannot be negative'],
        [
          { Test: ['CMD', 'true'], StartPeriod: -1 },
          'StartPeriod in Healthcheck cannot be less than 1ms',
        ],
        // dockerd checks Interval, Timeout, Retries, then StartPeriod: the first one wrong is named.
        [
          { Test: ['CMD', 'true'], Retries: -1, StartPeriod: 5 },
          'Retries in Healthcheck cannot be negative',
        ],
      ];
      for (const [hc, message] of cases)
        assert.deepEqual(create(hc), { status: 400, message }, JSON.stringify(hc));
      // Well-typed and in range: created.
      assert.equal(create({ Test: ['CMD', 'true'], Interval: 1_000_000, Retries: 0 }).status, 201);
    });

    test('commit (with --change and -m) then run and save; export piped to import; diff', () => {
      ok(run('exec', 'web', 'sh', '-c', 'mkdir /made && echo made > /made/f && rm /etc/motd'));
      const diff = run('diff', 'web').stdout.trim().split('\n');
      for (const line of ['A /made', 'A /made/f', 'C /etc', 'D /etc/motd'])
        assert.ok(diff.includes(line), diff.join(' | '));
      const c = run(
        'commit',
        '-c',
        'CMD ["cat", "/made/f"]',
        '-c',
        'ENV FROM_COMMIT=yes',
        '-m',
        'a message',
        'web',
        'committed:v1',
      );
      assert.equal(c.status, 0, c.stderr);
      assert.match(c.stdout, /^sha256:[0-9a-f]{64}$/m);
      assert.equal(run('run', '--rm', '--network', 'none', 'committed:v1').stdout, 'made\n');
      assert.equal(
        run(
          'run',
          '--rm',
          '--network',
          'none',
          'committed:v1',
          'sh',
          '-c',
          'echo $FROM_COMMIT; test -e /etc/motd || echo gone',
        ).stdout,
        'yes\ngone\n',
      );
      assert.equal(
        run(
          'image',
          'inspect',
          '-f',
          '{{.Comment}} {{len .RootFS.Layers}}',
          'committed:v1',
        ).stdout.trim(),
        'a message 2',
      );
      const save = spawnSync(
        'sh',
        ['-c', `docker -H unix://${d.sock} save committed:v1 | tar -t`],
        { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg } },
      );
      assert.match(save.stdout, /manifest\.json/);
      assert.match(
        run('commit', '-c', 'BOGUS x', 'web', 'x:y').stderr,
        /bogus is not a valid change command/,
      );
      const exp = spawnSync(
        'sh',
        [
          '-c',
          `docker -H unix://${d.sock} export web | docker -H unix://${d.sock} import - exported:v1`,
        ],
        { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg } },
      );
      assert.equal(exp.status, 0, exp.stderr);
      assert.equal(
        run('run', '--rm', '--network', 'none', 'exported:v1', 'cat', '/made/f').stdout,
        'made\n',
      );
    });

    test('a stopped container of a committed image sees every layer: diff, cp both ways, export, and a second commit', () => {
      // committed:v1 is two layers: the image's, then /made/f with /etc/motd deleted (a whiteout).
      ok(
        run(
          'run',
          '-d',
          '--name',
          'layered',
          '--network',
          'none',
          'committed:v1',
          'sh',
          '-c',
          'echo top > /top && rm /bin/true && exec sleep 1000',
        ),
      );
      for (let i = 0; i < 100 && run('exec', 'layered', 'test', '-e', '/top').status !== 0; i++)
        spawnSync('sleep', ['0.1']);
      ok(run('stop', '-t', '0', 'layered'));
      const diff = run('diff', 'layered').stdout.trim().split('\n');
      for (const line of ['A /top', 'C /bin', 'D /bin/true'])
        assert.ok(diff.includes(line), diff.join(' | '));
      assert.ok(!diff.some((l) => l.includes('/made') || l.includes('motd')), diff.join(' | '));
      const out = spawnSync(
        'sh',
        ['-c', `docker -H unix://${d.sock} cp layered:/made/f - | tar -xO`],
        { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: cfg } },
      );
      assert.equal(out.stdout, 'made\n', out.stderr);
      assert.match(
        run('cp', 'layered:/etc/motd', `${d.dir}/motd`).stderr,
        /Could not find the file \/etc\/motd in container layered/,
      );
      writeFileSync(`${d.dir}/new`, 'new\n');
      ok(run('cp', `${d.dir}/new`, 'layered:/made/'));
      const after = run('diff', 'layered').stdout.trim().split('\n');
      for (const line of ['C /made', 'A /made/new'])
        assert.ok(after.includes(line), after.join(' | '));
      const names = spawnSync('sh', ['-c', `docker -H unix://${d.sock} export layered | tar -t`], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER_CONFIG: cfg },
      }).stdout.split('\n');
      for (const n of ['made/f', 'made/new', 'top', 'bin/sh'])
        assert.ok(names.includes(n), `export lacks ${n}`);
      for (const n of ['etc/motd', 'bin/true'])
        assert.ok(!names.includes(n), `export has ${n}, which a layer deleted`);
      ok(run('commit', 'layered', 'layered:v2'));
      assert.equal(
        run('image', 'inspect', '-f', '{{len .RootFS.Layers}}', 'layered:v2').stdout.trim(),
        '3',
      );
      assert.equal(
        run(
          'run',
          '--rm',
          '--network',
          'none',
          'layered:v2',
          'sh',
          '-c',
          'cat /made/f /made/new /top; test -e /etc/motd || echo no-motd; test -e /bin/true || echo no-true',
        ).stdout,
        'made\nnew\ntop\nno-motd\nno-true\n',
      );
      ok(run('rm', 'layered'));
    });

    test('docker update: limits on the live cgroup, persisted; restart policy; refused fields', () => {
      const id = run('inspect', '-f', '{{.Id}}', 'web').stdout.trim();
      const u = run(
        'update',
        '--memory',
        '64m',
        '--cpu-shares',
        '512',
        '--cpu-quota',
        '50000',
        '--pids-limit',
        '50',
        '--restart',
        'on-failure:2',
        'web',
      );
      assert.equal(u.status, 0, u.stderr);
      const cg = (ctrl: string, file: string): string =>
        readFileSync(`/sys/fs/cgroup/${ctrl}/statedock/${id}/${file}`, 'utf8').trim();
      assert.deepEqual(
        [
          cg('memory', 'memory.limit_in_bytes'),
          cg('cpu', 'cpu.shares'),
          cg('cpu', 'cpu.cfs_quota_us'),
          cg('pids', 'pids.max'),
        ],
        ['67108864', '512', '50000', '50'],
      );
      assert.equal(
        run(
          'inspect',
          '-f',
          '{{.HostConfig.Memory}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}',
          'web',
        ).stdout.trim(),
        '67108864 512 50 on-failure',
      );
      assert.match(
        run('update', '--cpuset-cpus', '0', 'web').stderr,
        /statedock does not support CpusetCpus in docker update/,
      );
    });

    test('wait --condition, inspect --size, rename of a running container', () => {
      ok(run('rename', 'web', 'web2'));
      ok(run('exec', 'web2', 'true'));
      ok(run('rename', 'web2', 'web'));
      assert.match(run('inspect', '--size', '-f', '{{.SizeRootFs}}', 'web').stdout, /^\d+$/m);
      const id = run(
        'run',
        '-d',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'sleep 0.5; exit 4',
      ).stdout.trim();
      assert.equal(run('wait', id).stdout.trim(), '4');
      const wait = (ref: string, condition: string): number =>
        (
          JSON.parse(
            execFileSync(
              'curl',
              [
                '-s',
                '-X',
                'POST',
                '--unix-socket',
                d.sock,
                `http://x/containers/${ref}/wait?condition=${condition}`,
              ],
              { encoding: 'utf8' },
            ),
          ) as { StatusCode: number }
        ).StatusCode;
      const next = run(
        'run',
        '-d',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'sleep 0.5; exit 5',
      );
      assert.equal(wait(next.stdout.trim(), 'next-exit'), 5);
      const rm = run(
        'run',
        '-d',
        '--rm',
        '--network',
        'none',
        'busybox',
        'sh',
        '-c',
        'sleep 0.5; exit 6',
      );
      assert.equal(wait(rm.stdout.trim(), 'removed'), 6);
      assert.equal(run('inspect', rm.stdout.trim()).status, 1, 'removed when the wait answered');
    });

    test('dockerode: exec (hijacked), inspect, resize, archive get/put/head, stats, changes, commit, export', async () => {
      const dd = new Docker({ socketPath: d.sock });
      const web = dd.getContainer('web');
      const exec = await web.exec({
        Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 7'],
        AttachStdout: true,
        AttachStderr: true,
      });
      const stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadWriteStream;
      const out = new PassThrough();
      const err = new PassThrough();
      let o = '';
      let e = '';
      out.on('data', (c: Buffer) => (o += c.toString()));
      err.on('data', (c: Buffer) => (e += c.toString()));
      dd.modem.demuxStream(stream, out, err);
      await new Promise((resolve) => stream.on('end', resolve));
      assert.deepEqual([o, e], ['out\n', 'err\n']);
      const info = await exec.inspect();
      assert.equal(info.ExitCode, 7);
      assert.equal(info.Running, false);
      assert.equal(info.ContainerID, (await web.inspect()).Id);
      await assert.rejects(
        dd.getExec('nosuch').inspect(),
        (x: { statusCode?: number }) => x.statusCode === 404,
      );
      // A terminal container's resize, and an exec's.
      const tty = await dd.createContainer({
        Image: 'busybox',
        Cmd: ['sleep', '100'],
        Tty: true,
        HostConfig: { NetworkMode: 'none' },
      });
      await tty.start();
      await tty.resize({ h: 33, w: 77 });
      // The init's terminal has the size the resize gave it; an exec's starts at its ConsoleSize.
      const ttySize = async (cmd: string[], consoleSize?: [number, number]): Promise<string> => {
        const x = await tty.exec({
          Cmd: cmd,
          AttachStdout: true,
          Tty: true,
          ...(consoleSize ? { ConsoleSize: consoleSize } : {}),
        });
        const st = (await x.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream;
        let text = '';
        st.on('data', (c: Buffer) => (text += c.toString()));
        await new Promise((resolve) => st.on('end', resolve));
        return text.trim();
      };
      assert.equal(await ttySize(['stty', '-F', '/dev/pts/0', 'size']), '33 77');
      assert.equal(await ttySize(['stty', 'size'], [21, 99]), '21 99');
      await tty.remove({ force: true });
      // Archive: put a tar, stat it, get it back.
      const p = tarPack();
      p.entry({ name: 'from-dockerode.txt', mode: 0o640 }, 'hello archive\n');
      p.finalize();
      const chunks: Buffer[] = [];
      for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
      await web.putArchive(Buffer.concat(chunks), { path: '/tmp' });
      // HEAD …/archive: the path's stat in X-Docker-Container-Path-Stat (base64 JSON, Go's FileMode).
      const head = execFileSync(
        'curl',
        [
          '-sI',
          '--unix-socket',
          d.sock,
          'http://x/containers/web/archive?path=/tmp/from-dockerode.txt',
        ],
        { encoding: 'utf8' },
      );
      const header = /^x-docker-container-path-stat: (\S+)/im.exec(head)?.[1] ?? '';
      const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as {
        name: string;
        size: number;
        mode: number;
      };
      assert.deepEqual(
        [stat.name, stat.size, stat.mode & 0o777],
        ['from-dockerode.txt', 14, 0o640],
      );
      const got = await web.getArchive({
        path: '/tmp/from-dockerode.txt',
      });
      const names: string[] = [];
      const ex = tarExtract();
      ex.on('entry', (h, s2, next) => {
        names.push(h.name);
        s2.on('end', next);
        s2.resume();
      });
      await new Promise((resolve, reject) => {
        ex.on('finish', () => resolve(undefined));
        ex.on('error', reject);
        got.pipe(ex);
      });
      assert.deepEqual(names, ['from-dockerode.txt']);
      await assert.rejects(
        web.getArchive({ path: '/nosuch' }),
        (x: { statusCode?: number }) => x.statusCode === 404,
      );
      const stats = (await web.stats({ stream: false })) as unknown as {
        memory_stats: { usage: number };
        pids_stats: { current: number };
      };
      assert.ok(stats.memory_stats.usage > 0 && stats.pids_stats.current >= 1);
      const changes = (await web.changes()) as unknown as { Path: string; Kind: number }[];
      assert.ok(changes.some((c) => c.Path === '/tmp/from-dockerode.txt' && c.Kind === 1));
      const committed = (await web.commit({
        repo: 'dd-commit',
        tag: 'v1',
        comment: 'by dockerode',
      })) as { Id: string };
      assert.match(committed.Id, /^sha256:/);
      assert.equal((await dd.getImage('dd-commit:v1').inspect()).Comment, 'by dockerode');
      const exported = await web.export();
      let bytes = 0;
      exported.on('data', (c: Buffer) => (bytes += c.length));
      await new Promise((resolve) => exported.on('end', resolve));
      assert.ok(bytes > 100_000);
    });

    test('the flight recorder holds every exec, archive and update effect, replays, and keeps every constraint', () => {
      const dir = `${d.exec}/traces`;
      const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
      assert.equal(files.length, 1, 'one life of the daemon');
      // Live: what the last turn of the daemon's event loop recorded is on disk.
      const { records } = readTraceFile(`${dir}/${files[0]}`);
      const asked = new Set<string>(
        records.flatMap((r) => (r.kind === 'effect.request' ? [r.call.effect] : [])),
      );
      for (const effect of [
        'containerd.execCreate',
        'containerd.execStart',
        'containerd.execDelete',
        'containerd.execResize',
        'containerd.updateTask',
        'archive.extract',
        'archive.diffTar',
        'archive.writeConfig',
        'image.extractLayer',
        'image.registerLayer',
        'image.registerImage',
      ])
        assert.ok(asked.has(effect), `no ${effect} in the flight recorder`);
      assert.equal(replayTrace(records).records, records.length);
      const constraints = constraintsForTrace(records);
      assert.ok(constraints.some((c) => c.kind === 'execEventsOrdered'));
      assert.deepEqual(violationsOf(checkTrace(records, constraints)), []);
    });
  },
);
