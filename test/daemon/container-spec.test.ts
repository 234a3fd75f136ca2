import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  capabilitiesOfMask,
  containerCapabilities,
  maskOfCapabilities,
} from '../../src/daemon/containers/spec/capabilities.ts';
import { capabilityNames, defaultCapabilities } from '../../src/daemon/containers/spec/defaults.ts';
import {
  containerDevices,
  parseDeviceCgroupRule,
} from '../../src/daemon/containers/spec/devices.ts';
import { InvalidRequest, MalformedRequest } from '../../src/daemon/containers/spec/errors.ts';
import { readHostConfig } from '../../src/daemon/containers/spec/request.ts';
import { readLogConfig } from '../../src/daemon/containers/spec/log-config.ts';
import { parseBind, parseMount } from '../../src/daemon/containers/spec/mount-requests.ts';
import { containerMounts, mergeTmpfsOptions } from '../../src/daemon/containers/spec/mounts.ts';
import { containerNamespaces, resolveJoins } from '../../src/daemon/containers/spec/namespaces.ts';
import {
  ociResources,
  validateResources,
  type ResourceRequest,
} from '../../src/daemon/containers/spec/resources.ts';
import { defaultSeccomp, seccompFromProfile } from '../../src/daemon/containers/spec/seccomp.ts';
import { parseSecurityOpt } from '../../src/daemon/containers/spec/security-opt.ts';
import { checkSysctls } from '../../src/daemon/containers/spec/sysctls.ts';
import { decodeLocalEntries, encodeLocalEntry } from '../../src/daemon/logging/local-format.ts';
import { logDriverFor } from '../../src/daemon/logging/drivers.ts';

const allowed = (s: ReturnType<typeof defaultSeccomp>, name: string) =>
  (s.syscalls ?? []).filter((r) => r.names.includes(name));

describe("Docker's default seccomp profile", () => {
  const amd64 = { capabilities: defaultCapabilities, arch: 'amd64', kernel: '6.1.0-13-amd64' };

  test('denies with EPERM by default and covers the 32-bit ABIs of amd64', () => {
    const s = defaultSeccomp(amd64);
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 1);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(defaultSeccomp({ ...amd64, arch: 'arm64' }).architectures, [
      'SCMP_ARCH_AARCH64',
      'SCMP_ARCH_ARM',
    ]);
  });

  test('with the default capabilities: no mount, unshare or setns; clone only without namespace flags; clone3 is ENOSYS', () => {
    const s = defaultSeccomp(amd64);
    for (const name of ['mount', 'unshare', 'setns', 'bpf', 'reboot', 'init_module', 'keyctl'])
      assert.deepEqual(allowed(s, name), [], name);
    assert.deepEqual(allowed(s, 'clone'), [
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
    ]);
    assert.deepEqual(allowed(s, 'clone3'), [
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ]);
    assert.ok(allowed(s, 'chroot').length === 1, 'CAP_SYS_CHROOT is a default: chroot allowed');
    assert.ok(allowed(s, 'arch_prctl').length === 1);
    assert.ok(allowed(s, 'read')[0]?.action === 'SCMP_ACT_ALLOW');
    assert.deepEqual(
      allowed(s, 'socket').map((r) => r.args),
      [
        [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }],
        [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }],
        [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
      ],
    );
  });

  test('CAP_SYS_ADMIN adds mount, unshare, setns and unmasked clone and clone3', () => {
    const s = defaultSeccomp({ ...amd64, capabilities: [...defaultCapabilities, 'CAP_SYS_ADMIN'] });
    for (const name of ['mount', 'unshare', 'setns', 'clone', 'clone3'])
      assert.deepEqual(
        allowed(s, name).map((r) => [r.action, r.args ?? null]),
        [['SCMP_ACT_ALLOW', null]],
        name,
      );
  });

  test('s390x masks the second argument of clone; old kernels get no ptrace without CAP_SYS_PTRACE', () => {
    const s390 = defaultSeccomp({ ...amd64, arch: 's390x' });
    assert.equal(allowed(s390, 'clone')[0]?.args?.[0]?.index, 1);
    assert.deepEqual(allowed(s390, 'arch_prctl'), []);
    assert.deepEqual(allowed(defaultSeccomp({ ...amd64, kernel: '4.4.0' }), 'ptrace'), []);
    assert.equal(allowed(defaultSeccomp(amd64), 'ptrace').length, 1);
  });

  test('a profile in Docker’s format: archMap narrowed to the host, includes and excludes judged', () => {
    const profile = JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] },
      ],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['kill'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
        { names: ['uname'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.1' } },
      ],
    });
    const s = seccompFromProfile(profile, amd64);
    assert.deepEqual(s, {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['uname'], action: 'SCMP_ACT_ALLOW' },
      ],
    });
    assert.equal(seccompFromProfile('{}', amd64), null);
    assert.throws(
      () => seccompFromProfile('{bad', amd64),
      /^InvalidRequest|Decoding seccomp profile failed: /,
    );
    assert.throws(
      () =>
        seccompFromProfile(
          JSON.stringify({
            defaultAction: 'SCMP_ACT_ALLOW',
            syscalls: [{ name: 'a', names: ['b'] }],
          }),
          amd64,
        ),
      {
        message:
          "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
      },
    );
  });
});

describe('capabilities', () => {
  const all = capabilityNames;
  test("the 14 defaults are Docker's CapEff a80425fb; a mask reads back to names", () => {
    assert.equal(maskOfCapabilities(defaultCapabilities), '00000000a80425fb');
    assert.deepEqual(capabilitiesOfMask('a80425fb').sort(), [...defaultCapabilities].sort());
  });

  test('names with and without CAP_, in any case; ALL on either side; privileged is all the daemon has', () => {
    const caps = (add: string[], drop: string[], privileged = false, available = all) =>
      containerCapabilities({ add, drop, privileged, available });
    assert.equal(maskOfCapabilities(caps(['sys_admin'], ['CAP_CHOWN'])), '00000000a82425fa');
    assert.deepEqual(caps(['NET_ADMIN'], ['ALL']), ['CAP_NET_ADMIN']);
    assert.equal(caps(['ALL'], ['chown']).length, all.length - 1);
    assert.deepEqual(caps([], [], true, ['CAP_KILL']), ['CAP_KILL']);
    assert.throws(() => caps(['bogus'], []), { message: 'unknown capability: "CAP_BOGUS"' });
    assert.throws(() => caps(['SYS_RESOURCE'], [], false, defaultCapabilities), {
      message:
        'capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"',
    });
  });
});

describe('mounts', () => {
  const base = {
    shmSize: 64 * 1024 * 1024,
    ipcMode: 'private' as const,
    readonlyRootfs: false,
    privileged: false,
    mounts: [],
    tmpfs: {},
    init: null,
    sourcePropagation: {},
  };
  const at = (ms: { destination: string; options: string[] }[], dest: string) =>
    ms.find((m) => m.destination === dest);

  test("tmpfs options merged as moby's MergeTmpfsOptions: the later of a kind wins, data options checked", () => {
    assert.deepEqual(
      mergeTmpfsOptions([
        'noexec',
        'nosuid',
        'nodev',
        'rprivate',
        'rw',
        'exec',
        'size=1m',
        'size=2m',
      ]),
      ['nosuid', 'nodev', 'rprivate', 'rw', 'exec', 'size=2m'],
    );
    assert.throws(() => mergeTmpfsOptions(['bogus']), {
      message: 'Invalid tmpfs option ["bogus"]',
    });
    assert.throws(() => mergeTmpfsOptions(['foo=bar']), {
      message: 'Invalid tmpfs option ["foo" "bar"]',
    });
  });

  test('/dev/shm sized; gone with IpcMode none; the host one with IpcMode host; a user /dev replaces /dev/*', () => {
    assert.deepEqual(
      at(containerMounts({ ...base, shmSize: 8388608 }).mounts, '/dev/shm')?.options.at(-1),
      'size=8388608',
    );
    assert.equal(at(containerMounts({ ...base, ipcMode: 'none' }).mounts, '/dev/shm'), undefined);
    assert.deepEqual(at(containerMounts({ ...base, ipcMode: 'host' }).mounts, '/dev/shm'), {
      destination: '/dev/shm',
      type: 'bind',
      source: '/dev/shm',
      options: ['rbind', 'rprivate'],
    });
    const withDev = containerMounts({ ...base, tmpfs: { '/dev': '' } }).mounts;
    assert.deepEqual(
      withDev.filter((m) => m.destination.startsWith('/dev')).map((m) => m.destination),
      ['/dev'],
    );
  });

  test('read-only root makes standard mounts read-only but /proc and /dev; privileged makes /sys and cgroups writable', () => {
    const ro = containerMounts({ ...base, readonlyRootfs: true }).mounts;
    assert.ok(at(ro, '/sys/fs/cgroup')?.options.includes('ro'));
    assert.ok(!at(ro, '/dev/shm')?.options.includes('ro'));
    const priv = containerMounts({ ...base, privileged: true }).mounts;
    assert.ok(!at(priv, '/sys')?.options.includes('ro'));
    assert.ok(!at(priv, '/sys/fs/cgroup')?.options.includes('ro'));
  });

  test('user mounts parents first; binds carry their propagation; shared ones need a shared source', () => {
    const m = containerMounts({
      ...base,
      mounts: [
        { type: 'bind', source: '/a', destination: '/x/y', rw: false, propagation: 'rprivate' },
        { type: 'volume', source: '/v', destination: '/x', rw: true },
      ],
    }).mounts.slice(-2);
    assert.deepEqual(m, [
      { destination: '/x', type: 'bind', source: '/v', options: ['rbind'] },
      { destination: '/x/y', type: 'bind', source: '/a', options: ['rbind', 'ro', 'rprivate'] },
    ]);
    const shared = {
      ...base,
      mounts: [
        {
          type: 'bind' as const,
          source: '/s',
          destination: '/s',
          rw: true,
          propagation: 'rshared',
        },
      ],
    };
    assert.throws(
      () =>
        containerMounts({
          ...shared,
          sourcePropagation: { '/s': { mountPoint: '/', shared: false, slave: false } },
        }),
      {
        message: 'path /s is mounted on / but it is not a shared mount',
      },
    );
    assert.equal(
      containerMounts({
        ...shared,
        sourcePropagation: { '/s': { mountPoint: '/', shared: true, slave: false } },
      }).rootfsPropagation,
      'shared',
    );
  });

  test("-v and --mount read with Docker's rules and statuses (a bad -v is the client's mistake: 400)", () => {
    assert.deepEqual(parseBind('/h:/c:ro,rslave', ''), {
      type: 'bind',
      source: '/h',
      destination: '/c',
      rw: false,
      propagation: 'rslave',
      nonRecursive: false,
      createSource: true,
      mode: 'ro,rslave',
    });
    assert.throws(
      () => parseBind('/x:/', ''),
      (err: Error) =>
        err instanceof MalformedRequest && /destination can't be '\/'/.test(err.message),
    );
    assert.throws(() => parseBind('/x:/y:bogus', ''), { message: 'invalid mode: bogus' });
    assert.throws(
      () =>
        parseMount(
          {
            type: 'bind',
            source: '/nope',
            target: '/x',
            readOnly: false,
            consistency: '',
            bindOptions: null,
            volumeOptions: null,
            tmpfsOptions: null,
          },
          () => false,
        ),
      (err: Error) =>
        err instanceof InvalidRequest &&
        err.message ===
          'invalid mount config for type "bind": bind source path does not exist: /nope',
    );
  });
});

describe('resources, devices, namespaces and the rest', () => {
  const support = {
    version: 1 as const,
    memoryLimit: true,
    swapLimit: true,
    memoryReservation: true,
    memorySwappiness: true,
    oomKillDisable: true,
    cpuShares: true,
    cpuCfs: true,
    cpuRealtime: true,
    cpuset: true,
    pids: true,
    blkioWeight: false,
    blkioWeightDevice: false,
    blkioThrottle: true,
    cpus: '0-1',
    mems: '0',
    ncpu: 2,
  };
  const none: ResourceRequest = {
    memory: 0,
    memorySwap: 0,
    memoryReservation: 0,
    memorySwappiness: null,
    oomKillDisable: false,
    pidsLimit: null,
    nanoCpus: 0,
    cpuShares: 0,
    cpuPeriod: 0,
    cpuQuota: 0,
    cpuRealtimePeriod: 0,
    cpuRealtimeRuntime: 0,
    cpusetCpus: '',
    cpusetMems: '',
    blkioWeight: 0,
    blkioWeightDevice: [],
    blkioDeviceReadBps: [],
    blkioDeviceWriteBps: [],
    blkioDeviceReadIOps: [],
    blkioDeviceWriteIOps: [],
  };

  test('--cpus is a quota over a 100 ms period; memory and pids as asked', () => {
    assert.deepEqual(
      ociResources({ ...none, nanoCpus: 500_000_000, memory: 1 << 24, pidsLimit: 10 }, []),
      {
        devices: [],
        memory: { limit: 1 << 24 },
        cpu: { quota: 50000, period: 100000 },
        pids: { limit: 10 },
      },
    );
  });

  test("dockerd's resource messages; what the host's cgroups cannot do is refused, never dropped", () => {
    const bad = (r: Partial<ResourceRequest>, message: string | RegExp) =>
      assert.throws(() => validateResources({ ...none, ...r }, support), { message });
    bad({ memory: 1024 }, 'Minimum memory limit allowed is 6MB');
    bad(
      { nanoCpus: 3e9 },
      'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available',
    );
    bad({ cpusetCpus: '0-3' }, 'Requested CPUs are not available - requested 0-3, available: 0-1');
    bad({ cpusetCpus: 'x' }, 'Invalid value x for cpuset cpus: invalid format: x');
    bad({ memorySwappiness: 101 }, 'Invalid value: 101, valid memory swappiness range is 0-100');
    bad(
      { blkioWeight: 500 },
      'statedock does not support HostConfig.BlkioWeight on this host: Your kernel does not support Block I/O weight or the cgroup is not mounted.',
    );
    assert.deepEqual(validateResources({ ...none, oomKillDisable: true }, support), [
      'OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    ]);
  });

  test('devices: the mapped node at its path, allowed with its permissions; cgroup rules parsed', () => {
    const d = containerDevices({
      mappings: [
        {
          pathOnHost: '/dev/null',
          pathInContainer: '/dev/mynull',
          cgroupPermissions: 'rw',
          found: {
            devices: [
              { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
            ],
            root: '/dev/null',
          },
        },
      ],
      cgroupRules: ['c 42:* rm'],
      privileged: false,
      hostDevices: [],
      defaults: [{ allow: false, access: 'rwm' }],
    });
    assert.deepEqual(d.devices, [
      { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
    assert.deepEqual(d.rules.slice(1), [
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
      { allow: true, type: 'c', major: 42, minor: -1, access: 'rm' },
    ]);
    assert.throws(() => parseDeviceCgroupRule('bogus'), {
      message: "invalid device cgroup rule format: 'bogus'",
    });
  });

  test("joined namespaces get the target's current PID when the task is made; a shareable /dev/shm its host path; Docker's messages", () => {
    const spec = {
      mounts: [
        { destination: '/dev/shm', type: 'bind', source: 'statedock-shm:ipc1', options: ['rbind'] },
      ],
      linux: {
        namespaces: containerNamespaces({
          network: 'private',
          pid: { kind: 'container', id: 'abc' },
          ipc: { kind: 'container', id: 'ipc1' },
          uts: 'private',
          cgroup: 'host',
        }),
      },
    };
    assert.deepEqual(
      spec.linux.namespaces.filter((n) => n.path !== undefined),
      [
        { type: 'pid', path: 'container:abc' },
        { type: 'ipc', path: 'container:ipc1' },
      ],
    );
    const pids: Record<string, number> = { abc: 4242, ipc1: 4343 };
    const joined = resolveJoins(
      spec,
      (id) => ({ state: 'running', pid: pids[id] ?? 0 }),
      (id) => `/root/containers/${id}/mounts/shm`,
    ) as typeof spec;
    assert.deepEqual(
      joined.linux.namespaces.filter((n) => n.path !== undefined),
      [
        { type: 'pid', path: '/proc/4242/ns/pid' },
        { type: 'ipc', path: '/proc/4343/ns/ipc' },
      ],
    );
    assert.equal(joined.mounts[0]?.source, '/root/containers/ipc1/mounts/shm');
    assert.throws(
      () =>
        resolveJoins(
          spec,
          () => ({ state: 'notRunning' }),
          () => null,
        ),
      {
        message: 'container abc is not running',
      },
    );
    assert.throws(
      () =>
        resolveJoins(
          spec,
          (id) => (id === 'abc' ? { state: 'running', pid: 1 } : { state: 'missing' }),
          () => null,
        ),
      { message: "can't join IPC of container ipc1: No such container: ipc1" },
    );
    assert.throws(
      () =>
        resolveJoins(
          spec,
          () => ({ state: 'running', pid: 1 }),
          () => null,
        ),
      {
        message:
          "can't join IPC of container ipc1: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
      },
    );
  });

  test('security options, sysctls and JSON types as dockerd reads them', () => {
    assert.deepEqual(parseSecurityOpt(['no-new-privileges:true', 'seccomp=unconfined']).seccomp, {
      kind: 'unconfined',
    });
    assert.equal(parseSecurityOpt(['no-new-privileges=false']).noNewPrivileges, false);
    assert.throws(() => parseSecurityOpt(['bogus']), {
      message: 'invalid --security-opt 1: "bogus"',
    });
    assert.throws(() => checkSysctls({ 'vm.swappiness': '1' }), {
      message: "sysctl 'vm.swappiness=1' is not allowed",
    });
    checkSysctls({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '1' });
    assert.throws(() => readHostConfig({ HostConfig: { Memory: 'x' } }), {
      message:
        'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64',
    });
    assert.throws(() => readHostConfig({ HostConfig: { BlkioWeight: 70000 } }), {
      message:
        'json: cannot unmarshal number 70000 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16',
    });
    assert.throws(
      () => readHostConfig({ HostConfig: { Ulimits: [{ Name: 'nofile', Soft: '1' }] } }),
      {
        message:
          'json: cannot unmarshal string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64',
      },
    );
    assert.deepEqual(readHostConfig({ HostConfig: { CapAdd: 'chown' } }).capAdd, ['chown']);
  });
});

describe('logging drivers', () => {
  test("log config checked with dockerd's words", () => {
    assert.deepEqual(readLogConfig('', { 'max-size': '1k', 'max-file': '3' }), {
      driver: 'json-file',
      maxSize: 1000,
      maxFile: 3,
    });
    assert.deepEqual(readLogConfig('local', {}), {
      driver: 'local',
      maxSize: 20971520,
      maxFile: 5,
      compress: true,
    });
    assert.throws(() => readLogConfig('bogus', {}), {
      message: 'error looking up logging plugin bogus: plugin "bogus" not found',
    });
    assert.throws(() => readLogConfig('json-file', { 'max-file': '0' }), {
      message: 'max-file cannot be less than 1',
    });
    assert.throws(() => readLogConfig('local', { 'max-file': '1' }), {
      message: 'compression cannot be enabled when max file count is 1',
    });
  });

  test('the local format: length-framed protobuf, the newline dropped and put back, a partial line kept as is', () => {
    const entries = [
      { stream: 1 as const, log: Buffer.from('hello\n'), time: '2026-01-01T00:00:00.123Z' },
      { stream: 2 as const, log: Buffer.from('tail'), time: '2026-01-01T00:00:01.000Z' },
    ];
    const bytes = Buffer.concat(entries.map(encodeLocalEntry));
    assert.equal(bytes.readUInt32BE(0), bytes.readUInt32BE(4 + bytes.readUInt32BE(0)));
    assert.deepEqual(decodeLocalEntries(bytes), entries);
    assert.deepEqual(decodeLocalEntries(bytes.subarray(0, bytes.length - 3)), entries.slice(0, 1));
  });

  test('json-file rotates once max-size is reached, keeping max-file files; local gzips what it rotates', async () => {
    const dir = mkdtempSync('/tmp/logdrv-');
    try {
      const json = logDriverFor(dir, 'c', { driver: 'json-file', maxSize: 200, maxFile: 3 });
      const jsonWriter = json.writer();
      for (let i = 0; i < 30; i++)
        jsonWriter.write({
          stream: 1,
          log: Buffer.from(`line-${i}\n`),
          time: '2026-01-01T00:00:00.000Z',
        });
      await jsonWriter.close();
      assert.deepEqual(readdirSync(dir).sort(), ['c-json.log', 'c-json.log.1', 'c-json.log.2']);
      const kept = (await json.read()) ?? [];
      assert.equal(kept.at(-1)?.log.toString(), 'line-29\n');
      assert.ok(kept.length < 30 && kept.length >= 6);
      const local = logDriverFor(dir, 'c', {
        driver: 'local',
        maxSize: 100,
        maxFile: 3,
        compress: true,
      });
      const localWriter = local.writer();
      for (let i = 0; i < 30; i++)
        localWriter.write({
          stream: 2,
          log: Buffer.from(`e-${i}\n`),
          time: '2026-01-01T00:00:00.000Z',
        });
      await localWriter.close();
      assert.deepEqual(readdirSync(`${dir}/local-logs`).sort(), [
        'container.log',
        'container.log.1.gz',
        'container.log.2.gz',
      ]);
      assert.equal(
        readFileSync(`${dir}/local-logs/container.log.1.gz`).subarray(0, 2).toString('hex'),
        '1f8b',
      );
      assert.equal(((await local.read()) ?? []).at(-1)?.log.toString(), 'e-29\n');
      assert.equal(await logDriverFor(dir, 'c', { driver: 'none' }).read(), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
