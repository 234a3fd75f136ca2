import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { ContainerContext } from '../../machines/container/types.ts';
import { ApiError } from '../../src/api/server.ts';
import { apiErrorOf, planContainer } from '../../src/daemon/containers/create-request.ts';
import { lookUpForCreate } from '../../src/daemon/containers/create-lookups.ts';
import { checkCreateRequest, type HostFacts } from '../../src/daemon/containers/spec/check.ts';
import { capabilityNames } from '../../src/daemon/containers/spec/defaults.ts';
import { createRequestFields } from '../../src/daemon/containers/spec/fields.ts';
import type { VolumeStore } from '../../src/daemon/volumes.ts';

/**
 * Honour or refuse, field by field. The fields of the Engine API v1.41 create request, as
 * its reference (api/swagger.yaml: ContainerConfig, HostConfig, NetworkingConfig) lists them,
 * each with a value that sets it. For each, the create either refuses it (400, naming the
 * field, or Docker's own message) or honours it: the container's record or spec differs
 * from the same request without it, and a real-daemon test named after the field checks
 * the effect (test/daemon/container-options.real.test.ts). A field neither refused nor
 * honoured fails here.
 */

type Sample = {
  /** The request with the field set (Config fields at the top, as the body carries them). */
  body: Record<string, unknown>;
  /** Fields the sample needs besides the one it sets (kept in the comparison request). */
  with?: Record<string, unknown>;
  /** Refused with Docker's own message, which names no field. */
  refusedWith?: RegExp;
};

const config = (key: string, value: unknown, more: Partial<Sample> = {}): [string, Sample] => [
  `Config.${key}`,
  { body: { [key]: value }, ...more },
];
const host = (key: string, value: unknown, more: Partial<Sample> = {}): [string, Sample] => [
  `HostConfig.${key}`,
  { body: { HostConfig: { [key]: value } }, ...more },
];

/** Any device node has the numbers a blkio rule takes. */
const blockDevice = '/dev/null';

/** Every field of the v1.41 create request (the API reference's order) with a value that sets it. */
const apiFields = (): [string, Sample][] => [
  config('Hostname', 'hh'),
  config('Domainname', 'example.com'),
  config('User', '65534'),
  config('AttachStdin', true),
  config('AttachStdout', true),
  config('AttachStderr', true),
  config('ExposedPorts', { '80/tcp': {} }),
  config('Tty', true),
  config('OpenStdin', true),
  config('StdinOnce', true),
  config('Env', ['A=1']),
  config('Cmd', ['echo', 'x']),
  config('Healthcheck', { Test: ['CMD', 'true'] }),
  config('ArgsEscaped', true),
  config('Image', 'other'),
  config('Volumes', { '/data': {} }),
  config('WorkingDir', '/tmp'),
  config('Entrypoint', ['sh']),
  config('NetworkDisabled', true),
  config('MacAddress', '02:42:ac:11:00:02'),
  config('OnBuild', ['RUN true']),
  config('Labels', { k: 'v' }),
  config('StopSignal', 'SIGINT'),
  config('StopTimeout', 5),
  config('Shell', ['/bin/sh', '-c']),
  host('CpuShares', 512),
  host('Memory', 16 * 1024 * 1024),
  host('CgroupParent', '/parent'),
  host('BlkioWeight', 500),
  host('BlkioWeightDevice', [{ Path: blockDevice, Weight: 300 }]),
  host('BlkioDeviceReadBps', [{ Path: blockDevice, Rate: 1048576 }]),
  host('BlkioDeviceWriteBps', [{ Path: blockDevice, Rate: 1048576 }]),
  host('BlkioDeviceReadIOps', [{ Path: blockDevice, Rate: 100 }]),
  host('BlkioDeviceWriteIOps', [{ Path: blockDevice, Rate: 100 }]),
  host('CpuPeriod', 50000),
  host('CpuQuota', 25000),
  host('CpuRealtimePeriod', 1000000),
  host('CpuRealtimeRuntime', 100),
  host('CpusetCpus', '0'),
  host('CpusetMems', '0'),
  host('Devices', [
    { PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rwm' },
  ]),
  host('DeviceCgroupRules', ['c 42:* rm']),
  host('DeviceRequests', [{ Driver: 'nvidia', Count: -1 }]),
  host('KernelMemory', 16 * 1024 * 1024),
  host('KernelMemoryTCP', 16 * 1024 * 1024),
  host('MemoryReservation', 8 * 1024 * 1024),
  host('MemorySwap', 24 * 1024 * 1024, { with: { HostConfig: { Memory: 16 * 1024 * 1024 } } }),
  host('MemorySwappiness', 50),
  host('NanoCpus', 500_000_000),
  host('OomKillDisable', true),
  host('Init', true),
  host('PidsLimit', 10),
  host('Ulimits', [{ Name: 'nofile', Soft: 100, Hard: 100 }]),
  host('CpuCount', 2),
  host('CpuPercent', 50),
  host('IOMaximumIOps', 100, { refusedWith: /^Invalid QoS settings: linux does not support/ }),
  host('IOMaximumBandwidth', 100, {
    refusedWith: /^Invalid QoS settings: linux does not support/,
  }),
  host('Binds', ['/tmp/create-fields-bind:/b:ro']),
  host('ContainerIDFile', '/tmp/cid'),
  host('LogConfig', { Type: 'local', Config: {} }),
  host('NetworkMode', 'host'),
  host('PortBindings', { '80/tcp': [{ HostPort: '8080' }] }),
  host('RestartPolicy', { Name: 'always', MaximumRetryCount: 0 }),
  host('AutoRemove', true),
  host('VolumeDriver', 'local'),
  host('VolumesFrom', ['donor']),
  host('Mounts', [{ Type: 'tmpfs', Target: '/t' }]),
  host('CapAdd', ['NET_ADMIN']),
  host('CapDrop', ['CHOWN']),
  host('CgroupnsMode', 'private'),
  host('Dns', ['1.1.1.1']),
  host('DnsOptions', ['ndots:2']),
  host('DnsSearch', ['example.com']),
  host('ExtraHosts', ['h:1.2.3.4']),
  host('GroupAdd', ['audio']),
  host('IpcMode', 'host'),
  host('Cgroup', 'container:donor'),
  host('Links', ['donor:d']),
  host('OomScoreAdj', 500),
  host('PidMode', 'host'),
  host('Privileged', true),
  host('PublishAllPorts', true),
  host('ReadonlyRootfs', true),
  host('SecurityOpt', ['no-new-privileges']),
  host('StorageOpt', { size: '1G' }),
  host('Tmpfs', { '/run': '' }),
  host('UTSMode', 'host'),
  host('UsernsMode', 'host'),
  host('ShmSize', 8 * 1024 * 1024),
  host('Sysctls', { 'kernel.shmmax': '1000' }),
  host('Runtime', 'io.containerd.runc.v2'),
  host('ConsoleSize', [30, 90], { with: { Tty: true } }),
  host('Isolation', 'default'),
  host('MaskedPaths', ['/proc/kcore']),
  host('ReadonlyPaths', ['/proc/sys']),
  [
    'NetworkingConfig.EndpointsConfig',
    {
      body: { NetworkingConfig: { EndpointsConfig: { mynet: { Aliases: ['a'] } } } },
      // An alias is for a user-defined network (Docker refuses it on the default bridge and none).
      with: { HostConfig: { NetworkMode: 'mynet' } },
    },
  ],
];

/** A host where every option can be applied (the real tests see what this machine has). */
const facts: HostFacts = {
  arch: 'amd64',
  kernel: '6.1.0',
  capabilities: capabilityNames,
  cgroup: {
    version: 1,
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
    blkioWeight: true,
    blkioWeightDevice: true,
    blkioThrottle: true,
    cpus: '0-3',
    mems: '0',
    ncpu: 4,
  },
  appArmor: false,
  cgroupNamespaces: true,
  networkSysctls: ['net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start'],
  initBinary: '/usr/bin/tini-static',
};

/** Deep merge of request parts (the sample's field over the companions it needs). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b))
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object'
        ? merge(out[k] as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  return out;
}

describe('every field of the v1.41 create request is honoured or refused', () => {
  let root: string;
  const volumes = {
    ensure: (name: string | null) =>
      Promise.resolve({
        name: name ?? 'anon',
        mountpoint: `/volumes/${name ?? 'anon'}`,
        anonymous: name === null,
      }),
  } as unknown as VolumeStore;
  const donor = {
    record: {
      id: 'd'.repeat(64),
      config: {
        mounts: [
          {
            type: 'volume',
            name: 'shared',
            source: '/volumes/shared',
            destination: '/shared',
            rw: true,
          },
        ],
      },
    },
  } as unknown as ContainerContext;

  /** Plans a container for a request: its record, spec and warnings, or the API error. */
  async function plan(body: Record<string, unknown>): Promise<string | ApiError> {
    try {
      const checked = checkCreateRequest(body, facts, () => true);
      const looked = await lookUpForCreate(checked, {
        imageLayers: [root],
        findContainer: (ref) => (ref === 'donor' ? donor : null),
        volumes,
        makeBindSource: (path) => Promise.resolve(void mkdirSync(path, { recursive: true })),
      });
      return JSON.stringify(
        planContainer({
          id: 'c'.repeat(64),
          name: '/c',
          created: '2026-01-01T00:00:00.000Z',
          imageRef: checked.config.image,
          image: {
            id: 'sha256:image',
            repoTags: ['busybox:latest'],
            repoDigests: [],
            created: '2026-01-01T00:00:00.000Z',
            size: 0,
            layers: [],
            layerDirs: [root],
            layerDir: root,
            config: { Cmd: ['/bin/sh'], Entrypoint: null, Env: [], WorkingDir: '' },
            configJson: '{}',
            architecture: 'amd64',
            os: 'linux',
          },
          body,
          checked,
          looked,
          facts,
          daemonSeccompProfile: null,
          net: {
            resolveContainer: (ref) => (ref === 'donor' ? donor.record.id : null),
            hostHostname: 'host',
            imageExposed: [],
          },
        }),
      );
    } catch (err) {
      const e = apiErrorOf(err);
      if (e instanceof ApiError) return e;
      throw err;
    }
  }

  const base = { Image: 'busybox', HostConfig: { NetworkMode: 'none' } };

  before(() => {
    root = mkdtempSync('/tmp/create-fields-');
    mkdirSync(`${root}/etc`);
    writeFileSync(`${root}/etc/passwd`, 'root:x:0:0::/:/bin/sh\n');
    writeFileSync(`${root}/etc/group`, 'root:x:0:\naudio:x:29:\n');
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync('/tmp/create-fields-bind', { recursive: true, force: true });
  });

  test('the API reference list and statedock’s table name the same fields', () => {
    assert.deepEqual(
      apiFields()
        .map(([f]) => f)
        .sort(),
      Object.keys(createRequestFields).sort(),
    );
  });

  test('a plain request plans (the baseline every field is compared with)', async () => {
    assert.equal(typeof (await plan(base)), 'string');
  });

  // The networking fields' real-daemon tests are with the network's (network.real.test.ts).
  const realTitles = ['./container-options.real.test.ts', './network.real.test.ts'].flatMap((f) =>
    [...readFileSync(new URL(f, import.meta.url), 'utf8').matchAll(/test\(\s*'([^']*)'/g)].map(
      (m) => m[1] as string,
    ),
  );

  for (const [field, sample] of apiFields())
    test(`${field} is honoured or refused`, async () => {
      const companions = merge(base, sample.with ?? {});
      const withField = merge(companions, sample.body);
      const outcome = await plan(withField);
      if (outcome instanceof ApiError) {
        assert.equal(outcome.status, 400, `${field}: ${outcome.message}`);
        if (sample.refusedWith) assert.match(outcome.message, sample.refusedWith);
        else
          assert.match(
            outcome.message,
            new RegExp(`statedock does not support ${field.replace('.', '\\.')}\\b`),
          );
        return;
      }
      assert.equal(
        createRequestFields[field]?.kind === 'refused',
        false,
        `${field} is in the refused table but was accepted`,
      );
      const without = await plan(companions);
      assert.equal(typeof without, 'string', `${field}'s companions alone are refused`);
      assert.notEqual(outcome, without, `${field} was accepted and changed nothing`);
      assert.ok(
        realTitles.some((t) => new RegExp(`\\b${field.replace('.', '\\.')}\\b`).test(t)),
        `${field} is honoured but no real-daemon test names it`,
      );
    });
});
