import type { ContainerdClient } from './client.ts';
import { ContainerdError } from './error.ts';
import {
  spawnContainerd,
  stopContainerd,
  waitContainerdReady,
  writeContainerdConfig,
} from './process.ts';
import { assertNever, type EffectErrorCode } from '../errors.ts';
import type { ContainerdRequest, ContainerdResults } from './requests.ts';

/** containerd's error classes mapped once, here, to the effect error codes (the exec handler uses it too). */
export function codeOf(err: unknown): EffectErrorCode {
  if (err instanceof ContainerdError) {
    switch (err.code) {
      case 'NotFound':
        return 'ENOENT';
      case 'AlreadyExists':
        return 'EEXIST';
      case 'FailedPrecondition':
        return 'EBUSY';
      case 'InvalidArgument':
        return 'EINVAL';
      case 'Unavailable':
        return 'EUNAVAILABLE';
      case 'DeadlineExceeded':
        return 'ETIMEDOUT';
      default:
        return 'EIO';
    }
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? (code as EffectErrorCode) : 'EIO';
}

/** The gRPC client's module (grpc-js, protobufjs), evaluated on first use. */
const loadClient = (): Promise<typeof import('./client.ts')> => import('./client.ts');

function fail(err: unknown): never {
  throw Object.assign(new Error(err instanceof Error ? err.message : String(err)), {
    code: codeOf(err),
  });
}

/**
 * The real containerd effects: the supervised process's primitive steps and the daemon's
 * one client connection (a single gRPC channel in the daemon's own namespace).
 */
export class ContainerdConnection {
  private client: ContainerdClient | null = null;
  /** containerd's revision, once connected (shown by /version and /info). */
  revision = '';
  private watches = new Map<number, Promise<ContainerdResults['containerd.waitExit']>>();
  private execRoots = new Map<number, string>();

  /** The connected client, for the parts of the daemon that drive containers. */
  get connected(): ContainerdClient {
    if (!this.client)
      throw Object.assign(new Error('containerd client is not connected'), {
        code: 'EUNAVAILABLE',
      });
    return this.client;
  }

  async run(
    req: Exclude<
      ContainerdRequest,
      { effect: 'containerd.startSupervised' | 'containerd.stopSupervised' }
    >,
  ): Promise<unknown> {
    try {
      switch (req.effect) {
        case 'containerd.spawn': {
          const configPath = writeContainerdConfig({
            execRoot: req.execRoot,
            dataRoot: req.dataRoot,
          });
          const child = spawnContainerd({ binary: req.binary, configPath, execRoot: req.execRoot });
          // The client is needed as soon as containerd answers: it is evaluated and prepared
          // while containerd boots, once this turn's effects (other steps' file and process work)
          // are under way. Should that fail, containerd.connect fails with the reason.
          setImmediate(
            () =>
              void loadClient()
                .then((client) => client.prepareClient())
                .catch(() => undefined),
          );
          this.watches.set(child.pid, child.exited);
          this.execRoots.set(child.pid, req.execRoot);
          return {
            pid: child.pid,
            address: child.address,
          } satisfies ContainerdResults['containerd.spawn'];
        }
        case 'containerd.waitReady': {
          const v = await waitContainerdReady(req.address, {
            timeoutMs: req.timeoutMs,
            pid: req.pid,
          });
          return { version: v.version } satisfies ContainerdResults['containerd.waitReady'];
        }
        case 'containerd.waitExit': {
          const watch = this.watches.get(req.pid);
          if (!watch) return { code: null, signal: null };
          const r = await watch;
          this.watches.delete(req.pid);
          return r;
        }
        case 'containerd.terminate': {
          const execRoot = this.execRoots.get(req.pid);
          const signal = await stopContainerd(req.pid, {
            timeoutMs: req.timeoutMs,
            ...(execRoot ? { execRoot } : {}),
          });
          return { signal } satisfies ContainerdResults['containerd.terminate'];
        }
        case 'containerd.connect': {
          const { ContainerdClient } = await loadClient();
          this.client = await ContainerdClient.connect(req.address, req.namespace, {
            timeoutMs: req.timeoutMs,
          });
          const v = await this.client.version();
          this.revision = v.revision;
          return {
            version: v.version,
            revision: v.revision,
          } satisfies ContainerdResults['containerd.connect'];
        }
        case 'containerd.close': {
          this.client?.close();
          this.client = null;
          return {};
        }
        case 'containerd.listTasks': {
          const tasks = await this.connected.listTasks();
          return {
            tasks: tasks.map((t) => ({
              id: t.id,
              pid: t.pid,
              status: t.status,
              exitStatus: t.exitStatus,
            })),
          } satisfies ContainerdResults['containerd.listTasks'];
        }
        case 'containerd.createTask':
        case 'containerd.startTask':
        case 'containerd.killTask':
        case 'containerd.pauseTask':
        case 'containerd.resumeTask':
        case 'containerd.deleteTask':
        case 'containerd.deleteContainer':
        case 'containerd.execCreate':
        case 'containerd.execStart':
        case 'containerd.execKill':
        case 'containerd.execDelete':
        case 'containerd.execResize':
        case 'containerd.execList':
        case 'containerd.execReap':
        case 'containerd.updateTask':
          // The container machine runs in the simulator so far; the daemon does not spawn
          // container actors yet (issue 4), so nothing asks for these on a real host.
          throw Object.assign(
            new Error(`${req.effect}: containers are not driven on real containerd yet`),
            { code: 'ENOTSUP' },
          );
        default:
          return assertNever(req, 'containerd request');
      }
    } catch (err) {
      fail(err);
    }
  }
}
