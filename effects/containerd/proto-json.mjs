// containerd's protos as statedock loads them: the hand-written files under ./proto, parsed
// with protobufjs (`keepCase`: field names stay the proto's snake_case ones). Plain
// JavaScript so that scripts/build.mjs can parse them once, into the JSON the bundle carries,
// and wire.ts parses the very same files when it runs from source.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** Parsed in this order into one root, then resolved. */
export const protoFiles = [
  'google.proto',
  'types.proto',
  'task.proto',
  'version.proto',
  'containers.proto',
  'tasks.proto',
  'events.proto',
  'task-events.proto',
  'container-events.proto',
  'runc.proto',
];

/** The protobufjs root of every containerd message statedock uses, parsed from the .proto files. */
export function parseContainerdProtos() {
  const dir = fileURLToPath(new URL('./proto/', import.meta.url));
  const root = new protobuf.Root();
  for (const f of protoFiles)
    protobuf.parse(readFileSync(`${dir}${f}`, 'utf8'), root, { keepCase: true });
  root.resolveAll();
  return root;
}

/** The same root as protobufjs JSON (what `protobuf.Root.fromJSON` takes). */
export function containerdProtoJson() {
  return parseContainerdProtos().toJSON();
}
