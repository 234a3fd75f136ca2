import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { busyboxTarball } from './busybox-image.ts';
import {
  daemonDirs,
  type DaemonDirs,
  docker,
  killContainerdOf,
  type RunningDaemon,
  startDaemon,
  stopDaemon,
  unmountUnder,
} from './daemon-process.ts';
import { cleanupNet, makeBridge, pickNet } from './net.ts';

/** busybox with what the network tests run in containers (busybox's wget crashes here: nc and httpd instead). */
export const netApplets = [
  'sh',
  'echo',
  'true',
  'sleep',
  'cat',
  'httpd',
  'nc',
  'nslookup',
  'ip',
  'hostname',
  'printf',
  'grep',
  'ping',
];

/** A daemon of the test's own on a bridge and subnets of its own, with busybox imported. */
export interface NetDaemon {
  d: DaemonDirs;
  daemon: RunningDaemon | null;
  cfg: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** A /24 the daemon's user networks without a subnet come from (split into /28s). */
  pool: string;
  run(...args: string[]): { status: number | null; stdout: string; stderr: string };
  ok(...args: string[]): string;
  restart(extra?: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function netDaemon(extra: string[] = []): Promise<NetDaemon> {
  const d = daemonDirs('sdtn');
  const cfg = `${d.dir}/docker-config`;
  mkdirSync(cfg);
  const n = pickNet();
  const poolOctet = 1 + ((n.octet + 100) % 250);
  const pool = `10.213.${poolOctet}.0/24`;
  makeBridge(n.bridge, `${n.gateway}/24`);
  mkdirSync(`${d.dir}/rootfs/www`, { recursive: true });
  writeFileSync(`${d.dir}/rootfs/www/index.html`, 'hello-from-httpd\n');
  const args = (more: string[]): string[] => [
    '-b',
    n.bridge,
    '--default-address-pool',
    `base=${pool},size=28`,
    ...more,
  ];
  const self: NetDaemon = {
    d,
    daemon: null,
    cfg,
    bridge: n.bridge,
    subnet: n.subnet,
    gateway: n.gateway,
    pool,
    run: (...a) => docker(d.sock, a, cfg),
    ok: (...a) => {
      const r = docker(d.sock, a, cfg);
      assert.equal(r.status, 0, `docker ${a.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    },
    restart: async (more = []) => {
      self.daemon = await startDaemon(d, args([...extra, ...more]));
    },
    close: async () => {
      if (
        self.daemon &&
        self.daemon.child.exitCode === null &&
        self.daemon.child.signalCode === null
      ) {
        const ids = docker(d.sock, ['ps', '-aq'], cfg).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) docker(d.sock, ['rm', '-f', ...ids], cfg);
        await stopDaemon(self.daemon);
      }
      killContainerdOf(d.exec);
      cleanupNet(d, [n.bridge]);
      unmountUnder(d.dir);
      rmSync(d.dir, { recursive: true, force: true });
    },
  };
  const tar = busyboxTarball(d.dir, netApplets);
  await self.restart();
  self.ok('import', '--change', 'CMD ["/bin/sh"]', tar, 'busybox:latest');
  return self;
}

/** GET http://host:port/ from the host; the body, or the error's text. */
export function httpGet(host: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', (e) => resolve(`error: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.end();
  });
}

/** The host's first global IPv4 address that is not on `except` bridges (the tests reach published ports there too). */
export function hostAddress(except: string[]): string | null {
  const json = JSON.parse(
    spawnSync('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global'], { encoding: 'utf8' }).stdout ||
      '[]',
  ) as {
    ifname: string;
    addr_info: { local: string }[];
  }[];
  for (const l of json) {
    if (
      except.includes(l.ifname) ||
      l.ifname.startsWith('sdt') ||
      l.ifname.startsWith('br-') ||
      l.ifname.startsWith('veth')
    )
      continue;
    const a = l.addr_info[0]?.local;
    if (a) return a;
  }
  return null;
}
