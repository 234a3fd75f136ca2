import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { ResolverSpec } from './requests.ts';

/**
 * A user-defined network's DNS server (dockerd's embedded resolver, network-facts.md §5), on
 * the network's gateway address, port 53, UDP and TCP: the containers' names, aliases and short
 * IDs on that network answer with their addresses (TTL 600, PTR from the same table, AAAA
 * empty); anything else goes to the upstreams in turn (4 s each) over the query's protocol.
 */

const ttl = 600;
const upstreamTimeoutMs = 4_000;
const maxConcurrent = 1024;

export class NetworkResolver {
  private readonly spec: ResolverSpec;
  private readonly names = new Map<string, Map<string, string>>();
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private readonly tcpClients = new Set<Socket>();
  private inFlight = 0;

  constructor(spec: ResolverSpec) {
    this.spec = spec;
    for (const r of spec.records) this.register(r.endpoint, r.names, r.ip);
  }

  register(endpoint: string, names: readonly string[], ip: string): void {
    this.unregister(endpoint);
    for (const n of names) {
      const key = n.toLowerCase();
      const m = this.names.get(key) ?? new Map<string, string>();
      m.set(endpoint, ip);
      this.names.set(key, m);
    }
  }

  unregister(endpoint: string): void {
    for (const [n, m] of this.names) {
      m.delete(endpoint);
      if (m.size === 0) this.names.delete(n);
    }
  }

  async listen(): Promise<void> {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address: this.spec.address, port: 53 }, () => {
        udp.removeListener('error', reject);
        resolve();
      });
    });
    udp.on('error', () => undefined);
    udp.on('message', (msg, from) => {
      void this.answer(msg, 'udp').then((out) => {
        if (out) udp.send(out, from.port, from.address);
      });
    });
    this.udp = udp;
    const tcp = createServer((client) => {
      this.tcpClients.add(client);
      let buf = Buffer.alloc(0);
      client.on('error', () => client.destroy());
      client.on('close', () => this.tcpClients.delete(client));
      client.setTimeout(10_000, () => client.destroy());
      client.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) break;
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          void this.answer(msg, 'tcp').then((out) => {
            if (!out || client.destroyed) return;
            const head = Buffer.alloc(2);
            head.writeUInt16BE(out.length);
            client.write(Buffer.concat([head, out]));
          });
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: this.spec.address, port: 53 }, () => {
        tcp.removeListener('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      udp.close();
      this.udp = null;
      throw err;
    });
    tcp.on('error', () => undefined);
    this.tcp = tcp;
  }

  async close(): Promise<void> {
    for (const c of this.tcpClients) c.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
    this.udp = null;
    this.tcp = null;
  }

  /** The answer to one query, or null to stay silent (a packet that is no query). */
  private async answer(msg: Buffer, proto: 'udp' | 'tcp'): Promise<Buffer | null> {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return null;
    }
    if (q.type !== 'query' || !q.questions || q.questions.length !== 1) return null;
    const question = q.questions[0] as dnsPacket.Question;
    const name = question.name.replace(/\.$/, '').toLowerCase();
    const local = this.lookup(name, question.type);
    if (local !== null)
      return dnsPacket.encode({
        type: 'response',
        id: q.id ?? 0,
        flags:
          dnsPacket.RECURSION_DESIRED |
          dnsPacket.RECURSION_AVAILABLE |
          dnsPacket.AUTHORITATIVE_ANSWER,
        questions: [question],
        answers: local,
      });
    if (this.inFlight >= maxConcurrent) return this.fail(q, question);
    this.inFlight += 1;
    try {
      for (const up of this.spec.upstreams) {
        const reply = await (proto === 'udp' ? forwardUdp(msg, up) : forwardTcp(msg, up)).catch(
          () => null,
        );
        if (reply) return reply;
      }
      return this.fail(q, question);
    } finally {
      this.inFlight -= 1;
    }
  }

  private fail(q: dnsPacket.Packet, question: dnsPacket.Question): Buffer {
    return dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2, // SERVFAIL
      questions: [question],
    });
  }

  /** Local answers for a name, or null when the name is not this network's. */
  private lookup(name: string, type: string): dnsPacket.Answer[] | null {
    if (type === 'PTR') {
      const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(name);
      if (!m) return null;
      const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
      for (const [n, byEndpoint] of this.names)
        if ([...byEndpoint.values()].includes(ip) && !n.includes('.'))
          return [{ type: 'PTR', name, ttl, data: n }];
      return null;
    }
    const hits = this.names.get(name);
    if (!hits) return null;
    if (type === 'AAAA') return [];
    if (type !== 'A') return null;
    return [...new Set(hits.values())].map((ip) => ({ type: 'A' as const, name, ttl, data: ip }));
  }
}

function forwardUdp(msg: Buffer, upstream: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('timeout'));
    }, upstreamTimeoutMs);
    s.on('error', (err) => {
      clearTimeout(timer);
      s.close();
      reject(err);
    });
    s.on('message', (reply: Buffer) => {
      clearTimeout(timer);
      s.close();
      resolve(reply);
    });
    s.send(msg, 53, upstream);
  });
}

function forwardTcp(msg: Buffer, upstream: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: upstream, port: 53 });
    let buf = Buffer.alloc(0);
    s.setTimeout(upstreamTimeoutMs, () => s.destroy(new Error('timeout')));
    s.on('error', reject);
    s.on('connect', () => {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(msg.length);
      s.write(Buffer.concat([head, msg]));
    });
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        s.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    s.on('close', () => reject(new Error('closed')));
  });
}
