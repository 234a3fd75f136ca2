import type {
  AttachmentRecord,
  EndpointRecord,
  NetworkRecord,
  SandboxRecord,
} from '../../machines/network/model.ts';
import type { Rule } from '../../machines/network/rules.ts';
import type { NetworkView } from '../../machines/container/invariants.ts';

/**
 * Container networking effects: links (bridges, veth pairs), addresses, network namespaces,
 * iptables rules in the daemon's own chains, the userland proxies of published ports, the
 * networks' DNS resolvers, and the network database under the data root. Requests name the
 * network, endpoint or sandbox they are for, so the orderings can be checked on a trace.
 */

/** A rule with its place: `position` 1-based insert index, or null to append. */
export interface PositionedRule extends Rule {
  position: number | null;
}

/** One published port's proxy (dockerd's docker-proxy): listens on the host, forwards to the container. */
export interface ProxySpec {
  proto: 'tcp' | 'udp' | 'sctp';
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** What a network's resolver answers: names (lower-case) to addresses, and the upstreams for the rest. */
export interface ResolverSpec {
  network: string;
  /** The address it listens on (the network's gateway), port 53, UDP and TCP. */
  address: string;
  upstreams: string[];
  records: { endpoint: string; names: string[]; ip: string }[];
}

export type NetRecordKind = 'network' | 'sandbox' | 'endpoint' | 'attachment';

/** One record of the network database and its kind. */
export type NetDbEntry =
  | { kind: 'network'; record: NetworkRecord }
  | { kind: 'sandbox'; record: SandboxRecord }
  | { kind: 'endpoint'; record: EndpointRecord }
  | { kind: 'attachment'; record: AttachmentRecord };

export type NetRequest =
  /** What the controller must know of the host: link routes, links and their addresses, the dynamic port range, IPv6 on loopback. */
  | { effect: 'net.hostFacts' }
  | { effect: 'net.createBridge'; name: string; mtu: number; mac: string; network: string }
  /** Deletes links (bridges, veths' host ends); a link already gone is fine. */
  | { effect: 'net.deleteLinks'; names: string[]; network?: string; endpoints?: string[] }
  | { effect: 'net.addAddress'; dev: string; cidr: string; network: string }
  | { effect: 'net.delAddress'; dev: string; cidr: string; network: string }
  | { effect: 'net.setLinkUp'; name: string; network: string }
  /** The filter FORWARD policy; returns the one before. */
  | { effect: 'net.setForwardPolicy'; policy: 'ACCEPT' | 'DROP' }
  /**
   * Writes the daemon's chains whole, in one atomic iptables-restore: each listed chain is
   * emptied and refilled with `rules` (in order), `ensure` chains are made if missing and keep
   * their rules (plus `ensureRules` when absent), and each jump is put at the top of its
   * built-in chain unless it is there.
   */
  | {
      effect: 'net.syncChains';
      chains: { table: Rule['table']; chain: string }[];
      rules: Rule[];
      ensure: { table: Rule['table']; chain: string }[];
      ensureRules: Rule[];
      jumps: Rule[];
    }
  /** Removes the jumps, then empties and deletes the chains (what was not there is fine). */
  | { effect: 'net.removeChains'; chains: { table: Rule['table']; chain: string }[]; jumps: Rule[] }
  | { effect: 'net.addRules'; rules: PositionedRule[]; network?: string; endpoint?: string }
  /** Deletes rules; one already gone is fine. */
  | { effect: 'net.deleteRules'; rules: Rule[]; network?: string; endpoint?: string }
  /** A new network namespace, bind-mounted at `path`, its loopback up. */
  | { effect: 'net.createNetns'; path: string; sandbox: string; container: string }
  /** Unmounts and removes namespace files; one already gone is fine. */
  | { effect: 'net.deleteNetns'; paths: string[]; sandboxes?: string[] }
  /**
   * A veth pair: `hostIf` in the bridge and up, `ifName` in the namespace with the address,
   * MAC and MTU, up, and the default route through `gateway` when set.
   */
  | {
      effect: 'net.createEndpoint';
      endpoint: string;
      network: string;
      container: string;
      bridge: string;
      hostIf: string;
      netns: string;
      ifName: string;
      cidr: string;
      mac: string;
      mtu: number;
      gateway: string | null;
      hairpin: boolean;
    }
  | { effect: 'net.startProxies'; proxies: ProxySpec[]; endpoint?: string }
  | { effect: 'net.stopProxies'; proxies: ProxySpec[]; endpoint?: string }
  | { effect: 'net.startResolvers'; resolvers: ResolverSpec[] }
  | { effect: 'net.stopResolvers'; networks: string[] }
  /**
   * Makes sure of bridges (a reboot took user networks' links): creates those missing, adds
   * their address, sets them up. Returns what it made, for the release.
   */
  | {
      effect: 'net.ensureBridges';
      bridges: { name: string; mtu: number; mac: string; network: string; cidr: string | null }[];
    }
  | { effect: 'net.registerNames'; network: string; endpoint: string; names: string[]; ip: string }
  | { effect: 'net.unregisterNames'; network: string; endpoint: string }
  /** The network database: every record under `dir` (`<data-root>/network/files`). */
  | { effect: 'net.dbLoad'; dir: string }
  | { effect: 'net.dbPut'; dir: string; records: NetDbEntry[] }
  /** Deletes records; one already gone is fine. */
  | { effect: 'net.dbDelete'; dir: string; keys: { kind: NetRecordKind; id: string }[] }
  /**
   * A container's sandbox, asked by its container machine before the task is created: the
   * network controller makes (or finds) the namespace and endpoints and writes the files.
   */
  | { effect: 'net.sandboxUp'; container: string }
  /** Releases a container's endpoints and namespace (at its exit or removal); none is fine. */
  | { effect: 'net.sandboxDown'; container: string; forget?: boolean }
  /**
   * The daemon's networking as the restore invariants read it (noOrphanNetwork): the
   * endpoint and sandbox records under `dir`, the veths in the bridges of its networks, the
   * namespace files under `<execRoot>/netns`, and the container addresses its port rules name
   * (in its chains `SD-<tag>…`; none with `--iptables=false`, `tag` null).
   */
  | { effect: 'net.observe'; dir: string; execRoot: string; tag: string | null };

/** A link as the host shows it. */
export interface HostLink {
  name: string;
  kind: string | null;
  master: string | null;
  addresses: string[];
}

/** What a sandbox gives the container's OCI spec. */
export interface SandboxSpec {
  /** The network namespace to join (null: the host's, or a new one runc makes). */
  netns: string | null;
  hostNetwork: boolean;
  hostsPath: string | null;
  hostnamePath: string | null;
  resolvConfPath: string | null;
  hostname: string;
}

export interface NetResults {
  'net.hostFacts': {
    routes: { dst: string; scope: string; dev: string }[];
    links: HostLink[];
    portRange: [number, number];
    ipv6: boolean;
    hostname: string;
  };
  'net.createBridge': Record<string, never>;
  'net.deleteLinks': { deleted: string[] };
  'net.addAddress': Record<string, never>;
  'net.delAddress': Record<string, never>;
  'net.setLinkUp': Record<string, never>;
  'net.setForwardPolicy': { previous: 'ACCEPT' | 'DROP' };
  'net.syncChains': Record<string, never>;
  'net.removeChains': Record<string, never>;
  'net.addRules': Record<string, never>;
  'net.deleteRules': Record<string, never>;
  'net.createNetns': Record<string, never>;
  'net.deleteNetns': { deleted: string[] };
  'net.createEndpoint': Record<string, never>;
  'net.startProxies': Record<string, never>;
  'net.stopProxies': Record<string, never>;
  'net.startResolvers': Record<string, never>;
  'net.stopResolvers': Record<string, never>;
  'net.ensureBridges': {
    created: string[];
    addressed: { dev: string; cidr: string; network: string }[];
  };
  'net.registerNames': Record<string, never>;
  'net.unregisterNames': Record<string, never>;
  'net.dbLoad': {
    networks: NetworkRecord[];
    sandboxes: SandboxRecord[];
    endpoints: EndpointRecord[];
    attachments: AttachmentRecord[];
  };
  'net.dbPut': Record<string, never>;
  'net.dbDelete': Record<string, never>;
  'net.sandboxUp': SandboxSpec;
  'net.sandboxDown': Record<string, never>;
  'net.observe': NetworkView;
}
