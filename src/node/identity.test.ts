// Goal: the start-up table of identity.ts, row by row, on the simulated disk: an empty data
// directory bootstraps only when the config says the cluster is new, a foreign or wiped directory
// is refused with a stable code, and the identity survives a crash once written (atomic, synced).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../lib/rng.ts';
import { SimDiskStore } from '../sim/disk.ts';
import { decideStart, IDENTITY_FILE, NodeIdentityError, readIdentity, type StartInput } from './identity.ts';

function input(over: Partial<StartInput> = {}): StartInput {
  return {
    clusterId: 'c1',
    nodeId: 'n2',
    initialClusterState: 'existing',
    rejoin: false,
    hasRaftState: false,
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
  assert.equal(store.view().exists(IDENTITY_FILE), false, 'a refused start writes nothing');
  const d = decideStart(store.view(), input({ initialClusterState: 'new' }));
  assert.equal(d.kind, 'bootstrap');
  assert.equal(d.identity.state, 'member');
  // Written durably: a crash right after keeps it.
  store.crash();
  assert.deepEqual(readIdentity(store.view(), '/data/n2'), d.identity);
  // The next start of a node that never got a term (crashed at once) is a restart under 'new' ...
  assert.equal(decideStart(store.view(), input({ initialClusterState: 'new' })).kind, 'restart');
  // ... but once the config says 'existing', identity without a Raft log means the WAL was wiped.
  assert.equal(
    refusal(() => decideStart(store.view(), input())),
    'node_data_missing',
  );
  assert.equal(decideStart(store.view(), input({ hasRaftState: true })).kind, 'restart');
});

test('a directory of another node or cluster is refused, whatever the flags', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  decideStart(store.view(), input({ initialClusterState: 'new' }));
  for (const over of [{ nodeId: 'n3' }, { clusterId: 'c2' }]) {
    for (const flags of [{ rejoin: true }, { hasRaftState: true }, { initialClusterState: 'new' as const }]) {
      assert.equal(
        refusal(() => decideStart(store.view(), input({ ...over, ...flags }))),
        'node_identity_mismatch',
      );
    }
  }
  store.view().open(IDENTITY_FILE, { create: false }).writeAt(0, new TextEncoder().encode('garbage!'));
  assert.equal(
    refusal(() => decideStart(store.view(), input({ hasRaftState: true }))),
    'node_identity_mismatch',
  );
});

test('rejoin: an empty directory becomes a rejoining node; a crash before any data keeps rejoining', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  const d = decideStart(store.view(), input({ rejoin: true }));
  assert.equal(d.kind, 'rejoin');
  assert.deepEqual(d.identity, { version: 1, clusterId: 'c1', nodeId: 'n2', state: 'rejoining', rejoinId: 'r1' });
  store.crash();
  // Restarted without the flag, it is still rejoining, with the same rejoin id.
  const again = decideStart(store.view(), input({ newRejoinId: () => 'other' }));
  assert.equal(again.kind, 'rejoin');
  assert.equal(again.identity.rejoinId, 'r1');
});

test('a data directory from before identities (Raft state, no identity file) is adopted', () => {
  const store = new SimDiskStore(new SeededRng('id'));
  const d = decideStart(store.view(), input({ hasRaftState: true, rejoin: true }));
  assert.equal(d.kind, 'adopt');
  assert.equal(d.identity.state, 'member');
  assert.equal(decideStart(store.view(), input({ hasRaftState: true })).kind, 'restart');
});
