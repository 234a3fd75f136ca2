import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { jsonLogFormat } from '../../src/daemon/logging/drivers.ts';
import { RotatingLogReader } from '../../src/daemon/logging/reader.ts';

const dir = mkdtempSync(`${tmpdir()}/sd-logreader-`);
after(() => rmSync(dir, { recursive: true, force: true }));

const line = (n: number): string =>
  `${JSON.stringify({ log: `line ${n}\n`, stream: 'stdout', time: new Date(0).toISOString() })}\n`;

async function readAll(r: RotatingLogReader): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const entries = await r.read();
    if (entries.length === 0 || out.length > 50) return out;
    out.push(...entries.map((e) => e.log.toString().trim()));
    // The container writes on while its client reads.
    appendFileSync(`${dir}/c.log`, line(1000 + out.length));
  }
}

test('a bounded read ends at what was written when it began, though the container writes on', async () => {
  for (let i = 0; i < 3; i++) appendFileSync(`${dir}/c.log`, line(i));
  const r = new RotatingLogReader(
    { path: `${dir}/c.log`, maxFile: 2, compress: false },
    jsonLogFormat,
  );
  await r.bound();
  assert.deepEqual(await readAll(r), ['line 0', 'line 1', 'line 2']);
  await r.close();
});

test('a bounded read reads its file to the bound after the file is rotated away', async () => {
  rmSync(`${dir}/c.log`, { force: true });
  for (let i = 0; i < 3; i++) appendFileSync(`${dir}/c.log`, line(i));
  const r = new RotatingLogReader(
    { path: `${dir}/c.log`, maxFile: 2, compress: false },
    jsonLogFormat,
  );
  await r.bound();
  renameSync(`${dir}/c.log`, `${dir}/c.log.1`);
  appendFileSync(`${dir}/c.log`, line(99));
  assert.deepEqual(await readAll(r), ['line 0', 'line 1', 'line 2']);
  await r.close();
});
