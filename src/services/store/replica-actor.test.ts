// Goal: the replica id a store's life writes its dots under (service.ts replicaActorId) is never
// one an earlier life of the node used: not after the operator wipes the node and it rejoins
// (its new store counts dots from 1 again, and its peers still hold the old life's dots: the
// store's swarm workload lost an acknowledged SADD that way, docs/SWARM.md), not after a wipe with
// the clock stepped back, and not when store.sync changes between lives (a read-only review found
// both ways of a policy switch returning to an earlier id). Each life below opens the store as a
// node start does; a wipe is a new disk. Negative control: the planted
// store-actor-reused-after-wipe gives the rejoined node its old id back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Mutation, mutationsFrom } from '../../lib/mutations.ts';
import { SeededRng } from '../../lib/rng.ts';
import { defaultDiskFaults, SimDiskStore } from '../../sim/disk.ts';
import { ManualClock } from '../../storage/lsm/test-support.ts';
import { recordingComponents } from '../../storage/wal/test-components.ts';
import { LsmReplicaStore } from './replication/lsm-store.ts';
import { markLostPaxosState, replicaActorId } from './service.ts';

type Start = 'bootstrap' | 'restart' | 'adopt' | 'rejoin';

/** A node's disk and its lives: each `life` opens the store, takes its id, and (if asked) writes a dot reservation. */
function node(seed: string, mutations: Mutation[] = []) {
  let disk = new SimDiskStore(new SeededRng(`${seed}/disk`), defaultDiskFaults);
  let lives = 0;
  return {
    /** Whether the last life's store was marked as one whose Paxos state was lost. */
    amnesiac: false,
    life(start: Start, sync: 'always' | 'periodic' | 'none', writes = true): string {
      const store = LsmReplicaStore.open(
        { ...recordingComponents(), disk: disk.view(), clock: new ManualClock() },
        { dir: 'replica' },
      );
      const ctx = {
        start,
        nodeId: 'n1',
        config: { sync },
        env: { rng: new SeededRng(`${seed}/life${++lives}`), mutations: mutationsFrom(mutations) },
      };
      markLostPaxosState(ctx, store);
      const actor = replicaActorId(ctx, store) ?? 'n1';
      this.amnesiac = store.paxosAmnesiac;
      // A life that coordinates a write reserves dot counters (replica.ts DOT_COUNTER_META).
      if (writes) {
        store.putMeta('dot-counter', new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0]));
        store.sync();
      }
      store.close();
      return actor;
    },
    wipe(): void {
      disk = new SimDiskStore(new SeededRng(`${seed}/disk${lives}`), defaultDiskFaults);
    },
  };
}

test('under always: the node id until a wipe, then a recorded id of its own that later lives keep', () => {
  const n = node('always');
  assert.equal(n.life('bootstrap', 'always'), 'n1');
  assert.equal(n.life('restart', 'always'), 'n1');
  n.wipe();
  const rejoined = n.life('rejoin', 'always');
  assert.match(rejoined, /^n1#[0-9a-z]+$/);
  assert.equal(n.life('restart', 'always'), rejoined, 'recorded: every later life of the store keeps it');
  n.wipe();
  const again = n.life('rejoin', 'always');
  assert.match(again, /^n1#[0-9a-z]+$/);
  assert.notEqual(again, rejoined, 'a second wipe, a second id');
});

test('under periodic: a new number every life, from a random base after a wipe (not #1 again)', () => {
  const n = node('periodic');
  const ids = [n.life('bootstrap', 'periodic'), n.life('restart', 'periodic')];
  assert.deepEqual(ids, ['n1#1', 'n1#2']);
  n.wipe();
  ids.push(n.life('rejoin', 'periodic'), n.life('restart', 'periodic'));
  assert.equal(new Set(ids).size, 4, ids.join(', '));
});

test('a change of store.sync never returns to an id an earlier life used, either way', () => {
  // Wiped and rejoined under periodic, then switched to always: not the plain id again.
  const a = node('switch-a');
  const ids = [a.life('bootstrap', 'always')];
  a.wipe();
  ids.push(a.life('rejoin', 'periodic'), a.life('restart', 'always'), a.life('restart', 'always'));
  assert.equal(ids[3], ids[2], 'the id taken under always is recorded');
  assert.equal(new Set(ids.slice(0, 3)).size, 3, ids.join(', '));
  // Periodic lives, a wipe, rejoined under always, then back to periodic: not #1 again.
  const b = node('switch-b');
  const more = [b.life('bootstrap', 'periodic'), b.life('restart', 'periodic')];
  b.wipe();
  more.push(b.life('rejoin', 'always'), b.life('restart', 'periodic'), b.life('restart', 'periodic'));
  assert.equal(new Set(more).size, 5, more.join(', '));
});

test('negative control: with store-actor-reused-after-wipe the rejoined node writes as its old self', () => {
  const n = node('planted', ['store-actor-reused-after-wipe']);
  assert.equal(n.life('bootstrap', 'always'), 'n1');
  n.wipe();
  assert.equal(n.life('rejoin', 'always'), 'n1', 'the old id again');
  const p = node('planted-p', ['store-actor-reused-after-wipe']);
  assert.equal(p.life('bootstrap', 'periodic'), 'n1#1');
  p.wipe();
  assert.equal(p.life('rejoin', 'periodic'), 'n1#1', 'the old id again');
});

test("a wiped store's Paxos acceptor is marked amnesiac, durably, whatever its later lives and policies", () => {
  for (const sync of ['always', 'periodic'] as const) {
    const n = node(`amnesia-${sync}`);
    n.life('bootstrap', sync);
    assert.equal(n.amnesiac, false, `${sync}: a first bootstrap forgot nothing`);
    n.life('restart', sync);
    assert.equal(n.amnesiac, false, `${sync}: a restart with its data forgot nothing`);
    n.wipe();
    n.life('rejoin', sync);
    assert.equal(n.amnesiac, true, `${sync}: the rejoined store lost its promises`);
    n.life('restart', sync === 'always' ? 'periodic' : 'always');
    n.life('restart', sync);
    assert.equal(n.amnesiac, true, `${sync}: kept for every later life (the replica id recorded since)`);
  }
  // A node that never reserved a dot (SERIAL only, or restarted before its first write) lost nothing.
  const quiet = node('amnesia-quiet');
  quiet.life('bootstrap', 'always', false);
  quiet.life('restart', 'always', false);
  assert.equal(quiet.amnesiac, false, 'a restart of a store that never wrote a dot is not a wipe');
  quiet.wipe();
  quiet.life('rejoin', 'always', false);
  assert.equal(quiet.amnesiac, true, 'its wipe is');
});
