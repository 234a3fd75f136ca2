import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus, hostname, machine, release, totalmem, type } from 'node:os';
import { promisify } from 'node:util';
import { assertNever } from '../errors.ts';
import { EffectFailure, failureFrom, nextTurn, type Handler } from '../handler.ts';
import { trapDumpSignal, untrapDumpSignal } from './dump-signal.ts';
import { mountPoints } from './mounts.ts';
import { listShm, mountShm, sweepShm, unmountShm } from './shm.ts';
import type { KernelRequest, KernelResults } from './requests.ts';

export { mountPoints };

const run = promisify(execFile);

/** The interface of the default route (destination 00000000 in /proc/net/route), and its MTU. */
function defaultRouteMtu(): number | null {
  let routes: string;
  try {
    routes = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return null;
  }
  for (const line of routes.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000' && f[0]) {
      try {
        return Number.parseInt(readFileSync(`/sys/class/net/${f[0]}/mtu`, 'utf8').trim(), 10);
      } catch {
        return null;
      }
    }
  }
  return null;
}

function cgroupInfo(): KernelResults['kernel.cgroupInfo'] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const v1 = new Set<string>();
  let unifiedOnly = false;
  for (const l of points) {
    const [pre, post] = l.split(' - ');
    const mountPoint = pre?.split(' ')[4] ?? '';
    const [fsType, , options] = (post ?? '').split(' ');
    if (fsType === 'cgroup')
      for (const o of (options ?? '').split(','))
        if (
          !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o) &&
          !o.startsWith('name=')
        )
          v1.add(o);
    if (fsType === 'cgroup2' && mountPoint === '/sys/fs/cgroup') unifiedOnly = true;
  }
  if (unifiedOnly || v1.size === 0) {
    let controllers: string[] = [];
    try {
      controllers = readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean);
    } catch {
      // no cgroup v2 either
    }
    return { version: 2, controllers, devices: existsSync('/sys/fs/cgroup/cgroup.controllers') };
  }
  return { version: 1, controllers: [...v1].sort(), devices: v1.has('devices') };
}

/**
 * overlay2's check: the kernel knows overlay, and an overlay mount really works on this backing
 * fs. It mounts an overlay of a lower directory holding a file, looks for the file through it,
 * and unmounts it (as dockerd's overlay2 driver checks the kernel at start). One shell does the
 * three (a fork of the daemon costs more than the commands), and the probe's directory is
 * removed off the event loop: the start-up's other steps go on meanwhile.
 *
 * dockerd makes those mounts with system calls; here they are three processes, which on a busy
 * machine took 70 ms and more of the start-up. A mount that worked stays working until the
 * kernel or the filesystem under the root changes, so the verdict is kept beside the root for
 * this boot, kernel and filesystem, and a later start on the same ones takes it.
 */
async function probeOverlay(path: string): Promise<KernelResults['kernel.probeOverlay']> {
  if (!readFileSync('/proc/filesystems', 'utf8').includes('\toverlay'))
    return {
      supported: false,
      reason: "'overlay' not found as a supported filesystem on this host",
    };
  mkdirSync(path, { recursive: true });
  const verdictFile = `${path}/overlay-probe.verdict`;
  const worked = overlayProbeKey(path);
  if (recordedVerdict(verdictFile) === worked) return { supported: true, reason: null };
  const dir = mkdtempSync(`${path}/overlay-probe-`);
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(`${dir}/${d}`);
    writeFileSync(`${dir}/lower/probe`, 'x');
    // Exit 0: the lower layer shows through; 1: it does not; any other: mount or umount failed.
    const script =
      'mount -t overlay overlay -o "$1" "$2" || exit 2; test -e "$2/probe"; shown=$?; umount "$2" || exit 2; exit $shown';
    const options = `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`;
    try {
      await run('sh', ['-c', script, 'sh', options, `${dir}/merged`]);
    } catch (err) {
      const e = err as { code?: number; stderr?: string; message: string };
      if (e.code === 1) return { supported: false, reason: 'overlay mount shows no lower layer' };
      return { supported: false, reason: (e.stderr || e.message).trim() };
    }
    try {
      writeFileSync(verdictFile, `${worked}\n`, { mode: 0o600 });
    } catch {
      // Not kept: the next start probes again.
    }
    return { supported: true, reason: null };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What an overlay verdict holds for: this boot, this kernel, the filesystem under `path`. */
function overlayProbeKey(path: string): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // No boot id: the verdict is kept for the kernel and filesystem only.
  }
  return `overlay works: boot ${boot} kernel ${release()} device ${statSync(path).dev}`;
}

function recordedVerdict(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

async function unmountUnder(path: string): Promise<string[]> {
  const under = mountPoints()
    .filter((m) => m.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
  const done: string[] = [];
  for (const m of under) {
    try {
      await run('umount', [m]);
    } catch {
      await run('umount', ['-l', m]);
    }
    done.push(m);
  }
  return done;
}

async function runcVersion(): Promise<string | null> {
  // Forking the daemon blocks its thread for milliseconds.
  await nextTurn();
  try {
    const { stdout } = await run('runc', ['--version']);
    return /runc version (\S+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

function osName(): string {
  try {
    return (
      /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? type()
    );
  } catch {
    return type();
  }
}

/** Kernel and process effects, for real: /proc, /sys, mount(8), process.env, signals. */
export const realKernel = {
  async run(req: KernelRequest): Promise<unknown> {
    switch (req.effect) {
      case 'kernel.defaultRouteMtu':
        return { mtu: defaultRouteMtu() };
      case 'kernel.readSysctl':
        try {
          return { value: readFileSync(`/proc/sys/${req.key}`, 'utf8') };
        } catch (err) {
          throw failureFrom(err, 'open', `/proc/sys/${req.key}`);
        }
      case 'kernel.writeSysctl':
        try {
          writeFileSync(`/proc/sys/${req.key}`, req.value);
          return {};
        } catch (err) {
          throw failureFrom(err, 'write', `/proc/sys/${req.key}`);
        }
      case 'kernel.uname':
        return {
          sysname: type(),
          release: release(),
          machine: machine(),
          euid: process.geteuid?.() ?? -1,
        } satisfies KernelResults['kernel.uname'];
      case 'kernel.setOomScoreAdj':
        try {
          writeFileSync('/proc/self/oom_score_adj', String(req.score));
          return {};
        } catch (err) {
          const f = failureFrom(err, 'write', '/proc/self/oom_score_adj');
          throw f.code === 'EACCES' ? new EffectFailure('EPERM', f.message) : f;
        }
      case 'kernel.setEnv': {
        const previous = process.env[req.name] ?? null;
        if (req.value === null) delete process.env[req.name];
        else process.env[req.name] = req.value;
        return { previous };
      }
      case 'kernel.cgroupInfo':
        return cgroupInfo();
      case 'kernel.appArmorStatus':
        try {
          return {
            enabled: readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y',
          };
        } catch {
          return { enabled: false };
        }
      case 'kernel.probeOverlay':
        return probeOverlay(req.path);
      case 'kernel.unmountUnder':
        return { unmounted: await unmountUnder(req.path) };
      case 'kernel.mountShm':
        return mountShm(req.path, req.sizeBytes);
      case 'kernel.unmountShm':
        return unmountShm(req.path);
      case 'kernel.sweepShm':
        return sweepShm(req.containersDir, req.keep);
      case 'kernel.listShm':
        return listShm(req.containersDir);
      case 'kernel.trapDumpSignal':
        trapDumpSignal(req.dir);
        return {};
      case 'kernel.untrapDumpSignal':
        untrapDumpSignal();
        return {};
      case 'kernel.systemInfo':
        return {
          ncpu: cpus().length,
          memTotal: totalmem(),
          hostname: hostname(),
          operatingSystem: osName(),
          runcVersion: await runcVersion(),
        } satisfies KernelResults['kernel.systemInfo'];
      default:
        return assertNever(req, 'kernel request');
    }
  },
} satisfies Handler<KernelRequest>;
