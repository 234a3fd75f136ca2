import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { fromGrpcError } from '../../effects/containerd/error.ts';
import { acceptsConnections } from '../../effects/containerd/probe.ts';
import {
  containerdProtoJson,
  parseContainerdProtos,
} from '../../effects/containerd/proto-json.mjs';
import { stoppedTaskList } from './containerd-messages.ts';

const grpcError = (code: number): ServiceError =>
  Object.assign(new Error(`${code} x`), { code, details: 'detail', metadata: null as never });

test('gRPC status codes map to the ContainerdError codes by their grpc-js names (the module itself loads without grpc-js)', () => {
  assert.equal(fromGrpcError(grpcError(status.NOT_FOUND), 'Tasks/Get').code, 'NotFound');
  assert.equal(fromGrpcError(grpcError(status.ALREADY_EXISTS), 'm').code, 'AlreadyExists');
  assert.equal(
    fromGrpcError(grpcError(status.FAILED_PRECONDITION), 'm').code,
    'FailedPrecondition',
  );
  assert.equal(fromGrpcError(grpcError(status.INVALID_ARGUMENT), 'm').code, 'InvalidArgument');
  assert.equal(fromGrpcError(grpcError(status.UNAVAILABLE), 'm').code, 'Unavailable');
  assert.equal(fromGrpcError(grpcError(status.DEADLINE_EXCEEDED), 'm').code, 'DeadlineExceeded');
  assert.equal(fromGrpcError(grpcError(status.INTERNAL), 'm').code, 'Unknown');
});

test('the protos as the bundle carries them (JSON) decode what the parsed protos encode', () => {
  const parsed = parseContainerdProtos();
  const fromJson = protobuf.Root.fromJSON(containerdProtoJson());
  fromJson.resolveAll();
  const name = 'containerd.services.tasks.v1.ListTasksResponse';
  const value = stoppedTaskList;
  const bytes = parsed.lookupType(name).encode(parsed.lookupType(name).fromObject(value)).finish();
  const back = fromJson
    .lookupType(name)
    .toObject(fromJson.lookupType(name).decode(bytes), { enums: String, longs: Number });
  assert.deepEqual(back, value);
  assert.deepEqual(
    fromJson
      .lookupService('containerd.services.version.v1.Version')
      .methodsArray.map((m) => m.name),
    ['Version'],
  );
});

test('the readiness probe: a listening socket accepts; a socket file nothing listens on refuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-probe-'));
  try {
    const live = join(dir, 'live.sock');
    const server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(live, resolve));
    try {
      await acceptsConnections(live, 1000);
    } finally {
      server.close();
    }
    // A socket bound and never listened on: the file a dead containerd leaves behind.
    const stale = join(dir, 'stale.sock');
    execFileSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`,
    ]);
    assert.ok(existsSync(stale));
    await assert.rejects(acceptsConnections(stale, 1000), /ECONNREFUSED/);
    await assert.rejects(acceptsConnections(join(dir, 'none.sock'), 1000), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
