import type { SandboxSpec } from '../../effects/net/requests.ts';

/**
 * The container's OCI spec with its sandbox: the network namespace to join (or the host's),
 * and /etc/hosts, /etc/hostname and /etc/resolv.conf bind-mounted from the container's
 * directory, as dockerd mounts them.
 */
export function withSandbox(spec: unknown, sb: SandboxSpec | null): unknown {
  if (sb === null) return spec;
  const s = spec as {
    mounts?: unknown[];
    linux?: { namespaces?: { type: string; path?: string }[] };
  } & Record<string, unknown>;
  const namespaces = (s.linux?.namespaces ?? []).filter((n) => n.type !== 'network');
  if (!sb.hostNetwork)
    namespaces.push(sb.netns === null ? { type: 'network' } : { type: 'network', path: sb.netns });
  const files: [string, string | null][] = [
    ['/etc/resolv.conf', sb.resolvConfPath],
    ['/etc/hostname', sb.hostnamePath],
    ['/etc/hosts', sb.hostsPath],
  ];
  // A file the user mounts there (-v) wins, as in dockerd.
  const taken = new Set((s.mounts ?? []).map((m) => (m as { destination?: string }).destination));
  const mounts = [
    ...(s.mounts ?? []),
    ...files.flatMap(([destination, source]) =>
      source === null || taken.has(destination)
        ? []
        : [{ destination, type: 'bind', source, options: ['rbind', 'rprivate'] }],
    ),
  ];
  // A container sharing the host's UTS namespace keeps the host's name (runc sets none there).
  const privateUts = namespaces.some((n) => n.type === 'uts');
  return {
    ...s,
    mounts,
    ...(privateUts ? { hostname: sb.hostname } : {}),
    linux: { ...s.linux, namespaces },
  };
}
