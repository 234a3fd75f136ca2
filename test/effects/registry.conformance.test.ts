import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { asEffectError } from '../../effects/handler.ts';
import { SimFs } from '../../effects/fs/sim.ts';
import { RegistryClient } from '../../effects/registry/real.ts';
import type { RegistryRequest } from '../../effects/registry/requests.ts';
import { SimRegistry, sha256 } from '../../effects/registry/sim.ts';
import { registryUnavailable, startRegistry, type RunningRegistry } from '../support/registry.ts';

/**
 * The registry family's real handler (against Debian's docker-registry) and simulated handler
 * answer the same requests with the same outcome: the same result kind and digest, or the
 * same error code. The simulator's proofs about pulls hold for the daemon's only if they do.
 */
const unavailable = registryUnavailable();
let dir: string;
let reg: RunningRegistry;
const layers = ['first layer bytes', 'second layer bytes'];

before(async () => {
  if (unavailable) return;
  dir = mkdtempSync(`${tmpdir()}/statedock-conformance-`);
  reg = await startRegistry(`${dir}/registry`);
  const sim = new SimRegistry(new SimFs(new Map()));
  sim.publish(`${reg.address}/conf/app`, '1', layers);
  // The same blobs and manifest in the real registry.
  const repo = sim.repos.get(`${reg.address}/conf/app`);
  assert.ok(repo);
  for (const [digest, content] of repo.blobs) {
    const start = await fetch(`http://${reg.address}/v2/conf/app/blobs/uploads/`, {
      method: 'POST',
    });
    const loc = new URL(start.headers.get('location') as string, `http://${reg.address}`);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, {
      method: 'PUT',
      body: content,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(put.status, 201);
  }
  const m = repo.manifests.get('1');
  assert.ok(m);
  const put = await fetch(`http://${reg.address}/v2/conf/app/manifests/1`, {
    method: 'PUT',
    body: m.body,
    headers: { 'Content-Type': m.mediaType },
  });
  assert.equal(put.status, 201);
});

after(async () => {
  if (unavailable) return;
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };

test(
  'real and simulated registry handlers agree, request by request',
  { skip: unavailable ?? false },
  async () => {
    const real = new RegistryClient(
      { mirrors: [], insecureRegistries: [], certsDir: `${dir}/certs.d` },
      'statedock-test',
    );
    const fs = new SimFs(
      new Map([
        ['/', { type: 'dir', mode: 0o755, uid: 0, gid: 0 }],
        ['/b', { type: 'dir', mode: 0o755, uid: 0, gid: 0 }],
      ]),
    );
    const sim = new SimRegistry(fs);
    sim.publish(`${reg.address}/conf/app`, '1', layers);
    const session = 's1';
    const requests: RegistryRequest[] = [
      {
        effect: 'registry.open',
        session,
        domain: reg.address,
        repository: 'conf/app',
        actions: ['pull'],
        credentials: null,
        mirrors: false,
      },
      { effect: 'registry.getManifest', session, reference: '1' },
      { effect: 'registry.getManifest', session, reference: 'nope' },
      {
        effect: 'registry.fetchBlob',
        session,
        digest: sha256(layers[0] as string),
        size: (layers[0] as string).length,
        path: '/b/l0',
        offset: 0,
      },
      {
        effect: 'registry.fetchBlob',
        session,
        digest: sha256('absent'),
        size: 6,
        path: '/b/x',
        offset: 0,
      },
      { effect: 'registry.blobExists', session, digest: sha256(layers[1] as string) },
      { effect: 'registry.blobExists', session, digest: sha256('absent') },
      { effect: 'registry.close', session },
    ];
    const norm = (req: RegistryRequest, o: Outcome): unknown => {
      if (!o.ok) return { error: o.code };
      const v = o.value as Record<string, unknown>;
      switch (req.effect) {
        case 'registry.open':
          return { auth: v['auth'], mirror: v['mirror'] };
        case 'registry.getManifest':
          return { digest: v['digest'], mediaType: v['mediaType'] };
        case 'registry.fetchBlob':
          return { complete: v['complete'], digest: v['digest'], size: v['size'] };
        default:
          return v;
      }
    };
    for (const req of requests) {
      const realReq =
        req.effect === 'registry.fetchBlob'
          ? { ...req, path: `${dir}${req.path.replace('/b/', '/')}` }
          : req;
      const r: Outcome = await real.run(realReq).then(
        (value) => ({ ok: true, value }),
        (err: unknown) => ({ ok: false, code: asEffectError(err).code }),
      );
      let s: Outcome;
      try {
        s = { ok: true, value: sim.run(req) };
      } catch (err) {
        s = { ok: false, code: asEffectError(err).code };
      }
      assert.deepEqual(
        norm(req, r),
        norm(req, s),
        `${req.effect} ${JSON.stringify(req).slice(0, 120)}`,
      );
    }
    assert.equal(readFileSync(`${dir}/l0`, 'utf8'), layers[0]);
    assert.equal(sha256(readFileSync(`${dir}/l0`, 'utf8')), sha256(layers[0] as string));
  },
);
