import type { MethodDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { parseContainerdProtos } from './proto-json.mjs';
import { precompiledCodecs, type PrecompiledCodec } from './precompiled-codecs.ts';

/**
 * containerd's wire: the hand-written protos loaded with protobufjs (`keepCase`, so field
 * names are the proto's snake_case ones), grpc-js method definitions built from their
 * services, and the conversions every response goes through (Go's zero time, Any).
 */

/**
 * The bundle carries the protos as protobufjs JSON (scripts/build.mjs parses them once);
 * from source they are parsed from effects/containerd/proto at first use.
 */
declare const __STATEDOCK_CONTAINERD_PROTOS__: protobuf.INamespace | undefined;

let rootCache: protobuf.Root | null = null;

/** The protobufjs root of every containerd message statedock uses (loaded once). */
export function protoRoot(): protobuf.Root {
  if (rootCache) return rootCache;
  if (typeof __STATEDOCK_CONTAINERD_PROTOS__ !== 'undefined') {
    rootCache = protobuf.Root.fromJSON(__STATEDOCK_CONTAINERD_PROTOS__);
    rootCache.resolveAll();
    if (precompiledCodecs !== null) installCodecs(rootCache, precompiledCodecs);
  } else {
    rootCache = parseContainerdProtos();
  }
  return rootCache;
}

/**
 * Gives each type of `root` found in `codecs`, with the same fields in the same order, a
 * `setup` that installs the functions generated ahead instead of generating them: what
 * protobufjs's own `setup` does (its runtime constructor, then the five codecs with their
 * field types in scope, then the wrappers of well-known types), without `Function`.
 */
export function installCodecs(
  root: protobuf.Root,
  codecs: Readonly<Record<string, PrecompiledCodec>>,
): void {
  for (const [fullName, codec] of Object.entries(codecs)) {
    const type = root.lookup(fullName);
    if (!(type instanceof protobuf.Type)) continue;
    if (type.fieldsArray.map((f) => f.name).join(',') !== codec.fields) continue;
    type.setup = function setupAhead(this: protobuf.Type): protobuf.Type {
      const types = this.fieldsArray.map((f) => f.resolve().resolvedType);
      // A type already given a runtime constructor (protobufjs makes one on first `ctor` read) keeps it.
      const made = (this as unknown as { _ctor?: protobuf.Constructor<object> | null })._ctor;
      if (!made) this.ctor = codec.ctor();
      const ctor = this.ctor;
      this.encode = codec.encode(protobuf.Writer, types, protobuf.util);
      this.decode = codec.decode(protobuf.Reader, types, protobuf.util, ctor);
      this.verify = codec.verify(types, protobuf.util);
      const fromObject = codec.fromObject(types, protobuf.util, ctor);
      const toObject = codec.toObject(types, protobuf.util);
      this.fromObject = fromObject;
      this.toObject = toObject;
      const wrapper = protobuf.wrappers[fullName];
      if (wrapper?.fromObject && wrapper.toObject) {
        const unwrapped = Object.create(this) as protobuf.Type;
        unwrapped.fromObject = fromObject;
        unwrapped.toObject = toObject;
        this.fromObject = wrapper.fromObject.bind(unwrapped);
        this.toObject = wrapper.toObject.bind(unwrapped);
      }
      return this;
    };
  }
}

/** A message type by full name (`containerd.events.TaskExit`); throws when the protos lack it. */
export function messageType(fullName: string): protobuf.Type {
  return protoRoot().lookupType(fullName);
}

/** A decoded message as protobufjs gives it with these options: snake_case keys, enums as names, int64 as numbers. */
export type WireObject = Record<string, unknown>;

const toObjectOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/** Encodes a plain object (wire field names); refuses one that does not fit the type instead of coercing it. */
export function encodeMessage(type: protobuf.Type, value: object): Buffer {
  const err = type.verify(value);
  // fromObject coerces silently (a string where a number belongs becomes 0): refuse instead.
  if (err !== null) throw new TypeError(`encode ${type.fullName.slice(1)}: ${err}`);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

/** Decodes bytes to a plain object with wire field names, defaults filled in. */
export function decodeMessage(type: protobuf.Type, bytes: Uint8Array): WireObject {
  return type.toObject(type.decode(bytes), toObjectOptions);
}

/** grpc-js method definitions of one service, from the proto's reflection (paths and codecs never typed by hand). */
export function serviceDefinition(
  fullName: string,
): Record<string, MethodDefinition<object, WireObject>> {
  const service = protoRoot().lookupService(fullName);
  const out: Record<string, MethodDefinition<object, WireObject>> = {};
  for (const m of service.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType;
    const res = m.resolvedResponseType;
    if (!req || !res)
      throw new Error(`load containerd protos: ${fullName}.${m.name} has unresolved types`);
    out[m.name] = {
      path: `/${service.fullName.replace(/^\./, '')}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: (v: object) => encodeMessage(req, v),
      requestDeserialize: (b: Buffer) => decodeMessage(req, b),
      responseSerialize: (v: WireObject) => encodeMessage(res, v),
      responseDeserialize: (b: Buffer) => decodeMessage(res, b),
      originalName: m.name,
    };
  }
  return out;
}

/** Seconds of Go's zero time (0001-01-01T00:00:00Z): containerd's "never" (e.g. not exited yet). */
export const goZeroTimeSeconds = -62135596800;

/** A google.protobuf.Timestamp as a Date; Go's zero time and an absent value are null. */
export function timestampToDate(ts: unknown): Date | null {
  if (ts === null || typeof ts !== 'object') return null;
  const { seconds, nanos } = ts as { seconds?: unknown; nanos?: unknown };
  if (typeof seconds !== 'number' || seconds <= goZeroTimeSeconds) return null;
  return new Date(seconds * 1000 + Math.floor((typeof nanos === 'number' ? nanos : 0) / 1e6));
}

/** A google.protobuf.Any as the wire needs it: containerd compares `type_url` byte for byte. */
export interface WireAny {
  type_url: string;
  value: Uint8Array;
}

/** An Any of raw bytes (e.g. the OCI spec as JSON). */
export function anyOf(typeUrl: string, value: Uint8Array): WireAny {
  return { type_url: typeUrl, value };
}

/** An Any carrying a message of ours, its type_url the bare full name (what containerd registers). */
export function anyOfMessage(fullName: string, value: object): WireAny {
  return anyOf(fullName, encodeMessage(messageType(fullName), value));
}

/** Decodes an Any whose type is among our protos (by the last path segment of its type_url); null otherwise. */
export function decodeAny(any: unknown): { typeUrl: string; message: WireObject | null } {
  const a = any as Partial<WireAny> | null | undefined;
  const typeUrl = typeof a?.type_url === 'string' ? a.type_url : '';
  if (typeUrl === '') return { typeUrl, message: null };
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  let type: protobuf.Type;
  try {
    type = messageType(name);
  } catch {
    return { typeUrl, message: null };
  }
  return { typeUrl, message: decodeMessage(type, a?.value ?? new Uint8Array()) };
}

/** snake_case → camelCase, for the shapes the client hands out. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * A decoded message in the client's shape, by reflection: camelCase keys, Timestamps as
 * Date | null, enums as lower-case names, Any as `{ typeUrl, value }`, maps unchanged.
 */
export function toDomain(type: protobuf.Type, obj: WireObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const v = obj[field.name];
    out[camelCase(field.name)] = field.map
      ? mapValue(field, v)
      : field.repeated
        ? Array.isArray(v)
          ? v.map((x) => fieldValue(field, x))
          : []
        : fieldValue(field, v);
  }
  return out;
}

function mapValue(field: protobuf.Field, v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out[k] = fieldValue(field, x);
  return out;
}

function fieldValue(field: protobuf.Field, v: unknown): unknown {
  const t = field.resolvedType;
  if (t instanceof protobuf.Enum) return typeof v === 'string' ? v.toLowerCase() : v;
  if (!(t instanceof protobuf.Type)) return v;
  if (t.fullName === '.google.protobuf.Timestamp') return timestampToDate(v);
  if (t.fullName === '.google.protobuf.Any') {
    const a = v as Partial<WireAny> | null | undefined;
    return a ? { typeUrl: a.type_url ?? '', value: a.value ?? new Uint8Array() } : null;
  }
  return v && typeof v === 'object' ? toDomain(t, v as WireObject) : null;
}
