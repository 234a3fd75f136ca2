import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

/**
 * machines/ is pure: the same machines run on real effects, the simulated world and a
 * recorded trace only because nothing under machines/ does I/O. This walks the import
 * graph of every file there.
 */
const root = join(import.meta.dirname, '../..');
const machinesDir = join(root, 'machines');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Import {
  spec: string;
  typeOnly: boolean;
  line: number;
}

function importsOf(source: string): Import[] {
  const out: Import[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^'"]*?)\s*from\s*['"]([^'"]+)['"]/gm;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    const clause = m[3] ?? '';
    // `import { type A, type B }` is type-only too.
    const allTyped =
      /^\{[^}]*\}$/.test(clause.trim()) &&
      clause
        .replace(/[{}\s]/g, '')
        .split(',')
        .filter(Boolean)
        .every((n) => n.startsWith('type'));
    out.push({
      spec: m[4] as string,
      typeOnly: Boolean(m[2]) || allTyped,
      line: source.slice(0, m.index).split('\n').length,
    });
  }
  for (const m of source.matchAll(
    /import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    out.push({
      spec: (m[1] ?? m[2]) as string,
      typeOnly: false,
      line: source.slice(0, m.index).split('\n').length,
    });
  }
  return out;
}

const allowedPackages = new Set(['xstate', 'immer']);

test('nothing under machines/ imports a Node builtin, a package with I/O, or a value from effects/ or src/', () => {
  const problems: string[] = [];
  for (const file of files(machinesDir)) {
    const rel = relative(root, file);
    for (const imp of importsOf(readFileSync(file, 'utf8'))) {
      if (imp.spec.startsWith('.')) {
        const target = relative(root, join(file, '..', imp.spec));
        if (!target.startsWith('machines/') && !imp.typeOnly)
          problems.push(
            `${rel}:${imp.line} imports a value from ${target} (only \`import type\` may leave machines/)`,
          );
      } else if (!imp.typeOnly && !allowedPackages.has(imp.spec)) {
        problems.push(
          `${rel}:${imp.line} imports ${imp.spec} (machines may import only ${[...allowedPackages].join(', ')})`,
        );
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('no machine reads a clock, draws a random number, sets a timer or invokes a promise', () => {
  const banned = [
    /\bDate\.now\(|\bnew Date\(/,
    /Math\.random\(/,
    /\bsetTimeout\(|\bsetInterval\(/,
    /\bfromPromise\b/,
    /\bafter\s*:/,
    /\binvoke\s*:/,
  ];
  const problems: string[] = [];
  for (const file of files(machinesDir)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.trim().startsWith('//') || line.trim().startsWith('*')) return;
      for (const re of banned)
        if (re.test(line)) problems.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(problems, []);
});

test('the purity check itself catches a value import and a Node builtin', () => {
  const caught = importsOf(
    `import { readFileSync } from 'node:fs';\nimport { realFs } from '../../effects/fs/real.ts';\nimport type { X } from '../../effects/x.ts';\nimport { type Y } from '../y.ts';`,
  );
  assert.deepEqual(
    caught.map((i) => [i.spec, i.typeOnly]),
    [
      ['node:fs', false],
      ['../../effects/fs/real.ts', false],
      ['../../effects/x.ts', true],
      ['../y.ts', true],
    ],
  );
});
