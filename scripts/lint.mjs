// Lints (eslint with type information, eslint.config.js) and checks the formatting (prettier,
// .prettierrc.json). Both always run, so one run reports every finding; the exit status fails
// when either does. Checking, they run side by side (each is single-threaded) and each one's
// output is printed whole when it ends. `node scripts/lint.mjs --fix` (or `npm run lint --
// --fix`) applies what both can fix, one after the other: eslint's fixes first, then prettier
// formats what they left.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fix = process.argv.includes('--fix');

/** Runs a package's command from node_modules/.bin in the repository root; true when it passed. */
function run(bin, args) {
  const started = performance.now();
  const child = spawn(join(root, 'node_modules/.bin', bin), args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  child.stdout.on('data', (c) => output.push(c));
  child.stderr.on('data', (c) => output.push(c));
  return new Promise((resolve) => {
    child.once('error', (err) => {
      console.error(`lint: ${bin} did not run: ${err.message}`);
      resolve(false);
    });
    child.once('close', (code) => {
      process.stdout.write(Buffer.concat(output));
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(`lint: ${bin} ${code === 0 ? 'passed' : 'failed'} in ${seconds} s`);
      resolve(code === 0);
    });
  });
}

const eslint = () => run('eslint', fix ? ['--fix', '.'] : ['.']);
const prettier = () => run('prettier', [fix ? '--write' : '--check', '--log-level=warn', '.']);
const passed = fix ? [await eslint(), await prettier()] : await Promise.all([eslint(), prettier()]);
process.exit(passed.every(Boolean) ? 0 : 1);
