import type { ContainerContext } from '../../../machines/container/types.ts';
import type { ContainerNetConfig } from '../../../machines/network/model.ts';
import type { ContainerNetInfo } from './controller.ts';

/** A container's networking as its record keeps it (records older than networking: their mode alone). */
export function netConfigOf(c: ContainerContext): ContainerNetConfig {
  const k = c.record.config;
  return (
    k.network ?? {
      mode: k.networkMode ?? 'none',
      hostname: k.hostname ?? c.record.id.slice(0, 12),
      domainname: '',
      portBindings: {},
      publishAll: false,
      exposed: [],
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      extraHosts: [],
      endpoints: [],
    }
  );
}

/** What the network controller reads of a container. */
export function containerNetInfo(c: ContainerContext): ContainerNetInfo {
  return {
    id: c.record.id,
    name: c.record.name.replace(/^\//, ''),
    net: netConfigOf(c),
    running:
      ['running', 'paused', 'restarting'].includes(c.record.state.status) || c.sandbox !== null,
    dir: c.dir,
  };
}
