import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { FileTrace, makeHeader } from '../../effects/record.ts';
import { readTraceFile } from '../../effects/trace-file.ts';

const dir = mkdtempSync('/tmp/sdrec-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('a header given room is rewritten in place once more is known; the records after it are untouched', () => {
  const path = `${dir}/t.jsonl`;
  const trace = new FileTrace(path, makeHeader('daemon', { phases: [{ phase: 'a' }] }), 1, 200);
  trace.write({ t: 1, actor: 'x', kind: 'mark', mark: { mark: 'one' } });
  const phases = [{ phase: 'a' }, { phase: 'b', ms: 12.5 }];
  assert.equal(trace.rewriteHeader(makeHeader('daemon', { phases })), true);
  trace.write({ t: 2, actor: 'x', kind: 'mark', mark: { mark: 'two' } });
  // More than the room left: refused, and the header stays as it was.
  assert.equal(trace.rewriteHeader(makeHeader('daemon', { big: 'x'.repeat(400) })), false);
  trace.close();
  const { header, records } = readTraceFile(path);
  assert.deepEqual(header.meta, { phases });
  assert.deepEqual(
    records.map((r) => (r.kind === 'mark' ? r.mark.mark : r.kind)),
    ['one', 'two'],
  );
  assert.equal(
    readFileSync(path, 'utf8').split('\n')[0]?.length,
    JSON.stringify(makeHeader('daemon', { phases: [{ phase: 'a' }] })).length + 200,
  );
});
