import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { NetworkView } from '../../machines/container/invariants.ts';
import { chainTag } from '../../machines/network/rules.ts';

/**
 * Networking helpers for the real-daemon tests: a bridge and subnet of the test's own (never
 * docker0, never 172.17), and a clean-up that removes exactly what the test's daemon made
 * (its chains, found by its data root's tag; its bridges, veths and namespaces).
 */

const sh = (cmd: string, args: string[]): string =>
  spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';

export function netAvailable(): string | null {
  for (const b of ['ip', 'iptables', 'iptables-restore', 'unshare', 'nsenter'])
    if (spawnSync('which', [b]).status !== 0)
      return `needs ${b} (bash scripts/setup.sh installs iptables)`;
  return null;
}

/** A /24 in 10.213.0.0/16 and a bridge name, picked at random (tests on one host do not collide). */
export function pickNet(): { bridge: string; octet: number; subnet: string; gateway: string } {
  const octet = 2 + Math.floor(Math.random() * 250);
  return {
    bridge: `sdt-${randomBytes(3).toString('hex')}`,
    octet,
    subnet: `10.213.${octet}.0/24`,
    gateway: `10.213.${octet}.1`,
  };
}

/** A bridge the test makes for `-b`, with its address. */
export function makeBridge(name: string, cidr: string | null): void {
  execFileSync('ip', ['link', 'add', name, 'type', 'bridge']);
  if (cidr) execFileSync('ip', ['addr', 'add', cidr, 'dev', name]);
  execFileSync('ip', ['link', 'set', name, 'up']);
}

export function linkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', name], { stdio: 'ignore' }).status === 0;
}

export function addressesOf(name: string): string[] {
  const json = JSON.parse(sh('ip', ['-j', 'addr', 'show', 'dev', name]) || '[]') as {
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  return (json[0]?.addr_info ?? [])
    .filter((a) => a.family === 'inet')
    .map((a) => `${a.local}/${a.prefixlen}`);
}

/** Links whose master is `bridge`. */
export function portsOf(bridge: string): string[] {
  const json = JSON.parse(sh('ip', ['-j', 'link', 'show', 'master', bridge]) || '[]') as {
    ifname: string;
  }[];
  return json.map((l) => l.ifname);
}

/** The daemon's iptables lines (every rule that names one of its chains), per table. */
export function daemonRules(dataRoot: string): string[] {
  const tag = `SD-${chainTag(dataRoot)}`;
  return sh('iptables-save', [])
    .split('\n')
    .filter((l) => l.includes(tag));
}

/** Removes the daemon's jumps and chains (only those carrying its tag). */
export function removeDaemonRules(dataRoot: string): void {
  const tag = `SD-${chainTag(dataRoot)}`;
  let table = '';
  const jumps: string[] = [];
  const chains: string[] = [];
  for (const line of sh('iptables-save', []).split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    if (line.startsWith(`:${tag}`))
      chains.push(`${table} ${line.slice(1).split(' ')[0] as string}`);
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (m && !(m[1] as string).startsWith(tag) && line.includes(tag))
      jumps.push(`${table}\t${m[1] as string}\t${m[2] as string}`);
  }
  for (const j of jumps) {
    const [t, chain, args] = j.split('\t') as [string, string, string];
    spawnSync('sh', ['-c', `iptables -t ${t} -D ${chain} ${args}`]);
  }
  for (const c of chains) {
    const [t, chain] = c.split(' ') as [string, string];
    spawnSync('iptables', ['-t', t, '-F', chain]);
  }
  for (const c of chains) {
    const [t, chain] = c.split(' ') as [string, string];
    spawnSync('iptables', ['-t', t, '-X', chain]);
  }
}

/** Namespace files the daemon keeps under its exec root. */
export function netnsFiles(execRoot: string): string[] {
  const dir = `${execRoot}/netns`;
  return existsSync(dir) ? readdirSync(dir).map((n) => `${dir}/${n}`) : [];
}

/** Everything a test's daemon may have left on the host's network: removed. */
export function cleanupNet(d: { root: string; exec: string }, bridges: string[]): void {
  removeDaemonRules(d.root);
  for (const b of bridges) for (const p of portsOf(b)) spawnSync('ip', ['link', 'del', p]);
  for (const b of bridges) if (linkExists(b)) spawnSync('ip', ['link', 'del', b]);
  // User networks' bridges the daemon made (br-<id12> or a name the test chose).
  const files = `${d.root}/network/files`;
  if (existsSync(files))
    for (const f of readdirSync(files).filter((x) => x.startsWith('network.'))) {
      try {
        const n = JSON.parse(readFileSync(`${files}/${f}`, 'utf8')) as {
          bridge?: string;
          ownsBridge?: boolean;
        };
        if (n.bridge && n.ownsBridge && linkExists(n.bridge)) {
          for (const p of portsOf(n.bridge)) spawnSync('ip', ['link', 'del', p]);
          spawnSync('ip', ['link', 'del', n.bridge]);
        }
      } catch {
        // a torn record
      }
    }
  for (const ns of netnsFiles(d.exec)) spawnSync('umount', ['-l', ns]);
}

/** The daemon's networking as the restore invariants read it: its database, its bridges' veths, its namespaces, its rules. */
export function networkView(d: { root: string; exec: string }): NetworkView {
  const dir = `${d.root}/network/files`;
  const read = <T>(kind: string): T[] =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.startsWith(`${kind}.`) && f.endsWith('.json'))
          .map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as T)
      : [];
  const networks = read<{ bridge: string | null }>('network');
  const endpoints = read<{ container: string; hostIf: string; ip: string }>('endpoint');
  const sandboxes = read<{ container: string; netns: string }>('sandbox');
  const veths = networks.flatMap((n) =>
    n.bridge && linkExists(n.bridge) ? portsOf(n.bridge) : [],
  );
  const ruleAddresses = new Set<string>();
  for (const l of daemonRules(d.root)) {
    for (const m of l.matchAll(/-d (\d+\.\d+\.\d+\.\d+)\/32 ! -i/g))
      ruleAddresses.add(m[1] as string);
    for (const m of l.matchAll(/--to-destination (\d+\.\d+\.\d+\.\d+):/g))
      ruleAddresses.add(m[1] as string);
  }
  return {
    endpoints: endpoints.map((e) => ({ container: e.container, hostIf: e.hostIf, ip: e.ip })),
    sandboxes: sandboxes.map((s) => ({ container: s.container, netns: s.netns })),
    veths,
    netns: netnsFiles(d.exec),
    ruleAddresses: [...ruleAddresses],
  };
}
