import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/**
 * A client of containerd 1.6 over gRPC, on hand-written protos (effects/containerd/proto):
 * one channel for every service, the namespace as metadata on every call, a deadline on
 * every unary call but Wait, gRPC errors mapped once to a closed set of codes.
 */

export type ContainerdErrorCode = 'NotFound' | 'AlreadyExists' | 'FailedPrecondition' | 'InvalidArgument' | 'Unavailable' | 'DeadlineExceeded' | 'Unknown';

export class ContainerdError extends Error {
  override name = 'ContainerdError';
  readonly code: ContainerdErrorCode;
  constructor(code: ContainerdErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function mapError(err: grpc.ServiceError, what: string): ContainerdError {
  const codes: Partial<Record<number, ContainerdErrorCode>> = {
    [grpc.status.NOT_FOUND]: 'NotFound',
    [grpc.status.ALREADY_EXISTS]: 'AlreadyExists',
    [grpc.status.FAILED_PRECONDITION]: 'FailedPrecondition',
    [grpc.status.INVALID_ARGUMENT]: 'InvalidArgument',
    [grpc.status.UNAVAILABLE]: 'Unavailable',
    [grpc.status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  };
  return new ContainerdError(codes[err.code] ?? 'Unknown', `${what}: ${err.details || err.message}`);
}

const protoFiles = ['google.proto', 'types.proto', 'task.proto', 'version.proto', 'containers.proto', 'tasks.proto', 'events.proto', 'task-events.proto', 'runc.proto'];

/** The protos sit beside this file in the source tree; from the bundle (dist/) they are under effects/. */
function protoDir(): string {
  for (const rel of ['./proto/', '../effects/containerd/proto/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}google.proto`)) return dir;
  }
  throw new Error('containerd protos not found next to the client or under effects/containerd/proto');
}

let rootCache: protobuf.Root | null = null;
function root(): protobuf.Root {
  if (rootCache) return rootCache;
  const r = new protobuf.Root();
  const dir = protoDir();
  for (const f of protoFiles) protobuf.parse(readFileSync(`${dir}${f}`, 'utf8'), r, { keepCase: true });
  r.resolveAll();
  rootCache = r;
  return r;
}

function type(name: string): protobuf.Type {
  return root().lookupType(name);
}

const toObject = { longs: Number, enums: String, defaults: true, arrays: true, objects: true } as const;

function codec(name: string): { serialize: (v: object) => Buffer; deserialize: (b: Buffer) => Record<string, unknown> } {
  const t = type(name);
  return {
    serialize: (v) => Buffer.from(t.encode(t.fromObject(v)).finish()),
    deserialize: (b) => t.toObject(t.decode(b), toObject) as Record<string, unknown>,
  };
}

export type TaskStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';

export interface TaskProcess {
  id: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  exitedAt: Date | null;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** Go's zero time (0001-01-01) means "not exited". */
function timestamp(ts: unknown): Date | null {
  const t = ts as { seconds?: number; nanos?: number } | null;
  if (!t || t.seconds === undefined || t.seconds <= -62135596800) return null;
  return new Date(t.seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
}

function process_(p: Record<string, unknown>): TaskProcess {
  return {
    id: String(p['id'] ?? ''),
    pid: Number(p['pid'] ?? 0),
    status: String(p['status'] ?? 'UNKNOWN').toLowerCase() as TaskStatus,
    exitStatus: Number(p['exit_status'] ?? 0),
    exitedAt: timestamp(p['exited_at']),
    stdin: String(p['stdin'] ?? ''),
    stdout: String(p['stdout'] ?? ''),
    stderr: String(p['stderr'] ?? ''),
    terminal: Boolean(p['terminal']),
  };
}

export interface ContainerdEvent {
  topic: string;
  namespace: string;
  timestamp: Date | null;
  event: Record<string, unknown>;
}

export class ContainerdClient {
  private readonly client: grpc.Client;
  readonly namespace: string;
  readonly address: string;

  private constructor(address: string, namespace: string) {
    this.address = address;
    this.namespace = namespace;
    this.client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
    });
  }

  /** Connects and waits until the channel is ready (or the time is up). */
  static async connect(address: string, namespace: string, opts: { timeoutMs?: number } = {}): Promise<ContainerdClient> {
    if (Buffer.byteLength(address) > 107) throw new ContainerdError('InvalidArgument', `containerd socket path is longer than 107 bytes: ${address}`);
    const c = new ContainerdClient(address, namespace);
    await new Promise<void>((resolve, reject) => {
      c.client.waitForReady(Date.now() + (opts.timeoutMs ?? 10_000), (err) => {
        if (err) {
          c.close();
          reject(new ContainerdError('Unavailable', `dial unix ${address}: ${err.message}`));
        } else resolve();
      });
    });
    return c;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', this.namespace);
    return md;
  }

  /** One unary call: `service` is the full service name, the types are the request and response message names. */
  unary(service: string, method: string, reqType: string, resType: string, req: object, deadlineMs: number | null = 5000): Promise<Record<string, unknown>> {
    const req_ = codec(reqType);
    const res_ = codec(resType);
    const options: grpc.CallOptions = deadlineMs === null ? {} : { deadline: Date.now() + deadlineMs };
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(`/${service}/${method}`, req_.serialize, res_.deserialize, req, this.metadata(), options, (err, value) => {
        if (err) reject(mapError(err, `${method}`));
        else resolve(value ?? {});
      });
    });
  }

  async version(): Promise<{ version: string; revision: string }> {
    const r = await this.unary('containerd.services.version.v1.Version', 'Version', 'google.protobuf.Empty', 'containerd.services.version.v1.VersionResponse', {});
    return { version: String(r['version']), revision: String(r['revision']) };
  }

  async listTasks(): Promise<TaskProcess[]> {
    const r = await this.unary('containerd.services.tasks.v1.Tasks', 'List', 'containerd.services.tasks.v1.ListTasksRequest', 'containerd.services.tasks.v1.ListTasksResponse', {});
    return ((r['tasks'] as Record<string, unknown>[]) ?? []).map(process_);
  }

  async listContainers(filters: string[] = []): Promise<{ id: string; labels: Record<string, string> }[]> {
    const r = await this.unary(
      'containerd.services.containers.v1.Containers',
      'List',
      'containerd.services.containers.v1.ListContainersRequest',
      'containerd.services.containers.v1.ListContainersResponse',
      { filters },
    );
    return ((r['containers'] as Record<string, unknown>[]) ?? []).map((c) => ({ id: String(c['id']), labels: (c['labels'] as Record<string, string>) ?? {} }));
  }

  private tasks(method: string, req: object, reqType: string, resType = 'google.protobuf.Empty', deadlineMs: number | null = 5000): Promise<Record<string, unknown>> {
    return this.unary('containerd.services.tasks.v1.Tasks', method, `containerd.services.tasks.v1.${reqType}`, resType.includes('.') ? resType : `containerd.services.tasks.v1.${resType}`, req, deadlineMs);
  }

  /** A container record with the OCI spec (JSON in an Any, as containerd expects) and runc v2 with our runc root. */
  async createContainer(id: string, spec: unknown, runcRoot: string, labels: Record<string, string> = { 'statedock/owner': '1' }): Promise<void> {
    const options = type('containerd.runc.v1.Options');
    await this.unary(
      'containerd.services.containers.v1.Containers',
      'Create',
      'containerd.services.containers.v1.CreateContainerRequest',
      'containerd.services.containers.v1.CreateContainerResponse',
      {
        container: {
          id,
          labels,
          runtime: { name: 'io.containerd.runc.v2', options: { type_url: 'containerd.runc.v1.Options', value: options.encode(options.fromObject({ root: runcRoot })).finish() } },
          spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from(JSON.stringify(spec)) },
        },
      },
      10_000,
    );
  }

  async createTask(id: string, stdout: string, stderr: string, stdin = '', terminal = false): Promise<number> {
    const r = await this.tasks('Create', { container_id: id, stdin, stdout, stderr, terminal }, 'CreateTaskRequest', 'CreateTaskResponse', 35_000);
    return Number(r['pid'] ?? 0);
  }

  async startTask(id: string): Promise<number> {
    const r = await this.tasks('Start', { container_id: id }, 'StartRequest', 'StartResponse', 10_000);
    return Number(r['pid'] ?? 0);
  }

  async killTask(id: string, signal: number, all: boolean): Promise<void> {
    await this.tasks('Kill', { container_id: id, signal, all }, 'KillRequest');
  }

  /** Closes the task's stdin (the shim holds the FIFO open itself: EOF reaches the process only this way). */
  async closeStdin(id: string): Promise<void> {
    await this.tasks('CloseIO', { container_id: id, stdin: true }, 'CloseIORequest');
  }

  async pauseTask(id: string): Promise<void> {
    await this.tasks('Pause', { container_id: id }, 'PauseTaskRequest');
  }

  async resumeTask(id: string): Promise<void> {
    await this.tasks('Resume', { container_id: id }, 'ResumeTaskRequest');
  }

  async getTask(id: string): Promise<TaskProcess> {
    const r = await this.tasks('Get', { container_id: id }, 'GetRequest', 'GetResponse');
    return process_((r['process'] as Record<string, unknown>) ?? {});
  }

  async deleteTask(id: string): Promise<{ exitStatus: number; exitedAt: Date | null }> {
    const r = await this.tasks('Delete', { container_id: id }, 'DeleteTaskRequest', 'DeleteResponse', 15_000);
    return { exitStatus: Number(r['exit_status'] ?? 0), exitedAt: timestamp(r['exited_at']) };
  }

  /** Refuses while the container's task is not stopped: containerd would orphan it (containerd-facts gotcha 6). */
  async deleteContainer(id: string): Promise<void> {
    const task = await this.getTask(id).catch((e: unknown) => (e instanceof ContainerdError && e.code === 'NotFound' ? null : Promise.reject(e)));
    if (task && task.status !== 'stopped') throw new ContainerdError('FailedPrecondition', `container ${id} still has a ${task.status} task`);
    await this.unary('containerd.services.containers.v1.Containers', 'Delete', 'containerd.services.containers.v1.DeleteContainerRequest', 'google.protobuf.Empty', { id });
  }

  /** Events of this namespace (plus `filters`, ANDed), decoded; ends on cancel or when containerd goes away. */
  subscribe(filters: string[] = []): { events: AsyncIterable<ContainerdEvent>; cancel: () => void } {
    const req = codec('containerd.services.events.v1.SubscribeRequest');
    const env = codec('containerd.services.events.v1.Envelope');
    const filter = [`namespace==${this.namespace}`, ...filters].join(',');
    const call = this.client.makeServerStreamRequest('/containerd.services.events.v1.Events/Subscribe', req.serialize, env.deserialize, { filters: [filter] }, this.metadata(), {});
    async function* events(): AsyncIterable<ContainerdEvent> {
      try {
        for await (const e of call as AsyncIterable<Record<string, unknown>>) {
          const any = e['event'] as { type_url?: string; value?: Uint8Array } | undefined;
          let payload: Record<string, unknown> = {};
          if (any?.type_url) {
            try {
              const t = type(any.type_url.replace(/^.*\//, ''));
              payload = t.toObject(t.decode(any.value ?? new Uint8Array()), toObject) as Record<string, unknown>;
            } catch {
              payload = {};
            }
          }
          yield { topic: String(e['topic']), namespace: String(e['namespace']), timestamp: timestamp(e['timestamp']), event: payload };
        }
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.CANCELLED) return;
        throw mapError(err as grpc.ServiceError, 'Subscribe');
      }
    }
    return { events: events(), cancel: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }
}
