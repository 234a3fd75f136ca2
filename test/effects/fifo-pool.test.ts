import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, describe, test } from 'node:test';
import { FifoPool } from '../../effects/containerd/fifo-pool.ts';

const root = mkdtempSync(`${tmpdir()}/fifo-pool-`);
after(() => rmSync(root, { recursive: true, force: true }));

function isFifo(path: string): boolean {
  return statSync(path).isFIFO();
}

describe('FifoPool', () => {
  test('makes the missing FIFOs with the ones made ahead, then places pooled ones', async () => {
    const dir = `${root}/ahead`;
    const pool = new FifoPool(dir, { madeAhead: 3 });
    await pool.place([`${root}/a1`, `${root}/a2`]);
    assert.ok(isFifo(`${root}/a1`) && isFifo(`${root}/a2`));
    assert.equal(readdirSync(dir).length, 3);
    // Two come from the pool: one left, and the FIFOs placed are the pooled ones renamed.
    await pool.place([`${root}/b1`, `${root}/b2`]);
    assert.ok(isFifo(`${root}/b1`) && isFifo(`${root}/b2`));
    assert.equal(readdirSync(dir).length, 1);
    // One pooled, two made with three more ahead.
    await pool.place([`${root}/c1`, `${root}/c2`, `${root}/c3`]);
    assert.ok([1, 2, 3].every((i) => isFifo(`${root}/c${i}`)));
    assert.equal(readdirSync(dir).length, 3);
  });

  test('fill makes the FIFOs ahead only when the pool holds none, so a placement forks nothing', async () => {
    const dir = `${root}/filled`;
    const pool = new FifoPool(dir, { madeAhead: 2 });
    await pool.fill();
    assert.equal(readdirSync(dir).length, 2);
    await pool.fill();
    assert.equal(readdirSync(dir).length, 2, 'a pool that holds FIFOs is not filled again');
    await pool.place([`${root}/f1`, `${root}/f2`]);
    assert.ok(isFifo(`${root}/f1`) && isFifo(`${root}/f2`));
    assert.equal(readdirSync(dir).length, 0, 'both came from the pool');
    await new FifoPool(`${root}/filled-none`).fill();
    assert.equal(
      existsSync(`${root}/filled-none`),
      false,
      'a pool that makes none ahead makes none',
    );
  });

  test("the next life's pool takes the FIFOs an earlier one left: its fill makes none", async () => {
    const dir = `${root}/lives`;
    await new FifoPool(dir, { madeAhead: 2 }).fill();
    const left = readdirSync(dir).sort();
    assert.equal(left.length, 2);
    const next = new FifoPool(dir, { madeAhead: 2 });
    await next.fill();
    assert.deepEqual(readdirSync(dir).sort(), left, 'the FIFOs left are the pool');
    await next.place([`${root}/l1`]);
    assert.ok(isFifo(`${root}/l1`));
    assert.equal(readdirSync(dir).length, 1, 'the placement took one of them');
  });

  test('a pool that makes none ahead makes only what is missing', async () => {
    const dir = `${root}/none-ahead`;
    await new FifoPool(dir).place([`${root}/n1`]);
    assert.ok(isFifo(`${root}/n1`));
    assert.equal(existsSync(dir), false);
  });

  test('keeps used FIFOs up to its bound, and passes over those not there', async () => {
    const dir = `${root}/kept`;
    const pool = new FifoPool(dir, { kept: 3 });
    await pool.place([`${root}/k1`, `${root}/k2`, `${root}/k3`, `${root}/k4`]);
    assert.deepEqual(pool.keep([`${root}/k1`, `${root}/gone`, `${root}/k2`]), [
      `${root}/k1`,
      `${root}/k2`,
    ]);
    assert.deepEqual(pool.keep([`${root}/k3`, `${root}/k4`]), [`${root}/k3`]);
    assert.equal(readdirSync(dir).length, 3);
    assert.ok(existsSync(`${root}/k4`), 'a FIFO over the bound stays where it was');
    // The kept ones are placed again, and nothing else is made.
    await pool.place([`${root}/p1`, `${root}/p2`]);
    assert.ok(isFifo(`${root}/p1`) && isFifo(`${root}/p2`));
    assert.equal(readdirSync(dir).length, 1);
  });

  test('two placements at once each get all their FIFOs', async () => {
    const dir = `${root}/race`;
    const pool = new FifoPool(dir, { madeAhead: 2 });
    await pool.place([`${root}/r0`]);
    const wanted = [0, 1, 2, 3].map((i) => `${root}/r${i + 1}`);
    await Promise.all([pool.place(wanted.slice(0, 2)), pool.place(wanted.slice(2))]);
    assert.ok(wanted.every(isFifo));
  });
});

describe('FifoPool under concurrent placements', () => {
  test('a FIFO made ahead joins the pool only once its mkfifo(1) has set its mode', async () => {
    // mkfifo(1) -m makes each FIFO, then sets its mode: a placement that took a FIFO between
    // the two made that mkfifo fail ("cannot set permissions"), and with it the task whose
    // FIFOs it was making (found under load: 20 clients starting containers at once).
    const dir = `${root}/staged`;
    const pool = new FifoPool(dir, { madeAhead: 64 });
    let settled = false;
    const placing = pool.place([`${root}/s1`]).finally(() => (settled = true));
    const seenEarly: string[] = [];
    while (!settled) {
      if (existsSync(dir)) seenEarly.push(...readdirSync(dir));
      await new Promise((r) => setImmediate(r));
    }
    await placing;
    assert.deepEqual(seenEarly, [], 'nothing was in the pool before its mkfifo finished');
    assert.equal(readdirSync(dir).length, 64);
    for (const name of readdirSync(dir))
      assert.equal(statSync(`${dir}/${name}`).mode & 0o777, 0o600);
  });

  test('forty placements at once, each taking from the pool while others make more: all get their FIFOs', async () => {
    const dir = `${root}/crowd`;
    const pool = new FifoPool(dir, { madeAhead: 12 });
    const wanted = Array.from({ length: 40 }, (_, i) => [`${root}/m${i}-out`, `${root}/m${i}-err`]);
    await Promise.all(wanted.map((paths) => pool.place(paths)));
    assert.ok(wanted.flat().every(isFifo));
  });
});
