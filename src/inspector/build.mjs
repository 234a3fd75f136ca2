// Builds the inspector's page into dist/inspector/: app.js (esbuild, from src/inspector/web),
// app.css and index.html as they are, and elkjs's layout worker. `statedock inspect` serves
// these files from the package: no dev server, no network at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Builds the page into `outDir` (default dist/inspector; tests build their own copy elsewhere). */
export async function buildInspectorPage({
  quiet = false,
  outDir = join(root, 'dist/inspector'),
} = {}) {
  const web = join(root, 'src/inspector/web');
  const out = outDir;
  mkdirSync(out, { recursive: true });
  const started = Date.now();
  await build({
    entryPoints: [join(web, 'main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    logLevel: quiet ? 'error' : 'warning',
  });
  copyFileSync(join(web, 'index.html'), join(out, 'index.html'));
  copyFileSync(join(web, 'app.css'), join(out, 'app.css'));
  const require = createRequire(import.meta.url);
  copyFileSync(require.resolve('elkjs/lib/elk-worker.min.js'), join(out, 'elk-worker.js'));
  if (!quiet) process.stderr.write(`built ${out} in ${Date.now() - started} ms\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildInspectorPage();
}
