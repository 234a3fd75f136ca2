import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EffectCall } from '../../effects/requests.ts';
import { Session, type Executor } from '../../effects/runner.ts';

/** Holds every call's deliver, so a test can answer it, or answer it twice. */
class Held implements Executor {
  readonly delivers = new Map<string, (e: never, d: number) => void>();
  submit(_actor: string, call: EffectCall, deliver: (e: never, d: number) => void): void {
    this.delivers.set(call.id, deliver);
  }
  answer(id: string): void {
    const deliver = this.delivers.get(id);
    assert.ok(deliver, `no call ${id}`);
    deliver({ type: 'effect.done', id, result: { removed: true } } as never, 1);
  }
}

function operation(session: Session, actorId: string, forgetWhenDone: boolean) {
  return session.spawn(
    'operation',
    actorId,
    {
      actorId,
      title: 'remove a directory',
      effects: [{ effect: 'fs.removeAll', path: `/tmp/${actorId}` }],
      bestEffort: false,
    },
    { forgetWhenDone },
  );
}

test('an actor spawned with forgetWhenDone leaves the table once done; one without stays', async () => {
  const world = new Held();
  const session = new Session({ executor: world, now: () => 0 });
  const kept = operation(session, 'kept', false);
  const gone = operation(session, 'gone', true);
  assert.deepEqual([...session.actors.keys()], ['kept', 'gone']);
  world.answer('kept/1');
  world.answer('gone/1');
  assert.deepEqual([...session.actors.keys()], ['kept']);
  // Whoever holds the entry still hears the outcome.
  assert.deepEqual(await gone.done, { results: [{ removed: true }], failure: null });
  assert.deepEqual(await kept.done, { results: [{ removed: true }], failure: null });
});

test('a late effect result for an actor forgotten long ago finds nobody, and a message by ID to a recent one too', () => {
  const world = new Held();
  const session = new Session({ executor: world, now: () => 0 });
  operation(session, 'first', true);
  world.answer('first/1');
  // Thousands of actors forgotten since: the first one's ID is no longer remembered.
  for (let i = 0; i < 4100; i++) {
    operation(session, `op:${i}`, true);
    world.answer(`op:${i}/1`);
  }
  assert.equal(session.actors.size, 0);
  // The first actor's effect answers again (a watch that settles late): nothing listens.
  assert.doesNotThrow(() => world.answer('first/1'));
  // By ID: a recently forgotten actor is nobody; an ID never seen is a mistake.
  assert.doesNotThrow(() => session.send('op:4099', { type: 'anything' }));
  assert.throws(() => session.send('never', { type: 'anything' }), /no actor never/);
});
