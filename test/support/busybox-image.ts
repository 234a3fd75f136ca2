import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';

/** Why tests that import a busybox image cannot run here, or null when they can. */
export function busyboxUnavailable(): string | null {
  return spawnSync('test', ['-x', '/bin/busybox']).status === 0
    ? null
    : 'needs /bin/busybox (apt-get install busybox-static)';
}

/** A root filesystem of busybox-static and a few applets, as a tarball for `docker import`. */
export function busyboxTarball(
  dir: string,
  applets: readonly string[] = ['sh', 'echo', 'true', 'sleep', 'cat'],
): string {
  const rootfs = `${dir}/rootfs`;
  mkdirSync(`${rootfs}/bin`, { recursive: true });
  cpSync('/bin/busybox', `${rootfs}/bin/busybox`);
  for (const a of applets) symlinkSync('busybox', `${rootfs}/bin/${a}`);
  for (const sub of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(`${rootfs}/${sub}`);
  execFileSync('tar', ['-C', rootfs, '-cf', `${dir}/busybox.tar`, '.']);
  return `${dir}/busybox.tar`;
}
