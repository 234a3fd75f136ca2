import type { EffectError } from '../../effects/errors.ts';
import type { EffectName, EffectRequest, ResultOf } from '../../effects/requests.ts';
import { buildIdMaps, parseSubIds, parseUsernsRemap, resolveIdentity } from './userns.ts';
import type { ContainerRecord } from '../container/types.ts';
import { awaitStep, compute, deferUntil, effect, mkdir } from './ops.ts';
import { networkControllerStep } from './network-step.ts';
import type { Acquisition, Facts, RestoredContainer, StartupConfig } from './types.ts';

/**
 * The start-up step table: every step of Docker's NewDaemon (seed 000, v17.04, with the
 * v20.10 deltas where statedock follows them) plus the parts of dockerd's CLI wrapper that
 * hold resources (data root, pidfile, containerd, API sockets). Order of the table is the
 * seed's order; what may run together is computed from `needs` (like containerd's plugin
 * `Requires`), never from the order of lines.
 */

/** What a step's op sees: the configuration, the facts learned so far, and its own scratch space. */
export interface Scope {
  readonly config: StartupConfig;
  readonly facts: Facts;
  readonly local: Readonly<Record<string, unknown>>;
}

/** What an op decides. `fail` fails the step (and start-up); `finish` ends the step early, successfully. */
export interface OpOutcome {
  facts?: Partial<Facts>;
  local?: Record<string, unknown>;
  acquire?: Omit<Acquisition, 'step'>[];
  warn?: string;
  fail?: string;
  finish?: boolean;
}

export type Op =
  | {
      kind: 'effect';
      effect: EffectName;
      /** The request, or null when the op does not apply. */
      /** The request's fields besides `effect` (the engine adds `effect`, `id` and `step`), or null when the op does not apply. */
      ask(s: Scope): Omit<EffectRequest, 'effect'> | null;
      done?(s: Scope, result: unknown): OpOutcome | undefined;
      /** By default an effect error fails the step; an op may tolerate it (dockerd's warnings). */
      failed?(s: Scope, error: EffectError): OpOutcome | undefined;
    }
  | { kind: 'compute'; run(s: Scope): OpOutcome | undefined }
  /**
   * Waits, when `when` holds, until step `step` is done (a need that depends on what the step
   * has learned, e.g. restore needs containerd only for the containers it found).
   */
  | { kind: 'await'; step: string; when(s: Scope): boolean }
  /**
   * Waits until step `until` is done, unless a step awaits this one first: work that nothing
   * on the way to `until` needs goes after it, unless something needs it sooner (containerd's
   * client connects once the API is served, or as soon as restore has containers to reconcile).
   */
  | { kind: 'defer'; until: string };

export interface StepDef {
  id: string;
  needs: string[];
  /** What the step is, in one line (shown by `statedock sim` and the inspector). */
  title: string;
  ops: Op[];
}

const root = (s: Scope): string => s.facts.root ?? s.config.dataRoot;
const owner = (s: Scope) => ({ uid: s.facts.rootUid, gid: s.facts.rootGid });
const imageRoot = (s: Scope): string => `${root(s)}/image/${s.facts.graphDriver ?? 'unknown'}`;

/** Kernel version ordering on the numeric prefix (`6.1.0-13-amd64` → [6, 1, 0]). */
export function kernelAtLeast(release: string, min: [number, number, number]): boolean {
  const parts = release
    .split(/[.-]/)
    .slice(0, 3)
    .map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < 3; i++) {
    const have = Number.isFinite(parts[i]) ? (parts[i] as number) : 0;
    if (have !== min[i]) return have > (min[i] as number);
  }
  return true;
}

const supportedDrivers = ['overlay2', 'vfs'];

export const startupSteps: StepDef[] = [
  {
    id: 'setDefaultMtu',
    needs: [],
    title: 'MTU from the default route, else 1500',
    ops: [
      compute((s) =>
        s.config.mtu !== 0 ? { facts: { mtu: s.config.mtu }, finish: true } : undefined,
      ),
      effect('kernel.defaultRouteMtu', () => ({}), {
        done: (_, r) => ({ facts: { mtu: r.mtu ?? 1500 } }),
        failed: (_, e) => ({
          facts: { mtu: 1500 },
          warn: `could not read the default route's MTU, using 1500: ${e.message}`,
        }),
      }),
    ],
  },
  {
    id: 'verifyDaemonSettings',
    needs: [],
    title: 'refuse contradictory settings',
    ops: [
      compute((s) => {
        const c = s.config;
        if (c.bridge !== null && c.bridge !== '' && c.bip !== null && c.bip !== '')
          return {
            fail: 'You specified -b & --bip, mutually exclusive options. Please specify only one',
          };
        if (!c.iptables && !c.icc)
          return {
            fail: 'You specified --iptables=false with --icc=false. ICC=false uses iptables to function. Please set --icc or --iptables to true',
          };
        if (c.storageDriver !== null && !supportedDrivers.includes(c.storageDriver))
          return {
            fail: `error initializing graphdriver: driver not supported: ${c.storageDriver}`,
          };
        if (c.maxConcurrentDownloads < 0)
          return { fail: `invalid max concurrent downloads: ${c.maxConcurrentDownloads}` };
        if (c.maxConcurrentUploads < 0)
          return { fail: `invalid max concurrent uploads: ${c.maxConcurrentUploads}` };
        if (c.hosts.length === 0)
          return { fail: 'no API socket given: set -H unix:///path/to.sock' };
        return undefined;
      }),
    ],
  },
  {
    id: 'modifyRootKeyLimit',
    needs: ['verifyDaemonSettings'],
    title: 'raise the root keyring quota to 1,000,000 keys',
    ops: [
      effect('kernel.readSysctl', () => ({ key: 'kernel/keys/root_maxkeys' }), {
        done: (_, r) => {
          const maxKeys = Number.parseInt(r.value.trim(), 10);
          return Number.isFinite(maxKeys) && maxKeys >= 1_000_000 ? { finish: true } : undefined;
        },
        failed: (_, e) => ({ warn: rootKeyWarning(e), finish: true }),
      }),
      effect('kernel.writeSysctl', () => ({ key: 'kernel/keys/root_maxkeys', value: '1000000' }), {
        failed: (_, e) => ({ warn: rootKeyWarning(e), finish: true }),
      }),
      effect(
        'kernel.writeSysctl',
        () => ({ key: 'kernel/keys/root_maxbytes', value: '25000000' }),
        {
          failed: (_, e) => ({ warn: rootKeyWarning(e), finish: true }),
        },
      ),
    ],
  },
  {
    id: 'disableBridge',
    needs: ['verifyDaemonSettings'],
    title: 'bridge disabled when -b none',
    ops: [compute((s) => ({ facts: { disableBridge: s.config.bridge === 'none' } }))],
  },
  {
    id: 'platformSupported',
    needs: [],
    title: 'Linux only',
    ops: [
      effect('kernel.uname', () => ({}), {
        done: (_, r) =>
          r.sysname === 'Linux'
            ? { facts: { kernel: r } }
            : { fail: 'The Docker daemon is not supported on this platform.' },
      }),
    ],
  },
  {
    id: 'checkSystem',
    needs: ['platformSupported'],
    title: 'root, and kernel 3.10 or newer',
    ops: [
      compute((s) => {
        const k = s.facts.kernel;
        if (!k) return { fail: 'kernel facts missing' };
        if (k.euid !== 0) return { fail: 'The Docker daemon needs to be run as root' };
        if (!kernelAtLeast(k.release, [3, 10, 0]))
          return {
            fail: `Your Linux kernel version ${k.release} is not supported for running docker. Please upgrade your kernel to 3.10.0 or newer.`,
          };
        return undefined;
      }),
    ],
  },
  {
    id: 'setupRemappedRoot',
    needs: ['verifyDaemonSettings'],
    title: 'user-namespace remapping from /etc/subuid and /etc/subgid',
    ops: [
      compute((s) => {
        if (s.config.usernsRemap === null || s.config.usernsRemap === '')
          return { facts: { remappedRoot: null, rootUid: 0, rootGid: 0 }, finish: true };
        const spec = parseUsernsRemap(s.config.usernsRemap);
        if ('error' in spec) return { fail: spec.error };
        if (spec.user === 'root' || spec.user === '0')
          return {
            warn: 'User namespaces: root cannot be remapped with itself; user namespaces are OFF',
            facts: { remappedRoot: null, rootUid: 0, rootGid: 0 },
            finish: true,
          };
        return { local: { user: spec.user, groupName: spec.group } };
      }),
      effect('fs.readFile', () => ({ path: '/etc/passwd' }), {
        done: (_, r) => ({ local: { passwd: r.content } }),
      }),
      effect('fs.readFile', () => ({ path: '/etc/group' }), {
        done: (_, r) => ({ local: { groupFile: r.content } }),
      }),
      effect('fs.readFile', () => ({ path: '/etc/subuid', optional: true }), {
        done: (_, r) => ({ local: { subuid: r.content ?? '' } }),
      }),
      effect('fs.readFile', () => ({ path: '/etc/subgid', optional: true }), {
        done: (_, r) => ({ local: { subgid: r.content ?? '' } }),
      }),
      compute((s) => {
        const l = s.local as {
          user: string;
          groupName: string | null;
          passwd: string;
          groupFile: string;
          subuid: string;
          subgid: string;
        };
        const who = resolveIdentity(l.user, l.groupName, l.passwd, l.groupFile);
        if ('error' in who) return { fail: `Can't create ID mappings: ${who.error}` };
        const subuid = parseSubIds(l.subuid, '/etc/subuid');
        if ('error' in subuid) return { fail: `Can't create ID mappings: ${subuid.error}` };
        const subgid = parseSubIds(l.subgid, '/etc/subgid');
        if ('error' in subgid) return { fail: `Can't create ID mappings: ${subgid.error}` };
        const maps = buildIdMaps(who, subuid.ranges, subgid.ranges);
        if ('error' in maps) return { fail: `Can't create ID mappings: ${maps.error}` };
        return {
          facts: {
            uidMaps: maps.uidMaps,
            gidMaps: maps.gidMaps,
            rootUid: maps.rootUid,
            rootGid: maps.rootGid,
            remappedRoot: `${who.userName}:${who.groupName}`,
          },
        };
      }),
    ],
  },
  {
    id: 'setupDaemonProcess',
    needs: ['verifyDaemonSettings'],
    title: 'oom score of the daemon process',
    ops: [
      effect(
        'kernel.setOomScoreAdj',
        (s) => (s.config.oomScoreAdjust === 0 ? null : { score: s.config.oomScoreAdjust }),
        {
          // dockerd swallows EPERM: an unprivileged or nested daemon cannot lower its score.
          failed: (_, e) =>
            e.code === 'EPERM'
              ? { warn: `oom_score_adj not set: ${e.message}` }
              : { fail: e.message },
        },
      ),
    ],
  },
  {
    id: 'dataRoot',
    needs: ['setupRemappedRoot'],
    title: 'data root 0711 (and the remapped root) and exec root 0700',
    ops: [
      mkdir('dataRoot', (s) => ({ path: s.config.dataRoot, mode: 0o711 })),
      effect('fs.chmod', (s) => ({ path: s.config.dataRoot, mode: 0o711 })),
      compute((s) =>
        s.facts.remappedRoot
          ? { facts: { root: `${s.config.dataRoot}/${s.facts.rootUid}.${s.facts.rootGid}` } }
          : { facts: { root: s.config.dataRoot } },
      ),
      mkdir('remappedRoot', (s) =>
        s.facts.remappedRoot ? { path: root(s), mode: 0o710, uid: 0, gid: s.facts.rootGid } : null,
      ),
      mkdir('execRoot', (s) => ({ path: s.config.execRoot, mode: 0o700 })),
    ],
  },
  {
    id: 'pidfile',
    needs: ['dataRoot'],
    title: 'claim the pidfile',
    ops: [
      effect('fs.createPidfile', (s) => ({ path: s.config.pidfile }), {
        done: (s, r) => ({
          facts: { pid: r.pid },
          acquire: [
            {
              resource: 'pidfile',
              release: [{ effect: 'fs.removePidfile', path: s.config.pidfile, pid: r.pid }],
            },
          ],
        }),
      }),
    ],
  },
  {
    id: 'listenApi',
    needs: ['pidfile'],
    title:
      "listen on the -H sockets (dockerd's listeners, before NewDaemon); requests wait until the API is served",
    ops: [
      // A client that connects while the daemon restores waits on the socket and is answered
      // the moment the API is served (serveApi), rather than finding no socket and polling
      // again. The sockets are the root's own once the pidfile is claimed.
      effect('api.listen', (s) => ({ sockets: s.config.hosts }), {
        done: (s) => ({
          acquire: [
            { resource: 'api', release: [{ effect: 'api.close', sockets: s.config.hosts }] },
          ],
        }),
      }),
    ],
  },
  {
    id: 'tempDir',
    needs: ['pidfile'],
    title: '<root>/tmp, emptied by renaming the old one away',
    ops: [
      compute((s) => ({
        local: {
          tmp: s.config.env.DOCKER_TMPDIR ?? `${root(s)}/tmp`,
          own: s.config.env.DOCKER_TMPDIR === undefined,
        },
      })),
      // A user-supplied DOCKER_TMPDIR is never emptied (moby prepareTempDir).
      effect(
        'fs.rename',
        (s) => (s.local['own'] ? { from: `${root(s)}/tmp`, to: `${root(s)}/tmp-old` } : null),
        {
          done: () => ({ local: { renamed: true } }),
          failed: (_, e) =>
            e.code === 'ENOENT'
              ? undefined
              : { warn: `failed to rename the old tmp dir for deletion: ${e.message}` },
        },
      ),
      effect('fs.removeAll', (s) => (s.local['renamed'] ? { path: `${root(s)}/tmp-old` } : null), {
        failed: (_, e) => ({ warn: `failed to delete old tmp directory: ${e.message}` }),
      }),
      mkdir(
        'tempDir',
        (s) => ({ path: String(s.local['tmp']), mode: 0o700, ...owner(s) }),
        (s, e) => `Unable to get the TempDir under ${root(s)}: ${e.message}`,
      ),
      effect('fs.realpath', (s) => ({ path: String(s.local['tmp']) }), {
        done: (_, r) => ({ facts: { tmpDir: r.path } }),
        failed: (s, e) => ({
          fail: `Unable to get the full path to the TempDir (${String(s.local['tmp'])}): ${e.message}`,
        }),
      }),
    ],
  },
  {
    id: 'setTmpdirEnv',
    needs: ['tempDir'],
    title: 'TMPDIR names the temp dir',
    ops: [
      effect('kernel.setEnv', (s) => ({ name: 'TMPDIR', value: s.facts.tmpDir ?? null }), {
        done: (_, r) => ({
          acquire: [
            {
              resource: 'env:TMPDIR',
              release: [{ effect: 'kernel.setEnv', name: 'TMPDIR', value: r.previous }],
            },
          ],
        }),
      }),
    ],
  },
  {
    id: 'setupSeccompProfile',
    needs: ['verifyDaemonSettings'],
    title: 'load --seccomp-profile',
    ops: [
      effect(
        'fs.readFile',
        (s) => (s.config.seccompProfile ? { path: s.config.seccompProfile } : null),
        {
          done: (s, r) => {
            try {
              JSON.parse(r.content ?? '');
            } catch (cause) {
              return { fail: `decoding seccomp profile failed: ${(cause as Error).message}` };
            }
            return { facts: { seccompProfile: r.content ?? '' } };
          },
          failed: (s, e) => ({
            fail: `opening seccomp profile (${s.config.seccompProfile ?? ''}) failed: ${e.message}`,
          }),
        },
      ),
    ],
  },
  {
    id: 'setDefaultIsolation',
    needs: [],
    title: 'isolation mode (Windows only)',
    ops: [],
  },
  {
    id: 'configureMaxThreads',
    needs: [],
    title: '90% of threads-max',
    ops: [
      effect('kernel.readSysctl', () => ({ key: 'kernel/threads-max' }), {
        done: (_, r) => {
          const max = Number.parseInt(r.value.trim(), 10);
          return Number.isFinite(max)
            ? { facts: { maxThreads: Math.floor(max / 100) * 90 } }
            : {
                warn: `Failed to configure the threads limit: threads-max is ${JSON.stringify(r.value)}`,
              };
        },
        failed: (_, e) => ({ warn: `Failed to configure the threads limit: ${e.message}` }),
      }),
    ],
  },
  {
    id: 'ensureDefaultAppArmorProfile',
    needs: ['setTmpdirEnv'],
    title: 'AppArmor profile when AppArmor is on',
    ops: [
      effect('kernel.appArmorStatus', () => ({}), {
        done: (_, r) =>
          r.enabled
            ? {
                facts: { appArmor: true },
                warn: 'AppArmor enabled on system but the docker-default profile could not be loaded.',
              }
            : { facts: { appArmor: false } },
        failed: (_, e) => ({
          warn: `Could not check if docker-default AppArmor profile was loaded: ${e.message}`,
        }),
      }),
    ],
  },
  {
    id: 'containersDir',
    needs: ['pidfile'],
    title: '<root>/containers 0710',
    ops: [
      mkdir('containers', (s) => ({
        path: `${root(s)}/containers`,
        mode: 0o710,
        uid: 0,
        gid: s.facts.rootGid,
      })),
    ],
  },
  {
    id: 'graphDriverName',
    needs: ['verifyDaemonSettings'],
    title: '$DOCKER_DRIVER, else --storage-driver',
    ops: [
      compute((s) => {
        const fromEnv = s.config.env.DOCKER_DRIVER;
        if (fromEnv !== undefined && fromEnv !== '') {
          if (!supportedDrivers.includes(fromEnv))
            return { fail: `error initializing graphdriver: driver not supported: ${fromEnv}` };
          return {
            facts: { graphDriverName: fromEnv },
            warn: `Setting the storage driver from the $DOCKER_DRIVER environment variable (${fromEnv})`,
          };
        }
        return { facts: { graphDriverName: s.config.storageDriver } };
      }),
    ],
  },
  {
    id: 'pluginManager',
    needs: ['pidfile'],
    title: 'plugin store and manager',
    ops: [
      mkdir('plugins', (s) => ({ path: `${root(s)}/plugins/storage/blobs`, mode: 0o700 })),
      mkdir('pluginsTmp', (s) => ({ path: `${root(s)}/plugins/tmp`, mode: 0o700 })),
      mkdir('pluginsExec', (s) => ({ path: `${s.config.execRoot}/plugins`, mode: 0o700 })),
    ],
  },
  {
    id: 'layerStore',
    needs: ['pluginManager', 'graphDriverName', 'containersDir'],
    title: 'graph driver (overlay2, vfs where overlay is unavailable) and layer metadata',
    ops: [
      // The overlay probe (a mount in a child process) and the image store after it are work
      // the API's first answer does not need: they go once the API is served, unless restore has
      // stored containers (their root filesystems are the driver's) and demands them sooner.
      // Requests that use images or layers wait at the API's gate until they are done.
      deferUntil('serveApi'),
      compute((s) =>
        s.facts.graphDriverName ? { local: { chosen: s.facts.graphDriverName } } : undefined,
      ),
      // Without a name, a driver that already has state wins (moby driver_linux.go priority).
      effect('fs.stat', (s) => (s.local['chosen'] ? null : { path: `${root(s)}/overlay2` }), {
        done: (_, r) => (r.exists ? { local: { chosen: 'overlay2' } } : undefined),
      }),
      effect('fs.stat', (s) => (s.local['chosen'] ? null : { path: `${root(s)}/vfs` }), {
        done: (_, r) => (r.exists ? { local: { chosen: 'vfs' } } : undefined),
      }),
      effect(
        'kernel.probeOverlay',
        (s) => (s.local['chosen'] === 'vfs' ? null : { path: root(s) }),
        {
          done: (s, r) => {
            if (r.supported) return { local: { chosen: 'overlay2' } };
            if (s.local['chosen'] === 'overlay2')
              return {
                fail: `error initializing graphdriver: driver not supported: overlay2: ${r.reason ?? 'overlay is not available'}`,
              };
            return {
              local: { chosen: 'vfs' },
              warn: `overlay2 is not available (${r.reason ?? 'unknown reason'}); using vfs`,
            };
          },
        },
      ),
      compute((s) => ({ facts: { graphDriver: String(s.local['chosen']) } })),
      mkdir('graphDriverHome', (s) => ({
        path: `${root(s)}/${s.facts.graphDriver ?? ''}`,
        mode: 0o710,
        uid: 0,
        gid: s.facts.rootGid,
      })),
      compute((s) => ({
        // Layer mounts made from here on are unmounted by the driver's cleanup; dockerd skips it under live-restore.
        acquire: [
          {
            resource: 'layerStore',
            release: [
              { effect: 'kernel.unmountUnder', path: `${root(s)}/${s.facts.graphDriver ?? ''}` },
            ],
            keptUnderLiveRestore: true,
          },
        ],
      })),
      mkdir('layerdb', (s) => ({ path: `${imageRoot(s)}/layerdb`, mode: 0o700 })),
    ],
  },
  {
    id: 'configureKernelSecuritySupport',
    needs: ['layerStore'],
    title: 'SELinux support for the driver (off)',
    ops: [],
  },
  {
    id: 'transferManagers',
    needs: ['layerStore'],
    title: 'download (3) and upload (5) concurrency',
    ops: [
      compute((s) => ({
        facts: {
          maxConcurrentDownloads: s.config.maxConcurrentDownloads,
          maxConcurrentUploads: s.config.maxConcurrentUploads,
        },
      })),
    ],
  },
  {
    id: 'imageStore',
    needs: ['layerStore'],
    title: 'image/<driver>/imagedb content and metadata',
    ops: [
      mkdir('imagedbContent', (s) => ({
        path: `${imageRoot(s)}/imagedb/content/sha256`,
        mode: 0o700,
      })),
      mkdir('imagedbMetadata', (s) => ({
        path: `${imageRoot(s)}/imagedb/metadata/sha256`,
        mode: 0o700,
      })),
    ],
  },
  {
    id: 'volumes',
    needs: ['pidfile'],
    title: '<root>/volumes for the local driver',
    ops: [mkdir('volumes', (s) => ({ path: `${root(s)}/volumes`, mode: 0o701, ...owner(s) }))],
  },
  {
    id: 'trustKey',
    needs: ['pidfile'],
    title: 'load or create the libtrust key',
    ops: [
      // Making a P-256 key (or reading one and hashing it into its key ID) is CPU the first
      // answer does not need: only /info reports the ID, and it waits for every step.
      deferUntil('serveApi'),
      effect('fs.loadOrCreateTrustKey', (s) => ({ path: `${root(s)}/key.json` }), {
        done: (s, r) => ({
          facts: { keyId: r.keyId },
          ...(r.created
            ? {
                acquire: [
                  {
                    resource: 'file:key.json',
                    release: [
                      { effect: 'fs.removeCreated' as const, paths: [`${root(s)}/key.json`] },
                    ],
                    rollbackOnly: true,
                  },
                ],
              }
            : {}),
        }),
      }),
    ],
  },
  {
    id: 'trustDir',
    needs: ['pidfile'],
    title: '<root>/trust 0700',
    ops: [mkdir('trust', (s) => ({ path: `${root(s)}/trust`, mode: 0o700 }))],
  },
  {
    id: 'distributionMetadata',
    needs: ['layerStore'],
    title: 'image/<driver>/distribution',
    ops: [mkdir('distribution', (s) => ({ path: `${imageRoot(s)}/distribution`, mode: 0o700 }))],
  },
  {
    id: 'eventsService',
    needs: [],
    title: 'in-memory event stream',
    ops: [],
  },
  {
    id: 'referenceStore',
    needs: ['layerStore'],
    title: 'image/<driver>/repositories.json',
    ops: [
      effect(
        'fs.readFile',
        (s) => ({ path: `${imageRoot(s)}/repositories.json`, optional: true }),
        {
          done: (_, r) => {
            if (r.content === null) return { local: { missing: true } };
            try {
              JSON.parse(r.content);
              return undefined;
            } catch (cause) {
              return {
                fail: `Couldn't create reference store repository: ${(cause as Error).message}`,
              };
            }
          },
        },
      ),
      effect(
        'fs.writeFileAtomic',
        (s) =>
          s.local['missing']
            ? {
                path: `${imageRoot(s)}/repositories.json`,
                content: '{"Repositories":{}}',
                mode: 0o600,
              }
            : null,
        {
          done: (s, r) =>
            r.created
              ? {
                  acquire: [
                    {
                      resource: 'file:repositories.json',
                      release: [
                        {
                          effect: 'fs.removeCreated',
                          paths: [`${imageRoot(s)}/repositories.json`],
                        },
                      ],
                      rollbackOnly: true,
                    },
                  ],
                }
              : undefined,
          failed: (_, e) => ({ fail: `Couldn't create reference store repository: ${e.message}` }),
        },
      ),
    ],
  },
  {
    id: 'migrateV1',
    needs: ['layerStore', 'imageStore', 'referenceStore', 'distributionMetadata'],
    title: 'pre-1.10 graph migration (refused: not supported)',
    ops: [
      effect('fs.stat', (s) => ({ path: `${root(s)}/graph` }), {
        done: (_, r) =>
          r.exists
            ? {
                warn: 'Graph migration failed: a pre-1.10 graph was found and statedock does not migrate it; it is left as it is',
              }
            : undefined,
        failed: (_, e) => ({ warn: `Graph migration check failed: ${e.message}` }),
      }),
    ],
  },
  {
    id: 'discovery',
    needs: ['verifyDaemonSettings'],
    title: 'cluster discovery (not configured)',
    ops: [],
  },
  {
    id: 'sysInfo',
    needs: [],
    title: 'cgroups: the devices controller must be mounted',
    ops: [
      effect('kernel.cgroupInfo', () => ({}), {
        done: (_, r) =>
          r.devices
            ? { facts: { cgroupVersion: r.version } }
            : { fail: "Devices cgroup isn't mounted" },
      }),
    ],
  },
  {
    id: 'daemonId',
    needs: ['trustKey'],
    title: "the trust key's key ID",
    ops: [
      compute((s) =>
        s.facts.keyId ? { facts: { daemonId: s.facts.keyId } } : { fail: 'no trust key' },
      ),
    ],
  },
  {
    id: 'metadataStore',
    needs: ['containersDir'],
    title: 'the level database of containers, images and volumes',
    ops: [
      effect('store.open', (s) => ({ path: `${root(s)}/containers/metadata.db` }), {
        done: (s, r) => ({
          acquire: [
            ...(r.created
              ? [
                  {
                    resource: 'dir:metadata.db',
                    release: [
                      {
                        effect: 'fs.removeAll' as const,
                        path: `${root(s)}/containers/metadata.db`,
                      },
                    ],
                    rollbackOnly: true,
                  },
                ]
              : []),
            { resource: 'metadataStore', release: [{ effect: 'store.close' as const }] },
          ],
        }),
      }),
    ],
  },
  {
    id: 'inMemoryStores',
    needs: ['metadataStore', 'eventsService'],
    title: 'containers, exec commands, ID index, names',
    ops: [],
  },
  {
    id: 'execGc',
    needs: ['inMemoryStores'],
    title: 'drop finished exec commands every 5 minutes',
    ops: [
      effect('clock.startTicker', () => ({ name: 'execGc', intervalMs: 300_000 }), {
        done: () => ({
          acquire: [
            {
              resource: 'ticker:execGc',
              release: [{ effect: 'clock.stopTicker', name: 'execGc' }],
            },
          ],
        }),
      }),
    ],
  },
  {
    id: 'startContainerd',
    needs: ['pidfile'],
    title: 'supervised containerd under the exec root (unless --containerd)',
    ops: [
      // containerd's boot (its plugins, its databases' first writes) competes with the steps on
      // the way to the API for the disk and the CPUs, and the first answer needs none of it: it
      // starts once the API is served, unless restore has stored containers to reconcile (its
      // await of the client demands this step too). The client connects as soon as it is up.
      deferUntil('serveApi'),
      compute((s) =>
        s.config.containerdAddress
          ? { facts: { containerdAddress: s.config.containerdAddress }, finish: true }
          : undefined,
      ),
      effect(
        'containerd.startSupervised',
        (s) => ({ execRoot: s.config.execRoot, dataRoot: root(s), binary: 'containerd' }),
        {
          done: (_, r) => ({
            facts: { containerdPid: r.pid, containerdAddress: r.address },
            acquire: [
              {
                resource: 'containerd',
                release: [{ effect: 'containerd.stopSupervised', pid: r.pid, timeoutMs: 15_000 }],
              },
            ],
          }),
          failed: (_, e) => ({ fail: `failed to start containerd: ${e.message}` }),
        },
      ),
    ],
  },
  {
    id: 'containerdClient',
    needs: ['startContainerd'],
    title: 'client of containerd in our namespace',
    ops: [
      effect(
        'containerd.connect',
        (s) => ({
          address: s.facts.containerdAddress ?? '',
          namespace: s.config.containerdNamespace,
          timeoutMs: 10_000,
        }),
        {
          done: (_, r) => ({
            facts: { containerdVersion: r.version },
            acquire: [{ resource: 'containerdClient', release: [{ effect: 'containerd.close' }] }],
          }),
          failed: (_, e) => ({
            fail: `Failed to connect to containerd. Please make sure containerd is installed in your PATH or you have specified the correct address. Got error: ${e.message}`,
          }),
        },
      ),
    ],
  },
  {
    id: 'restore',
    // containerd's client is no need: restore waits for it only when there are containers to
    // reconcile (the await below), so a daemon with none answers while containerd boots.
    needs: [
      'containersDir',
      'pluginManager',
      'eventsService',
      'inMemoryStores',
      'metadataStore',
      'volumes',
    ],
    title: 'load containers and reconcile them with containerd',
    ops: [
      effect('store.list', () => ({ prefix: 'container/' }), {
        done: (_, r) => ({ local: { stored: r.entries } }),
      }),
      effect('store.list', () => ({ prefix: 'spec/' }), {
        done: (_, r) => ({ local: { specs: r.entries } }),
      }),
      effect('rootfs.listMounted', () => ({}), {
        done: (_, r) => ({ local: { mounted: r.containers } }),
      }),
      // Only a stored container can have a task or a shim of a cancelled create (its record is
      // written before its task is asked for, and removed only after the task is deleted), so
      // without one there is nothing to ask containerd. Stored containers are also the layer
      // and image stores' (their root filesystems, their images): restore reconciles them with
      // both in place. The three awaits follow one another, so the three go on together.
      awaitStep('containerdClient', hasStoredContainers),
      awaitStep('layerStore', hasStoredContainers),
      awaitStep('imageStore', hasStoredContainers),
      effect('containerd.listTasks', (s) => (hasStoredContainers(s) ? {} : null), {
        done: (_, r) => ({ local: { tasks: r.tasks } }),
      }),
      // A create the dead daemon's connection was carrying leaves containerd's shim running.
      effect('containerd.reapOrphanShims', (s) => (hasStoredContainers(s) ? {} : null), {
        done: (_, r) =>
          r.reaped.length === 0
            ? undefined
            : {
                warn: `killed the containerd shims of cancelled task creations: ${r.reaped.join(', ')}`,
              },
        failed: (_, e) => ({ warn: `could not look for orphaned shims: ${e.message}` }),
      }),
      compute((s) => ({ facts: { containers: reconcile(s.local) } })),
      // What a crash mid-create or mid-removal left of containers no record names.
      effect('store.delAll', (s) => {
        const keys = orphanSpecs(s.local);
        return keys.length === 0 ? null : { keys };
      }),
      // A shareable /dev/shm the dead daemon left mounted (dockerd's cleanupMounts `shm`
      // pattern): only a live task keeps its own (its exit unmounts it). Before the sweep
      // below, which removes directories a mount point would keep busy.
      effect(
        'kernel.sweepShm',
        (s) => ({ containersDir: `${root(s)}/containers`, keep: liveTasks(s.local) }),
        {
          done: (_, r) =>
            r.unmounted.length === 0
              ? undefined
              : { warn: `unmounted the /dev/shm a crash left of: ${r.unmounted.join(', ')}` },
          failed: (_, e) => ({ warn: `could not unmount a stale /dev/shm: ${e.message}` }),
        },
      ),
      effect('rootfs.sweep', (s) => ({ keep: (s.facts.containers ?? []).map((c) => c.id) }), {
        done: (_, r) =>
          r.removed.length === 0
            ? undefined
            : {
                warn: `removed what crashes left of containers no record names: ${r.removed.join(', ')}`,
              },
      }),
    ],
  },
  networkControllerStep(),
  {
    id: 'systemInfo',
    // Host facts only (CPUs, memory, OS, runc): nothing to wait for. Asking runc its version is
    // a fork the first answer does not need; /info and /version, which report it, are answered
    // once every step but containerd's boot and client is done (src/daemon/api-endpoint.ts).
    needs: [],
    title: 'engine facts: CPUs, memory, OS',
    ops: [
      deferUntil('serveApi'),
      effect('kernel.systemInfo', () => ({}), { done: (_, r) => ({ facts: { systemInfo: r } }) }),
    ],
  },
  {
    id: 'setupDumpStackTrap',
    needs: ['pidfile'],
    title: 'SIGUSR1 writes the actors to a file under the exec root',
    ops: [
      effect('kernel.trapDumpSignal', (s) => ({ dir: s.config.execRoot }), {
        done: () => ({
          acquire: [
            { resource: 'signal:SIGUSR1', release: [{ effect: 'kernel.untrapDumpSignal' }] },
          ],
        }),
      }),
    ],
  },
  // The API sockets open once restore is done: a client that gets an answer talks to a daemon
  // that has restored. Its needs are the steps nothing else needs but those deferred until it
  // (containerd's client, the trust key, the layer and image stores, the network controller,
  // systemInfo): /_ping answers at once; every other request waits at the API's gate until all
  // of them but containerd's are done (`answerSteps`), and the container host holds what asks
  // containerd until its client is connected (src/host/containers.ts).
  {
    id: 'serveApi',
    needs: [
      'modifyRootKeyLimit',
      'checkSystem',
      'setupDaemonProcess',
      'setupSeccompProfile',
      'setDefaultIsolation',
      'configureMaxThreads',
      'ensureDefaultAppArmorProfile',
      'trustDir',
      'discovery',
      'sysInfo',
      'execGc',
      'setupDumpStackTrap',
      'setDefaultMtu',
      'disableBridge',
      'graphDriverName',
      'restore',
      'listenApi',
    ],
    title: 'serve the Engine API: answer the requests waiting on the sockets, and every one after',
    ops: [effect('api.serve', () => ({}))],
  },
];

function rootKeyWarning(e: EffectError): string {
  return `unable to modify root key limit, number of containers could be limited by this quota: ${e.message}`;
}

/** What restore listed: the store's containers and specs, containerd's tasks, the mounted roots. */
interface Listed {
  stored?: { key: string; value: unknown }[];
  specs?: { key: string; value: unknown }[];
  tasks?: ResultOf<'containerd.listTasks'>['tasks'];
  mounted?: string[];
}

function listed(local: Readonly<Record<string, unknown>>): Listed {
  return local;
}

/** Whether restore found containers in the store (then it reconciles them with containerd's tasks). */
function hasStoredContainers(s: Scope): boolean {
  return (listed(s.local).stored?.length ?? 0) > 0;
}

/** What restore makes of the store and containerd's tasks: what each container actor starts from. */
export function reconcile(local: Readonly<Record<string, unknown>>): RestoredContainer[] {
  const l = listed(local);
  const tasks = new Map((l.tasks ?? []).map((t) => [t.id, t]));
  const specs = new Map((l.specs ?? []).map((e) => [e.key.slice('spec/'.length), e.value]));
  const mounted = new Set(l.mounted ?? []);
  return (l.stored ?? []).map(({ value }) => {
    const record = value as ContainerRecord;
    const task = tasks.get(record.id);
    const state: RestoredContainer['task'] =
      task === undefined
        ? 'none'
        : task.status === 'running'
          ? 'running'
          : task.status === 'paused' || task.status === 'pausing'
            ? 'paused'
            : 'stopped';
    return {
      id: record.id,
      record,
      spec: specs.get(record.id) ?? {},
      task: state,
      rootMounted: mounted.has(record.id) && state === 'none',
    };
  });
}

/** Containers whose task lives (running or paused) in containerd. */
function liveTasks(local: Readonly<Record<string, unknown>>): string[] {
  return (listed(local).tasks ?? [])
    .filter((t) => t.status === 'running' || t.status === 'paused' || t.status === 'pausing')
    .map((t) => t.id);
}

/** Specs whose container has no record (a create that crashed before it was saved). */
function orphanSpecs(local: Readonly<Record<string, unknown>>): string[] {
  const l = listed(local);
  const ids = new Set((l.stored ?? []).map((e) => e.key.slice('container/'.length)));
  return (l.specs ?? []).map((e) => e.key).filter((k) => !ids.has(k.slice('spec/'.length)));
}

export const stepById: ReadonlyMap<string, StepDef> = new Map(startupSteps.map((s) => [s.id, s]));
export const stepIds: readonly string[] = startupSteps.map((s) => s.id);

/**
 * The steps whose work the API's answers rely on, /_ping's aside: every step but containerd's
 * boot and its client's connect (the container host holds what asks containerd until the
 * client is connected). Both daemons open the API's gate, give restore's containers their
 * actors and answer /info and /version once all of these are done; the start-up constraints
 * check it on every trace (`startsAfter`).
 */
export const answerSteps: readonly string[] = stepIds.filter(
  (id) => id !== 'startContainerd' && id !== 'containerdClient',
);
