import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { fromGrpcError } from '../../effects/containerd/error.ts';
import { containerdProtoJson, parseContainerdProtos } from '../../effects/containerd/proto-json.mjs';

const grpcError = (code: number): ServiceError => Object.assign(new Error(`${code} x`), { code, details: 'detail', metadata: null as never });

test('gRPC status codes map to the ContainerdError codes by their grpc-js names (the module itself loads without grpc-js)', () => {
  assert.equal(fromGrpcError(grpcError(status.NOT_FOUND), 'Tasks/Get').code, 'NotFound');
  assert.equal(fromGrpcError(grpcError(status.ALREADY_EXISTS), 'm').code, 'AlreadyExists');
  assert.equal(fromGrpcError(grpcError(status.FAILED_PRECONDITION), 'm').code, 'FailedPrecondition');
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
  const value = { tasks: [{ id: 'c1', pid: 42, status: 'STOPPED', exit_status: 137, container_id: 'c1', exited_at: { seconds: 1_700_000_000, nanos: 5 } }] };
  const bytes = parsed.lookupType(name).encode(parsed.lookupType(name).fromObject(value)).finish();
  const back = fromJson.lookupType(name).toObject(fromJson.lookupType(name).decode(bytes), { enums: String, longs: Number });
  assert.deepEqual(back, value);
  assert.deepEqual(fromJson.lookupService('containerd.services.version.v1.Version').methodsArray.map((m) => m.name), ['Version']);
});
