// Goal: the start-up table of identity.ts, row by row, on the simulated disk: an empty data
// directory bootstraps only when the config says the cluster is new, a lost WAL or a foreign
// directory is refused with a stable code in one line, an intact WAL (even an empty one: that
// node never voted) restarts, and the identity survives a crash once written (atomic, synced).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../lib/rng.ts';
import { flakyReads } from '../sim/flaky-disk.ts';
import { SimDiskStore } from '../sim/disk.ts';
import {
  decideStart,
  IDENTITY_FILE,
  NodeIdentityError,
  readIdentity,
  type StartInput,
  writeIdentity,
} from './identity.ts';

function input(over: Partial<StartInput> = {}): StartInput {
  return {
    clusterId: 'c1',
    nodeId: 'n2',
    initialClusterState: 'existing',
    rejoin: false,
    walExists: false,
    dataDir: '/data/n2',
    newRejoinId: () => 'r1',
    ...over,
  };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof NodeIdentityError, String(err));
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err.code;
  }
  assert.fail('start was not refused');
}

test('an empty data directory bootstraps only with initialClusterState new', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  assert.equal(
    refusal(() => decideStart(store.view(), input())),
    'node_data_missing',
  );
  assert.match(
    (() => {
      try {
        decideStart(store.view(), input());
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })(),
    /data directory \/data\/n2 is empty, but initialClusterState is 'existing'.*barista node --rejoin/,
  );
  const d = decideStart(store.view(), input({ initialClusterState: 'new' }));
  assert.deepEqual([d.kind, d.identity.state, d.write], ['bootstrap', 'member', true]);
  assert.equal(store.view().exists(IDENTITY_FILE), false, 'deciding writes nothing');
  writeIdentity(store.view(), d.identity);
  store.crash();
  assert.deepEqual(readIdentity(store.view(), '/data/n2'), d.identity, 'durable once written');
  // An intact WAL restarts, empty or not, whatever the config says.
  for (const initialClusterState of ['new', 'existing'] as const) {
    const again = decideStart(store.view(), input({ walExists: true, initialClusterState }));
    assert.deepEqual([again.kind, again.write], ['restart', false]);
  }
  // Identity without a WAL: the log was lost. Refused even under 'new'.
  for (const initialClusterState of ['new', 'existing'] as const) {
    assert.equal(
      refusal(() => decideStart(store.view(), input({ initialClusterState }))),
      'node_data_missing',
    );
  }
});

test('a directory of another node or cluster is refused, whatever the flags', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  writeIdentity(store.view(), decideStart(store.view(), input({ initialClusterState: 'new' })).identity);
  for (const over of [{ nodeId: 'n3' }, { clusterId: 'c2' }]) {
    for (const flags of [{ rejoin: true }, { walExists: true }, { initialClusterState: 'new' as const }]) {
      assert.equal(
        refusal(() => decideStart(store.view(), input({ ...over, ...flags }))),
        'node_identity_mismatch',
      );
    }
  }
  store.view().open(IDENTITY_FILE, { create: false }).writeAt(0, new TextEncoder().encode('garbage!'));
  assert.equal(
    refusal(() => decideStart(store.view(), input({ walExists: true }))),
    'node_identity_mismatch',
  );
});

test('rejoin: a lost directory becomes a rejoining node, and stays one across restarts until done', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  const d = decideStart(store.view(), input({ rejoin: true }));
  assert.equal(d.kind, 'rejoin');
  assert.deepEqual(d.identity, { version: 1, clusterId: 'c1', nodeId: 'n2', state: 'rejoining', rejoinId: 'r1' });
  writeIdentity(store.view(), d.identity);
  store.crash();
  // Restarted without the flag, with or without a WAL by then, it is still rejoining, same id.
  for (const walExists of [false, true]) {
    const again = decideStart(store.view(), input({ walExists, newRejoinId: () => 'other' }));
    assert.equal(again.identity.state, 'rejoining');
    assert.equal(again.identity.rejoinId, 'r1');
    assert.equal(again.write, false);
  }
  // A member whose WAL was lost rejoins under a new rejoin id.
  writeIdentity(store.view(), { ...d.identity, state: 'member', rejoinId: '' });
  const member = decideStart(store.view(), input({ rejoin: true, newRejoinId: () => 'r2' }));
  assert.deepEqual([member.kind, member.identity.rejoinId, member.write], ['rejoin', 'r2', true]);
});

test('rejoined groups are kept across restarts; with every log gone, the rejoin starts over under a new id', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  const half = {
    version: 1,
    clusterId: 'c1',
    nodeId: 'n2',
    state: 'rejoining',
    rejoinId: 'r1',
    rejoined: ['metadata'],
  } as const;
  writeIdentity(store.view(), half);
  const again = decideStart(store.view(), input({ walExists: true }));
  assert.deepEqual([again.kind, again.identity, again.write], ['restart', half, false]);
  // The rejoined group's log is gone with the rest: its re-add under r1 no longer holds.
  const lost = decideStart(store.view(), input({ newRejoinId: () => 'r2' }));
  assert.deepEqual(
    [lost.kind, lost.identity.rejoinId, lost.identity.rejoined, lost.write],
    ['rejoin', 'r2', undefined, true],
  );
  // A file from before per-group rejoins (no `rejoined`) reads as none; a bad shape is refused.
  writeIdentity(store.view(), { ...half, rejoined: [] });
  assert.equal(decideStart(store.view(), input({ walExists: true })).identity.rejoined, undefined);
  store.view().remove('identity.json');
  writeIdentity(store.view(), { ...half, rejoined: [7] } as unknown as typeof half);
  assert.throws(() => decideStart(store.view(), input({ walExists: true })), /unknown shape/);
});

test('a data directory with a WAL and no identity (older versions, or a crash at bootstrap) is adopted', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  const d = decideStart(store.view(), input({ walExists: true, rejoin: true }));
  assert.deepEqual([d.kind, d.identity.state, d.write], ['adopt', 'member', true]);
});

test('a transient bit flip in one read of identity.json does not refuse the start; damage seen by every read does', () => {
  const store = new SimDiskStore(new SeededRng('identity-flip'));
  const d = decideStart(store.view(), input({ initialClusterState: 'new' }));
  writeIdentity(store.view(), d.identity);
  // '{' becomes '~': not JSON
  const flaky = (flips: number) => flakyReads(store.view(), flips, () => 0x7e);
  assert.deepEqual(readIdentity(flaky(1), '/data/n2'), d.identity, 'one bad read is read again');
  assert.throws(() => readIdentity(flaky(1_000), '/data/n2'), NodeIdentityError);
});
