// containerd's message codecs generated ahead, at build time. protobufjs writes each message
// type's encoder, decoder, verifier and converters as JavaScript source and compiles it with
// `Function` the first time the type is used: ~15 ms of CPU at a daemon's start, while
// containerd boots and the first `docker run` is served, and code V8's code cache cannot keep.
// scripts/build.mjs puts the same functions into the bundle as ordinary code (precompiled-codecs.ts),
// and wire.ts installs them in place of that first use. Plain JavaScript, like proto-json.mjs.
import protobuf from 'protobufjs';
import { containerdProtoJson } from './proto-json.mjs';

/** The root exactly as wire.ts builds it in the bundle: from the JSON, then resolved. */
function bundledRoot() {
  const root = protobuf.Root.fromJSON(containerdProtoJson());
  root.resolveAll();
  return root;
}

/** Every message type under `ns`, depth first. */
function* messageTypes(ns) {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) yield nested;
    if (nested instanceof protobuf.Namespace) yield* messageTypes(nested);
  }
}

/**
 * The source of a module exporting `precompiledCodecs`: per message type (by full name), its
 * field names in order (wire.ts installs nothing for a type whose fields differ), and one
 * factory per generated function, whose parameters are the names protobufjs's code refers to
 * (the scope its `setup` gives each).
 */
export function containerdCodecsSource() {
  const entries = [];
  for (const type of messageTypes(bundledRoot())) {
    for (const field of type.fieldsArray) field.resolve();
    entries.push(
      [
        `  ${JSON.stringify(type.fullName)}: {`,
        `    fields: ${JSON.stringify(type.fieldsArray.map((f) => f.name).join(','))},`,
        `    ctor: () => ${protobuf.Type.generateConstructor(type).toString()},`,
        `    encode: (Writer, types, util) => ${protobuf.encoder(type).toString()},`,
        `    decode: (Reader, types, util, C) => ${protobuf.decoder(type).toString()},`,
        `    verify: (types, util) => ${protobuf.verifier(type).toString()},`,
        `    fromObject: (types, util, C) => ${protobuf.converter.fromObject(type).toString()},`,
        `    toObject: (types, util) => ${protobuf.converter.toObject(type).toString()},`,
        '  },',
      ].join('\n'),
    );
  }
  return `export const precompiledCodecs = {\n${entries.join('\n')}\n};\n`;
}
