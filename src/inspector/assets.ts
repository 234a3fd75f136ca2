import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The package root: the nearest directory above this module with statedock's package.json. */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'statedock')
          return dir;
      } catch {
        // not ours; go on up
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/**
 * Where the built page is (dist/inspector in the package), building it first when it is
 * missing — a fresh clone after `npm ci`, like bin/statedock.js does for the CLI bundle.
 */
export async function inspectorAssets(log: (line: string) => void): Promise<string> {
  const root = packageRoot();
  if (root === null)
    throw new Error('cannot find the statedock package the inspector page belongs to');
  const dir = join(root, 'dist/inspector');
  if (existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'app.js'))) return dir;
  log('statedock inspect: first run, building dist/inspector …');
  // The build script runs as a program of its own: the CLI bundle imports no ES module at run time.
  await execFileAsync(process.execPath, [join(root, 'src/inspector/build.mjs')]);
  return dir;
}
