import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { busyboxUnavailable } from '../support/busybox-image.ts';
import { realDaemonUnavailable, repoRoot } from '../support/daemon-process.ts';
import { daemonRules, netAvailable, portsOf } from '../support/net.ts';
import { hostAddress, httpGet, netDaemon, type NetDaemon } from '../support/net-daemon.ts';

/** busybox's httpd in the foreground, serving the image's /www (hello-from-httpd) on `port`. */
const httpd = (port = 80): string[] => ['busybox', 'httpd', '-f', '-p', String(port), '-h', '/www'];

/**
 * Container networking with the stock docker CLI, against a daemon on a bridge and subnets of
 * the test's own: published ports from the host and from containers, -P, port conflicts,
 * user networks and their DNS, --network container:, outbound NAT, and Docker's errors.
 */

const unavailable = realDaemonUnavailable() ?? netAvailable() ?? busyboxUnavailable();

/** A request to the daemon's API (what the CLI has no flag for). */
function apiPost(
  sock: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: sock, path, method: 'POST', headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A shell command's prefix that fetches / from the host and port written after it. */
const ncGet = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 `;

/**
 * A DNS server of the test's own on a loopback address, in a child process (the test's docker
 * CLI calls block this one): the daemon's resolvers forward what they do not know to it.
 */
async function upstreamDns(address: string): Promise<ChildProcess> {
  const script = `
    const dns = require('dns-packet');
    const s = require('dgram').createSocket('udp4');
    s.on('message', (msg, from) => {
      const q = dns.decode(msg);
      const question = q.questions && q.questions[0];
      if (!question) return;
      const known = question.name.endsWith('.upstream.test');
      s.send(dns.encode({ type: 'response', id: q.id, flags: dns.RECURSION_AVAILABLE | (known ? 0 : 3),
        questions: [question],
        answers: known && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 5, data: '10.213.250.250' }] : [] }),
        from.port, from.address);
    });
    s.bind(53, '${address}', () => console.log('up'));`;
  const child = spawn(process.execPath, ['-e', script], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((res) => child.stdout?.once('data', () => res()));
  return child;
}

describe('container networking', { skip: unavailable ?? false }, () => {
  let t: NetDaemon;
  let dns: ChildProcess | null = null;
  const upstream = `127.0.0.${100 + Math.floor(Math.random() * 100)}`;
  before(async () => {
    dns = await upstreamDns(upstream);
    t = await netDaemon(['--dns', upstream]);
  });
  after(async () => {
    await t?.close();
    if (dns?.pid) process.kill(dns.pid, 'SIGKILL');
  });

  test('HostConfig.PortBindings: busybox httpd published with -p is fetched from the host on 127.0.0.1 and its own address, and from another container', async () => {
    const port = 20000 + Math.floor(Math.random() * 5000);
    t.ok('run', '-d', '--name', 'web', '-p', `${port}:80`, ...httpd());
    assert.match(await httpGet('127.0.0.1', port), /hello-from-httpd/);
    const addr = hostAddress([t.bridge]);
    if (addr) assert.match(await httpGet(addr, port), /hello-from-httpd/);
    // Another container reaches it through the host's address (the proxy) and through its own.
    const ip = t.ok('inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'web');
    assert.match(ip, /^10\.213\.\d+\.\d+$/);
    const viaGateway = t.ok('run', '--rm', 'busybox', 'sh', '-c', `${ncGet}${t.gateway} ${port}`);
    assert.match(viaGateway, /hello-from-httpd/);
    const direct = t.ok('run', '--rm', 'busybox', 'sh', '-c', `${ncGet}${ip} 80`);
    assert.match(direct, /hello-from-httpd/);
    assert.equal(t.ok('port', 'web'), `80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
    const ports = JSON.parse(
      t.ok('inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web'),
    ) as unknown;
    assert.deepEqual(ports, {
      '80/tcp': [
        { HostIp: '0.0.0.0', HostPort: String(port) },
        { HostIp: '::', HostPort: String(port) },
      ],
    });
    assert.equal(
      t.ok('ps', '--filter', 'name=web', '--format', '{{.Ports}}'),
      `0.0.0.0:${port}->80/tcp, [::]:${port}->80/tcp`,
    );
    // The DNAT, ACCEPT and hairpin rules of the port, in the daemon's own chains.
    const rules = daemonRules(t.d.root);
    assert.ok(
      rules.some((r) => r.includes(`--dport ${port} -j DNAT --to-destination ${ip}:80`)),
      rules.join('\n'),
    );
    // Stopped, the container lets its port go (and its veth): docker port says nothing.
    t.ok('stop', '-t', '1', 'web');
    assert.equal(t.ok('port', 'web'), '');
    assert.ok(!daemonRules(t.d.root).some((r) => r.includes(`--dport ${port} `)));
    assert.match(await httpGet('127.0.0.1', port, 1000), /^error/);
    t.ok('rm', 'web');
  });

  test('Config.ExposedPorts, HostConfig.PublishAllPorts: -P publishes the image’s EXPOSE and --expose’s ports on free ports of the dynamic range', async () => {
    t.ok('tag', 'busybox', 'bb-expose');
    const c = t.ok('run', '-d', '-P', '--expose', '7000', ...httpd(7000));
    const lines = t.ok('port', c).split('\n');
    assert.equal(lines.length, 2, lines.join('\n'));
    const port = Number(/0\.0\.0\.0:(\d+)$/.exec(lines[0] as string)?.[1]);
    assert.ok(port >= 32768 && port <= 60999, `port ${port} of ip_local_port_range`);
    assert.match(lines[0] as string, /^7000\/tcp -> 0\.0\.0\.0:\d+$/);
    assert.match(await httpGet('127.0.0.1', port), /hello-from-httpd/);
    t.ok('rm', '-f', c);
  });

  test('a port taken by a container or by a host process gives Docker’s error and leaves the container created, with no veth and no rule', async () => {
    const port = 25000 + Math.floor(Math.random() * 5000);
    const first = t.ok('run', '-d', '-p', `${port}:80`, 'busybox', 'sleep', '100');
    const veths = portsOf(t.bridge).length;
    const rules = daemonRules(t.d.root).length;
    const r = t.run('run', '-d', '--name', 'second', '-p', `${port}:80`, 'busybox', 'sleep', '100');
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `driver failed programming external connectivity on endpoint second \\([0-9a-f]{64}\\): Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`,
      ),
    );
    assert.equal(t.ok('inspect', '-f', '{{.State.Status}}', 'second'), 'created');
    assert.equal(portsOf(t.bridge).length, veths, 'no veth left by the failed start');
    assert.equal(daemonRules(t.d.root).length, rules, 'no rule left by the failed start');
    // A host process holds another port: the proxy's listen fails, as docker-proxy's does.
    const held: Server = createServer();
    await new Promise<void>((res) => held.listen(port + 1, '0.0.0.0', () => res()));
    try {
      const r2 = t.run(
        'run',
        '-d',
        '--name',
        'third',
        '-p',
        `${port + 1}:80`,
        'busybox',
        'sleep',
        '100',
      );
      assert.match(
        r2.stderr,
        new RegExp(
          `driver failed programming external connectivity on endpoint third \\([0-9a-f]{64}\\): Error starting userland proxy: listen tcp4 0\\.0\\.0\\.0:${port + 1}: bind: address already in use`,
        ),
      );
      assert.equal(t.ok('inspect', '-f', '{{.State.Status}}', 'third'), 'created');
      assert.equal(portsOf(t.bridge).length, veths);
      assert.equal(daemonRules(t.d.root).length, rules);
    } finally {
      held.close();
    }
    // Once the port is free, the same container starts.
    t.ok('rm', '-f', first);
    t.ok('start', 'second');
    assert.equal(t.ok('port', 'second'), `80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
    t.ok('rm', '-f', 'second', 'third');
  });

  test('NetworkingConfig.EndpointsConfig: containers on a user network reach each other by name, by alias and by short ID; other names go to the upstream', () => {
    t.ok('network', 'create', 'front');
    const subnet = t.ok(
      'network',
      'inspect',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}}{{end}}',
      'front',
    );
    assert.ok(
      subnet.startsWith(t.pool.split('.').slice(0, 3).join('.')),
      `${subnet} comes from ${t.pool}`,
    );
    const id = t.ok(
      'run',
      '-d',
      '--name',
      'srv',
      '--network',
      'front',
      '--network-alias',
      'www',
      '--hostname',
      'h1',
      ...httpd(),
    );
    const out = t.ok(
      'run',
      '--rm',
      '--network',
      'front',
      'busybox',
      'sh',
      '-c',
      `${ncGet}srv 80; ${ncGet}www 80; nslookup ${id.slice(0, 12)}; nslookup h1; cat /etc/resolv.conf; nslookup db.upstream.test`,
    );
    assert.match(
      out,
      /Name:\s+db\.upstream\.test\nAddress: 10\.213\.250\.250/,
      'forwarded to the upstream',
    );
    assert.equal((out.match(/hello-from-httpd/g) ?? []).length, 2, out);
    const ip = t.ok(
      'inspect',
      '-f',
      '{{(index .NetworkSettings.Networks "front").IPAddress}}',
      'srv',
    );
    assert.equal(
      // Anchored: the upstream's 10.213.250.250 must not count as srv's 10.213.250.2.
      (out.match(new RegExp(`^Address: ${ip.replaceAll('.', '\\.')}$`, 'gm')) ?? []).length,
      2,
      out,
    );
    assert.match(out, /^options ndots:0$/m);
    const aliases = JSON.parse(
      t.ok('inspect', '-f', '{{json (index .NetworkSettings.Networks "front").Aliases}}', 'srv'),
    ) as string[];
    assert.deepEqual(aliases, ['www', id.slice(0, 12), 'h1']);
    // The default bridge has no names: a container there does not find srv.
    const none = t.run(
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      `cat /etc/resolv.conf; ${ncGet}srv 80`,
    );
    assert.doesNotMatch(none.stdout, /hello-from-httpd/);
    assert.equal(
      t.run('network', 'rm', 'front').stderr.split('\n')[0],
      `Error response from daemon: error while removing network: network front id ${t.ok('network', 'inspect', '-f', '{{.Id}}', 'front')} has active endpoints`,
    );
    t.ok('rm', '-f', 'srv');
    t.ok('network', 'rm', 'front');
  });

  test('--network container: shares the namespace, the hosts and the resolv.conf of the other container', () => {
    t.ok(
      'network',
      'create',
      '--subnet',
      `10.213.${((Number(t.gateway.split('.')[2]) + 37) % 250) + 2}.0/24`,
      'shared',
    );
    t.ok(
      'run',
      '-d',
      '--name',
      'owner',
      '--network',
      'shared',
      '--hostname',
      'own',
      'busybox',
      'sleep',
      '100',
    );
    const ownerIp = t.ok(
      'inspect',
      '-f',
      '{{(index .NetworkSettings.Networks "shared").IPAddress}}',
      'owner',
    );
    const out = t.ok(
      'run',
      '--rm',
      '--network',
      'container:owner',
      'busybox',
      'sh',
      '-c',
      'ip -4 addr show eth0; hostname; cat /etc/resolv.conf',
    );
    assert.match(out, new RegExp(`inet ${ownerIp.replaceAll('.', '\\.')}/24`));
    assert.match(out, /^own$/m);
    const r = t.run('create', '--network', 'container:owner', '-p', '80:80', 'busybox');
    assert.match(
      r.stderr,
      /conflicting options: port publishing and the container type network mode/,
    );
    t.ok('rm', '-f', 'owner');
    t.ok('network', 'rm', 'shared');
  });

  test('outbound traffic is masqueraded: a server in another namespace sees the host’s address, not the container’s', async () => {
    const ns = `${t.d.dir}/outside`;
    const octet = ((Number(t.gateway.split('.')[2]) + 91) % 250) + 2;
    const link = `sdto-${Math.random().toString(16).slice(2, 8)}`;
    closeSync(openSync(ns, 'w'));
    let server: ChildProcess | null = null;
    try {
      assert.equal(
        spawnSync('unshare', [`--net=${ns}`, 'ip', 'link', 'set', 'lo', 'up']).status,
        0,
      );
      assert.equal(
        spawnSync('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
          .status,
        0,
      );
      spawnSync('ip', ['addr', 'add', `10.213.${octet}.1/30`, 'dev', link]);
      spawnSync('ip', ['link', 'set', link, 'up']);
      spawnSync('nsenter', [
        `--net=${ns}`,
        'sh',
        '-c',
        `ip addr add 10.213.${octet}.2/30 dev eth0 && ip link set eth0 up && ip route add default via 10.213.${octet}.1`,
      ]);
      server = spawn(
        'nsenter',
        [
          `--net=${ns}`,
          process.execPath,
          '-e',
          "require('net').createServer((s)=>{s.on('error',()=>{});s.end(s.remoteAddress+'\\n')}).listen(9000,'0.0.0.0',()=>console.log('up'))",
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((res) => server?.stdout?.once('data', () => res()));
      const seen = t.ok('run', '--rm', 'busybox', 'nc', '-w', '3', `10.213.${octet}.2`, '9000');
      assert.equal(
        seen,
        `10.213.${octet}.1`,
        'the source was rewritten to the host’s address on the way out',
      );
    } finally {
      if (server?.pid) process.kill(server.pid, 'SIGKILL');
      spawnSync('ip', ['link', 'del', link]);
      spawnSync('umount', [ns]);
      rmSync(ns, { force: true });
    }
  });

  test('network create, inspect, connect, disconnect and rm answer with Docker’s words and codes', () => {
    const base = ((Number(t.gateway.split('.')[2]) + 150) % 250) + 2;
    const subnet = `10.213.${base}.0/24`;
    t.ok(
      'network',
      'create',
      '--subnet',
      subnet,
      '--gateway',
      `10.213.${base}.254`,
      '--label',
      'k=v',
      '-o',
      'com.docker.network.bridge.name=sdt-n' + String(base),
      'un1',
    );
    const j = JSON.parse(t.ok('network', 'inspect', 'un1')) as {
      IPAM: { Config: unknown[] };
      Labels: unknown;
      Options: unknown;
    }[];
    assert.deepEqual(j[0]?.IPAM.Config, [{ Subnet: subnet, Gateway: `10.213.${base}.254` }]);
    assert.deepEqual(j[0]?.Labels, { k: 'v' });
    assert.equal(
      t.run('network', 'create', '--subnet', subnet, 'dup').stderr.split('\n')[0],
      'Error response from daemon: Pool overlaps with other one on this address space',
    );
    assert.equal(
      t.run('network', 'create', '--subnet', '300.1.0.0/16', 'bad').stderr.split('\n')[0],
      'Error response from daemon: Invalid subnet 300.1.0.0/16 : invalid CIDR address: 300.1.0.0/16',
    );
    assert.equal(
      t.run('network', 'rm', 'bridge').stderr.split('\n')[0],
      'Error response from daemon: bridge is a pre-defined network and cannot be removed',
    );
    assert.equal(
      t.run('network', 'inspect', 'nosuch').stderr.split('\n')[0],
      'Error response from daemon: network nosuch not found',
    );
    // connect with an alias and an address, on a running container; then disconnect.
    t.ok('run', '-d', '--name', 'c1', ...httpd());
    t.ok('network', 'connect', '--alias', 'a1', '--ip', `10.213.${base}.77`, 'un1', 'c1');
    assert.equal(
      t.ok('inspect', '-f', '{{(index .NetworkSettings.Networks "un1").IPAddress}}', 'c1'),
      `10.213.${base}.77`,
    );
    assert.equal(
      t.run('network', 'connect', 'un1', 'c1').stderr.split('\n')[0],
      'Error response from daemon: endpoint with name c1 already exists in network un1',
    );
    const peer = t.ok(
      'run',
      '--rm',
      '--network',
      'un1',
      'busybox',
      'sh',
      '-c',
      `nslookup a1; ${ncGet}a1 80`,
    );
    assert.match(peer, new RegExp(`Address: 10\\.213\\.${base}\\.77`));
    assert.match(peer, /hello-from-httpd/);
    t.ok('network', 'disconnect', 'un1', 'c1');
    assert.equal(
      t.ok('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'c1').includes('un1'),
      false,
    );
    const gone = t.run(
      'run',
      '--rm',
      '--network',
      'un1',
      'busybox',
      'sh',
      '-c',
      `printf x | nc -w 1 10.213.${base}.77 80`,
    );
    assert.doesNotMatch(gone.stdout, /hello-from-httpd/);
    const cid = t.ok('inspect', '-f', '{{.Id}}', 'c1');
    assert.equal(
      t.run('network', 'disconnect', 'un1', 'c1').stderr.split('\n')[0],
      `Error response from daemon: container ${cid} is not connected to network un1`,
    );
    assert.equal(
      t.run('run', '--rm', '--ip', '10.9.9.9', 'busybox', 'true').stderr.split('\n')[0],
      'docker: Error response from daemon: user specified IP address is supported on user defined networks only',
    );
    t.ok('rm', '-f', 'c1');
    assert.equal(t.ok('network', 'prune', '-f'), 'Deleted Networks:\nun1');
    assert.deepEqual(t.ok('network', 'ls', '--format', '{{.Name}}').split('\n').sort(), [
      'bridge',
      'host',
      'none',
    ]);
  });

  test('network bodies of the wrong shape get encoding/json’s words and a client mistake is a 4xx, never a 500', async () => {
    const sock = t.d.sock;
    const message = (a: { body: string }): string =>
      (JSON.parse(a.body) as { message: string }).message;
    const wrong: [string, unknown, string][] = [
      [
        '/networks/create',
        { Name: 5 },
        'json: cannot unmarshal number into Go struct field NetworkCreateRequest.Name of type string',
      ],
      [
        '/networks/create',
        '{bad',
        'json: cannot unmarshal string into Go value of type types.NetworkCreateRequest',
      ],
      [
        '/networks/create',
        { Name: 'bn', IPAM: { Config: 'x' } },
        'json: cannot unmarshal string into Go struct field IPAM.IPAM.Config of type []network.IPAMConfig',
      ],
      [
        '/networks/create',
        { Name: 'bn', IPAM: { Config: [{ Subnet: 5 }] } },
        'json: cannot unmarshal number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string',
      ],
      ['/networks/create', { Name: '' }, 'invalid name: '],
      [
        '/networks/create',
        { Name: 'bn', IPAM: { Config: [{ Subnet: '192.0.2.0/24', Gateway: '192.0.3.1' }] } },
        'failed to allocate gateway (192.0.3.1): Requested address is out of range',
      ],
      [
        '/networks/bridge/connect',
        { Container: ['c'] },
        'json: cannot unmarshal array into Go struct field NetworkConnect.Container of type string',
      ],
      [
        '/networks/bridge/connect',
        { Container: 'c', EndpointConfig: { Aliases: 'a' } },
        'json: cannot unmarshal string into Go struct field EndpointSettings.EndpointConfig.Aliases of type []string',
      ],
      [
        '/networks/bridge/disconnect',
        { Container: 'c', Force: 'yes' },
        'json: cannot unmarshal string into Go struct field NetworkDisconnect.Force of type bool',
      ],
    ];
    for (const [path, body, words] of wrong) {
      const a = await apiPost(sock, path, body);
      assert.deepEqual([a.status, message(a)], [400, words], `${path} ${JSON.stringify(body)}`);
    }
    // A container that is not on the network: dockerd's status (500) and words.
    t.ok('create', '--name', 'bodyc', '--network', 'none', 'busybox', 'true');
    const made = await apiPost(sock, '/networks/create', { Name: 'bodynet' });
    assert.equal(made.status, 201, made.body);
    const cid = t.ok('inspect', '-f', '{{.Id}}', 'bodyc');
    const d = await apiPost(sock, '/networks/bodynet/disconnect', { Container: 'bodyc' });
    assert.deepEqual(
      [d.status, message(d)],
      [500, `container ${cid} is not connected to network bodynet`],
    );
    t.ok('rm', 'bodyc');
    t.ok('network', 'rm', 'bodynet');
  });

  test('HostConfig.ExtraHosts, HostConfig.Dns, HostConfig.DnsSearch, HostConfig.DnsOptions: /etc/hosts, /etc/hostname and /etc/resolv.conf follow --hostname, --add-host and --dns*', () => {
    const out = t.ok(
      'run',
      '--rm',
      '--hostname',
      'hh',
      '--add-host',
      'foo:1.2.3.4',
      '--add-host',
      'gw:host-gateway',
      '--dns',
      '9.9.9.9',
      '--dns-search',
      'ex.com',
      '--dns-opt',
      'attempts:2',
      'busybox',
      'sh',
      '-c',
      'cat /etc/hosts /etc/hostname /etc/resolv.conf',
    );
    assert.match(out, /^1\.2\.3\.4\tfoo$/m);
    assert.match(out, new RegExp(`^${t.gateway.replaceAll('.', '\\.')}\\tgw$`, 'm'));
    assert.match(out, /^10\.213\.\d+\.\d+\thh$/m);
    assert.match(out, /^hh$/m);
    assert.match(out, /^search ex\.com\nnameserver 9\.9\.9\.9\noptions attempts:2$/m);
    const host = t.ok(
      'run',
      '--rm',
      '--network',
      'host',
      'busybox',
      'sh',
      '-c',
      'ip -4 addr show lo; hostname',
    );
    assert.match(host, /inet 127\.0\.0\.1\/8/);
  });

  test('Config.NetworkDisabled: a container created with it has loopback alone, and inspect says so', async () => {
    const created = await apiPost(t.d.sock, '/containers/create', {
      Image: 'busybox',
      Cmd: ['cat', '/proc/net/dev'],
      NetworkDisabled: true,
    });
    assert.equal(created.status, 201, created.body);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    assert.equal(t.ok('inspect', '-f', '{{.Config.NetworkDisabled}}', id), 'true');
    const devices = t
      .ok('start', '-a', id)
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]?.trim());
    assert.deepEqual(devices, ['lo']);
    t.ok('rm', id);
  });
});

describe('container networking without the userland proxy', { skip: unavailable ?? false }, () => {
  let t: NetDaemon;
  before(async () => {
    t = await netDaemon(['--userland-proxy=false']);
  });
  after(async () => {
    await t?.close();
  });

  test('--userland-proxy=false: 127.0.0.1 and the same bridge reach a published port through DNAT and hairpin NAT alone', async () => {
    const port = 35000 + Math.floor(Math.random() * 1000);
    t.ok('run', '-d', '--name', 'web', '-p', `${port}:80`, ...httpd());
    assert.match(await httpGet('127.0.0.1', port), /hello-from-httpd/);
    const peer = t.ok('run', '--rm', 'busybox', 'sh', '-c', `${ncGet}${t.gateway} ${port}`);
    assert.match(peer, /hello-from-httpd/);
    const rules = daemonRules(t.d.root);
    assert.ok(
      rules.some((r) => r.includes(`-p tcp -m tcp --dport ${port} -j DNAT`) && !r.includes('! -i')),
      rules.join('\n'),
    );
    assert.ok(
      rules.some((r) => r.includes(`-o ${t.bridge} -m addrtype --src-type LOCAL -j MASQUERADE`)),
    );
    t.ok('rm', '-f', 'web');
  });
});
