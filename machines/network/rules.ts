import type { EndpointRecord, NetworkRecord, PortMapping } from './model.ts';

/**
 * The iptables rules of dockerd's bridge driver (network-facts.md §3), in chains of this
 * daemon's own: every chain name carries the daemon's tag (from its data root), so two daemons
 * on one host never touch each other's rules, and the built-in chains only get one jump each.
 * Rules are written exactly as `iptables-save` prints them, so a rule can be found again.
 *
 * filter: FORWARD → SD-<tag>-FWD (the DOCKER-USER and DOCKER-ISOLATION jumps, then each
 *   bridge's forwarding rules), SD-<tag> (DOCKER: one ACCEPT per published port),
 *   SD-<tag>-ISO1 / -ISO2 (the isolation stages), SD-<tag>-USER (DOCKER-USER, never flushed).
 * nat: PREROUTING and OUTPUT → SD-<tag> (DOCKER: the DNAT of published ports),
 *   POSTROUTING → SD-<tag>-POST (masquerade of each bridge's subnet, hairpin of each port).
 */

export type Table = 'filter' | 'nat';

/** One rule: its table and chain, and its arguments as iptables-save prints them. */
export interface Rule {
  table: Table;
  chain: string;
  args: string;
}

/** The daemon's chains, by role. */
export interface ChainNames {
  forward: string;
  docker: string;
  iso1: string;
  iso2: string;
  user: string;
  natDocker: string;
  post: string;
}

/** 8 hex digits naming this daemon's chains (FNV-1a of its data root: stable across restarts). */
export function chainTag(dataRoot: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < dataRoot.length; i++)
    h = Math.imul(h ^ dataRoot.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

export function chainNames(tag: string): ChainNames {
  const p = `SD-${tag}`;
  return {
    forward: `${p}-FWD`,
    docker: p,
    iso1: `${p}-ISO1`,
    iso2: `${p}-ISO2`,
    user: `${p}-USER`,
    natDocker: p,
    post: `${p}-POST`,
  };
}

export interface FirewallOptions {
  userlandProxy: boolean;
}

/** The jumps from the built-in chains into ours (each inserted at the top once). */
export function jumps(c: ChainNames, o: FirewallOptions): Rule[] {
  return [
    { table: 'filter', chain: 'FORWARD', args: `-j ${c.forward}` },
    { table: 'nat', chain: 'PREROUTING', args: `-m addrtype --dst-type LOCAL -j ${c.natDocker}` },
    {
      table: 'nat',
      chain: 'OUTPUT',
      // With the proxy, loopback is the proxy's; without it, DNAT serves 127.0.0.1 too (hairpin mode).
      args: o.userlandProxy
        ? `! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${c.natDocker}`
        : `-m addrtype --dst-type LOCAL -j ${c.natDocker}`,
    },
    { table: 'nat', chain: 'POSTROUTING', args: `-j ${c.post}` },
  ];
}

/** Chains rewritten whole at start-up (the user chain is only made sure of: its rules are the user's). */
export function ownedChains(c: ChainNames): { table: Table; chain: string }[] {
  return [
    { table: 'filter', chain: c.forward },
    { table: 'filter', chain: c.docker },
    { table: 'filter', chain: c.iso1 },
    { table: 'filter', chain: c.iso2 },
    { table: 'nat', chain: c.natDocker },
    { table: 'nat', chain: c.post },
  ];
}

/** A rule and where it goes: `top` inserts at the head of the chain, `end` appends. */
export interface PlacedRule extends Rule {
  at: 'top' | 'end';
}

/** The rules a bridge network adds when it is created (§3.3, §3.6), in the order they are placed. */
export function networkRules(c: ChainNames, n: NetworkRecord, o: FirewallOptions): PlacedRule[] {
  const b = n.bridge as string;
  const s = n.ipam?.subnet as string;
  if (n.internal)
    return [
      { table: 'filter', chain: c.iso1, args: `! -s ${s} -o ${b} -j DROP`, at: 'top' },
      { table: 'filter', chain: c.iso1, args: `! -d ${s} -i ${b} -j DROP`, at: 'top' },
      ...(n.icc
        ? [
            {
              table: 'filter' as const,
              chain: c.forward,
              args: `-i ${b} -o ${b} -j ACCEPT`,
              at: 'end' as const,
            },
          ]
        : [
            {
              table: 'filter' as const,
              chain: c.forward,
              args: `-i ${b} -o ${b} -j DROP`,
              at: 'end' as const,
            },
          ]),
    ];
  const out: PlacedRule[] = [];
  // Inserted at the top in reverse, so they read in dockerd's order (the newest network first).
  const forward = [
    `-o ${b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-o ${b} -j ${c.docker}`,
    `-i ${b} ! -o ${b} -j ACCEPT`,
    ...(n.icc ? [`-i ${b} -o ${b} -j ACCEPT`] : []),
  ];
  for (const args of [...forward].reverse())
    out.push({ table: 'filter', chain: c.forward, args, at: 'top' });
  // icc off: the DROP goes to the bottom (setIcc appends it).
  if (!n.icc)
    out.push({ table: 'filter', chain: c.forward, args: `-i ${b} -o ${b} -j DROP`, at: 'end' });
  out.push({ table: 'filter', chain: c.iso1, args: `-i ${b} ! -o ${b} -j ${c.iso2}`, at: 'top' });
  out.push({ table: 'filter', chain: c.iso2, args: `-o ${b} -j DROP`, at: 'top' });
  if (n.masquerade)
    out.push({ table: 'nat', chain: c.post, args: `-s ${s} ! -o ${b} -j MASQUERADE`, at: 'top' });
  if (!o.userlandProxy)
    out.push({
      table: 'nat',
      chain: c.post,
      args: `-o ${b} -m addrtype --src-type LOCAL -j MASQUERADE`,
      at: 'top',
    });
  if (n.masquerade && o.userlandProxy)
    out.push({ table: 'nat', chain: c.natDocker, args: `-i ${b} -j RETURN`, at: 'top' });
  return out;
}

/** The three rules of one published port (§3.4): ACCEPT, hairpin MASQUERADE, DNAT. */
export function portRules(
  c: ChainNames,
  bridge: string,
  containerIp: string,
  p: PortMapping,
  o: FirewallOptions,
): PlacedRule[] {
  if (p.hostIp === '::') return []; // IPv6 bindings are the proxy's alone (no ip6tables)
  const m = `-p ${p.proto} -m ${p.proto}`;
  const dest = p.hostIp === '0.0.0.0' ? '' : `-d ${p.hostIp}/32 `;
  return [
    {
      table: 'filter',
      chain: c.docker,
      args: `-d ${containerIp}/32 ! -i ${bridge} -o ${bridge} ${m} --dport ${p.containerPort} -j ACCEPT`,
      at: 'end',
    },
    {
      table: 'nat',
      chain: c.post,
      args: `-s ${containerIp}/32 -d ${containerIp}/32 ${m} --dport ${p.containerPort} -j MASQUERADE`,
      at: 'end',
    },
    {
      table: 'nat',
      chain: c.natDocker,
      args: `${dest}${o.userlandProxy ? `! -i ${bridge} ` : ''}${m} --dport ${p.hostPort} -j DNAT --to-destination ${containerIp}:${p.containerPort}`,
      at: 'end',
    },
  ];
}

/** The rules of an endpoint's published ports. */
export function endpointRules(
  c: ChainNames,
  bridge: string,
  e: Pick<EndpointRecord, 'ip' | 'ports'>,
  o: FirewallOptions,
): PlacedRule[] {
  return e.ports.flatMap((p) => portRules(c, bridge, e.ip, p, o));
}

/** The fixed head and tail rules of the daemon's chains. */
export function baseRules(c: ChainNames): PlacedRule[] {
  return [
    { table: 'filter', chain: c.forward, args: `-j ${c.user}`, at: 'end' },
    { table: 'filter', chain: c.forward, args: `-j ${c.iso1}`, at: 'end' },
    { table: 'filter', chain: c.iso1, args: '-j RETURN', at: 'end' },
    { table: 'filter', chain: c.iso2, args: '-j RETURN', at: 'end' },
  ];
}

/**
 * Every rule of the daemon's chains, in order, for a set of networks (oldest first) and the
 * endpoints whose ports are published: what the start-up writes in one atomic restore.
 */
export function fullRuleset(
  c: ChainNames,
  networks: readonly NetworkRecord[],
  published: readonly { bridge: string; ip: string; ports: PortMapping[] }[],
  o: FirewallOptions,
): Rule[] {
  const chains = new Map<string, string[]>();
  const key = (r: Rule): string => `${r.table} ${r.chain}`;
  const place = (r: PlacedRule): void => {
    const list = chains.get(key(r)) ?? [];
    if (r.at === 'top') {
      // Below the fixed head (the USER and ISO1 jumps of FWD), above the rest.
      const head =
        r.chain === c.forward
          ? list.filter((a) => a === `-j ${c.user}` || a === `-j ${c.iso1}`).length
          : 0;
      list.splice(head, 0, r.args);
    } else list.push(r.args);
    chains.set(key(r), list);
  };
  for (const r of baseRules(c)) place(r);
  // The RETURN rules stay last: placed at the end of ISO chains, insertions go on top of them.
  for (const n of networks)
    if (n.driver === 'bridge' && n.bridge && n.ipam)
      for (const r of networkRules(c, n, o)) place(r);
  for (const p of published) for (const r of endpointRules(c, p.bridge, p, o)) place(r);
  const out: Rule[] = [];
  for (const { table, chain } of ownedChains(c))
    for (const args of chains.get(`${table} ${chain}`) ?? []) out.push({ table, chain, args });
  return out;
}
