import type { HostSupport } from './host-support.ts';

/**
 * `docker info`'s SecurityOptions, in dockerd's order, saying only what containers get:
 * AppArmor when the kernel has it (a profile is applied when a container asks for one),
 * seccomp with the profile every container gets (Docker's `default`, or the path of the
 * daemon's --seccomp-profile, as dockerd 20.10 prints it), SELinux, user-namespace
 * remapping, and cgroup namespaces when containers get their own by default (cgroup v2).
 */
export function securityOptions(o: {
  support: HostSupport;
  seccompProfilePath: string | null;
  remapped: boolean;
}): string[] {
  const out: string[] = [];
  if (o.support.appArmor) out.push('name=apparmor');
  if (o.support.seccomp) out.push(`name=seccomp,profile=${o.seccompProfilePath ?? 'default'}`);
  if (o.support.selinux) out.push('name=selinux');
  if (o.remapped) out.push('name=userns');
  if (o.support.cgroupNamespaces && o.support.cgroup.version === 2) out.push('name=cgroupns');
  return out;
}
