// Goal: the group commit rule (group-commit.ts) on its own, with a scripted engine and timers:
// under `always` a reply produced while writes are unsynced waits for the end of the turn, one
// sync covers the whole turn and only then are the replies sent, in the order they came; a turn
// without unsynced writes sends at once; a failed sync sends nothing and abandons every waiting
// reply; `periodic` sends at once and syncs on its timer; `none` never syncs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Timer, Timers } from '../../env/types.ts';
import type { StoreSyncPolicy } from './config.ts';
import { GroupCommit } from './group-commit.ts';

function world(policy: StoreSyncPolicy) {
  const log: string[] = [];
  const pending: { delayMs: number; fn: () => void; every: boolean; cancelled: boolean }[] = [];
  const timers: Timers = {
    after: (delayMs, fn) => {
      const t = { delayMs, fn, every: false, cancelled: false };
      pending.push(t);
      return { cancel: () => void (t.cancelled = true) } satisfies Timer;
    },
    every: (delayMs, fn) => {
      const t = { delayMs, fn, every: true, cancelled: false };
      pending.push(t);
      return { cancel: () => void (t.cancelled = true) } satisfies Timer;
    },
  };
  const engine = {
    lastAppliedSeq: 0,
    durableSeq: 0,
    failNext: false,
    sync(): number {
      if (this.failNext) throw new Error('disk_io');
      log.push(`sync ${this.lastAppliedSeq}`);
      this.durableSeq = this.lastAppliedSeq;
      return this.durableSeq;
    },
  };
  let syncs = 0;
  const gc = new GroupCommit({
    policy,
    syncIntervalMs: 1000,
    engine,
    timers,
    metrics: { syncs: { inc: () => void syncs++ }, groupSize: { observe: () => {} } },
  });
  /** Runs the timers that are due (the end of the turn: every after(0); `every` when asked). */
  const endTurn = (periodic = false) => {
    for (const t of pending.splice(0)) {
      if (t.cancelled) continue;
      if (t.every) pending.push(t);
      if (!t.every || periodic) t.fn();
    }
  };
  const reply = (name: string) =>
    gc.release(
      () => log.push(`send ${name}`),
      () => log.push(`abandon ${name}`),
    );
  return { gc, engine, log, endTurn, reply, syncs: () => syncs };
}

test('always: one sync at the end of the turn covers every write, then the replies in order', () => {
  const w = world('always');
  w.engine.lastAppliedSeq = 1;
  w.reply('a');
  w.engine.lastAppliedSeq = 2;
  w.reply('b');
  w.reply('read after a write: waits too');
  assert.deepEqual(w.log, [], 'nothing leaves before the sync');
  w.endTurn();
  assert.deepEqual(w.log, ['sync 2', 'send a', 'send b', 'send read after a write: waits too']);
  assert.equal(w.syncs(), 1);
  w.reply('read-only turn');
  assert.deepEqual(w.log.slice(-1), ['send read-only turn'], 'nothing unsynced: sent at once');
  assert.equal(w.syncs(), 1);
});

test('always: a failed sync sends nothing and abandons every waiting reply', () => {
  const w = world('always');
  w.engine.lastAppliedSeq = 1;
  w.reply('a');
  w.reply('b');
  w.engine.failNext = true;
  assert.throws(() => w.endTurn(), /disk_io/);
  assert.deepEqual(w.log, ['abandon a', 'abandon b']);
});

test('periodic: replies at once; the timer syncs what is unsynced. none: never syncs', () => {
  const p = world('periodic');
  p.engine.lastAppliedSeq = 3;
  p.reply('a');
  assert.deepEqual(p.log, ['send a']);
  p.endTurn(true);
  assert.deepEqual(p.log, ['send a', 'sync 3']);
  p.endTurn(true);
  assert.equal(p.syncs(), 1, 'nothing new: no sync');
  const n = world('none');
  n.engine.lastAppliedSeq = 3;
  n.reply('a');
  n.endTurn(true);
  assert.deepEqual(n.log, ['send a']);
});
