import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { fromGrpcError } from '../../effects/containerd/error.ts';
import { decodeVersionResponse } from '../../effects/containerd/probe.ts';
import {
  containerdProtoJson,
  parseContainerdProtos,
} from '../../effects/containerd/proto-json.mjs';

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
  const value = {
    tasks: [
      {
        id: 'c1',
        pid: 42,
        status: 'STOPPED',
        exit_status: 137,
        container_id: 'c1',
        exited_at: { seconds: 1_700_000_000, nanos: 5 },
      },
    ],
  };
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

test("the readiness probe decodes containerd's VersionResponse frame by hand and refuses a broken one", () => {
  const root = parseContainerdProtos();
  const type = root.lookupType('containerd.services.version.v1.VersionResponse');
  const msg = type
    .encode(type.fromObject({ version: '1.6.20~ds1', revision: '1.6.20~ds1-1+deb12u3' }))
    .finish();
  const frame = (body: Uint8Array): Buffer =>
    Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
  assert.deepEqual(decodeVersionResponse(frame(msg)), {
    version: '1.6.20~ds1',
    revision: '1.6.20~ds1-1+deb12u3',
  });
  // Fields it does not know (a varint 3, a string 4) are skipped, as protobuf readers do.
  const extra = Buffer.concat([
    Buffer.from(msg),
    Buffer.from([0x18, 0x96, 0x01, 0x22, 0x01, 0x78]),
  ]);
  assert.deepEqual(decodeVersionResponse(frame(extra)), {
    version: '1.6.20~ds1',
    revision: '1.6.20~ds1-1+deb12u3',
  });
  assert.deepEqual(decodeVersionResponse(frame(new Uint8Array())), { version: '', revision: '' });
  assert.throws(() => decodeVersionResponse(frame(msg).subarray(0, 10)), /cut short/);
  assert.throws(
    () => decodeVersionResponse(Buffer.concat([Buffer.from([1]), frame(msg).subarray(1)])),
    /not one uncompressed gRPC message/,
  );
});
