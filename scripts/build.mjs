// Bundles the CLI into dist/statedock.mjs: one file loads in a few milliseconds, where
// resolving hundreds of modules (or compiling TypeScript at start) would cost the daemon's
// start-up time. classic-level stays external: it loads a native prebuilt binary.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildBundle({ quiet = false } = {}) {
  mkdirSync(join(root, 'dist'), { recursive: true });
  const started = Date.now();
  await build({
    entryPoints: [join(root, 'src/cli/main.ts')],
    outfile: join(root, 'dist/statedock.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // Smaller source parses faster at every start; names stay readable in stack traces.
    minify: true,
    keepNames: true,
    external: ['classic-level', 'playwright-core', 'fsevents'],
    banner: { js: "import { createRequire as __sdCreateRequire } from 'node:module'; const require = __sdCreateRequire(import.meta.url);" },
    logLevel: quiet ? 'error' : 'warning',
  });
  if (!quiet) process.stderr.write(`built dist/statedock.mjs in ${Date.now() - started} ms\n`);
  await (await import('../src/inspector/build.mjs')).buildInspectorPage({ quiet });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundle();
}
