import type { CrashScenario } from './crash.ts';
import { sha256 } from '../../effects/registry/sim.ts';

/** The layers of the image the pull scenario pulls (each layer's content is its blob). */
const appLayers = ['base layer: busybox', 'second layer: /etc/app.conf', 'third layer: /srv/app'];

const forever = { exitAfterMs: null, exitCode: 0, ignoresTerm: false };
const probe = (exitCode: number, latencyMs: number) => ({ exitAfterMs: latencyMs, exitCode });
const seconds = (n: number) => n * 1e9;

/**
 * The crash scenarios `statedock explore --crash` walks point by point: dockerd's known
 * lifecycle bugs (named by their moby issues) and the everyday operations around them.
 */
export const crashScenarios: readonly CrashScenario[] = [
  {
    name: 'moby-51692',
    title:
      'the daemon is stopped while an --rm container runs: the container is removed before containerd closes',
    ops: [
      { atMs: 0, op: { op: 'run', name: 'web', rm: true, behaviour: forever } },
      { atMs: 1_000, op: { op: 'shutdown' } },
    ],
  },
  {
    name: 'moby-22312',
    title:
      'the daemon dies during docker rm -f: restore finishes the removal, the user can always remove',
    ops: [
      { atMs: 0, op: { op: 'run', name: 'db', behaviour: forever } },
      { atMs: 1_000, op: { op: 'rm', name: 'db', force: true } },
    ],
  },
  {
    name: 'moby-25157',
    title:
      'the host goes down with a running container: restore records exit 255, emits die, applies the restart policy',
    power: 'host',
    ops: [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'api',
          restart: { name: 'always', maximumRetryCount: 0 },
          behaviour: forever,
        },
      },
      { atMs: 0, op: { op: 'run', name: 'job', behaviour: forever } },
    ],
    horizonMs: 2_000,
  },
  {
    name: 'moby-30095',
    title:
      'under live-restore, a process dies while the daemon is down: restore records the exit and restarts per policy',
    liveRestore: true,
    ops: [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'worker',
          restart: { name: 'on-failure', maximumRetryCount: 2 },
          behaviour: { exitAfterMs: 3_000, exitCode: 3, ignoresTerm: false },
        },
      },
    ],
    horizonMs: 1_000,
    downtimeMs: 10_000,
  },
  {
    name: 'moby-20744',
    title: 'an --rm container exits while the daemon is down: restore removes it',
    ops: [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'once',
          rm: true,
          behaviour: { exitAfterMs: 2_000, exitCode: 0, ignoresTerm: false },
        },
      },
    ],
    horizonMs: 1_000,
    downtimeMs: 10_000,
  },
  {
    name: 'exec-live-restore',
    title:
      'the daemon dies while docker exec processes run in a container live-restore keeps: restore reaps them',
    liveRestore: true,
    ops: [
      { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever } },
      {
        atMs: 500,
        op: {
          op: 'exec',
          name: 'web',
          exec: 'shell',
          behaviour: { exitAfterMs: null, exitCode: 0 },
        },
      },
      {
        atMs: 600,
        op: { op: 'exec', name: 'web', exec: 'quick', behaviour: { exitAfterMs: 50, exitCode: 3 } },
      },
    ],
    horizonMs: 2_000,
  },
  {
    name: 'exec-stop',
    title:
      'the daemon dies during docker exec: restore stops the container, its exec processes die with it',
    ops: [
      { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever } },
      {
        atMs: 500,
        op: {
          op: 'exec',
          name: 'web',
          exec: 'shell',
          behaviour: { exitAfterMs: null, exitCode: 0 },
        },
      },
    ],
    horizonMs: 2_000,
  },
  {
    name: 'health-probing',
    title:
      'the daemon dies while a health probe runs (healthy, then failing, then a slow one timing out): nothing of the probes is left',
    liveRestore: true,
    ops: [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'api',
          behaviour: forever,
          health: {
            config: {
              Test: ['CMD', 'true'],
              Interval: seconds(1),
              Timeout: seconds(1),
              Retries: 2,
            },
            probes: [probe(0, 20), probe(1, 30), probe(1, 10), probe(0, 5_000), probe(0, 10)],
          },
        },
      },
    ],
    horizonMs: 6_000,
  },
  {
    name: 'commit',
    title: 'the daemon dies during docker commit: the image is there whole, or not at all',
    ops: [
      { atMs: 0, op: { op: 'run', name: 'web', behaviour: forever } },
      { atMs: 500, op: { op: 'commit', name: 'web', tag: 'snap:v1' } },
    ],
    horizonMs: 2_000,
  },
  {
    name: 'pull-interrupted',
    title:
      'the daemon dies mid-pull (a blob cut and resumed, a 429 waited out, one layer already here): no partial image, no temp file after restore',
    images: [
      { repository: 'base', tag: '1', layers: appLayers.slice(0, 1) },
      { repository: 'app', tag: '1', layers: appLayers },
    ],
    registryFaults: {
      resetMidBlob: [sha256(appLayers[1] as string)],
      throttleBlob: [{ digest: sha256(appLayers[2] as string), retryAfterMs: 400 }],
      slowBlobMs: 50,
    },
    ops: [
      { atMs: 0, op: { op: 'pull', repository: 'base', tag: '1' } },
      { atMs: 500, op: { op: 'pull', repository: 'app', tag: '1' } },
    ],
    horizonMs: 5_000,
  },
  {
    name: 'stop-and-shutdown',
    title:
      'docker stop of a process that ignores SIGTERM, then a normal shutdown with another running',
    ops: [
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'stubborn',
          stopTimeout: 1,
          behaviour: { exitAfterMs: null, exitCode: 0, ignoresTerm: true },
        },
      },
      { atMs: 0, op: { op: 'run', name: 'calm', behaviour: forever } },
      { atMs: 500, op: { op: 'stop', name: 'stubborn' } },
      { atMs: 3_000, op: { op: 'shutdown' } },
    ],
  },
  {
    name: 'net-publish',
    title:
      'published ports (docker run -p), a stop and a start that release and take them again, rm -f: no veth, rule or namespace outlives its container',
    ops: [
      {
        atMs: 0,
        op: { op: 'run', name: 'web', behaviour: forever, net: { publish: ['8080:80'] } },
      },
      {
        atMs: 0,
        op: {
          op: 'run',
          name: 'api',
          behaviour: forever,
          net: { publish: ['9090:90', '9091:91'] },
        },
      },
      { atMs: 400, op: { op: 'stop', name: 'web' } },
      { atMs: 800, op: { op: 'start', name: 'web' } },
      { atMs: 1_200, op: { op: 'rm', name: 'api', force: true } },
    ],
    horizonMs: 3_000,
  },
  {
    name: 'net-connect-disconnect',
    title:
      'a user network, a container on it, another connected (with an alias), disconnected and connected again, under live-restore: endpoints are kept or cleaned, never half',
    liveRestore: true,
    ops: [
      { atMs: 0, op: { op: 'networkCreate', network: 'back', subnet: '10.99.1.0/24' } },
      { atMs: 100, op: { op: 'run', name: 'db', behaviour: forever, net: { network: 'back' } } },
      { atMs: 100, op: { op: 'run', name: 'app', behaviour: forever } },
      { atMs: 600, op: { op: 'connect', network: 'back', name: 'app', alias: 'application' } },
      { atMs: 900, op: { op: 'disconnect', network: 'back', name: 'app' } },
      { atMs: 1_200, op: { op: 'connect', network: 'back', name: 'app' } },
    ],
    horizonMs: 3_000,
  },
  {
    name: 'net-remove',
    title:
      'a network in use cannot be removed; once its container is gone it is, bridge and rules last',
    ops: [
      { atMs: 0, op: { op: 'networkCreate', network: 'tmp' } },
      {
        atMs: 100,
        op: {
          op: 'run',
          name: 'x',
          behaviour: forever,
          net: { network: 'tmp', publish: ['7070:70'] },
        },
      },
      { atMs: 600, op: { op: 'networkRm', network: 'tmp' } },
      { atMs: 700, op: { op: 'rm', name: 'x', force: true } },
      { atMs: 1_100, op: { op: 'networkRm', network: 'tmp' } },
    ],
    horizonMs: 3_000,
  },
];
