// Lints (eslint with type information, eslint.config.js) and checks the formatting (prettier,
// .prettierrc.json). `node scripts/lint.mjs --fix` (or `npm run lint -- --fix`) applies what
// both can fix: eslint's fixes first, then prettier formats what they left. Both always run, so
// one run reports every finding; the exit status fails when either does.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fix = process.argv.includes('--fix');

/** Runs a package's command from node_modules/.bin in the repository root; true when it passed. */
function run(bin, args) {
  const started = performance.now();
  const result = spawnSync(join(root, 'node_modules/.bin', bin), args, {
    cwd: root,
    stdio: 'inherit',
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (result.error) console.error(`lint: ${bin} did not run: ${result.error.message}`);
  console.log(`lint: ${bin} ${result.status === 0 ? 'passed' : 'failed'} in ${seconds} s`);
  return result.status === 0;
}

const eslintPassed = run('eslint', fix ? ['--fix', '.'] : ['.']);
const prettierPassed = run('prettier', [fix ? '--write' : '--check', '--log-level=warn', '.']);
process.exit(eslintPassed && prettierPassed ? 0 : 1);
