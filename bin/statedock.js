#!/usr/bin/env node
// statedock's command. Runs the bundled CLI (dist/statedock.mjs), building it first when it
// is missing (a fresh clone after `npm ci`), so the command works without a separate build step.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/statedock.mjs', import.meta.url);
if (!existsSync(fileURLToPath(bundle))) {
  process.stderr.write('statedock: first run, building dist/statedock.mjs …\n');
  const { buildBundle } = await import('../scripts/build.mjs');
  await buildBundle({ quiet: true });
}
const { main } = await import(bundle.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
