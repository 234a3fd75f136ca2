import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { ContainerdError, fromGrpcError, isContainerdError } from './error.ts';
import { maxSocketPathBytes } from './socket-path.ts';
import { EventSubscription, markerTopicPrefix, type Subscription } from './events.ts';
import {
  anyOf,
  anyOfMessage,
  decodeAny,
  serviceDefinition,
  timestampToDate,
  type WireObject,
} from './wire.ts';

/** How long a task's deletion may take (dockerd's DeleteTask timeout). */
const taskDeleteDeadlineMs = 30_000;
export { ContainerdError, isContainerdError, type ContainerdErrorCode } from './error.ts';
export {
  isEvent,
  markerTopicPrefix,
  type ContainerdEvent,
  type ContainerEvent,
  type EventPayloads,
  type KnownTopic,
  type Subscription,
  type TaskCreateEvent,
  type TaskDeleteEvent,
  type TaskExecAddedEvent,
  type TaskExecStartedEvent,
  type TaskExitEvent,
  type TaskOnlyEvent,
  type TaskStartEvent,
} from './events.ts';

/**
 * A client of containerd 1.6 over gRPC on hand-written protos (effects/containerd/proto):
 * one channel for every service, the namespace as metadata on every call, a deadline on
 * every unary call but Wait, gRPC errors mapped once to {@link ContainerdError}. The only
 * module besides its siblings that knows gRPC, protobuf or containerd's type URLs.
 */

/** `Container.spec` type URL; the value is the OCI spec as JSON (containerd-facts §2.3). */
export const specTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** `ExecProcessRequest.spec` type URL; the value is the OCI process as JSON. */
export const processSpecTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
/** `UpdateTaskRequest.resources` type URL; the value is the OCI LinuxResources as JSON. */
export const resourcesTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
/** The runtime statedock uses: v1 runtimes are deprecated and leak on failed creates (gotcha 1). */
export const defaultRuntime = 'io.containerd.runc.v2';

/** containerd.v1.types.Status, lower-cased. */
export type TaskStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';

/** A task's (or exec's) process as Tasks.Get and Tasks.List report it. */
export interface TaskProcess {
  /** The container id (for Get and List containerd leaves `container_id` empty and puts it here). */
  id: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  /** null until it exits (containerd sends Go's zero time). */
  exitedAt: Date | null;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** How a process ended: the exit code, or 128 + signal number when a signal killed it. */
export interface ExitStatus {
  exitStatus: number;
  exitedAt: Date | null;
}

/** The options of io.containerd.runc.v2 (containerd.runc.v1.Options) statedock may set. */
export interface RuncOptions {
  /** runc's state directory (default /run/containerd/runc: outside our roots). */
  root?: string;
  binaryName?: string;
  systemdCgroup?: boolean;
  noPivotRoot?: boolean;
  noNewKeyring?: boolean;
  shimCgroup?: string;
  ioUid?: number;
  ioGid?: number;
  criuPath?: string;
}

/** What {@link ContainerdClient.createContainer} takes. */
export interface CreateContainerOptions {
  /** Must match `^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`; never reuse one (containerd-facts gotcha 15). */
  id: string;
  /** The OCI runtime spec, a plain object (sent as JSON). */
  spec: object;
  /** Default: io.containerd.runc.v2 without options. */
  runtime?: { name: string; options?: RuncOptions };
  labels?: Record<string, string>;
}

/** A container record as containerd keeps it. */
export interface ContainerdContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: RuncOptions | null };
  /** The OCI spec parsed back from its JSON, or null when absent or not JSON. */
  spec: Record<string, unknown> | null;
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date | null;
  updatedAt: Date | null;
}

/** A containerd.types.Mount (e.g. `{ type: 'bind', source, options: ['rbind', 'rw'] }`). */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options?: string[];
}

/** What {@link ContainerdClient.createTask} takes. */
export interface CreateTaskOptions {
  containerId: string;
  /**
   * stdio: FIFO paths (open their read ends first, non-blocking: the shim opens the write
   * ends inside Tasks.Create), `file:///abs/path`, `binary:///path?args`, or '' for
   * /dev/null. Set stdout and stderr both or neither (gotcha 4); with `terminal`, stderr
   * is unused.
   */
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
  /** Mounts that make the root filesystem; none when `spec.root.path` is an absolute directory. */
  rootfs?: Mount[];
}

/** What {@link ContainerdClient.execProcess} takes. */
export interface ExecOptions {
  containerId: string;
  /** Unique among the container's execs. */
  execId: string;
  /** The OCI process (args, env, cwd, user, terminal …), a plain object. */
  spec: object;
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
}

/** Options of {@link ContainerdClient.connect}. */
export interface ConnectOptions {
  /** How long `connect` waits for the channel to be ready (default 10 000 ms). */
  timeoutMs?: number;
  /** Deadline of the create calls: Containers.Create, Tasks.Create, Tasks.Exec (default 10 000 ms). */
  createDeadlineMs?: number;
  /** Deadline of every other unary call but Wait (default 5000 ms). */
  callDeadlineMs?: number;
}

export { maxSocketPathBytes };

type Method = grpc.MethodDefinition<object, WireObject>;

function buildServices() {
  return {
    version: serviceDefinition('containerd.services.version.v1.Version'),
    containers: serviceDefinition('containerd.services.containers.v1.Containers'),
    tasks: serviceDefinition('containerd.services.tasks.v1.Tasks'),
    events: serviceDefinition('containerd.services.events.v1.Events'),
  };
}

let servicesCache: ReturnType<typeof buildServices> | null = null;

/** The method definitions of every service the client uses (built once: they hold no state). */
function services(): ReturnType<typeof buildServices> {
  return (servicesCache ??= buildServices());
}

function method(service: Record<string, Method>, name: string): Method {
  const m = service[name];
  if (!m) throw new Error(`containerd protos: no method ${name}`);
  return m;
}

/** `Tasks/Create` from `/containerd.services.tasks.v1.Tasks/Create`, for error reports. */
function shortName(m: Method): string {
  const [, service = '', name = ''] = m.path.split('/');
  return `${service.slice(service.lastIndexOf('.') + 1)}/${name}`;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function taskProcess(p: unknown): TaskProcess {
  const w = (p ?? {}) as WireObject;
  return {
    id: str(w['id']),
    pid: num(w['pid']),
    status: (typeof w['status'] === 'string' ? w['status'].toLowerCase() : 'unknown') as TaskStatus,
    exitStatus: num(w['exit_status']),
    exitedAt: timestampToDate(w['exited_at']),
    stdin: str(w['stdin']),
    stdout: str(w['stdout']),
    stderr: str(w['stderr']),
    terminal: w['terminal'] === true,
  };
}

const runcOptionFields: Record<keyof RuncOptions, string> = {
  root: 'root',
  binaryName: 'binary_name',
  systemdCgroup: 'systemd_cgroup',
  noPivotRoot: 'no_pivot_root',
  noNewKeyring: 'no_new_keyring',
  shimCgroup: 'shim_cgroup',
  ioUid: 'io_uid',
  ioGid: 'io_gid',
  criuPath: 'criu_path',
};

function runcOptionsToWire(o: RuncOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, wire] of Object.entries(runcOptionFields)) {
    const v = o[k as keyof RuncOptions];
    if (v !== undefined) out[wire] = v;
  }
  return out;
}

function runcOptionsFromWire(any: unknown): RuncOptions | null {
  const { typeUrl, message } = decodeAny(any);
  if (message === null || typeUrl !== 'containerd.runc.v1.Options') return null;
  const out: Record<string, unknown> = {};
  for (const [k, wire] of Object.entries(runcOptionFields)) {
    const v = message[wire];
    // Only what is set: proto3 has no presence, so defaults read as "not set".
    if (v !== '' && v !== false && v !== 0 && v !== undefined) out[k] = v;
  }
  return out;
}

function containerRecord(c: unknown): ContainerdContainer {
  const w = (c ?? {}) as WireObject;
  const runtime = (w['runtime'] ?? {}) as WireObject;
  const spec = w['spec'] as { value?: Uint8Array } | null | undefined;
  let parsed: Record<string, unknown> | null = null;
  if (spec?.value && spec.value.length > 0) {
    try {
      parsed = JSON.parse(Buffer.from(spec.value).toString('utf8')) as Record<string, unknown>;
    } catch {
      parsed = null;
    }
  }
  return {
    id: str(w['id']),
    labels: { ...((w['labels'] ?? {}) as Record<string, string>) },
    image: str(w['image']),
    runtime: { name: str(runtime['name']), options: runcOptionsFromWire(runtime['options']) },
    spec: parsed,
    snapshotter: str(w['snapshotter']),
    snapshotKey: str(w['snapshot_key']),
    createdAt: timestampToDate(w['created_at']),
    updatedAt: timestampToDate(w['updated_at']),
  };
}

function exitOf(w: WireObject): ExitStatus {
  return { exitStatus: num(w['exit_status']), exitedAt: timestampToDate(w['exited_at']) };
}

/** Gotcha 4: the shim opens "" for a missing one of stdout/stderr and fails; say so before it does. */
function checkStdio(
  what: string,
  o: { stdout?: string; stderr?: string; terminal?: boolean },
): void {
  if (o.terminal !== true && ((o.stdout ?? '') === '') !== ((o.stderr ?? '') === ''))
    throw new ContainerdError(
      'InvalidArgument',
      `${what}: set both stdout and stderr or neither (stdout ${JSON.stringify(o.stdout ?? '')}, stderr ${JSON.stringify(o.stderr ?? '')})`,
    );
}

function signalNumber(signal: number | NodeJS.Signals): number {
  if (typeof signal === 'number') return signal;
  const n = (osConstants.signals as Partial<Record<string, number>>)[signal];
  if (n === undefined) throw new ContainerdError('InvalidArgument', `invalid signal ${signal}`);
  return n;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(t);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/**
 * One connection to containerd, in one namespace. Create with {@link ContainerdClient.connect};
 * every method fails with a {@link ContainerdError}. `close()` when done (it cancels a
 * pending Wait or subscription, which would otherwise keep Node alive).
 */
export class ContainerdClient {
  readonly address: string;
  readonly namespace: string;
  /** Deadlines in ms: `create` for the create calls, `call` for the rest (Wait has none). */
  readonly deadlines: { create: number; call: number };
  private readonly client: grpc.Client;
  private readonly svc = services();
  private readonly inFlight = new Set<{ cancel(): void }>();
  private closed = false;

  private constructor(address: string, namespace: string, opts: ConnectOptions) {
    this.address = address;
    this.namespace = namespace;
    this.deadlines = { create: opts.createDeadlineMs ?? 10_000, call: opts.callDeadlineMs ?? 5000 };
    // One grpc.Client is one channel: every service's calls share its HTTP/2 connection.
    this.client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      // A local socket: after a containerd restart reconnect within a second, not grpc's
      // default back-off of up to two minutes.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  /**
   * Connects to containerd's gRPC socket and waits until the channel is ready. Fails with
   * `InvalidArgument` when `address` is longer than 107 bytes (the unix socket limit:
   * connect(2) could never reach it) and with `Unavailable` when nothing answers within
   * `timeoutMs` (default 10 s).
   */
  static async connect(
    address: string,
    namespace: string,
    opts: ConnectOptions = {},
  ): Promise<ContainerdClient> {
    if (Buffer.byteLength(address) > maxSocketPathBytes)
      throw new ContainerdError(
        'InvalidArgument',
        `containerd socket path is ${Buffer.byteLength(address)} bytes, longer than the ${maxSocketPathBytes} a unix socket allows: ${address}; use a shorter path`,
      );
    const c = new ContainerdClient(address, namespace, opts);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      c.client.waitForReady(Date.now() + timeoutMs, (err) => {
        if (!err) return resolve();
        c.close();
        reject(
          new ContainerdError(
            'Unavailable',
            `connect to containerd at ${address}: not ready within ${timeoutMs} ms (${err.message}); is containerd running?`,
            { cause: err },
          ),
        );
      });
    });
    return c;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', this.namespace);
    return md;
  }

  private closedError(m: Method): ContainerdError {
    return new ContainerdError('Unavailable', `containerd client for ${this.address} is closed`, {
      method: shortName(m),
    });
  }

  /** One unary call. `deadlineMs` null: none (Wait). An aborted `signal` cancels the call and rejects with its reason. */
  private unary(
    m: Method,
    req: object,
    deadlineMs: number | null,
    signal?: AbortSignal,
  ): Promise<WireObject> {
    if (this.closed) return Promise.reject(this.closedError(m));
    if (signal?.aborted) return Promise.reject(signal.reason);
    let bytes: Buffer;
    try {
      bytes = m.requestSerialize(req);
    } catch (cause) {
      return Promise.reject(
        new ContainerdError('InvalidArgument', `${shortName(m)}: ${(cause as Error).message}`, {
          method: shortName(m),
          cause,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const options: grpc.CallOptions =
        deadlineMs === null ? {} : { deadline: Date.now() + deadlineMs };
      const onAbort = (): void => call.cancel();
      const call = this.client.makeUnaryRequest(
        m.path,
        (b: Buffer) => b,
        m.responseDeserialize,
        bytes,
        this.metadata(),
        options,
        (err, value) => {
          this.inFlight.delete(call);
          signal?.removeEventListener('abort', onAbort);
          if (!err) resolve(value ?? {});
          else if (signal?.aborted) reject(signal.reason);
          else if (this.closed && err.code === grpc.status.CANCELLED) reject(this.closedError(m));
          else reject(fromGrpcError(err, shortName(m)));
        },
      );
      this.inFlight.add(call);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private tasks(
    name: string,
    req: object,
    deadlineMs: number | null = this.deadlines.call,
    signal?: AbortSignal,
  ): Promise<WireObject> {
    return this.unary(method(this.svc.tasks, name), req, deadlineMs, signal);
  }

  private containers(
    name: string,
    req: object,
    deadlineMs: number = this.deadlines.call,
  ): Promise<WireObject> {
    return this.unary(method(this.svc.containers, name), req, deadlineMs);
  }

  /** containerd's version, e.g. `{ version: '1.6.20~ds1', revision: '1.6.20~ds1-1+deb12u3' }`. */
  async version(): Promise<{ version: string; revision: string }> {
    const r = await this.unary(method(this.svc.version, 'Version'), {}, this.deadlines.call);
    return { version: str(r['version']), revision: str(r['revision']) };
  }

  /**
   * Creates a container record: the spec as JSON in an Any (`specTypeUrl`), the runtime
   * (default io.containerd.runc.v2) with its options as `containerd.runc.v1.Options`. The
   * namespace is created implicitly. `AlreadyExists` for a used id, `InvalidArgument` for a
   * malformed one.
   */
  async createContainer(o: CreateContainerOptions): Promise<ContainerdContainer> {
    if (o.spec === null || typeof o.spec !== 'object')
      throw new ContainerdError(
        'InvalidArgument',
        `create container ${o.id}: the spec must be an object`,
      );
    const runtime = o.runtime ?? { name: defaultRuntime };
    const options = runtime.options ? runcOptionsToWire(runtime.options) : null;
    const container = {
      id: o.id,
      labels: o.labels ?? {},
      runtime: {
        name: runtime.name,
        ...(options ? { options: anyOfMessage('containerd.runc.v1.Options', options) } : {}),
      },
      spec: anyOf(specTypeUrl, Buffer.from(JSON.stringify(o.spec))),
    };
    const r = await this.containers('Create', { container }, this.deadlines.create);
    return containerRecord(r['container']);
  }

  async getContainer(id: string): Promise<ContainerdContainer> {
    const r = await this.containers('Get', { id });
    return containerRecord(r['container']);
  }

  /** Containers of the namespace; `filters` are containerd filters, ORed (e.g. `labels."statedock/owner"==1`). */
  async listContainers(filters: string[] = []): Promise<ContainerdContainer[]> {
    const r = await this.containers('List', { filters });
    return ((r['containers'] ?? []) as unknown[]).map(containerRecord);
  }

  /**
   * Deletes a container record. Refuses with `FailedPrecondition` while the container has
   * a task in any state, stopped included: containerd itself would delete the record and
   * orphan the task and its shim (gotcha 6). This is the Go client's rule
   * (`container.Delete` checks for a task first); delete the task, then the container.
   * The check and the delete are two calls: a task created in between is not caught.
   */
  async deleteContainer(id: string): Promise<void> {
    let task: TaskProcess | null = null;
    try {
      task = await this.getTask(id);
    } catch (err) {
      if (!isContainerdError(err, 'NotFound')) throw err;
    }
    if (task)
      throw new ContainerdError(
        'FailedPrecondition',
        `cannot delete container ${id}: its task (pid ${task.pid}) is ${task.status}; delete the task first`,
      );
    await this.containers('Delete', { id });
  }

  /**
   * Creates the container's task: the shim starts, runs `runc create` and opens the stdio
   * FIFOs (blocking until a reader holds each). The caller owns the FIFO readers and must
   * destroy them if this fails (gotcha 3).
   */
  async createTask(o: CreateTaskOptions): Promise<{ pid: number }> {
    checkStdio(`create task ${o.containerId}`, o);
    const r = await this.tasks(
      'Create',
      {
        container_id: o.containerId,
        rootfs: (o.rootfs ?? []).map((m) => ({
          type: m.type,
          source: m.source,
          target: m.target ?? '',
          options: m.options ?? [],
        })),
        stdin: o.stdin ?? '',
        stdout: o.stdout ?? '',
        stderr: o.stderr ?? '',
        terminal: o.terminal === true,
      },
      this.deadlines.create,
    );
    return { pid: num(r['pid']) };
  }

  /** Starts the task (or, with `execId`, an exec); returns its host pid. */
  async startTask(id: string, opts: { execId?: string } = {}): Promise<number> {
    const r = await this.tasks('Start', { container_id: id, exec_id: opts.execId ?? '' });
    return num(r['pid']);
  }

  /**
   * Sends a signal to the task's init process (with `all`, to every process of its
   * cgroup; with `execId`, to that exec). PID 1 ignores SIGTERM without a handler
   * (gotcha 9): stopping is SIGTERM, a grace period, then SIGKILL.
   */
  async killTask(
    id: string,
    signal: number | NodeJS.Signals,
    all = false,
    opts: { execId?: string } = {},
  ): Promise<void> {
    await this.tasks('Kill', {
      container_id: id,
      exec_id: opts.execId ?? '',
      signal: signalNumber(signal),
      all,
    });
  }

  /** Freezes the task's cgroup (status `paused`); needs the freezer controller. */
  async pauseTask(id: string): Promise<void> {
    await this.tasks('Pause', { container_id: id });
  }

  async resumeTask(id: string): Promise<void> {
    await this.tasks('Resume', { container_id: id });
  }

  /** The task's process (with `execId`, an exec's). `NotFound` when there is no task. */
  async getTask(id: string, opts: { execId?: string } = {}): Promise<TaskProcess> {
    const r = await this.tasks('Get', { container_id: id, exec_id: opts.execId ?? '' });
    return taskProcess(r['process']);
  }

  /** Every task of the namespace. */
  async listTasks(filter = ''): Promise<TaskProcess[]> {
    const r = await this.tasks('List', { filter });
    return ((r['tasks'] ?? []) as unknown[]).map(taskProcess);
  }

  /** The host pids in the task's cgroup; `execId` names the exec a pid belongs to ('' for the rest). */
  async listPids(id: string): Promise<{ pid: number; execId: string }[]> {
    const r = await this.tasks('ListPids', { container_id: id });
    return ((r['processes'] ?? []) as WireObject[]).map((p) => ({
      pid: num(p['pid']),
      execId: str(decodeAny(p['info']).message?.['exec_id']),
    }));
  }

  /**
   * Resolves when the task (or exec) exits, at once if it already has. No deadline; when
   * containerd goes away (`Unavailable`, e.g. it restarted) the call is re-issued with a
   * back-off up to 1 s until containerd answers, `signal` aborts (rejects with its reason)
   * or the client is closed. `NotFound` once the task was deleted.
   */
  async waitTask(
    id: string,
    opts: { execId?: string; signal?: AbortSignal } = {},
  ): Promise<ExitStatus> {
    let backoff = 50;
    for (;;) {
      try {
        return exitOf(
          await this.tasks(
            'Wait',
            { container_id: id, exec_id: opts.execId ?? '' },
            null,
            opts.signal,
          ),
        );
      } catch (err) {
        if (this.closed || opts.signal?.aborted || !isContainerdError(err, 'Unavailable'))
          throw err;
      }
      await sleep(backoff, opts.signal);
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  /**
   * Deletes a stopped task (`runc delete`, the shim exits) and returns how it ended, again.
   * A running task gives `Unknown` "cannot delete a running process" (gotcha 13).
   */
  async deleteTask(id: string): Promise<ExitStatus & { pid: number }> {
    // The shim's delete runs `runc delete` and unmounts the root: on a loaded host that can
    // take seconds, and a delete cut short leaves the stopped task behind. dockerd gives it 30 s.
    const r = await this.tasks('Delete', { container_id: id }, taskDeleteDeadlineMs);
    return { ...exitOf(r), pid: num(r['pid']) };
  }

  /** Runs another process in the task's container (not started: `startTask(id, { execId })`). */
  async execProcess(o: ExecOptions): Promise<void> {
    checkStdio(`exec ${o.execId} in ${o.containerId}`, o);
    await this.tasks(
      'Exec',
      {
        container_id: o.containerId,
        exec_id: o.execId,
        stdin: o.stdin ?? '',
        stdout: o.stdout ?? '',
        stderr: o.stderr ?? '',
        terminal: o.terminal === true,
        spec: anyOf(processSpecTypeUrl, Buffer.from(JSON.stringify(o.spec))),
      },
      this.deadlines.create,
    );
  }

  /** Deletes an exited exec and returns how it ended. */
  async deleteProcess(id: string, execId: string): Promise<ExitStatus & { pid: number }> {
    const r = await this.tasks('DeleteProcess', { container_id: id, exec_id: execId });
    return { ...exitOf(r), pid: num(r['pid']) };
  }

  /** Closes the process's stdin: the shim holds the FIFO open itself, so EOF reaches the process only this way. */
  async closeStdin(id: string, opts: { execId?: string } = {}): Promise<void> {
    await this.tasks('CloseIO', { container_id: id, exec_id: opts.execId ?? '', stdin: true });
  }

  /** New resource limits on a live task's cgroup (`runc update`): an OCI LinuxResources object. */
  async updateTask(id: string, resources: object): Promise<void> {
    await this.tasks('Update', {
      container_id: id,
      resources: anyOf(resourcesTypeUrl, Buffer.from(JSON.stringify(resources))),
    });
  }

  /** Resizes the terminal of a task (or exec) created with `terminal: true`. */
  async resizePty(
    id: string,
    size: { width: number; height: number; execId?: string },
  ): Promise<void> {
    await this.tasks('ResizePty', {
      container_id: id,
      exec_id: size.execId ?? '',
      width: size.width,
      height: size.height,
    });
  }

  /**
   * Subscribes to containerd's events of this client's namespace. `filters` are
   * containerd filters, ORed as containerd does; `namespace==<ns>` is ANDed into each one
   * (containerd sends every namespace's events otherwise, gotcha 11), e.g.
   * `topic~="^/tasks/(exit|oom)$"`. Events are not replayed: await `ready()` before acting
   * on what you expect to hear about. The iteration ends on `cancel()` and throws
   * `Unavailable` when containerd goes away (resubscribe, then reconcile with listTasks).
   */
  subscribe(filters: string[] = []): Subscription {
    const marker = `${markerTopicPrefix}${randomBytes(6).toString('hex')}`;
    const ns = `namespace==${this.namespace}`;
    const all =
      filters.length === 0
        ? [ns]
        : [...filters.map((f) => `${ns},${f}`), `${ns},topic==${JSON.stringify(marker)}`];
    const m = method(this.svc.events, 'Subscribe');
    const call = this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      { filters: all },
      this.metadata(),
      {},
    );
    this.inFlight.add(call);
    call.on('status', () => this.inFlight.delete(call));
    const publish = method(this.svc.events, 'Publish');
    return new EventSubscription(call, marker, async () => {
      await this.unary(
        publish,
        { topic: marker, event: anyOf('google.protobuf.Empty', new Uint8Array()) },
        this.deadlines.call,
      );
    });
  }

  /** Closes the channel; calls still in flight (a Wait, a subscription) end with `Unavailable` or quietly. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of this.inFlight) call.cancel();
    this.inFlight.clear();
    this.client.close();
  }
}
