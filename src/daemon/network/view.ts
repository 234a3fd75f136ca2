import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { NetworkView } from '../../../machines/container/invariants.ts';
import type { NetworkFacts } from '../../../machines/network/start.ts';

/**
 * The host's networking as the restore invariants read it (machines/container/invariants.ts,
 * noOrphanNetwork): the network database's records, the veths in the daemon's bridges, the
 * namespace files under the exec root, and the container addresses its port rules name. Read
 * directly: it is an observation for the restore check, not a change.
 */
export function hostNetworkView(f: NetworkFacts): NetworkView {
  const records = <T>(kind: string): T[] => {
    try {
      return readdirSync(f.dbDir)
        .filter((n) => n.startsWith(`${kind}.`) && n.endsWith('.json'))
        .map((n) => JSON.parse(readFileSync(`${f.dbDir}/${n}`, 'utf8')) as T);
    } catch {
      return [];
    }
  };
  const networks = records<{ bridge: string | null }>('network');
  const bridges = new Set(networks.flatMap((n) => (n.bridge ? [n.bridge] : [])));
  const links = JSON.parse(
    execFileSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8' }) || '[]',
  ) as {
    ifname: string;
    master?: string;
    linkinfo?: { info_kind?: string };
  }[];
  const ruleAddresses = new Set<string>();
  if (f.tag !== null) {
    const tag = `SD-${f.tag}`;
    for (const line of execFileSync('iptables-save', [], { encoding: 'utf8' }).split('\n')) {
      if (!line.startsWith(`-A ${tag}`)) continue;
      for (const m of line.matchAll(/-d (\d+\.\d+\.\d+\.\d+)\/32 ! -i/g))
        ruleAddresses.add(m[1] as string);
      for (const m of line.matchAll(/--to-destination (\d+\.\d+\.\d+\.\d+):/g))
        ruleAddresses.add(m[1] as string);
    }
  }
  const nsDir = `${f.execRoot}/netns`;
  return {
    endpoints: records<{ container: string; hostIf: string; ip: string }>('endpoint').map((e) => ({
      container: e.container,
      hostIf: e.hostIf,
      ip: e.ip,
    })),
    sandboxes: records<{ container: string; netns: string }>('sandbox').map((s) => ({
      container: s.container,
      netns: s.netns,
    })),
    veths: links
      .filter(
        (l) => l.linkinfo?.info_kind === 'veth' && l.master !== undefined && bridges.has(l.master),
      )
      .map((l) => l.ifname),
    netns: existsSync(nsDir) ? readdirSync(nsDir).map((n) => `${nsDir}/${n}`) : [],
    ruleAddresses: [...ruleAddresses],
  };
}
