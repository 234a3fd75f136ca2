import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { mountPoints } from '../../effects/kernel/real.ts';
import { busyboxUnavailable } from '../support/busybox-image.ts';
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

/**
 * Each option of `docker run` / the create request, with the stock CLI against the real
 * daemon, checked where dockerd's effect shows: in the container (/proc/self/status, its
 * cgroup files, its mounts, ulimit, id …) or in inspect. Test names begin with the request
 * fields they cover: test/daemon/create-fields.test.ts requires one for every honoured field.
 */

const applets = [
  'sh',
  'cat',
  'echo',
  'grep',
  'ls',
  'id',
  'touch',
  'mkdir',
  'hostname',
  'sleep',
  'true',
  'head',
  'cut',
  'tr',
  'wc',
  'stat',
  'unshare',
  'sort',
  'readlink',
  'rm',
];

/** A busybox image with a passwd and group file (users and groups the options name). */
function imageTarball(dir: string): string {
  const rootfs = `${dir}/opt-rootfs`;
  mkdirSync(`${rootfs}/bin`, { recursive: true });
  cpSync('/bin/busybox', `${rootfs}/bin/busybox`);
  for (const a of applets) symlinkSync('busybox', `${rootfs}/bin/${a}`);
  for (const sub of ['proc', 'sys', 'dev', 'tmp', 'etc', 'data']) mkdirSync(`${rootfs}/${sub}`);
  writeFileSync(
    `${rootfs}/etc/passwd`,
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n',
  );
  writeFileSync(
    `${rootfs}/etc/group`,
    'root:x:0:\naudio:x:29:nobody\nvideo:x:44:\nnogroup:x:65534:\n',
  );
  execFileSync('tar', ['-C', rootfs, '-cf', `${dir}/opt.tar`, '.']);
  return `${dir}/opt.tar`;
}

const cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers');

/** A cgroup v1 controller file, or its cgroup v2 counterpart, as a container sees it. */
const cg = (v1: string, v2: string) => (cgroupV2 ? `/sys/fs/cgroup/${v2}` : `/sys/fs/cgroup/${v1}`);

const unavailable = realDaemonUnavailable() ?? busyboxUnavailable();

describe('container options with the stock docker CLI', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let cfg: string;
  const cli = (...args: string[]) => docker(d.sock, args, cfg);
  /** `docker run --rm --network none [opts] IMG sh -c CMD`: its output, or its error. */
  const run = (opts: string[], cmd: string) => {
    const r = cli('run', '--rm', '--network', 'none', ...opts, 'opt', 'sh', '-c', cmd);
    return { ...r, out: r.stdout.trim() };
  };
  const ok = (opts: string[], cmd: string): string => {
    const r = run(opts, cmd);
    assert.equal(r.status, 0, `${opts.join(' ')}: ${r.stderr}`);
    return r.out;
  };
  const refused = (opts: string[], message: RegExp): void => {
    const r = cli('create', '--network', 'none', ...opts, 'opt', 'true');
    assert.notEqual(r.status, 0, `${opts.join(' ')} was accepted`);
    assert.match(r.stderr, message);
  };
  const inspect = (opts: string[], format: string): string => {
    const c = cli('create', '--network', 'none', ...opts, 'opt', 'true');
    assert.equal(c.status, 0, c.stderr);
    const id = c.stdout.trim();
    const r = cli('inspect', '--format', format, id);
    cli('rm', '-f', id);
    return r.stdout.trim();
  };
  /** A request the CLI cannot make (fields without a flag): POST /containers/create. */
  const create = (body: Record<string, unknown>): Promise<{ status: number; json: unknown }> =>
    new Promise((resolve, reject) => {
      const data = JSON.stringify({ Image: 'opt', ...body });
      const req = request(
        {
          socketPath: d.sock,
          path: '/v1.41/containers/create',
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(data),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  /** Creates through the API, starts attached and returns the output. */
  const runApi = async (body: Record<string, unknown>): Promise<string> => {
    const r = await create({ HostConfig: { NetworkMode: 'none' }, ...body });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = (r.json as { Id: string }).Id;
    const s = cli('start', '-a', id);
    cli('rm', '-f', id);
    assert.equal(s.status, 0, s.stderr);
    return s.stdout.trim();
  };

  before(async () => {
    d = daemonDirs('sdo');
    cfg = `${d.dir}/docker-config`;
    mkdirSync(cfg);
    daemon = await startDaemon(d);
    importImage(d.sock, cfg, imageTarball(d.dir), 'opt:latest');
  });

  after(async () => {
    if (daemon) await stopDaemon(daemon);
    removeDaemonDirs(d);
  });

  test('HostConfig.ReadonlyRootfs: run --read-only cannot write its root', () => {
    const r = run(['--read-only'], 'touch /x');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Read-only file system/);
    assert.match(ok(['--read-only'], 'grep " / / " /proc/self/mountinfo'), / ro,/);
    assert.equal(inspect(['--read-only'], '{{.HostConfig.ReadonlyRootfs}}'), 'true');
  });

  test('HostConfig.CapDrop, HostConfig.CapAdd: ALL drops every capability; names with and without CAP_', () => {
    assert.equal(
      ok(['--cap-drop', 'ALL'], 'grep CapEff /proc/self/status'),
      'CapEff:\t0000000000000000',
    );
    assert.equal(ok([], 'grep CapEff /proc/self/status'), 'CapEff:\t00000000a80425fb');
    // +CAP_SYS_ADMIN (bit 21), -CAP_CHOWN (bit 0)
    assert.equal(
      ok(['--cap-add', 'sys_admin', '--cap-drop', 'CAP_CHOWN'], 'grep CapEff /proc/self/status'),
      'CapEff:\t00000000a82425fa',
    );
    assert.equal(
      ok(['--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE'], 'grep CapEff /proc/self/status'),
      'CapEff:\t0000000000000400',
    );
    refused(['--cap-add', 'bogus'], /invalid CapAdd: unknown capability: "CAP_BOGUS"/);
    assert.equal(
      inspect(
        ['--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL'],
        '{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}',
      ),
      '["CAP_NET_ADMIN"] ["ALL"]',
    );
  });

  test('HostConfig.Privileged: every capability the daemon has, no seccomp filter, the host devices, writable /sys', () => {
    const mine = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    const out = ok(
      ['--privileged'],
      'grep -E "CapEff|Seccomp:" /proc/self/status; ls /dev | wc -l; grep " /sys " /proc/self/mountinfo',
    );
    assert.match(out, new RegExp(`CapEff:\\t${mine}`));
    assert.match(out, /Seccomp:\t0/);
    const devices = Number(out.split('\n')[2]);
    assert.ok(devices > 20, `only ${devices} entries in a privileged /dev`);
    assert.match(out, / \/sys rw,/);
    assert.equal(
      inspect(
        ['--privileged'],
        '{{.HostConfig.Privileged}} {{json .HostConfig.SecurityOpt}} {{json .HostConfig.MaskedPaths}}',
      ),
      'true ["label=disable"] null',
    );
  });

  test('HostConfig.SecurityOpt: no-new-privileges; seccomp=unconfined has no filter; a profile file is the filter', () => {
    assert.equal(
      ok(['--security-opt', 'no-new-privileges'], 'grep NoNewPrivs /proc/self/status'),
      'NoNewPrivs:\t1',
    );
    assert.equal(
      ok(['--security-opt', 'no-new-privileges=false'], 'grep NoNewPrivs /proc/self/status'),
      'NoNewPrivs:\t0',
    );
    assert.equal(
      ok(['--security-opt', 'seccomp=unconfined'], 'grep "Seccomp:" /proc/self/status'),
      'Seccomp:\t0',
    );
    // Docker's default filter refuses a user namespace without CAP_SYS_ADMIN; unconfined allows it.
    assert.equal(run([], 'unshare -U true').status, 1);
    assert.equal(run(['--security-opt', 'seccomp=unconfined'], 'unshare -U true').status, 0);
    const profile = `${d.dir}/no-mkdir.json`;
    writeFileSync(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      }),
    );
    const r = run(
      ['--security-opt', `seccomp=${profile}`],
      'grep "Seccomp:" /proc/self/status; mkdir /tmp/x',
    );
    assert.match(r.out, /Seccomp:\t2/);
    assert.match(r.stderr, /Operation not permitted/);
    refused(['--security-opt', 'foo=bar'], /invalid --security-opt 2: "foo=bar"/);
    refused(
      ['--security-opt', 'label=type:x'],
      /statedock does not support SecurityOpt label=type:x/,
    );
  });

  test('Seccomp: every container gets Docker default filter and docker info SecurityOptions says so, checked against /proc/<pid>/status', () => {
    const info = cli('info', '--format', '{{json .SecurityOptions}}');
    assert.equal(info.status, 0, info.stderr);
    const options = JSON.parse(info.stdout) as string[];
    const c = cli('run', '-d', '--network', 'none', 'opt', 'sleep', '1000');
    assert.equal(c.status, 0, c.stderr);
    const id = c.stdout.trim();
    const pid = cli('inspect', '--format', '{{.State.Pid}}', id).stdout.trim();
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    cli('rm', '-f', id);
    const seccomp = /^Seccomp:\s*(\d)$/m.exec(status)?.[1];
    assert.equal(
      options.includes('name=seccomp,profile=default'),
      seccomp === '2',
      `${JSON.stringify(options)} but Seccomp: ${seccomp}`,
    );
    assert.equal(seccomp, '2');
    assert.equal(
      options.includes('name=apparmor'),
      existsSync('/sys/module/apparmor/parameters/enabled') &&
        readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y',
    );
    assert.equal(/^CapEff:\s*(\S+)$/m.exec(status)?.[1], '00000000a80425fb');
  });

  test('HostConfig.Tmpfs, HostConfig.Mounts: --tmpfs and --mount type=tmpfs are tmpfs with their options', () => {
    assert.match(
      ok(['--tmpfs', '/run'], 'grep " /run " /proc/self/mountinfo'),
      / \/run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw$/,
    );
    assert.match(
      ok(['--tmpfs', '/run:rw,size=1m,mode=1700'], 'grep " /run " /proc/self/mountinfo'),
      /size=1024k,mode=1700/,
    );
    assert.match(
      ok(['--mount', 'type=tmpfs,dst=/t,tmpfs-size=2m'], 'grep " /t " /proc/self/mountinfo'),
      /tmpfs tmpfs rw,size=2048k/,
    );
    refused(['--tmpfs', 'run'], /invalid mount path: 'run' mount path must be absolute/);
    refused(['--tmpfs', '/run:bogus'], /Invalid tmpfs option \["bogus"\]/);
  });

  test('HostConfig.ShmSize: /dev/shm of 8 MB (64 MB by default)', () => {
    assert.match(ok(['--shm-size', '8m'], 'grep " /dev/shm " /proc/self/mountinfo'), /size=8192k/);
    assert.match(ok([], 'grep " /dev/shm " /proc/self/mountinfo'), /size=65536k/);
    assert.equal(inspect(['--shm-size', '8m'], '{{.HostConfig.ShmSize}}'), '8388608');
  });

  test('HostConfig.Ulimits: ulimit -n is 100', () => {
    assert.equal(ok(['--ulimit', 'nofile=100:100'], 'ulimit -n'), '100');
    assert.equal(ok(['--ulimit', 'nproc=50:60'], 'ulimit -u; ulimit -Hu'), '50\n60');
  });

  test('HostConfig.NanoCpus, HostConfig.CpuQuota, HostConfig.CpuPeriod, HostConfig.CpuShares, HostConfig.CpuRealtimePeriod, HostConfig.CpuRealtimeRuntime: the CPU cgroup', () => {
    const quota = cg('cpu/cpu.cfs_quota_us', 'cpu.max');
    const period = cg('cpu/cpu.cfs_period_us', 'cpu.max');
    assert.equal(
      ok(['--cpus', '0.5'], `cat ${quota} ${period}`),
      cgroupV2 ? '50000 100000\n50000 100000' : '50000\n100000',
    );
    assert.equal(
      ok(['--cpu-quota', '25000', '--cpu-period', '50000'], `cat ${quota} ${period}`),
      cgroupV2 ? '25000 50000\n25000 50000' : '25000\n50000',
    );
    if (!cgroupV2)
      assert.equal(ok(['--cpu-shares', '512'], 'cat /sys/fs/cgroup/cpu/cpu.shares'), '512');
    refused(
      ['--cpus', '64'],
      /Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/,
    );
    refused(
      ['--cpus', '0.5', '--cpu-period', '50000'],
      /Conflicting options: Nano CPUs and CPU Period cannot both be set/,
    );
    // Real-time runtime goes to the cgroup as asked; the kernel refuses it without a parent budget, as under dockerd.
    assert.equal(inspect(['--cpu-rt-runtime', '100'], '{{.HostConfig.CpuRealtimeRuntime}}'), '100');
  });

  test('HostConfig.CpusetCpus, HostConfig.CpusetMems: the cpuset cgroup', () => {
    const cpus = cg('cpuset/cpuset.cpus', 'cpuset.cpus');
    const mems = cg('cpuset/cpuset.mems', 'cpuset.mems');
    assert.equal(ok(['--cpuset-cpus', '0', '--cpuset-mems', '0'], `cat ${cpus} ${mems}`), '0\n0');
    refused(
      ['--cpuset-cpus', '99'],
      /Requested CPUs are not available - requested 99, available: /,
    );
  });

  test('HostConfig.Memory, HostConfig.MemorySwap, HostConfig.MemoryReservation, HostConfig.MemorySwappiness, HostConfig.OomKillDisable: the memory cgroup', () => {
    if (cgroupV2) {
      assert.equal(ok(['--memory', '16m'], 'cat /sys/fs/cgroup/memory.max'), '16777216');
    } else {
      assert.equal(
        ok(
          ['--memory', '16m'],
          'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes',
        ),
        '16777216\n33554432',
      );
      assert.equal(
        ok(
          [
            '--memory',
            '16m',
            '--memory-swap',
            '24m',
            '--memory-reservation',
            '8m',
            '--memory-swappiness',
            '50',
            '--oom-kill-disable',
          ],
          'cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/memory/memory.swappiness; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control',
        ),
        '25165824\n8388608\n50\noom_kill_disable 1',
      );
    }
    refused(['--memory', '1m'], /Minimum memory limit allowed is 6MB/);
    refused(
      ['--memory', '16m', '--memory-swap', '8m'],
      /Minimum memoryswap limit should be larger than memory limit, see usage/,
    );
    assert.equal(
      inspect(['--memory', '16m'], '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}'),
      '16777216 33554432',
    );
    const warned = cli('create', '--network', 'none', '--oom-kill-disable', 'opt', 'true');
    assert.match(
      warned.stderr,
      /WARNING: OOM killer is disabled for the container, but no memory limit is set/,
    );
    cli('rm', '-f', warned.stdout.trim());
  });

  test('HostConfig.PidsLimit: pids.max', () => {
    assert.equal(ok(['--pids-limit', '10'], `cat ${cg('pids/pids.max', 'pids.max')}`), '10');
    assert.equal(inspect(['--pids-limit', '-1'], '{{json .HostConfig.PidsLimit}}'), 'null');
  });

  test('HostConfig.BlkioWeight, HostConfig.BlkioWeightDevice, HostConfig.BlkioDeviceReadBps, HostConfig.BlkioDeviceWriteBps, HostConfig.BlkioDeviceReadIOps, HostConfig.BlkioDeviceWriteIOps: applied where the blkio cgroup has them, refused by name where not', () => {
    const block = readdirSync('/sys/block').find(
      (b) => existsSync(`/dev/${b}`) && !b.startsWith('loop'),
    );
    const weight =
      existsSync('/sys/fs/cgroup/blkio/blkio.weight') ||
      existsSync('/sys/fs/cgroup/blkio/blkio.bfq.weight');
    if (cgroupV2 || weight) assert.equal(run(['--blkio-weight', '500'], 'true').status, 0);
    else
      refused(
        ['--blkio-weight', '500'],
        /statedock does not support HostConfig\.BlkioWeight on this host: Your kernel does not support Block I\/O weight/,
      );
    if (block === undefined) return;
    if (!cgroupV2 && existsSync('/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device')) {
      const out = ok(
        ['--device-read-bps', `/dev/${block}:1mb`, '--device-write-iops', `/dev/${block}:100`],
        'cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device',
      );
      assert.match(out, /^\d+:\d+ 1048576\n\d+:\d+ 100$/);
      refused(
        ['--device-write-bps', '/dev/nonexist:1mb'],
        /stat \/dev\/nonexist: no such file or directory/,
      );
    }
  });

  test('HostConfig.OomScoreAdj: the process oom_score_adj', () => {
    assert.equal(ok(['--oom-score-adj', '500'], 'cat /proc/self/oom_score_adj'), '500');
    refused(
      ['--oom-score-adj', '2000'],
      /Invalid value 2000, range for oom score adj is \[-1000, 1000\]/,
    );
  });

  test('HostConfig.Devices, HostConfig.DeviceCgroupRules: a mapped device exists and is allowed', () => {
    assert.match(
      ok(
        ['--device', '/dev/null:/dev/mynull'],
        'ls -l /dev/mynull; echo x > /dev/mynull && echo written',
      ),
      /^crw-rw-rw- .* 1,\s+3 .*\/dev\/mynull\nwritten$/,
    );
    refused(
      ['--device', '/dev/nonexist'],
      /error gathering device information while adding custom device "\/dev\/nonexist": no such file or directory/,
    );
    if (!cgroupV2) {
      assert.match(
        ok(['--device-cgroup-rule', 'c 42:* rm'], 'cat /sys/fs/cgroup/devices/devices.list'),
        /^c 42:\* rm$/m,
      );
      assert.doesNotMatch(ok([], 'cat /sys/fs/cgroup/devices/devices.list'), /^c 42:/m);
    }
  });

  test('HostConfig.PidMode: host sees the host processes; container:<name> joins its PID namespace, again after it restarts', () => {
    assert.ok(Number(ok(['--pid', 'host'], 'ls /proc | grep -c "^[0-9]"')) > 20);
    assert.match(ok([], 'cat /proc/1/cmdline | tr "\\0" " "'), /^sh -c /);
    assert.equal(
      cli('run', '-d', '--name', 'pid-donor', '--network', 'none', 'opt', 'sleep', '1000').status,
      0,
    );
    assert.equal(
      ok(['--pid', 'container:pid-donor'], 'cat /proc/1/cmdline | tr "\\0" " "'),
      'sleep 1000',
    );
    const donorId = cli('inspect', '--format', '{{.Id}}', 'pid-donor').stdout.trim();
    assert.equal(
      inspect(['--pid', 'container:pid-donor'], '{{.HostConfig.PidMode}}'),
      `container:${donorId}`,
    );
    assert.equal(cli('restart', '-t', '0', 'pid-donor').status, 0);
    assert.equal(
      ok(['--pid', 'container:pid-donor'], 'cat /proc/1/cmdline | tr "\\0" " "'),
      'sleep 1000',
    );
    assert.equal(cli('stop', '-t', '0', 'pid-donor').status, 0);
    assert.match(
      run(['--pid', 'container:pid-donor'], 'true').stderr,
      new RegExp(`container ${donorId} is not running`),
    );
    cli('rm', '-f', 'pid-donor');
    refused(['--pid', 'container:nosuch'], /No such container: nosuch/);
  });

  test('HostConfig.IpcMode, HostConfig.UTSMode: host shares the host namespaces; none has no /dev/shm; a shareable one is joined by container:<name>', () => {
    const ns = (opts: string[], kind: string) => ok(opts, `readlink /proc/self/ns/${kind}`);
    const inode = (kind: string) => readlinkSync(`/proc/self/ns/${kind}`);
    assert.equal(ns(['--ipc', 'host'], 'ipc'), inode('ipc'));
    assert.notEqual(ns([], 'ipc'), inode('ipc'));
    assert.equal(ns(['--uts', 'host'], 'uts'), inode('uts'));
    assert.equal(
      ok(['--uts', 'host'], 'hostname'),
      execFileSync('hostname', { encoding: 'utf8' }).trim(),
    );
    assert.equal(run(['--ipc', 'none'], 'grep -c " /dev/shm " /proc/self/mountinfo').out, '0');
    refused(['--uts', 'host', '-h', 'x'], /conflicting options: hostname and the UTS mode/);
    const donor = cli(
      'run',
      '-d',
      '--name',
      'ipc-donor',
      '--network',
      'none',
      '--ipc',
      'shareable',
      '--shm-size',
      '4m',
      'opt',
      'sh',
      '-c',
      'echo shared > /dev/shm/f; sleep 1000',
    );
    assert.equal(donor.status, 0, donor.stderr);
    const id = donor.stdout.trim();
    const shm = `${d.root}/containers/${id}/mounts/shm`;
    for (let i = 0; i < 50 && !existsSync(`${shm}/f`); i++) execFileSync('sleep', ['0.1']);
    assert.ok(mountPoints().includes(shm), 'the shareable /dev/shm is not mounted on the host');
    const pid = cli('inspect', '--format', '{{.State.Pid}}', id).stdout.trim();
    assert.equal(
      ok(
        ['--ipc', 'container:ipc-donor'],
        'cat /dev/shm/f; readlink /proc/self/ns/ipc; grep " /dev/shm " /proc/self/mountinfo | grep -o "size=[0-9]*k"',
      ),
      `shared\n${readlinkSync(`/proc/${pid}/ns/ipc`)}\nsize=4096k`,
    );
    assert.equal(
      inspect(['--ipc', 'container:ipc-donor'], '{{.HostConfig.IpcMode}}'),
      `container:${id}`,
    );
    assert.equal(cli('stop', '-t', '0', 'ipc-donor').status, 0);
    assert.ok(!mountPoints().includes(shm), 'the shareable /dev/shm outlived its task');
    assert.match(
      run(['--ipc', 'container:ipc-donor'], 'true').stderr,
      new RegExp(`can't join IPC of container ${id}: container ${id} is not running`),
    );
    // Started again, it is mounted again; rm -f of the running donor unmounts it first.
    assert.equal(cli('start', 'ipc-donor').status, 0);
    assert.ok(mountPoints().includes(shm), 'the shareable /dev/shm is not mounted at the restart');
    assert.equal(cli('rm', '-f', 'ipc-donor').status, 0);
    assert.ok(!mountPoints().includes(shm), 'the shareable /dev/shm outlived its container');
    assert.ok(!existsSync(`${d.root}/containers/${id}`), 'the donor directory outlived it');
    assert.equal(
      cli('run', '-d', '--name', 'ipc-private', '--network', 'none', 'opt', 'sleep', '1000').status,
      0,
    );
    assert.match(
      run(['--ipc', 'container:ipc-private'], 'true').stderr,
      /non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/,
    );
    cli('rm', '-f', 'ipc-private');
    refused(['--ipc', 'container:nosuch'], /No such container: nosuch/);
  });

  test('HostConfig.NetworkMode: host shares the host network namespace; none has its own', () => {
    const net = (opts: string[]) =>
      cli('run', '--rm', ...opts, 'opt', 'readlink', '/proc/self/ns/net').stdout.trim();
    assert.equal(net(['--network', 'host']), readlinkSync('/proc/self/ns/net'));
    assert.notEqual(net(['--network', 'none']), readlinkSync('/proc/self/ns/net'));
  });

  test('HostConfig.CgroupnsMode, HostConfig.CgroupParent: its own cgroup namespace; the parent cgroup', () => {
    assert.equal(ok(['--cgroupns', 'private'], 'head -1 /proc/self/cgroup | cut -d: -f3'), '/');
    const parent = ok(
      ['--cgroup-parent', '/sdo-parent'],
      'head -1 /proc/self/cgroup | cut -d: -f3',
    );
    assert.match(parent, /^\/sdo-parent\/[0-9a-f]{64}$/);
    assert.equal(inspect(['--cgroupns', 'private'], '{{.HostConfig.CgroupnsMode}}'), 'private');
    assert.equal(
      inspect([], '{{.HostConfig.CgroupnsMode}} {{.HostConfig.IpcMode}}'),
      `${cgroupV2 ? 'private' : 'host'} private`,
    );
  });

  test('HostConfig.Sysctls: namespaced sysctls are set, others refused with Docker words', async () => {
    assert.equal(
      ok(
        ['--sysctl', 'kernel.shmmax=1000', '--sysctl', 'net.ipv4.ip_forward=1'],
        'cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward',
      ),
      '1000\n1',
    );
    assert.equal(ok([], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start'), '0');
    const r = await create({ HostConfig: { NetworkMode: 'none', Sysctls: { 'kernel.foo': '1' } } });
    assert.equal(r.status, 400);
    assert.equal((r.json as { message: string }).message, "sysctl 'kernel.foo=1' is not allowed");
  });

  test('HostConfig.GroupAdd, Config.User: the user, its groups and the added ones', () => {
    assert.equal(
      ok(['--group-add', 'video', '--group-add', '1234'], 'id'),
      'uid=0(root) gid=0(root) groups=0(root),44(video),1234',
    );
    assert.equal(
      ok(['-u', 'nobody'], 'id'),
      'uid=65534(nobody) gid=65534(nogroup) groups=29(audio),65534(nogroup)',
    );
    assert.equal(
      ok(['-u', 'nobody'], 'grep -E "CapEff|CapBnd" /proc/self/status'),
      'CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb',
    );
    refused(
      ['--group-add', 'nosuchgroup'],
      /Unable to find group nosuchgroup: no matching entries in group file/,
    );
  });

  test('HostConfig.Init: docker-init (tini) is PID 1, bind-mounted read-only', () => {
    const out = ok(
      ['--init'],
      'cat /proc/1/cmdline | tr "\\0" " "; echo; grep " /sbin/docker-init " /proc/self/mountinfo',
    );
    assert.match(out, /^\/sbin\/docker-init -- sh -c /);
    assert.match(out, / \/sbin\/docker-init ro,/);
    refused(
      ['--init', '--pid', 'host'],
      /statedock does not support HostConfig\.Init with PidMode host/,
    );
  });

  test('HostConfig.MaskedPaths, HostConfig.ReadonlyPaths: the lists given replace the defaults', async () => {
    assert.equal(ok([], 'cat /proc/kcore | wc -c'), '0');
    const out = await runApi({
      Cmd: [
        'sh',
        '-c',
        'grep -c " /proc/kcore " /proc/self/mountinfo; grep " /proc/sys " /proc/self/mountinfo | wc -l; grep " /proc/uptime " /proc/self/mountinfo | cut -d" " -f6',
      ],
      HostConfig: { NetworkMode: 'none', MaskedPaths: [], ReadonlyPaths: ['/proc/uptime'] },
    });
    assert.equal(out, '0\n0\nro,nosuid,nodev,noexec,relatime');
    const hc = await create({ HostConfig: { NetworkMode: 'none' } });
    const id = (hc.json as { Id: string }).Id;
    assert.match(
      cli('inspect', '--format', '{{json .HostConfig.MaskedPaths}}', id).stdout,
      /"\/proc\/kcore"/,
    );
    cli('rm', '-f', id);
  });

  test('HostConfig.LogConfig: json-file rotates at max-size over max-file files; local and none', () => {
    const c = cli(
      'run',
      '--network',
      'none',
      '--log-opt',
      'max-size=100',
      '--log-opt',
      'max-file=3',
      'opt',
      'sh',
      '-c',
      'i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); done',
    );
    assert.equal(c.status, 0, c.stderr);
    const id = cli('ps', '-alq', '--no-trunc').stdout.trim();
    const files = readdirSync(`${d.root}/containers/${id}`)
      .filter((f) => f.includes('-json.log'))
      .sort();
    assert.deepEqual(files, [`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
    const logs = cli('logs', id).stdout.trim().split('\n');
    assert.ok(logs.length < 40 && logs.length > 0, `${logs.length} lines kept`);
    assert.equal(logs.at(-1), 'line-39');
    cli('rm', id);
    const local = cli(
      'run',
      '--network',
      'none',
      '--log-driver',
      'local',
      'opt',
      'sh',
      '-c',
      'echo out; echo err >&2',
    );
    assert.equal(local.status, 0, local.stderr);
    const lid = cli('ps', '-alq', '--no-trunc').stdout.trim();
    assert.ok(existsSync(`${d.root}/containers/${lid}/local-logs/container.log`));
    assert.ok(!existsSync(`${d.root}/containers/${lid}/${lid}-json.log`));
    assert.equal(cli('logs', lid).stdout, 'out\n');
    assert.equal(cli('logs', lid).stderr, 'err\n');
    assert.equal(
      cli('inspect', '--format', '{{.HostConfig.LogConfig.Type}}|{{.LogPath}}', lid).stdout.trim(),
      'local|',
    );
    cli('rm', lid);
    const none = cli('run', '-d', '--network', 'none', '--log-driver', 'none', 'opt', 'echo', 'hi');
    const nid = none.stdout.trim();
    cli('wait', nid);
    assert.match(cli('logs', nid).stderr, /configured logging driver does not support reading/);
    cli('rm', nid);
    refused(
      ['--log-driver', 'bogus'],
      /error looking up logging plugin bogus: plugin "bogus" not found/,
    );
    refused(['--log-opt', 'foo=1'], /unknown log opt 'foo' for json-file log driver/);
    refused(['--log-driver', 'syslog'], /statedock does not support the syslog log driver/);
  });

  test('HostConfig.VolumesFrom, HostConfig.VolumeDriver, HostConfig.Binds: volumes of another container; the local driver; bind propagation', () => {
    assert.equal(
      cli('create', '--name', 'vol-donor', '--network', 'none', '-v', '/shared', 'opt', 'true')
        .status,
      0,
    );
    assert.equal(ok(['--volumes-from', 'vol-donor'], 'touch /shared/x && ls /shared'), 'x');
    assert.match(
      run(['--volumes-from', 'vol-donor:ro'], 'touch /shared/y').stderr,
      /Read-only file system/,
    );
    cli('rm', '-v', 'vol-donor');
    assert.equal(
      inspect(['--volume-driver', 'local', '-v', 'named:/n'], '{{.HostConfig.VolumeDriver}}'),
      'local',
    );
    refused(
      ['--volume-driver', 'other', '-v', 'named:/n'],
      /statedock does not support the volume driver "other"/,
    );
    const src = `${d.dir}/bind-src`;
    mkdirSync(src);
    assert.match(ok(['-v', `${src}:/b:ro`], 'grep " /b " /proc/self/mountinfo'), / \/b ro,/);
    assert.equal(
      inspect(
        ['-v', `${src}:/b:ro,rprivate`],
        '{{range .Mounts}}{{.Mode}} {{.Propagation}}{{end}}',
      ),
      'ro,rprivate rprivate',
    );
    // rshared needs a shared source mount, checked with dockerd's message.
    const shared =
      mountPoints().includes('/') &&
      /shared:/.test(
        readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .find((l) => l.split(' ')[4] === '/') ?? '',
      );
    if (!shared)
      refused(['-v', `${src}:/b:rshared`], /path .* is mounted on .* but it is not a shared mount/);
    refused(
      ['-v', '/x:/'],
      /invalid volume specification: '\/x:\/': invalid mount config for type "bind": invalid specification: destination can't be '\/'/,
    );
  });

  test('Config.Domainname, Config.Hostname, Config.StopSignal, Config.StopTimeout: the UTS names and how the container is stopped', () => {
    assert.equal(
      ok(['-h', 'hh', '--domainname', 'example.com'], 'hostname; cat /proc/sys/kernel/domainname'),
      'hh\nexample.com',
    );
    assert.equal(
      inspect(
        ['--stop-signal', 'SIGUSR1', '--stop-timeout', '3'],
        '{{.Config.StopSignal}} {{.Config.StopTimeout}}',
      ),
      'SIGUSR1 3',
    );
    // Not given, they are left out (the CLI's typed decoding prints the zero values).
    assert.equal(
      inspect([], '{{json .Config.StopSignal}} {{json .Config.StopTimeout}}'),
      '"" null',
    );
    refused(['--stop-signal', 'BOGUS'], /Invalid signal: BOGUS/);
  });

  test('Config.Env, Config.Cmd, Config.Entrypoint, Config.WorkingDir, Config.Labels, Config.Image, Config.Tty, Config.OpenStdin, Config.StdinOnce, Config.Volumes, Config.AttachStdin, Config.AttachStdout, Config.AttachStderr, HostConfig.RestartPolicy, HostConfig.AutoRemove: the process and what inspect keeps', () => {
    assert.equal(
      cli(
        'run',
        '--rm',
        '--network',
        'none',
        '-e',
        'A=1',
        '-w',
        '/tmp',
        '--entrypoint',
        'sh',
        'opt',
        '-c',
        'echo $A $(pwd) $HOSTNAME',
      )
        .stdout.trim()
        .split(' ')
        .slice(0, 2)
        .join(' '),
      '1 /tmp',
    );
    assert.equal(
      cli('run', '--rm', '--network', 'none', '-t', 'opt', 'sh', '-c', 'echo $TERM').stdout.trim(),
      'xterm',
    );
    assert.equal(cli('run', '--rm', '-i', '--network', 'none', 'opt', 'cat').status, 0);
    assert.equal(
      inspect(
        ['-i', '-t', '-l', 'k=v', '--restart', 'on-failure:2', '-v', '/anon'],
        '{{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.StdinOnce}} {{.Config.AttachStdin}} {{.Config.Labels.k}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{json .Config.Volumes}}',
      ),
      'true true true true v on-failure:2 {"/anon":{}}',
    );
    assert.equal(inspect(['--rm'], '{{.HostConfig.AutoRemove}} {{.Config.Image}}'), 'true opt');
  });

  test('HostConfig.Isolation, HostConfig.Runtime, HostConfig.UsernsMode, HostConfig.ContainerIDFile, HostConfig.ConsoleSize, Config.Shell, Config.OnBuild: what inspect keeps, and the console size of a terminal', async () => {
    const r = await create({
      Tty: true,
      Shell: ['/bin/sh', '-c'],
      OnBuild: ['RUN true'],
      Cmd: ['sh', '-c', 'stty size'],
      HostConfig: {
        NetworkMode: 'none',
        Isolation: 'default',
        Runtime: 'io.containerd.runc.v2',
        UsernsMode: 'host',
        ContainerIDFile: '/tmp/never-written',
        ConsoleSize: [30, 90],
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = (r.json as { Id: string }).Id;
    assert.equal(
      cli(
        'inspect',
        '--format',
        '{{.HostConfig.Isolation}} {{.HostConfig.Runtime}} {{.HostConfig.UsernsMode}} {{.HostConfig.ContainerIDFile}} {{json .HostConfig.ConsoleSize}} {{json .Config.Shell}} {{json .Config.OnBuild}}',
        id,
      ).stdout.trim(),
      'default io.containerd.runc.v2 host /tmp/never-written [30,90] ["/bin/sh","-c"] ["RUN true"]',
    );
    const s = cli('start', '-a', id);
    assert.equal(s.stdout.trim(), '30 90');
    cli('rm', '-f', id);
    refused(
      ['--isolation', 'hyperv'],
      /Invalid isolation: "hyperv" - linux only supports 'default'/,
    );
    refused(['--runtime', 'foo'], /Unknown runtime specified foo/);
  });

  test('Config.Healthcheck: the probe runs in the container; inspect keeps the check and shows State.Health', () => {
    const c = cli(
      'run',
      '-d',
      '--network',
      'none',
      '--health-cmd',
      'test -e /tmp/ok',
      '--health-interval',
      '1s',
      '--health-retries',
      '1',
      'opt',
      'sh',
      '-c',
      'touch /tmp/ok; sleep 300',
    );
    assert.equal(c.status, 0, c.stderr);
    const id = c.stdout.trim();
    try {
      const status = () => cli('inspect', '--format', '{{.State.Health.Status}}', id).stdout.trim();
      for (let i = 0; i < 100 && status() !== 'healthy'; i++) spawnSync('sleep', ['0.1']);
      assert.equal(status(), 'healthy');
      assert.equal(
        cli('inspect', '--format', '{{json .Config.Healthcheck.Test}}', id).stdout.trim(),
        '["CMD-SHELL","test -e /tmp/ok"]',
      );
      assert.equal(cli('exec', id, 'rm', '/tmp/ok').status, 0);
      for (let i = 0; i < 100 && status() !== 'unhealthy'; i++) spawnSync('sleep', ['0.1']);
      assert.equal(status(), 'unhealthy');
    } finally {
      cli('rm', '-f', id);
    }
    refused(
      ['--health-cmd', 'true', '--health-interval', '100us'],
      /Interval in Healthcheck cannot be less than 1ms/,
    );
  });

  test('refused fields name themselves: StorageOpt, KernelMemory, DeviceRequests and the network settings networking does not do', async () => {
    refused(['--storage-opt', 'size=1G'], /statedock does not support HostConfig\.StorageOpt/);
    refused(['--kernel-memory', '16m'], /statedock does not support HostConfig\.KernelMemory/);
    // Networking honours the rest of the network fields (test/daemon/network.real.test.ts).
    refused(['--link', 'other:o'], /statedock does not support HostConfig\.Links/);
    // The CLI sends --mac-address per network for API 1.44 only: the field, through the API.
    const mac = await create({
      MacAddress: '02:42:ac:11:00:02',
      HostConfig: { NetworkMode: 'none' },
    });
    assert.equal(mac.status, 400);
    assert.match(
      (mac.json as { message: string }).message,
      /statedock does not support Config\.MacAddress/,
    );
    const sctp = await create({
      HostConfig: { NetworkMode: 'none', PortBindings: { '80/sctp': [{ HostPort: '8080' }] } },
    });
    assert.equal(sctp.status, 400);
    assert.match(
      (sctp.json as { message: string }).message,
      /statedock does not support HostConfig\.PortBindings of SCTP ports/,
    );
    const gpu = await create({
      HostConfig: { NetworkMode: 'none', DeviceRequests: [{ Driver: 'nvidia', Count: -1 }] },
    });
    assert.equal(gpu.status, 400);
    assert.match(
      (gpu.json as { message: string }).message,
      /statedock does not support HostConfig\.DeviceRequests/,
    );
    // dockerd 20.10 answers 500; the mistake is the client's (later dockerd: 400).
    const wrong = await create({ HostConfig: { Memory: 'lots' } });
    assert.equal(wrong.status, 400);
    assert.equal(
      (wrong.json as { message: string }).message,
      'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64',
    );
  });

  test('after all these runs (refused starts among them) the daemon shuts down on SIGTERM: no client holds it', async () => {
    assert.equal(await stopDaemon(daemon), 0, daemon.output());
  });
});

describe('the daemon --seccomp-profile', { skip: unavailable ?? false }, () => {
  let d: DaemonDirs;
  let daemon: RunningDaemon;
  let cfg: string;
  const cli = (...args: string[]) => docker(d.sock, args, cfg);

  before(async () => {
    d = daemonDirs('sds');
    cfg = `${d.dir}/docker-config`;
    mkdirSync(cfg);
    writeFileSync(
      `${d.dir}/profile.json`,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      }),
    );
    daemon = await startDaemon(d, ['--seccomp-profile', `${d.dir}/profile.json`]);
    importImage(d.sock, cfg, imageTarball(d.dir), 'opt');
  });

  after(async () => {
    if (daemon) await stopDaemon(daemon);
    removeDaemonDirs(d);
  });

  test('containers get its filter instead of Docker default, and docker info names it', () => {
    const r = cli(
      'run',
      '--rm',
      '--network',
      'none',
      'opt',
      'sh',
      '-c',
      'grep "Seccomp:" /proc/self/status; unshare -U true && echo userns; mkdir /tmp/x',
    );
    assert.match(r.stdout, /Seccomp:\t2\nuserns/);
    assert.match(r.stderr, /Operation not permitted/);
    const info = cli('info', '--format', '{{json .SecurityOptions}}');
    assert.ok(
      (JSON.parse(info.stdout) as string[]).includes(`name=seccomp,profile=${d.dir}/profile.json`),
      info.stdout,
    );
    const free = cli(
      'run',
      '--rm',
      '--network',
      'none',
      '--security-opt',
      'seccomp=unconfined',
      'opt',
      'mkdir',
      '/tmp/x',
    );
    assert.equal(free.status, 0, free.stderr);
  });
});
