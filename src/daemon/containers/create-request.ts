import {
  validateRestartPolicy,
  type RestartPolicyName,
} from '../../../machines/container/restart.ts';
import type { ContainerRecord, MountPoint } from '../../../machines/container/types.ts';
import { decodeJsonBody } from '../../api/go-json.ts';
import { ApiError } from '../../api/server.ts';
import type { HealthConfig } from '../../../machines/health/config.ts';
import type { ImageRecord } from '../images.ts';
import { buildSpec, type CreateLookups } from './spec/build.ts';
import type { CheckedRequest, HostFacts } from './spec/check.ts';
import { InvalidRequest, MalformedRequest, NoSuchContainer } from './spec/errors.ts';
import { inspectHostConfig } from './spec/inspect.ts';
import { containerNetConfig, type NetRequestContext } from '../network/create-request.ts';

/**
 * `POST /containers/create`, read: the body and the name checked with Docker's words, then
 * turned into the container's record and OCI spec. No I/O here: what the create needs from the
 * host (the image, the user's IDs, the mounts) is looked up by the caller and passed in.
 */

/** The body of a create request, as the client sent it. */
export type CreateBody = Record<string, unknown>;

/** Parses the body (400 with Go's words for JSON it cannot read) and checks the `?name=`. */
export function readCreateRequest(
  contentType: string,
  raw: string,
  name: string,
): { body: CreateBody; name: string } {
  if (!contentType.startsWith('application/json'))
    throw new ApiError(400, `Content-Type specified (${contentType}) must be 'application/json'`);
  // Go's decoder's words for JSON it cannot read (dockerd 20.10 answers 500; the mistake is the client's: 400).
  const json = decodeJsonBody(Buffer.from(raw));
  if (json === null)
    throw new ApiError(400, 'Config cannot be empty in order to create a container');
  if (typeof json !== 'object' || Array.isArray(json))
    throw new ApiError(
      400,
      `json: cannot unmarshal ${Array.isArray(json) ? 'array' : typeof json === 'boolean' ? 'bool' : typeof json} into Go value of type runconfig.ContainerConfigWrapper`,
    );
  // Each field's type is checked with Go's words where the request is read (spec/request.ts).
  const body = json as CreateBody;
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

/** A create request's mistake as the API answers it: Docker's status and message. */
export function apiErrorOf(err: unknown): unknown {
  if (err instanceof MalformedRequest || err instanceof InvalidRequest)
    return new ApiError(400, err.message);
  if (err instanceof NoSuchContainer) return new ApiError(404, err.message);
  return err;
}

export interface PlanInput {
  id: string;
  name: string;
  created: string;
  imageRef: string;
  image: ImageRecord;
  /** The body as sent (inspect echoes the network fields from it). */
  body: CreateBody;
  checked: CheckedRequest;
  looked: CreateLookups & { mountPoints: MountPoint[] };
  facts: HostFacts;
  /** The daemon's --seccomp-profile (JSON), or null for Docker's default. */
  daemonSeccompProfile: string | null;
  /** What the networking fields need from the host (src/daemon/network/create-request.ts). */
  net: NetRequestContext;
}

/**
 * The new container's record and spec, from the checked request and what the host told
 * about it; with Docker's warnings for settings that apply but may surprise.
 */
export function planContainer(p: PlanInput): {
  record: ContainerRecord;
  spec: unknown;
  warnings: string[];
} {
  const { id, image, checked: r } = p;
  const c = r.config;
  const h = r.host;
  const restartPolicy = {
    name: (h.restartPolicy.name || 'no') as RestartPolicyName,
    maximumRetryCount: h.restartPolicy.maximumRetryCount,
  };
  const invalid = validateRestartPolicy(restartPolicy, h.autoRemove);
  if (invalid) throw new ApiError(400, invalid);
  const {
    net,
    networkMode,
    warnings: netWarnings,
  } = containerNetConfig(
    p.body,
    (p.body['HostConfig'] ?? {}) as Record<string, unknown>,
    id,
    p.net,
  );
  const entrypoint = c.entrypoint ?? image.config.Entrypoint ?? [];
  const cmd = c.cmd ?? (c.entrypoint !== null ? [] : (image.config.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new ApiError(400, 'No command specified');
  const env = [...image.config.Env, ...(c.env ?? [])];
  const workingDir = c.workingDir || image.config.WorkingDir;
  const hostname = net.hostname;
  const hostConfig = {
    ...inspectHostConfig(r, (p.body['HostConfig'] ?? {}) as Record<string, unknown>, {
      pidContainer: p.looked.pidContainer,
      ipcContainer: p.looked.ipcContainer,
    }),
    // A joined container by its ID, as dockerd keeps it.
    NetworkMode: networkMode,
  };
  const record: ContainerRecord = {
    id,
    name: p.name,
    image: p.imageRef,
    created: p.created,
    config: {
      cmd: args,
      stopSignal: c.stopSignal || 'SIGTERM',
      stopTimeout: c.stopTimeout ?? 10,
      restartPolicy,
      autoRemove: h.autoRemove,
      labels: c.labels ?? {},
      tty: c.tty,
      openStdin: c.openStdin,
      stdinOnce: c.stdinOnce,
      imageId: image.id,
      env,
      workingDir,
      user: c.user,
      hostname,
      entrypoint: c.entrypoint,
      networkMode,
      binds: h.binds,
      ...(h.memory !== 0 ? { memory: h.memory } : {}),
      ...(h.cpuShares !== 0 ? { cpuShares: h.cpuShares } : {}),
      ...(h.pidsLimit !== null ? { pidsLimit: h.pidsLimit } : {}),
      mounts: p.looked.mountPoints,
      network: net,
      hostConfig,
      inspectConfig: {
        domainname: c.domainname,
        attachStdin: c.attachStdin,
        attachStdout: c.attachStdout,
        attachStderr: c.attachStderr,
        onBuild: c.onBuild,
        shell: c.shell,
        stopSignal: c.stopSignal,
        stopTimeout: c.stopTimeout,
      },
      log: r.log,
      ...healthcheckOf(c.healthcheck, image),
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
  const spec = buildSpec(r, p.looked, p.facts, {
    id,
    args,
    env,
    cwd: workingDir,
    hostname,
    daemonSeccompProfile: p.daemonSeccompProfile,
  });
  return { record, spec, warnings: [...r.warnings, ...netWarnings] };
}

/**
 * The HEALTHCHECK a container gets (dockerd's merge): the create request's (typed and
 * validated by spec/check.ts), its unset parts (an empty test, zero durations) taken from the
 * image's; `--no-healthcheck` sends NONE.
 */
function healthcheckOf(
  asked: HealthConfig | null,
  image: ImageRecord,
): { healthcheck?: HealthConfig } {
  const fromImage = image.config.Healthcheck ?? null;
  if (asked === null) return fromImage ? { healthcheck: fromImage } : {};
  const merged: HealthConfig = {
    Test: asked.Test && asked.Test.length > 0 ? asked.Test : (fromImage?.Test ?? null),
    Interval: asked.Interval || fromImage?.Interval || 0,
    Timeout: asked.Timeout || fromImage?.Timeout || 0,
    StartPeriod: asked.StartPeriod || fromImage?.StartPeriod || 0,
    Retries: asked.Retries || fromImage?.Retries || 0,
  };
  return { healthcheck: merged };
}
