import type protobuf from 'protobufjs';

/**
 * One message type's codecs, generated ahead (effects/containerd/proto-codecs.mjs): each
 * factory takes the scope protobufjs's `setup` would compile the function with.
 */
export interface PrecompiledCodec {
  /** The type's field names in order: the codecs index their `types` by it. */
  fields: string;
  ctor: () => protobuf.Constructor<object>;
  encode: (
    writer: typeof protobuf.Writer,
    types: unknown[],
    util: typeof protobuf.util,
  ) => protobuf.Type['encode'];
  decode: (
    reader: typeof protobuf.Reader,
    types: unknown[],
    util: typeof protobuf.util,
    ctor: protobuf.Constructor<object>,
  ) => protobuf.Type['decode'];
  verify: (types: unknown[], util: typeof protobuf.util) => protobuf.Type['verify'];
  fromObject: (
    types: unknown[],
    util: typeof protobuf.util,
    ctor: protobuf.Constructor<object>,
  ) => protobuf.Type['fromObject'];
  toObject: (types: unknown[], util: typeof protobuf.util) => protobuf.Type['toObject'];
}

/**
 * The codecs of containerd's messages, by full name. From source there are none (protobufjs
 * generates them at first use); scripts/build.mjs replaces this module in the bundle with the
 * generated ones.
 */
export const precompiledCodecs: Readonly<Record<string, PrecompiledCodec>> | null = null;
