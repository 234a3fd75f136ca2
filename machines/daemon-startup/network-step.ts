import type { NetResults } from '../../effects/net/requests.ts';
import type { EffectRequest } from '../../effects/requests.ts';
import { planNetworkStart, type NetworkConfig, type NetworkStartPlan } from '../network/start.ts';
import { compute, deferUntil, effect, mkdir } from './ops.ts';
import type { Scope, StepDef } from './steps.ts';
import type { StartupConfig } from './types.ts';

/** The host's resolv.conf as the step read it ('' when there is none). */
const resolvText = (s: Scope): string =>
  typeof s.local['resolv'] === 'string' ? s.local['resolv'] : '';

/**
 * dockerd's initNetworkController, which NewDaemon runs inside restore (moby-facts §5.8,
 * network-facts §1): the network database, stale sandboxes of containers not kept (a SIGKILL
 * leaves them), the predefined networks, the default bridge (its link, its address),
 * ip_forward, the daemon's chains rewritten whole from the live networks, and the DNS servers
 * and proxies of what live-restore keeps. Everything it makes is an acquisition: a failed
 * start gives it back, newest first; a started daemon keeps its bridge, rules and database.
 */

const root = (s: Scope): string => s.facts.root ?? s.config.dataRoot;
const plan = (s: Scope): NetworkStartPlan => s.local['plan'] as NetworkStartPlan;
const dbDir = (s: Scope): string => `${root(s)}/network/files`;

export function networkConfigOf(c: StartupConfig): NetworkConfig {
  return {
    bridge: c.bridge === '' ? null : c.bridge,
    bip: c.bip === '' ? null : c.bip,
    fixedCidr: c.fixedCidr,
    defaultGateway: c.defaultGateway,
    mtu: c.mtu,
    iptables: c.iptables,
    ipForward: c.ipForward,
    ipMasq: c.ipMasq,
    icc: c.icc,
    userlandProxy: c.userlandProxy,
    ip: c.ip,
    dns: c.dns,
    dnsSearch: c.dnsSearch,
    dnsOptions: c.dnsOptions,
    defaultAddressPools: c.defaultAddressPools,
  };
}

const resolvConf = '/etc/resolv.conf';
/** systemd-resolved's stub: dockerd reads the real upstreams from here instead. */
const resolvedConf = '/run/systemd/resolve/resolv.conf';

export function networkControllerStep(): StepDef {
  return {
    id: 'networkController',
    needs: ['restore', 'dataRoot', 'setDefaultMtu', 'disableBridge'],
    title: 'networks: database, stale sandboxes, default bridge, ip_forward, iptables chains',
    ops: [
      // Nothing on the way to the API's first answer needs the networks: the controller starts
      // once the API is served, and container actors (restored or created) exist only after it.
      deferUntil('serveApi'),
      mkdir('networkDb', (s) => ({ path: dbDir(s), mode: 0o700 })),
      effect('net.dbLoad', (s) => ({ dir: dbDir(s) }), { done: (_, r) => ({ local: { db: r } }) }),
      effect('net.hostFacts', () => ({}), { done: (_, r) => ({ local: { host: r } }) }),
      effect('fs.readFile', () => ({ path: resolvConf, optional: true }), {
        done: (_, r) => ({ local: { resolv: r.content ?? '' } }),
      }),
      effect(
        'fs.readFile',
        (s) =>
          /^\s*nameserver\s+127\.0\.0\.53\s*$/m.test(resolvText(s))
            ? { path: resolvedConf, optional: true }
            : null,
        {
          done: (_, r) =>
            r.content === null
              ? undefined
              : {
                  local: { resolv: r.content },
                  warn: `detected 127.0.0.53 nameserver, assuming systemd-resolved, so using resolv.conf: ${resolvedConf}`,
                },
        },
      ),
      effect('clock.now', () => ({}), { done: (_, r) => ({ local: { nowMs: r.ms } }) }),
      compute((s) => {
        const p = planNetworkStart({
          config: networkConfigOf(s.config),
          dataRoot: root(s),
          execRoot: s.config.execRoot,
          liveRestore: s.config.liveRestore,
          mtu: s.facts.mtu ?? 1500,
          db: s.local['db'] as NetResults['net.dbLoad'],
          host: s.local['host'] as NetResults['net.hostFacts'],
          hostResolvConf: resolvText(s),
          containers: s.facts.containers ?? [],
          nowMs: Number(s.local['nowMs']),
          pid: s.facts.pid ?? 0,
        });
        if ('error' in p) return { fail: p.error };
        return { local: { plan: p } };
      }),
      // The stale sandboxes: every veth, namespace and record of a container not kept (§7.1), in three batches.
      effect(
        'net.deleteLinks',
        (s) => (plan(s).stale.links.length > 0 ? { names: plan(s).stale.links } : null),
        {
          failed: (_, e) => ({ warn: `removing stale endpoints: ${e.message}` }),
        },
      ),
      effect(
        'net.deleteNetns',
        (s) => (plan(s).stale.netns.length > 0 ? { paths: plan(s).stale.netns } : null),
        {
          failed: (_, e) => ({ warn: `removing stale sandboxes: ${e.message}` }),
        },
      ),
      effect(
        'net.dbDelete',
        (s) => (plan(s).stale.keys.length > 0 ? { dir: dbDir(s), keys: plan(s).stale.keys } : null),
        {
          failed: (_, e) => ({ fail: `could not delete the default bridge network: ${e.message}` }),
        },
      ),
      effect('net.createBridge', (s) => plan(s).createBridge, {
        done: (s) => ({
          acquire: [
            {
              resource: 'net:defaultBridgeLink',
              release: [
                {
                  effect: 'net.deleteLinks',
                  names: [plan(s).createBridge?.name ?? ''],
                  network: plan(s).createBridge?.network ?? '',
                },
              ],
              rollbackOnly: true,
            },
          ],
        }),
        failed: (_, e) => ({
          fail: `Error initializing network controller: Error creating default "bridge" network: ${e.message}`,
        }),
      }),
      effect('net.addAddress', (s) => plan(s).addAddress, {
        done: (s) => {
          const a = plan(s).addAddress as NonNullable<NetworkStartPlan['addAddress']>;
          return {
            acquire: [
              {
                resource: 'net:defaultBridgeAddress',
                release: [
                  { effect: 'net.delAddress', dev: a.dev, cidr: a.cidr, network: a.network },
                ],
                rollbackOnly: true,
              },
            ],
          };
        },
        failed: (s, e) => ({
          fail: `Error initializing network controller: Error creating default "bridge" network: failed to add IPv4 address ${plan(s).addAddress?.cidr ?? ''} to bridge: ${e.message}`,
        }),
      }),
      effect(
        'net.setLinkUp',
        (s) => {
          const b = plan(s).facts.networks.find((n) => n.defaultBridge);
          return b?.bridge ? { name: b.bridge, network: b.id } : null;
        },
        {
          failed: (s, e) => ({
            fail: `Error initializing network controller: Error creating default "bridge" network: Failed to set link up for ${plan(s).facts.networks.find((n) => n.defaultBridge)?.bridge ?? ''}: ${e.message}`,
          }),
        },
      ),
      effect(
        'net.ensureBridges',
        (s) => (plan(s).userBridges.length > 0 ? { bridges: plan(s).userBridges } : null),
        {
          done: (_, r) =>
            r.created.length === 0 && r.addressed.length === 0
              ? undefined
              : {
                  acquire: [
                    {
                      resource: 'net:userBridges',
                      release: [
                        ...r.addressed.map((a): EffectRequest => ({
                          effect: 'net.delAddress',
                          ...a,
                        })),
                        ...(r.created.length > 0
                          ? [{ effect: 'net.deleteLinks' as const, names: r.created }]
                          : []),
                      ],
                      rollbackOnly: true,
                    },
                  ],
                },
          failed: (_, e) => ({ fail: `Error initializing network controller: ${e.message}` }),
        },
      ),
      effect(
        'kernel.writeSysctl',
        (s) => {
          const b = plan(s).routeLocalnet[0];
          return b === undefined ? null : { key: `net/ipv4/conf/${b}/route_localnet`, value: '1' };
        },
        {
          failed: (_, e) => ({
            fail: `Unable to enable local routing for hairpin mode: ${e.message}`,
          }),
        },
      ),
      // ip_forward: written only when off, and then the FORWARD policy becomes DROP (setupIPForwarding).
      effect(
        'kernel.readSysctl',
        (s) => (s.config.ipForward ? { key: 'net/ipv4/ip_forward' } : null),
        {
          done: (_, r) => ({ local: { forwardOff: r.value.trim() === '0' } }),
          failed: (_, e) => ({ fail: `Cannot read IP forwarding setup: ${e.message}` }),
        },
      ),
      effect(
        'kernel.writeSysctl',
        (s) => (s.local['forwardOff'] ? { key: 'net/ipv4/ip_forward', value: '1' } : null),
        {
          done: () => ({
            acquire: [
              {
                resource: 'net:ipForward',
                release: [{ effect: 'kernel.writeSysctl', key: 'net/ipv4/ip_forward', value: '0' }],
                rollbackOnly: true,
              },
            ],
          }),
          failed: (_, e) => ({ fail: `Enabling IP forwarding failed: ${e.message}` }),
        },
      ),
      effect(
        'net.setForwardPolicy',
        (s) => (s.local['forwardOff'] && s.config.iptables ? { policy: 'DROP' as const } : null),
        {
          done: (_, r) => ({
            acquire: [
              {
                resource: 'net:forwardPolicy',
                release: [{ effect: 'net.setForwardPolicy', policy: r.previous }],
                rollbackOnly: true,
              },
            ],
          }),
          failed: (_, e) => ({
            fail: `Setting the default DROP policy on firewall reload failed: ${e.message}`,
          }),
        },
      ),
      effect(
        'net.syncChains',
        (s) => {
          const p = plan(s);
          return p.chains === null
            ? null
            : {
                chains: p.chains,
                rules: p.rules,
                ensure: p.ensure,
                ensureRules: p.ensureRules,
                jumps: p.jumps,
              };
        },
        {
          done: (s) => ({
            acquire: [
              {
                resource: 'net:chains',
                release: [
                  {
                    effect: 'net.removeChains',
                    chains: [...(plan(s).chains ?? []), ...plan(s).ensure],
                    jumps: plan(s).jumps,
                  },
                ],
                rollbackOnly: true,
              },
            ],
          }),
          failed: (_, e) => ({
            fail: `Error initializing network controller: error obtaining controller instance: Failed to Setup IP tables: ${e.message}`,
          }),
        },
      ),
      effect(
        'net.dbPut',
        (s) =>
          plan(s).put.length > 0
            ? {
                dir: dbDir(s),
                records: plan(s).put.map((record) => ({ kind: 'network' as const, record })),
              }
            : null,
        {
          done: (s) => ({
            acquire: [
              {
                resource: 'net:predefinedNetworks',
                release: [
                  {
                    effect: 'net.dbDelete',
                    dir: dbDir(s),
                    keys: plan(s).put.map((n) => ({ kind: 'network' as const, id: n.id })),
                  },
                ],
                rollbackOnly: true,
              },
            ],
          }),
          failed: (_, e) => ({
            fail: `Error initializing network controller: Error creating default "bridge" network: ${e.message}`,
          }),
        },
      ),
      effect(
        'net.startResolvers',
        (s) => (plan(s).resolvers.length > 0 ? { resolvers: plan(s).resolvers } : null),
        {
          done: (s) => ({
            acquire: [
              {
                resource: 'net:resolvers',
                release: [
                  {
                    effect: 'net.stopResolvers',
                    networks: plan(s).resolvers.map((r) => r.network),
                  },
                ],
              },
            ],
          }),
          failed: (_, e) => ({ fail: `Error initializing network controller: ${e.message}` }),
        },
      ),
      effect(
        'net.startProxies',
        (s) => (plan(s).proxies.length > 0 ? { proxies: plan(s).proxies } : null),
        {
          done: (s) => ({
            acquire: [
              {
                resource: 'net:keptProxies',
                release: [{ effect: 'net.stopProxies', proxies: plan(s).proxies }],
              },
            ],
          }),
          failed: (_, e) => ({
            warn: `restoring the userland proxies of running containers: ${e.message}`,
          }),
        },
      ),
      compute((s) => ({ facts: { network: plan(s).facts } })),
    ],
  };
}
