import { signalNumber } from '../../../machines/container/signals.ts';
import {
  validateRestartPolicy,
  type RestartPolicyName,
} from '../../../machines/container/restart.ts';
import type { ContainerRecord, MountPoint } from '../../../machines/container/types.ts';
import { ApiError } from '../../api/server.ts';
import type { ImageRecord } from '../images.ts';
import { buildSpec } from '../oci-spec.ts';
import { containerNetConfig, type NetRequestContext } from '../network/create-request.ts';

/**
 * `POST /containers/create`, read: the body and the name checked with Docker's words, then
 * turned into the container's record and OCI spec. No I/O here: what the create needs from the
 * host (the image, the user's IDs, the mounts) is looked up by the caller and passed in.
 */

/** The body of a create request, as the client sent it. */
export type CreateBody = Record<string, unknown>;

/** One of HostConfig.Mounts (`--mount`). */
export interface HostMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
}

/** Parses the body (Docker answers 500 for JSON it cannot read) and checks the `?name=`. */
export function readCreateRequest(
  contentType: string,
  raw: string,
  name: string,
): { body: CreateBody; name: string } {
  if (!contentType.startsWith('application/json'))
    throw new ApiError(400, `Content-Type specified (${contentType}) must be 'application/json'`);
  let body: CreateBody;
  try {
    body = JSON.parse(raw === '' ? 'x' : raw) as CreateBody;
  } catch (err) {
    throw new ApiError(500, raw === '' ? 'EOF' : (err as Error).message);
  }
  if (name !== '') validateContainerName(name);
  return { body, name };
}

/** Docker's rule for container names. */
export function validateContainerName(name: string): void {
  if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name))
    throw new ApiError(
      400,
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
}

/** The name a container gets: the one asked for, with its `/`, or its short ID. */
export function containerName(name: string, id: string): string {
  return name === '' ? `/${id.slice(0, 12)}` : `/${name.replace(/^\//, '')}`;
}

/** Docker's answer when a name is taken. */
export function nameConflict(name: string, holder: string): ApiError {
  return new ApiError(
    409,
    `Conflict. The container name "${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
  );
}

/** HostConfig of the body (an absent one is empty). */
export function hostConfigOf(body: CreateBody): Record<string, unknown> {
  return (body['HostConfig'] ?? {}) as Record<string, unknown>;
}

/** What the create must look up on the host before it can plan: binds, volumes, mounts. */
export function mountRequests(body: CreateBody): {
  binds: string[];
  volumes: Record<string, unknown>;
  mounts: HostMount[];
} {
  const host = hostConfigOf(body);
  return {
    binds: (host['Binds'] as string[] | null) ?? [],
    volumes: (body['Volumes'] as Record<string, unknown> | null) ?? {},
    mounts: (host['Mounts'] as HostMount[] | null) ?? [],
  };
}

/** The user asked for (`-u`), before it is looked up in the image. */
export function userOf(body: CreateBody): string {
  return typeof body['User'] === 'string' ? body['User'] : '';
}

export interface PlanInput {
  id: string;
  name: string;
  created: string;
  imageRef: string;
  image: ImageRecord;
  body: CreateBody;
  user: { uid: number; gid: number };
  mounts: MountPoint[];
  /** What the networking fields need from the host (src/daemon/network/create-request.ts). */
  net: NetRequestContext;
}

/** The new container's record and spec, from the request and what the host told about it. */
export function planContainer(p: PlanInput): {
  record: ContainerRecord;
  spec: unknown;
  warnings: string[];
} {
  const { id, image, body } = p;
  const host = hostConfigOf(body);
  const policy = (host['RestartPolicy'] ?? { Name: 'no', MaximumRetryCount: 0 }) as {
    Name?: string;
    MaximumRetryCount?: number;
  };
  const restartPolicy = {
    name: (policy.Name || 'no') as RestartPolicyName,
    maximumRetryCount: policy.MaximumRetryCount ?? 0,
  };
  const autoRemove = host['AutoRemove'] === true;
  const invalid = validateRestartPolicy(restartPolicy, autoRemove);
  if (invalid) throw new ApiError(400, invalid);
  const { net, networkMode, warnings } = containerNetConfig(body, host, id, p.net);
  const entrypoint = (body['Entrypoint'] as string[] | null) ?? image.config.Entrypoint ?? [];
  const cmd =
    (body['Cmd'] as string[] | null) ?? (body['Entrypoint'] ? [] : (image.config.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new ApiError(400, 'No command specified');
  const config = body as {
    Env?: string[];
    WorkingDir?: string;
    Hostname?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    StopTimeout?: number;
    User?: string;
    Tty?: boolean;
    OpenStdin?: boolean;
    StdinOnce?: boolean;
  };
  if (config.StopSignal && signalNumber(config.StopSignal) === null)
    throw new ApiError(400, `Invalid signal: ${config.StopSignal}`);
  const env = [...image.config.Env, ...(config.Env ?? [])];
  const workingDir = config.WorkingDir || image.config.WorkingDir;
  const hostname = net.hostname;
  const positive = (key: string): number | undefined =>
    typeof host[key] === 'number' && host[key] > 0 ? host[key] : undefined;
  const memory = positive('Memory');
  const cpuShares = positive('CpuShares');
  const pidsLimit = positive('PidsLimit');
  const record: ContainerRecord = {
    id,
    name: p.name,
    image: p.imageRef,
    created: p.created,
    config: {
      cmd: args,
      stopSignal: config.StopSignal ?? 'SIGTERM',
      stopTimeout: config.StopTimeout ?? 10,
      restartPolicy,
      autoRemove,
      labels: config.Labels ?? {},
      tty: config.Tty === true,
      openStdin: config.OpenStdin === true,
      stdinOnce: config.StdinOnce === true,
      imageId: image.id,
      env,
      workingDir,
      user: config.User ?? '',
      hostname,
      entrypoint: (body['Entrypoint'] as string[] | null) ?? null,
      networkMode,
      binds: (host['Binds'] as string[] | null) ?? null,
      ...(typeof host['Memory'] === 'number' ? { memory: host['Memory'] } : {}),
      ...(typeof host['CpuShares'] === 'number' ? { cpuShares: host['CpuShares'] } : {}),
      ...(typeof host['PidsLimit'] === 'number' ? { pidsLimit: host['PidsLimit'] } : {}),
      mounts: p.mounts,
      network: net,
    },
    state: {
      status: 'created',
      pid: 0,
      exitCode: 0,
      error: '',
      startedAt: null,
      finishedAt: null,
      oomKilled: false,
    },
    restartCount: 0,
    hasBeenStartedBefore: false,
    hasBeenManuallyStopped: false,
  };
  const spec = buildSpec({
    id,
    args,
    env,
    cwd: workingDir,
    hostname,
    // The runtime sets the root for the task: the shim's mount in its bundle, or the vfs copy.
    rootfs: 'rootfs',
    networkMode: networkMode === 'host' ? 'host' : 'none',
    cgroupParent: '/statedock',
    user: p.user,
    binds: p.mounts.map((m) => ({
      source: m.source,
      destination: m.destination,
      readonly: !m.rw,
    })),
    terminal: config.Tty === true,
    ...(memory === undefined ? {} : { memory }),
    ...(cpuShares === undefined ? {} : { cpuShares }),
    ...(pidsLimit === undefined ? {} : { pidsLimit }),
  });
  return { record, spec, warnings };
}
