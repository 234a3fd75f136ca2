import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { setup } from 'xstate';
import { Session } from '../../effects/runner.ts';
import { machines, registerMachine } from '../../machines/registry.ts';
import { ApiServer } from '../../src/api/server.ts';
import { registerInspectionFeed } from '../../src/daemon/inspection-feed.ts';
import { LiveSource } from '../../src/inspector/sources.ts';

registerMachine(
  'liveTick',
  setup({ types: { events: {} as { type: 'tick' } } }).createMachine({
    id: 'liveTick',
    initial: 'a',
    states: { a: { on: { tick: 'b' } }, b: { on: { tick: 'a' } } },
  }),
);

const dir = mkdtempSync('/tmp/sdlivesrc-');
after(() => rmSync(dir, { recursive: true, force: true }));
const sock = `${dir}/d.sock`;

/** A daemon-like server: a session whose actors need no effects, with the feed mounted. */
async function daemon(): Promise<{ session: Session; close(): Promise<void> }> {
  const api = new ApiServer({ serverHeader: 'statedock-test' });
  const session = new Session({ executor: { submit: () => undefined }, now: () => 0 });
  const feed = registerInspectionFeed(api, session, machines);
  await api.listen([sock]);
  return {
    session,
    close: async () => {
      feed.close();
      await api.close();
    },
  };
}

async function until(what: string, predicate: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a live source follows the daemon, notices it went away, and starts over when another run of it answers', async () => {
  const first = await daemon();
  const live = new LiveSource('live', `unix://${sock}`, sock);
  await live.connect();
  try {
    first.session.spawn('liveTick', 'tick', null);
    for (let i = 0; i < 5; i++) first.session.send('tick', { type: 'tick' });
    await until('the first run is received', () => live.lines.length === 12);
    assert.deepEqual(live.liveStatus(), { connected: true });
    assert.deepEqual(
      live.lines.map((l) => (l.kind === 'gap' ? 'gap' : l.seq)),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    );

    await first.close();
    await until('it notices', () => !live.liveStatus().connected);
    assert.equal(live.liveStatus().message, 'the daemon closed the feed');

    const second = await daemon();
    try {
      second.session.spawn('liveTick', 'tick', null);
      second.session.send('tick', { type: 'tick' });
      await until('the second run is received', () => live.lines.length === 17);
      const tail = live.lines.slice(12);
      assert.deepEqual(tail[0], { kind: 'gap', dropped: 0, note: 'the daemon restarted' });
      assert.deepEqual(
        tail.slice(1).map((l) => (l.kind === 'gap' ? 'gap' : [l.seq, l.kind])),
        [
          [1, 'actor.start'],
          [2, 'transition'],
          [3, 'event'],
          [4, 'transition'],
        ],
      );
      assert.deepEqual(live.liveStatus(), { connected: true });
      // The rows the page gets say the same.
      assert.equal(live.compiler.rows.length, 17);
    } finally {
      await second.close();
    }
  } finally {
    live.close();
  }
});
