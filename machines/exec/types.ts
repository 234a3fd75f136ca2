import type { EffectError } from '../../effects/errors.ts';

/** What `POST /containers/{id}/exec` asked for, as dockerd's ExecConfig keeps it. */
export interface ExecConfig {
  id: string;
  container: string;
  /** dockerd splits the command: the first word, then the rest (ProcessConfig, events). */
  entrypoint: string;
  args: string[];
  user: string;
  privileged: boolean;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys: string;
  /** The OCI process the exec runs (built by the daemon from the container's spec). */
  process: unknown;
  /** `[height, width]` asked at create (ConsoleSize): the terminal's size once it starts. */
  consoleSize: [number, number] | null;
}

/** What the container's events carry (image, name, labels). */
export type ContainerAttributes = Record<string, string>;

export interface ExecInput {
  actorId?: string;
  config: ExecConfig;
  attributes: ContainerAttributes;
}

export type ExecEvent =
  | { type: 'effect.done'; id: string; result: unknown }
  | { type: 'effect.failed'; id: string; error: EffectError }
  /** `detach`: nobody attached (`exec -d`): the reply comes once the process started. */
  | { type: 'api.execStart'; req: string; detach: boolean }
  | { type: 'api.execResize'; req: string; width: number; height: number }
  /** containerd's /tasks/exit for this exec. */
  | { type: 'containerd.execExit'; exec: string; exitStatus: number; exitedAt: string }
  /** Its container's task ended: every process in it died with its PID namespace. */
  | { type: 'container.exited' }
  /** The exec GC's tick (every 5 minutes): a finished exec is marked, then forgotten at the next. */
  | { type: 'execGc.tick' };

export interface ExecContext {
  actorId: string;
  config: ExecConfig;
  attributes: ContainerAttributes;
  seq: number;
  /** The effect this state waits for. */
  pending: string | null;
  startReq: string | null;
  detached: boolean;
  pid: number;
  running: boolean;
  exitCode: number | null;
  /** An exit heard before the start was acknowledged (a process that ends at once). */
  earlyExit: { exitStatus: number; exitedAt: string } | null;
  /** Why the start failed (written to the client's stream, as dockerd does). */
  startError: string | null;
  /** Resize requests in flight, by effect id. */
  resizing: Record<string, string>;
  /** dockerd's CanRemove: the GC saw it finished once; it goes at the next pass. */
  canRemove: boolean;
  /** The terminal size to give the process once it started (asked before the start). */
  size: { width: number; height: number } | null;
}
