// @ts-check
// typescript-eslint with type information, over the files tsconfig.json type-checks.
// `npm run lint` runs it with prettier --check; `npm test` runs lint first.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'node_modules/', 'test-output/', 'test/fixtures/', '.scratch/', 'tmp/'],
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A switch without a default must name every member of the union it switches on. A
      // default counts as exhaustive: the effect handlers end theirs in assertNever (tsc then
      // proves them exhaustive), and the record folds handle a few kinds and pass the rest on.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test() and describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      // The simulated handlers throw SimFailure, a plain value with a code and a message and no
      // stack trace to capture: the simulator throws one per injected fault, on its hot path.
      '@typescript-eslint/only-throw-error': [
        'error',
        { allow: [{ from: 'file', name: 'SimFailure', path: 'effects/sim/failure.ts' }] },
      ],
      // Passing on a reason that came in as unknown (a caught error, an AbortSignal's reason)
      // is not making up a non-Error; only-throw-error judges throw the same way.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
    },
  },
  {
    // The plain-JavaScript build scripts and bin/ (CommonJS there, see bin/package.json) are
    // outside tsconfig.json, so they get eslint's recommended rules without type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
    rules: {
      'no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
