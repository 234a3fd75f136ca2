/**
 * What the network controller keeps (the network database under the data root, one JSON record
 * per network, sandbox and endpoint) and what a container asks of it. Plain JSON: these travel
 * in effect requests and machine inputs, and are the records the crash invariants read.
 */

/** A network: the predefined `bridge`, `host` and `none`, or one `docker network create` made. */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null';
  created: string;
  internal: boolean;
  /** Attachable: recorded and shown (it matters only to swarm-scope networks, in dockerd too). */
  attachable?: boolean;
  labels: Record<string, string>;
  /** The driver options, as the client gave them (or dockerd's for the default bridge). */
  options: Record<string, string>;
  /** IPAM.Options: null when the request had none (a raw API create), {} from the CLI. */
  ipamOptions: Record<string, string> | null;
  /** The IPv4 pool: null for host and none. */
  ipam: NetworkIpam | null;
  /** The pool was configured by the client (static container addresses are allowed only then). */
  userSubnet: boolean;
  /** The Linux bridge (bridge driver only). */
  bridge: string | null;
  /** statedock created the link, so it deletes it with the network (an existing `-b` bridge stays). */
  ownsBridge: boolean;
  /** The address statedock added to the bridge (removed with the network or a failed start). */
  ownsAddress: boolean;
  mtu: number;
  icc: boolean;
  masquerade: boolean;
  /** Host address a port published without one binds to (`--ip`, host_binding_ipv4). */
  hostBindingIp: string;
  defaultBridge: boolean;
}

export interface NetworkIpam {
  subnet: string;
  gateway: string;
  /** `--fixed-cidr` or IPRange: containers get addresses from here. */
  ipRange: string | null;
  /** `--default-gateway`: the route containers get instead of the bridge's address. */
  defaultGateway: string | null;
}

/** A container's network namespace (`<exec-root>/netns/<id12>`), recorded before it is made. */
export interface SandboxRecord {
  id: string;
  container: string;
  netns: string;
}

/** One published port of an endpoint (both strings and numbers as the API shows them differ). */
export interface PortMapping {
  proto: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  /** `0.0.0.0`, `::` or a host address. */
  hostIp: string;
  hostPort: number;
}

/** A container's attachment to a network: a veth pair, an address, its names, its ports. */
export interface EndpointRecord {
  id: string;
  network: string;
  container: string;
  /** The container's name without its slash (the endpoint's name in Docker). */
  name: string;
  sandbox: string;
  netns: string;
  /** The veth's host end, in the network's bridge. */
  hostIf: string;
  /** The container end, in the sandbox: eth0, eth1, … in attach order. */
  ifName: string;
  ip: string;
  prefixLen: number;
  mac: string;
  /** The default route goes through here (the first endpoint of a sandbox), else null. */
  gateway: string | null;
  /** EndpointSettings.Aliases as inspect shows them (null on the default bridge). */
  aliases: string[] | null;
  /** What the network's resolver answers with this endpoint's address. */
  dnsNames: string[];
  /** IPAMConfig.IPv4Address the client asked for. */
  staticIp: string | null;
  ports: PortMapping[];
}

/** Names a container wants on one network (NetworkingConfig.EndpointsConfig, `network connect`). */
export interface EndpointWish {
  /** Network name or ID as the client wrote it. */
  network: string;
  aliases: string[];
  ipv4: string | null;
}

/** The container's networking, from its create request (what the sandbox is built from). */
export interface ContainerNetConfig {
  /** `default`, `bridge`, `host`, `none`, `container:<id>`, or a network name or ID. */
  mode: string;
  hostname: string;
  domainname: string;
  /** Published ports as requested: `80/tcp` → bindings. */
  portBindings: Record<string, { hostIp: string; hostPort: string }[]>;
  publishAll: boolean;
  /** Config.ExposedPorts (the image's EXPOSE, `--expose`, and the ports `-p` names). */
  exposed: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** `--add-host name:ip` (`host-gateway` resolved at sandbox time). */
  extraHosts: string[];
  /** The endpoints it joins at start, beyond its network mode's (connect while stopped adds here). */
  endpoints: EndpointWish[];
  /** Config.NetworkDisabled: no network at all, whatever the mode (runc's empty namespace). */
  disabled?: boolean;
}

/**
 * The networks a container joins at its next start, once `network connect` or `disconnect`
 * changed them (until then its create request decides): Docker keeps them in the container's
 * NetworkSettings.Networks; statedock keeps them in the network database.
 */
export interface AttachmentRecord {
  /** The container's ID. */
  id: string;
  endpoints: EndpointWish[];
}

export const predefinedNetworks = ['bridge', 'host', 'none'] as const;
