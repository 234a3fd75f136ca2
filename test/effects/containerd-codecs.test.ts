import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import protobuf from 'protobufjs';
import { containerdCodecsSource } from '../../effects/containerd/proto-codecs.mjs';
import { containerdProtoJson } from '../../effects/containerd/proto-json.mjs';
import type { PrecompiledCodec } from '../../effects/containerd/precompiled-codecs.ts';
import { installCodecs } from '../../effects/containerd/wire.ts';
import { stoppedTaskList } from './containerd-messages.ts';

// The bundle's codecs are generated at build time (effects/containerd/proto-codecs.mjs) and
// installed by wire.ts in place of protobufjs's own generation at first use. These tests load
// the very module the build puts in the bundle and compare what it encodes and decodes with
// what protobufjs's runtime codecs do, on a second root.

const dir = mkdtempSync(join(tmpdir(), 'sd-codecs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function generatedCodecs(): Promise<Record<string, PrecompiledCodec>> {
  const file = join(dir, `codecs-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, containerdCodecsSource());
  const mod = (await import(pathToFileURL(file).href)) as {
    precompiledCodecs: Record<string, PrecompiledCodec>;
  };
  return mod.precompiledCodecs;
}

function bundledRoot(): protobuf.Root {
  const root = protobuf.Root.fromJSON(containerdProtoJson());
  root.resolveAll();
  return root;
}

/** Counts protobufjs's code generation while `run` runs. */
function codegenCalls(run: () => void): number {
  const original = protobuf.util.codegen;
  let calls = 0;
  protobuf.util.codegen = ((...args: Parameters<typeof original>) => {
    calls += 1;
    return original(...args);
  }) as typeof original;
  try {
    run();
  } finally {
    protobuf.util.codegen = original;
  }
  return calls;
}

const asObject = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };

/** Messages of every shape the client sends or hears: nested, repeated, maps, enums, Any, Timestamp. */
const samples: { type: string; value: Record<string, unknown> }[] = [
  {
    type: 'containerd.services.version.v1.VersionResponse',
    value: { version: '1.6.20', revision: 'x' },
  },
  {
    type: 'containerd.services.tasks.v1.CreateTaskRequest',
    value: {
      container_id: 'c1',
      rootfs: [
        { type: 'overlay', source: 'overlay', target: '', options: ['lowerdir=/a', 'upperdir=/b'] },
      ],
      stdin: '',
      stdout: '/run/fifo-out',
      stderr: '/run/fifo-err',
      terminal: true,
      options: { type_url: 'containerd.runc.v1.Options', value: new Uint8Array([8, 1]) },
    },
  },
  {
    type: 'containerd.services.containers.v1.CreateContainerRequest',
    value: {
      container: {
        id: 'c1',
        labels: { 'com.example': 'yes', empty: '' },
        image: 'busybox',
        runtime: { name: 'io.containerd.runc.v2' },
        spec: {
          type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
          value: new Uint8Array([123, 125]),
        },
        created_at: { seconds: 1_700_000_000, nanos: 7 },
      },
    },
  },
  {
    type: 'containerd.services.tasks.v1.ListTasksResponse',
    value: {
      tasks: [
        ...stoppedTaskList.tasks,
        { id: 'c2', pid: 43, status: 'RUNNING', container_id: 'c2' },
      ],
    },
  },
  {
    type: 'containerd.services.events.v1.Envelope',
    value: {
      timestamp: { seconds: 1_700_000_002, nanos: 0 },
      namespace: 'statedock',
      topic: '/tasks/exit',
      event: {
        type_url: 'containerd.events.TaskExit',
        value: new Uint8Array([10, 2, 99, 49, 24, 42]),
      },
    },
  },
];

test('the generated codecs encode, decode, verify and convert as protobufjs generates them at run time, without generating any', async () => {
  const codecs = await generatedCodecs();
  const runtime = bundledRoot();
  const ahead = bundledRoot();
  installCodecs(ahead, codecs);
  for (const { type, value } of samples) {
    const r = runtime.lookupType(type);
    const a = ahead.lookupType(type);
    let bytesAhead: Uint8Array = new Uint8Array();
    let decodedAhead: Record<string, unknown> = {};
    let refusedAhead: string | null = null;
    let verdictAhead: string | null = null;
    const generated = codegenCalls(() => {
      verdictAhead = a.verify(value);
      bytesAhead = a.encode(a.fromObject(value)).finish();
      decodedAhead = a.toObject(a.decode(bytesAhead), asObject);
      refusedAhead = a.verify({ ...value, [a.fieldsArray[0]?.name ?? 'x']: Symbol('no') });
    });
    assert.equal(generated, 0, `${type}: protobufjs generated code`);
    const bytes = r.encode(r.fromObject(value)).finish();
    assert.deepEqual(Buffer.from(bytesAhead), Buffer.from(bytes), `${type}: bytes`);
    assert.deepEqual(decodedAhead, r.toObject(r.decode(bytes), asObject), `${type}: decoded`);
    assert.equal(verdictAhead, r.verify(value), `${type}: verdict`);
    assert.equal(
      refusedAhead,
      r.verify({ ...value, [r.fieldsArray[0]?.name ?? 'x']: Symbol('no') }),
    );
    assert.notEqual(refusedAhead, null);
  }
});

test('a type whose fields are not those the codecs were generated for keeps protobufjs’s own', async () => {
  const codecs = await generatedCodecs();
  const name = '.containerd.services.version.v1.VersionResponse';
  const stale = codecs[name];
  assert.ok(stale);
  const root = bundledRoot();
  installCodecs(root, { [name]: { ...stale, fields: 'revision,version' } });
  const type = root.lookupType(name);
  let decoded: Record<string, unknown> = {};
  const generated = codegenCalls(() => {
    decoded = type.toObject(
      type.decode(type.encode({ version: 'v', revision: 'r' }).finish()),
      asObject,
    );
  });
  assert.ok(generated > 0);
  assert.deepEqual(decoded, { version: 'v', revision: 'r' });
});
