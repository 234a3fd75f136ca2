import type { ExecBehaviour } from '../../effects/containerd/exec-sim.ts';
import type { TaskBehaviour } from '../../effects/sim/world.ts';
import { SimWorld } from '../../effects/sim/world.ts';
import type { TraceRecord } from '../../effects/trace.ts';
import type { Reply } from '../../src/host/containers.ts';
import { simConfig } from '../../src/sim/config.ts';
import {
  ClientHistory,
  containerIdOf,
  SimDaemon,
  simImageLayer,
  simNetConfig,
} from '../../src/sim/daemon.ts';
import { newRecord } from '../../src/sim/containers.ts';
import type { RestartPolicy } from '../../machines/container/restart.ts';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import type { NetworkCreateBody } from '../../src/daemon/network/controller.ts';
import type { ContainerUpdate } from '../../machines/container/types.ts';
import type { ExecReply } from '../../src/host/execs.ts';

/**
 * The conformance scenarios: what a user does to containers, written once and run on the
 * real host (containerd, runc, the docker API) and on the simulated host; and how their
 * traces are compared: each container actor's records, normalised (IDs, PIDs, times, paths),
 * must be the same on both hosts, record by record.
 */

export type Step =
  | {
      do: 'create';
      name: string;
      /** The busybox command on the real host; `behaviour` is how it behaves, for the simulated one. */
      cmd: string[];
      behaviour: TaskBehaviour;
      restart?: RestartPolicy;
      rm?: boolean;
      stopTimeout?: number;
      /** `-p HOST:CTR` (networking scenarios). */
      publish?: string[];
      /** `--network` (networking scenarios; the default bridge without it). */
      network?: string;
      /** `--ipc`: `shareable` (the daemon mounts its /dev/shm) or `container:NAME`. */
      ipc?: string;
    }
  | { do: 'start' | 'pause' | 'unpause'; name: string }
  | { do: 'stop'; name: string; t: number }
  | { do: 'kill'; name: string; signal: string }
  | { do: 'rm'; name: string; force: boolean }
  /** A start and, while it is in flight, `rm -f` (dockerd's container lock makes the removal wait). */
  | { do: 'startThenForceRemove'; name: string }
  /** Until the container has exited (or is gone). */
  | { do: 'waitExited'; name: string }
  /** Until the container is gone. */
  | { do: 'waitRemoved'; name: string }
  /** Until the container runs again after `count` restarts of its policy. */
  | { do: 'waitRestarted'; name: string; count: number }
  /** SIGKILL to the daemon while nothing is in flight; then it starts again. */
  | { do: 'crash'; liveRestore: boolean }
  /** `docker network create --subnet <the scenario network's second /24> NAME`. */
  | { do: 'networkCreate'; network: string }
  | { do: 'networkRm'; network: string }
  | { do: 'connect'; network: string; name: string; alias?: string }
  | { do: 'disconnect'; network: string; name: string }
  /**
   * `docker exec -d NAME CMD` (create, then a detached start), known afterwards as `exec`;
   * `behaviour` is how it behaves on the simulated host.
   */
  | { do: 'exec'; name: string; exec: string; cmd: string[]; behaviour: ExecBehaviour }
  /** Until the exec's exit is recorded. */
  | { do: 'waitExec'; exec: string }
  /** `docker update --memory BYTES NAME`. */
  | { do: 'update'; name: string; memory: number };

export interface Scenario {
  name: string;
  liveRestore?: boolean;
  /**
   * The daemon runs with networking, on the bridge and subnets of `ScenarioNet` (the real
   * host's are the test's own); the others run with none (`--bridge=none`, no iptables).
   */
  networking?: boolean;
  steps: Step[];
}

/** The bridge, its subnet, a user network's subnet and a published port of the networking scenarios: the same on both hosts. */
export interface ScenarioNet {
  bridge: string;
  /** The bridge's address (`-b` takes an existing bridge with its address). */
  cidr: string;
  /** The subnet `networkCreate` gives its network. */
  userSubnet: string;
  /** The pool of user networks without a subnet (`--default-address-pool base=…,size=28`). */
  pool: string;
  /** The host port `publish` steps use (`${port}`). */
  port: number;
  /** The MTU of the host's default route (what links and endpoints get): the real host's. */
  mtu: number;
  /** The host's /etc/resolv.conf (its nameservers are the user networks' upstreams): the real host's. */
  resolvConf: string;
}

/** A scenario network of the 10.213.0.0/16 the network tests use, picked at random (tests on one host do not collide). */
export function pickScenarioNet(): ScenarioNet {
  const octet = 2 + Math.floor(Math.random() * 120) * 2;
  return {
    bridge: `sdc-${Math.floor(Math.random() * 0xffffff)
      .toString(16)
      .padStart(6, '0')}`,
    cidr: `10.213.${octet}.1/24`,
    userSubnet: `10.213.${octet + 1}.0/24`,
    pool: `10.213.${octet + 1}.0/24`,
    port: 20000 + Math.floor(Math.random() * 20000),
    mtu: 1500,
    resolvConf: 'nameserver 192.0.2.53\n',
  };
}

/** `-p` with the scenario's port: `${port}` stands for it. */
export function publishOf(step: { publish?: string[] }, net: ScenarioNet): string[] {
  return (step.publish ?? []).map((p) => p.replace('${port}', String(net.port)));
}

/** The body of `networkCreate` (the same on both hosts). */
export function networkCreateBody(name: string, net: ScenarioNet): NetworkCreateBody {
  return { Name: name, CheckDuplicate: true, IPAM: { Config: [{ Subnet: net.userSubnet }] } };
}

/** The daemon's flags of a scenario on the real host. */
export function realDaemonFlags(s: Scenario, net: ScenarioNet, liveRestore: boolean): string[] {
  return [
    ...(s.networking === true
      ? ['-b', net.bridge, '--default-address-pool', `base=${net.pool},size=28`]
      : []),
    ...(liveRestore ? ['--live-restore'] : []),
  ];
}

const runs: TaskBehaviour = { exitAfterMs: null, exitCode: 0, ignoresTerm: true };

const exits3 = (ms: number): TaskBehaviour => ({
  exitAfterMs: ms,
  exitCode: 3,
  ignoresTerm: false,
});

/** `sleep 1000` as PID 1 has no SIGTERM handler: it ignores it (containerd-facts gotcha 9). */
const sleeper = ['sleep', '1000'];

/** An exec process that runs until it is killed. */
const execRuns: ExecBehaviour = { exitAfterMs: null, exitCode: 0 };

/** What `docker update --memory` sends the container's actor (src/daemon/containers/update-routes.ts). */
export function memoryUpdate(memory: number): ContainerUpdate {
  return {
    config: { memory },
    hostConfig: { Memory: memory },
    resources: { memory: { limit: memory } },
  };
}

export const scenarios: Scenario[] = [
  {
    name: 'run --rm',
    steps: [
      {
        do: 'create',
        name: 'once',
        cmd: ['sh', '-c', 'sleep 0.3; exit 3'],
        behaviour: exits3(300),
        rm: true,
      },
      { do: 'start', name: 'once' },
      { do: 'waitRemoved', name: 'once' },
    ],
  },
  {
    name: 'create, start, stop, rm',
    steps: [
      { do: 'create', name: 'web', cmd: sleeper, behaviour: runs, stopTimeout: 1 },
      { do: 'start', name: 'web' },
      { do: 'stop', name: 'web', t: 1 },
      { do: 'rm', name: 'web', force: false },
    ],
  },
  {
    name: 'kill',
    steps: [
      { do: 'create', name: 'kk', cmd: sleeper, behaviour: runs },
      { do: 'start', name: 'kk' },
      { do: 'kill', name: 'kk', signal: 'KILL' },
      { do: 'waitExited', name: 'kk' },
      { do: 'rm', name: 'kk', force: false },
    ],
  },
  {
    name: 'pause, unpause',
    steps: [
      { do: 'create', name: 'pp', cmd: sleeper, behaviour: runs },
      { do: 'start', name: 'pp' },
      { do: 'pause', name: 'pp' },
      { do: 'unpause', name: 'pp' },
      { do: 'rm', name: 'pp', force: true },
      { do: 'waitRemoved', name: 'pp' },
    ],
  },
  {
    name: 'restart policy after an exit',
    steps: [
      {
        do: 'create',
        name: 'flaky',
        cmd: ['sh', '-c', 'sleep 0.3; exit 3'],
        behaviour: exits3(300),
        restart: { name: 'on-failure', maximumRetryCount: 1 },
      },
      { do: 'start', name: 'flaky' },
      { do: 'waitRestarted', name: 'flaky', count: 1 },
      { do: 'waitExited', name: 'flaky' },
      { do: 'rm', name: 'flaky', force: false },
    ],
  },
  {
    name: 'rm -f of a running container',
    steps: [
      { do: 'create', name: 'gone', cmd: sleeper, behaviour: runs },
      { do: 'start', name: 'gone' },
      { do: 'rm', name: 'gone', force: true },
    ],
  },
  {
    name: 'rm -f during a start',
    steps: [
      { do: 'create', name: 'racer', cmd: sleeper, behaviour: runs },
      { do: 'startThenForceRemove', name: 'racer' },
    ],
  },
  {
    name: 'restore after SIGKILL, live-restore on',
    liveRestore: true,
    steps: [
      { do: 'create', name: 'live', cmd: sleeper, behaviour: runs, stopTimeout: 1 },
      { do: 'start', name: 'live' },
      { do: 'crash', liveRestore: true },
      { do: 'rm', name: 'live', force: true },
    ],
  },
  {
    name: 'publish: run -p, stop, start again, rm -f',
    networking: true,
    steps: [
      {
        do: 'create',
        name: 'web',
        cmd: sleeper,
        behaviour: runs,
        stopTimeout: 1,
        publish: ['${port}:80'],
      },
      { do: 'start', name: 'web' },
      { do: 'stop', name: 'web', t: 1 },
      { do: 'start', name: 'web' },
      { do: 'rm', name: 'web', force: true },
    ],
  },
  {
    name: 'network connect, disconnect, rm',
    networking: true,
    steps: [
      { do: 'networkCreate', network: 'back' },
      { do: 'create', name: 'app', cmd: sleeper, behaviour: runs, stopTimeout: 1 },
      { do: 'start', name: 'app' },
      { do: 'connect', network: 'back', name: 'app', alias: 'application' },
      { do: 'disconnect', network: 'back', name: 'app' },
      { do: 'connect', network: 'back', name: 'app' },
      { do: 'rm', name: 'app', force: true },
      { do: 'networkRm', network: 'back' },
    ],
  },
  {
    name: 'a container on a user network, restored after SIGKILL with live-restore',
    networking: true,
    liveRestore: true,
    steps: [
      { do: 'networkCreate', network: 'back' },
      {
        do: 'create',
        name: 'db',
        cmd: sleeper,
        behaviour: runs,
        stopTimeout: 1,
        network: 'back',
      },
      { do: 'start', name: 'db' },
      { do: 'crash', liveRestore: true },
      { do: 'stop', name: 'db', t: 1 },
      { do: 'rm', name: 'db', force: false },
      { do: 'networkRm', network: 'back' },
    ],
  },
  {
    name: 'exec: an exit status, a command runc cannot start',
    steps: [
      { do: 'create', name: 'shell', cmd: sleeper, behaviour: runs },
      { do: 'start', name: 'shell' },
      {
        do: 'exec',
        name: 'shell',
        exec: 'quick',
        cmd: ['sh', '-c', 'sleep 0.3; exit 3'],
        behaviour: { exitAfterMs: 300, exitCode: 3 },
      },
      { do: 'waitExec', exec: 'quick' },
      {
        do: 'exec',
        name: 'shell',
        exec: 'missing',
        cmd: ['/nonexistent'],
        behaviour: {
          exitAfterMs: null,
          exitCode: 0,
          startError:
            'OCI runtime exec failed: exec failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
        },
      },
      { do: 'waitExec', exec: 'missing' },
      { do: 'rm', name: 'shell', force: true },
    ],
  },
  {
    name: 'exec: its container is killed while it runs (the process dies with the task)',
    steps: [
      { do: 'create', name: 'host', cmd: sleeper, behaviour: runs },
      { do: 'start', name: 'host' },
      { do: 'exec', name: 'host', exec: 'inside', cmd: sleeper, behaviour: execRuns },
      { do: 'kill', name: 'host', signal: 'KILL' },
      { do: 'waitExited', name: 'host' },
      { do: 'waitExec', exec: 'inside' },
      { do: 'rm', name: 'host', force: false },
    ],
  },
  {
    name: 'update: a running container (its cgroup, then the record), then a stopped one',
    steps: [
      { do: 'create', name: 'upd', cmd: sleeper, behaviour: runs, stopTimeout: 1 },
      { do: 'start', name: 'upd' },
      { do: 'update', name: 'upd', memory: 64 * 1024 * 1024 },
      { do: 'stop', name: 'upd', t: 1 },
      { do: 'update', name: 'upd', memory: 32 * 1024 * 1024 },
      { do: 'rm', name: 'upd', force: false },
    ],
  },
  {
    name: 'restore after SIGKILL with an exec running, live-restore on: the sweep reaps it',
    liveRestore: true,
    steps: [
      { do: 'create', name: 'kept', cmd: sleeper, behaviour: runs, stopTimeout: 1 },
      { do: 'start', name: 'kept' },
      { do: 'exec', name: 'kept', exec: 'orphan', cmd: sleeper, behaviour: execRuns },
      { do: 'crash', liveRestore: true },
      { do: 'rm', name: 'kept', force: true },
    ],
  },
  {
    name: 'ipc shareable: its /dev/shm around its task, a container joining it, a restart, rm -f',
    steps: [
      {
        do: 'create',
        name: 'donor',
        cmd: sleeper,
        behaviour: runs,
        stopTimeout: 1,
        ipc: 'shareable',
      },
      { do: 'start', name: 'donor' },
      {
        do: 'create',
        name: 'joiner',
        cmd: sleeper,
        behaviour: runs,
        stopTimeout: 1,
        ipc: 'container:donor',
      },
      { do: 'start', name: 'joiner' },
      { do: 'rm', name: 'joiner', force: true },
      { do: 'stop', name: 'donor', t: 1 },
      { do: 'start', name: 'donor' },
      { do: 'rm', name: 'donor', force: true },
    ],
  },
  {
    name: 'ipc shareable, restored after SIGKILL with live-restore off: its exit unmounts its /dev/shm',
    steps: [
      {
        do: 'create',
        name: 'shm',
        cmd: sleeper,
        behaviour: runs,
        stopTimeout: 1,
        ipc: 'shareable',
      },
      { do: 'start', name: 'shm' },
      { do: 'crash', liveRestore: false },
      { do: 'waitExited', name: 'shm' },
      { do: 'rm', name: 'shm', force: false },
    ],
  },
  {
    name: 'restore after SIGKILL, live-restore off',
    steps: [
      { do: 'create', name: 'dead', cmd: sleeper, behaviour: runs, stopTimeout: 1 },
      { do: 'start', name: 'dead' },
      { do: 'crash', liveRestore: false },
      { do: 'waitExited', name: 'dead' },
      { do: 'rm', name: 'dead', force: false },
    ],
  },
];

// — the simulated host —

/**
 * Runs a scenario on the simulated host; the traces of each of the daemon's lives. `alter`
 * changes the simulated host first (a test proves the comparison notices a handler that
 * behaves differently).
 */
export function runSimulated(
  s: Scenario,
  seed = 1,
  alter: (world: SimWorld) => void = () => undefined,
  net: ScenarioNet = pickScenarioNet(),
): TraceRecord[][] {
  // The real host's facts the daemon's choices depend on: its resolv.conf, and (networking)
  // its default route's MTU and the bridge `-b` names.
  const world = new SimWorld({
    seed,
    host: {
      files: { '/etc/resolv.conf': net.resolvConf },
      ...(s.networking === true
        ? {
            mtu: net.mtu,
            net: { links: { [net.bridge]: { kind: 'bridge' as const, addresses: [net.cidr] } } },
          }
        : {}),
    },
  });
  alter(world);
  // As the real host's test daemons: with no networking of their own unless the scenario has some.
  const networkConfig: Partial<StartupConfig> =
    s.networking === true
      ? { bridge: net.bridge, defaultAddressPools: [{ base: net.pool, size: 28 }] }
      : { bridge: 'none', iptables: false, ipForward: false };
  const history = new ClientHistory();
  const lives: SimDaemon[] = [];
  let liveRestore = s.liveRestore ?? false;
  const boot = (): SimDaemon => {
    const d = new SimDaemon({
      world,
      config: { ...simConfig(null), ...networkConfig, liveRestore },
      seed: seed + lives.length,
      history,
    });
    lives.push(d);
    while (d.startup === null && !d.scheduler.idle) d.scheduler.runUntilIdle(1);
    if (d.startup?.status !== 'ready')
      throw new Error(`${s.name}: the simulated daemon did not start`);
    d.checkRestore();
    d.runUntilSettled();
    return d;
  };
  let d = boot();
  const until = (what: string, done: () => boolean): void => {
    for (let i = 0; !done(); i++) {
      if (d.scheduler.idle || i > 1_000_000) throw new Error(`${s.name}: never ${what}`);
      d.scheduler.runUntilIdle(1);
    }
  };
  const execIds = new Map<string, string>();
  const ask = (name: string, event: Parameters<SimDaemon['host']['request']>[1]): void => {
    const c = d.host.byName(name);
    if (c === null) throw new Error(`${s.name}: no container ${name}`);
    let reply: Reply | null = null;
    d.host.request(c.record.id, event, (r) => (reply = r));
    until(`answered ${event.type} ${name}`, () => reply !== null);
  };
  /** A network request as the API's /networks routes make it: to the network controller. */
  const network = (what: string, call: (done: (r: { ok: boolean }) => void) => void): void => {
    let answer: { ok: boolean } | null = null;
    call((r) => (answer = r));
    until(`answered ${what}`, () => answer !== null);
    if (!(answer as { ok: boolean } | null)?.ok) throw new Error(`${s.name}: ${what} failed`);
  };
  for (const step of s.steps) {
    switch (step.do) {
      case 'create': {
        const id = containerIdOf(step.name);
        world.behaviours.set(id, step.behaviour);
        const record = newRecord(id, {
          name: step.name,
          autoRemove: step.rm ?? false,
          stopTimeout: step.stopTimeout ?? 10,
          ...(step.restart ? { restartPolicy: step.restart } : {}),
        });
        // As the real create: none, or (networking) the bridge or the step's network and its ports.
        const netConfig = simNetConfig(id, {
          network: s.networking === true ? (step.network ?? 'default') : 'none',
          publish: publishOf(step, net),
        });
        let reply: Reply | null = null;
        d.host.create(
          {
            record: {
              ...record,
              config: {
                ...record.config,
                cmd: step.cmd,
                network: netConfig,
                networkMode: netConfig.mode,
                hostname: netConfig.hostname,
                // As the real create records it (dockerd's defaults filled in): what the machine reads.
                ...(step.ipc === undefined
                  ? {}
                  : {
                      hostConfig: {
                        IpcMode: step.ipc.startsWith('container:')
                          ? `container:${containerIdOf(step.ipc.slice('container:'.length))}`
                          : step.ipc,
                        ShmSize: 64 * 1024 * 1024,
                      },
                    }),
              },
            },
            spec: { process: { args: step.cmd } },
            rootfs: { driver: 'overlay2', layers: [simImageLayer] },
          },
          (r) => (reply = r),
        );
        until(`created ${step.name}`, () => reply !== null);
        break;
      }
      case 'start':
        ask(step.name, { type: 'api.start' });
        break;
      case 'pause':
        ask(step.name, { type: 'api.pause' });
        break;
      case 'unpause':
        ask(step.name, { type: 'api.unpause' });
        break;
      case 'stop':
        ask(step.name, { type: 'api.stop', timeoutS: step.t });
        break;
      case 'kill':
        ask(step.name, { type: 'api.kill', signal: step.signal });
        break;
      case 'rm': {
        const c = d.host.byName(step.name);
        ask(step.name, { type: 'api.remove', force: step.force });
        if (c) until(`removed ${step.name}`, () => d.host.contextOf(c.record.id) === null);
        break;
      }
      case 'startThenForceRemove': {
        const c = d.host.byName(step.name);
        if (c === null) throw new Error(`${s.name}: no container ${step.name}`);
        const replies: Reply[] = [];
        d.host.request(c.record.id, { type: 'api.start' }, (r) => replies.push(r));
        d.host.request(c.record.id, { type: 'api.remove', force: true }, (r) => replies.push(r));
        until(
          `removed ${step.name}`,
          () => replies.length === 2 && d.host.contextOf(c.record.id) === null,
        );
        break;
      }
      case 'waitExited':
        until(`exited ${step.name}`, () => {
          const c = d.host.byName(step.name);
          return c === null || (c.record.state.status === 'exited' && d.host.settled(true));
        });
        break;
      case 'waitRemoved':
        until(`removed ${step.name}`, () => d.host.byName(step.name) === null);
        break;
      case 'waitRestarted':
        until(`restarted ${step.name}`, () => {
          const c = d.host.byName(step.name);
          return (
            c !== null && c.record.restartCount >= step.count && c.record.state.status === 'running'
          );
        });
        break;
      case 'networkCreate':
        network(`network create ${step.network}`, (done) =>
          d.network.createNetwork(
            networkCreateBody(step.network, net),
            '2026-01-01T00:00:00.000Z',
            done,
          ),
        );
        break;
      case 'networkRm':
        network(`network rm ${step.network}`, (done) =>
          d.network.removeNetwork(step.network, done),
        );
        break;
      case 'connect':
        network(`network connect ${step.network} ${step.name}`, (done) =>
          d.network.connect(
            step.network,
            step.name,
            { aliases: step.alias === undefined ? [] : [step.alias], ipv4: null },
            done,
          ),
        );
        break;
      case 'disconnect':
        network(`network disconnect ${step.network} ${step.name}`, (done) =>
          d.network.disconnect(step.network, step.name, done),
        );
        break;
      case 'exec': {
        const c = d.host.byName(step.name);
        if (c === null) throw new Error(`${s.name}: no container ${step.name}`);
        const id = containerIdOf(`exec ${step.exec}`);
        execIds.set(step.exec, id);
        world.containerd.execs.behaviours.set(id, step.behaviour);
        d.execs.create(
          {
            id,
            container: c.record.id,
            entrypoint: step.cmd[0] ?? '',
            args: step.cmd.slice(1),
            user: '',
            privileged: false,
            tty: false,
            attachStdin: false,
            attachStdout: false,
            attachStderr: false,
            detachKeys: '',
            process: { args: step.cmd },
            consoleSize: null,
          },
          { ...c.record.config.labels, image: c.record.image, name: step.name },
        );
        let reply: ExecReply | null = null;
        d.execs.ask(id, { type: 'api.execStart', detach: true }, (r) => (reply = r));
        until(`started exec ${step.exec}`, () => reply !== null);
        break;
      }
      case 'waitExec': {
        const id = execIds.get(step.exec) ?? '';
        until(`exec ${step.exec} exited`, () =>
          ['exited', 'removed'].includes(d.execs.stateOf(id)),
        );
        break;
      }
      case 'update':
        ask(step.name, { type: 'api.update', update: memoryUpdate(step.memory) });
        break;
      case 'crash':
        d.runUntilSettled();
        d.kill();
        world.daemonExited();
        world.advance(100);
        liveRestore = step.liveRestore;
        d = boot();
        break;
    }
    d.runUntilSettled();
  }
  d.perform({ op: 'shutdown' });
  until('shut down', () => d.exited);
  return lives.map((l) => l.trace?.records ?? []);
}

// — comparing traces —

/** One record as the comparison sees it: what kind, and the facts that must agree. */
export type Token = string;

/** What a host names its own way, and the comparison leaves out. */
export interface HostNames {
  /** The data root. */
  root: string;
  /** The exec root (network namespaces are under it). */
  execRoot?: string;
  /** The bridge `-b` names. */
  bridge?: string;
}

/**
 * Each container's records in one life, normalised: container IDs become `c1`, `c2` … in
 * order of appearance, the data root `<root>`, and what depends on the host's timing or
 * numbering (PIDs, times, the spec, request ids) is left out. Results keep their kind (done,
 * or failed with its code) and the facts a machine decides on (a kill's `gone`, an exit
 * status).
 *
 * The network operations (`netOp` actors) are compared too, each under its operation's name
 * and its rank among operations of that name (`net sandboxUp web #2`): their requests and
 * results whole, with the IDs the network controller draws (sandboxes, endpoints, networks),
 * veth names, the chain tag, the exec root, the bridge's name and times left out. The
 * simulated host is given the real host's facts they depend on: its default route's MTU
 * and its /etc/resolv.conf.
 *
 * Free orderings, left out: a kill's own answer against the exit it causes (two streams of
 * containerd race); when a client's request that waits for the transition in progress
 * arrives during it (it is counted where the container leaves that state); how network
 * operations interleave with each other and with the container actors' records (each actor's
 * records are compared in their own order; a container's operations run one at a time, so
 * their ranks agree); and whether an exec's delete meets its exited process or finds it gone
 * with its task, when its container's exit deletes the task meanwhile (the exec's and the
 * container's actors race): either way its `exec_die` carries the process's exit status, and
 * that token is compared.
 */
/** An exec's delete that ended its process in containerd, or found it gone with its task. */
const execDeleted: Token = 'ended containerd.execDelete';

export function containerTokens(
  records: readonly TraceRecord[],
  host: HostNames | string,
): Map<string, Token[]> {
  const h: HostNames = typeof host === 'string' ? { root: host } : host;
  const names = new Map<string, string>();
  const nameOf = (id: string): string => {
    let n = names.get(id);
    if (n === undefined) names.set(id, (n = `c${names.size + 1}`));
    return n;
  };
  // Containers are named in the order their actors first appear, before anything names them.
  for (const r of records) if (r.actor.startsWith('container:')) nameOf(r.actor.slice(10));
  const norm = (text: string): string =>
    text.replaceAll(h.root, '<root>').replace(/[0-9a-f]{64}/g, (id) => nameOf(id));
  const netNorm = (text: string): string => {
    let t = text.replaceAll(h.root, '<root>');
    if (h.execRoot !== undefined) t = t.replaceAll(h.execRoot, '<exec>');
    if (h.bridge !== undefined) t = t.replaceAll(h.bridge, '<bridge>');
    t = t.replace(/[0-9a-f]{64}/g, (id) => names.get(id) ?? '<id>');
    for (const [id, n] of names) t = t.replaceAll(id.slice(0, 12), `${n}-12`);
    return t
      .replace(/\bveth[0-9a-f]{7}\b/g, '<veth>')
      .replace(/\bSD-[0-9a-f]{8}/g, 'SD-<tag>')
      .replace(/\b[0-9a-f]{12}\b/g, '<id12>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
  };
  const effectOf = new Map<string, string>();
  /**
   * A create's preparations (its directory, root filesystem and spec) are asked at once: the
   * order of their answers is the disk's and the thread pool's (a free ordering). Each actor's
   * answers are held and counted sorted, where its next other record comes.
   */
  const preparations = new Set<string>();
  const preparedAnswers = new Map<string, Token[]>();
  const out = new Map<string, Token[]>();
  /** Per container: a request just taken, and the requests waiting for the transition in progress. */
  const waits = new Map<string, { request: Token | null; held: Token[]; top: string | null }>();
  /** A netOp actor's key: its operation's name and rank. */
  const netKeys = new Map<string, string>();
  const ranks = new Map<string, number>();
  for (const r of records) {
    if (r.actor.startsWith('net:')) {
      if (r.kind === 'actor.start') {
        const op = netNorm(String((r.input as { op: string }).op));
        const rank = (ranks.get(op) ?? 0) + 1;
        ranks.set(op, rank);
        netKeys.set(r.actor, `net ${op} #${rank}`);
      }
      const key = netKeys.get(r.actor);
      if (key === undefined) continue;
      const tokens = out.get(key) ?? [];
      out.set(key, tokens);
      const t = netToken(r);
      if (t !== null) tokens.push(netNorm(t));
      continue;
    }
    const actor = r.actor.startsWith('container:')
      ? nameOf(r.actor.slice('container:'.length))
      : r.actor.startsWith('exec:')
        ? `exec ${nameOf(r.actor.slice('exec:'.length))}`
        : r.actor.startsWith('exec-sweep')
          ? r.actor
          : null;
    if (actor === null) continue;
    const tokens = out.get(actor) ?? [];
    out.set(actor, tokens);
    const answersPrepared =
      r.kind === 'event' &&
      (r.event.type === 'effect.done' || r.event.type === 'effect.failed') &&
      preparations.has(String(r.event['id']));
    if (answersPrepared) {
      const t = token(r);
      if (t !== null) preparedAnswers.set(actor, [...(preparedAnswers.get(actor) ?? []), norm(t)]);
      continue;
    }
    tokens.push(...(preparedAnswers.get(actor) ?? []).sort());
    preparedAnswers.delete(actor);
    const w = waits.get(actor) ?? { request: null, held: [], top: null };
    waits.set(actor, w);
    // A client's request that made nothing happen waits for the transition in progress
    // (dockerd's container lock): when it arrived during it is a race, so it is counted
    // where the container leaves the state it arrived in.
    if (w.request !== null) {
      if (r.kind === 'event') w.held.push(w.request);
      else tokens.push(w.request);
      w.request = null;
    }
    if (r.kind === 'transition') {
      const top = topState(r.to);
      if (top !== w.top) tokens.push(...w.held.splice(0));
      w.top = top;
    }
    const t = token(r);
    if (t === null) continue;
    if (r.kind === 'event' && r.event.type.startsWith('api.')) w.request = norm(t);
    else tokens.push(norm(t));
  }
  for (const [actor, answers] of preparedAnswers) out.get(actor)?.push(...answers.sort());
  for (const [actor, w] of waits)
    out.get(actor)?.push(...w.held, ...(w.request === null ? [] : [w.request]));
  return out;

  function netToken(r: TraceRecord): Token | null {
    switch (r.kind) {
      case 'actor.start':
        return 'start';
      case 'actor.stop':
        return `stop ${r.status}`;
      case 'transition':
        return `to ${JSON.stringify(r.to)}`;
      case 'effect.request': {
        const { id, step: _step, ...call } = r.call as unknown as Record<string, unknown>;
        effectOf.set(String(id), String(call['effect']));
        // A new bridge's MAC is drawn from its network's random ID.
        const text = JSON.stringify(call);
        return `ask ${call['effect'] === 'net.createBridge' || call['effect'] === 'net.ensureBridges' ? text.replace(/"mac":"[0-9a-f:]+"/g, '"mac":"<mac>"') : text}`;
      }
      case 'event': {
        const e = r.event;
        const effect = effectOf.get(String(e['id'])) ?? '?';
        if (e.type === 'effect.done') return `done ${effect} ${JSON.stringify(e['result'])}`;
        if (e.type === 'effect.failed')
          return `failed ${effect} ${String((e['error'] as { code: string }).code)}`;
        return `event ${e.type}`;
      }
      case 'mark':
        return `mark ${r.mark.mark}`;
    }
  }

  function token(r: TraceRecord): Token | null {
    switch (r.kind) {
      case 'actor.start': {
        if (r.machine !== 'container') return `start ${r.machine}`;
        const i = r.input as { origin: string; task?: string; rootMounted?: boolean };
        return `start ${i.origin}${i.task ? ` task=${i.task}` : ''}${i.rootMounted ? ' mounted' : ''}`;
      }
      case 'actor.stop':
        return `stop ${r.status}`;
      case 'transition':
        return `to ${JSON.stringify(r.to)}`;
      case 'effect.request': {
        // A checkpoint nobody waits for: when its answer comes is the disk's business.
        effectOf.set(r.call.id, r.call.step === 'checkpoint' ? 'checkpoint' : r.call.effect);
        if (
          r.call.step === 'create' &&
          ['fs.mkdirAll', 'rootfs.prepare', 'store.put'].includes(r.call.effect)
        )
          preparations.add(r.call.id);
        return `ask ${requestFacts(r.call)}`;
      }
      case 'event': {
        const e = r.event;
        if (e.type === 'effect.done') {
          const effect = effectOf.get(String(e['id'])) ?? '?';
          // A timer's end matters only where a state waits for it; it is read from the transition.
          if (effect === 'clock.sleep' || effect === 'checkpoint') return null;
          // A kill that found its process changes nothing by itself (the exit does); when its
          // answer comes relative to that exit is a race of two streams (a free ordering).
          if (effect === 'containerd.killTask' && !(e['result'] as { gone?: boolean }).gone)
            return null;
          if (effect === 'containerd.execDelete') return execDeleted;
          return `done ${effect}${resultFacts(effect, e['result'])}`;
        }
        if (e.type === 'effect.failed') {
          const effect = effectOf.get(String(e['id'])) ?? '?';
          if (effect === 'clock.sleep') return null;
          const code = String((e['error'] as { code: string }).code);
          if (effect === 'containerd.execDelete' && code === 'ENOENT') return execDeleted;
          return `failed ${effect} ${code}`;
        }
        if (e.type === 'containerd.taskExit') return `event taskExit ${String(e['exitStatus'])}`;
        if (e.type === 'containerd.execExit') return `event execExit ${String(e['exitStatus'])}`;
        return `event ${e.type}`;
      }
      case 'mark': {
        const m = r.mark;
        if (m.mark === 'reply') return `reply ${String(m['result'])}`;
        if (m.mark === 'event') {
          const a = m['attributes'] as Record<string, string>;
          return `docker ${String(m['action'])}${a['exitCode'] === undefined ? '' : ` ${a['exitCode']}`}${a['signal'] === undefined ? '' : ` ${a['signal']}`}`;
        }
        if (m.mark === 'message') return `message ${String((m['event'] as { type: string }).type)}`;
        return `mark ${m.mark}`;
      }
    }
  }
}

/** The top-level state of a state value (`starting` of `{"starting":"connecting"}`). */
function topState(value: unknown): string {
  return typeof value === 'string' ? value : (Object.keys(value as object)[0] ?? '');
}

function requestFacts(c: Record<string, unknown>): string {
  const effect = String(c['effect']);
  const parts = [effect];
  for (const k of [
    'container',
    'exec',
    'signal',
    'all',
    'stdin',
    'terminal',
    'stdio',
    'driver',
    'path',
    'ms',
    'forget',
    'sizeBytes',
  ]) {
    const v = c[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      parts.push(`${k}=${v}`);
    else if (v !== undefined) parts.push(`${k}=${JSON.stringify(v)}`);
  }
  if (typeof c['key'] === 'string') {
    parts.push(`key=${c['key']}`);
    const state = (c['value'] as { state?: { status?: string; exitCode?: number } } | null)?.state;
    if (state) parts.push(`status=${String(state.status)} exit=${String(state.exitCode)}`);
  }
  return parts.join(' ');
}

function resultFacts(effect: string, result: unknown): string {
  const r = (result ?? {}) as Record<string, unknown>;
  if (effect === 'containerd.killTask') return ` gone=${String(r['gone'])}`;
  if (effect === 'containerd.deleteTask') return ` exit=${String(r['exitStatus'])}`;
  if (effect === 'rootfs.unmount') return ` unmounted=${String(r['unmounted'])}`;
  if (effect === 'kernel.mountShm') return ` mounted=${String(r['mounted'])}`;
  if (effect === 'kernel.unmountShm') return ` unmounted=${String(r['unmounted'])}`;
  if (effect === 'containerd.execReap') return ` exit=${String(r['exitStatus'])}`;
  if (effect === 'containerd.execList') return ` ${JSON.stringify(r['execs'])}`;
  return '';
}

/** The first difference between two lives' container records, or null when they agree. */
export function firstDifference(
  real: Map<string, Token[]>,
  sim: Map<string, Token[]>,
): string | null {
  const actors = [...new Set([...real.keys(), ...sim.keys()])].sort();
  for (const a of actors) {
    const r = real.get(a) ?? [];
    const s = sim.get(a) ?? [];
    for (let i = 0; i < Math.max(r.length, s.length); i++) {
      if (r[i] === s[i]) continue;
      const context = r
        .slice(Math.max(0, i - 3), i)
        .map((t) => `    ${t}`)
        .join('\n');
      return `${a}, record ${i + 1}: the real host has «${r[i] ?? 'nothing more'}», the simulated host «${s[i] ?? 'nothing more'}»\n  after:\n${context}`;
    }
  }
  return null;
}
