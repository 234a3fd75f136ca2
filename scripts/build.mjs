// Bundles the CLI into one CommonJS module, dist/statedock.cjs, that bin/statedock.js runs
// with V8's code cache: bundled code loads in milliseconds, where resolving hundreds of
// modules (or compiling TypeScript at start) would cost the daemon's start-up time, and the
// code cache spares compiling it again at every start (see bin/statedock.js). Modules behind
// a dynamic import() are evaluated only when first imported, so the daemon's start-up runs
// no simulator, checker or inspector code and evaluates the gRPC client while containerd
// boots.
import { build } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { containerdProtoJson } from '../effects/containerd/proto-json.mjs';
import { containerdCodecsSource } from '../effects/containerd/proto-codecs.mjs';
import { assertAscii } from './ascii.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireHere = createRequire(import.meta.url);

/** The bundle bin/statedock.js runs. */
export const bundlePath = join(root, 'dist/statedock.cjs');
/** The thread `docker cp` into a container unpacks in (effects/archive/extract-thread.ts). */
export const extractWorkerPath = join(root, 'dist/extract-worker.cjs');
/** V8's code cache of the bundle, written by bin/statedock.js; a new bundle starts without one. */
export const codeCachePath = `${bundlePath}.v8cache`;

/**
 * rxjs's `node` export is its CommonJS build: every operator, evaluated at load (~10 ms).
 * Its ES module build lets esbuild keep only what is imported (the daemon uses Subject).
 */
const rxjsAsModules = {
  name: 'rxjs-esm',
  setup(b) {
    b.onResolve({ filter: /^rxjs$/ }, () => ({
      path: join(root, 'node_modules/rxjs/dist/esm/index.js'),
    }));
  },
};

/**
 * protobufjs uses long.js for 64-bit integers when it can load it, and plain numbers when it
 * cannot. statedock converts every int64 to a Number anyway (`longs: Number`), so the bundle
 * goes without: loading long.js compiles a WebAssembly module at every start (~5 ms).
 */
const withoutLongJs = {
  name: 'without-long-js',
  setup(b) {
    b.onResolve({ filter: /^long$/ }, () => ({ path: 'long', namespace: 'without-long-js' }));
    b.onLoad({ filter: /.*/, namespace: 'without-long-js' }, () => ({
      contents: 'module.exports = null;',
      loader: 'js',
    }));
  },
};

/**
 * classic-level's JavaScript (abstract-level and the rest: ~30 CommonJS files, ~25 ms of CPU
 * to require one by one) goes into the bundle; only its native binding loads from
 * node_modules. Which binary is this machine's (node-gyp-build's search of classic-level's
 * prebuilds) is found here, at build time: loading node-gyp-build and searching took ~3 ms of
 * every start. The bundle loads that file relative to itself, and asks node-gyp-build only when
 * it is gone (node_modules installed again for another platform).
 */
const classicLevelBinding = {
  name: 'classic-level-binding',
  setup(b) {
    b.onLoad({ filter: /[\\/]classic-level[\\/]binding\.js$/ }, () => {
      const packageDir = dirname(requireHere.resolve('classic-level'));
      const binary = relative(join(root, 'dist'), requireHere('node-gyp-build').path(packageDir));
      const search =
        "require('node-gyp-build')(require('node:path').dirname(require('node:module').createRequire(__filename).resolve('classic-level')))";
      return {
        contents: `let binding;\ntry {\n  binding = require(require('node:path').join(__dirname, ${JSON.stringify(binary)}));\n} catch {\n  binding = ${search};\n}\nmodule.exports = binding;\n`,
        loader: 'js',
      };
    });
  },
};

/**
 * containerd's message codecs, generated here (effects/containerd/proto-codecs.mjs) and
 * bundled as ordinary code in place of effects/containerd/precompiled-codecs.ts, which from
 * source holds none: protobufjs would otherwise generate and compile them with `Function` at
 * every start, where V8's code cache cannot keep them.
 */
const precompiledContainerdCodecs = {
  name: 'precompiled-containerd-codecs',
  setup(b) {
    b.onLoad({ filter: /[\\/]effects[\\/]containerd[\\/]precompiled-codecs\.ts$/ }, () => ({
      contents: containerdCodecsSource(),
      loader: 'js',
    }));
  },
};

export async function buildBundle({ quiet = false } = {}) {
  const out = join(root, 'dist');
  mkdirSync(out, { recursive: true });
  // What an older build left: its code cache (of another bundle) and the former ESM layout.
  for (const old of [
    codeCachePath,
    join(out, 'statedock.mjs'),
    join(out, 'statedock.mjs.map'),
    join(out, 'chunks'),
  ])
    rmSync(old, { recursive: true, force: true });
  const started = Date.now();
  // Both bundles: one CommonJS file for Node 20, minified (smaller source parses faster at every
  // start; names stay readable in stack traces), with its source map.
  const forNode = {
    bundle: true,
    platform: 'node',
    // A script, not a module: V8's code cache is there for scripts (vm.Script), not for ES modules in Node 20.
    format: 'cjs',
    target: 'node20',
    sourcemap: 'linked',
    minify: true,
    keepNames: true,
    logLevel: quiet ? 'error' : 'warning',
  };
  await build({
    ...forNode,
    entryPoints: [join(root, 'src/cli/main.ts')],
    outfile: bundlePath,
    // import() becomes a lazy require of the bundled module: evaluated when first imported.
    supported: { 'dynamic-import': false },
    // @grpc/proto-loader is required only by grpc-js's channelz and ORCA, lazily: left to
    // node_modules, 120 KB less in the bundle.
    external: ['node-gyp-build', 'playwright-core', 'fsevents', '@grpc/proto-loader'],
    plugins: [rxjsAsModules, withoutLongJs, classicLevelBinding, precompiledContainerdCodecs],
    define: {
      // containerd's protos as protobufjs JSON, parsed here once instead of at every start.
      __STATEDOCK_CONTAINERD_PROTOS__: JSON.stringify(containerdProtoJson()),
      'import.meta.url': '__sdImportMetaUrl',
    },
    // The bundle is the function Node would wrap a CommonJS module in (bin/statedock.js calls it):
    // no copy of 700 KB of source to wrap it at every start.
    banner: {
      js: "(function (exports, require, module, __filename, __dirname) { var __sdImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
    },
    footer: { js: '})' },
  });
  // The extraction thread's own bundle, beside the daemon's: a worker runs a file of its own,
  // loaded at the first `docker cp` into a container, never at the daemon's start.
  await build({
    ...forNode,
    entryPoints: [join(root, 'effects/archive/extract-worker.ts')],
    outfile: extractWorkerPath,
  });
  assertAscii(bundlePath);
  assertAscii(extractWorkerPath);
  if (!quiet) process.stderr.write(`built dist/statedock.cjs in ${Date.now() - started} ms\n`);
  await (await import('../src/inspector/build.mjs')).buildInspectorPage({ quiet });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundle();
}
