// Goal (issue 7, the rot classes of the swarm): a node that stops on damaged data of its own —
// recovery's data_corrupt, EIO reading a bad sector, an identity that no longer matches — is taken
// over by the simulated operator (src/node/sim-operator.ts), wiped and rejoined as a learner as
// README "Replacing a node" says, and the cluster stays safe and converges; the refusal is
// recognised by its type (code and fields), never by message text; and a refusal on a disk that
// did not rot is not papered over (it fails the run: a correct node must not refuse good data).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaristaError, CorruptionError } from '../../src/lib/errors.ts';
import { SeededRng } from '../../src/lib/rng.ts';
import { runSwarmSeed } from '../../src/node/sim-swarm.ts';
import { NodeIdentityError } from '../../src/node/identity.ts';
import { SimDiskStore } from '../../src/sim/disk.ts';
import { dataRefusalOf } from '../../src/sim/simulation.ts';

test('refusals on damaged data are typed by code and fields, not by message', () => {
  assert.equal(dataRefusalOf(new CorruptionError('anything')), 'data_corrupt');
  assert.equal(dataRefusalOf(new NodeIdentityError('node_identity_mismatch', 'x')), 'identity');
  assert.equal(dataRefusalOf(new NodeIdentityError('node_data_missing', 'x')), 'identity');
  const read = new BaristaError('disk_io', 'write failed', { fields: { op: 'read', errno: 'EIO' } });
  assert.equal(dataRefusalOf(read), 'unreadable_sector', 'the op field decides, not the message');
  const sync = new BaristaError('disk_io', 'read (sector 3) failed', { fields: { op: 'sync', errno: 'EIO' } });
  assert.equal(dataRefusalOf(sync), undefined, 'an fsync error is an exit-and-restart, not damaged data');
  assert.equal(dataRefusalOf(new NodeIdentityError('node_layout_old', 'x')), undefined);
  assert.equal(dataRefusalOf(new Error('data_corrupt')), undefined);
});

test('a bad sector fails reads with a typed error until the operator wipes the disk', () => {
  const store = new SimDiskStore(new SeededRng('bad-sector'), {
    lostUnsynced: false,
    tornWrites: false,
    lostUnsyncedDirOps: false,
    readCorruptionProbability: 0,
    latentSectorErrorProbability: 1,
  });
  const disk = store.view();
  const f = disk.open('wal', { create: true });
  f.append(new Uint8Array(600).fill(7));
  f.sync(); // a sector of the synced file goes bad
  let err: unknown;
  try {
    for (let at = 0; at < 600; at += 100) f.read(at, 100);
  } catch (e) {
    err = e;
  }
  assert.equal(dataRefusalOf(err), 'unreadable_sector', String(err));
  store.wipe();
  const after = store.view();
  assert.deepEqual(after.list(''), [], 'wiped: nothing left');
  assert.equal(after.exists('wal'), false);
});

/**
 * Swarm seeds of the final code whose rotten disk made a node stop, so the operator wiped and
 * rejoined it (docs/SWARM.md); each passes: safety after every event, liveness after healing.
 */
const REJOIN_SEEDS = ['116'];

for (const seed of REJOIN_SEEDS) {
  test(`swarm seed ${seed}: the operator wipes the node that stopped on rot and it rejoins; the run passes`, () => {
    const r = runSwarmSeed(seed);
    assert.ok(r.ok, `${r.failure?.invariant}: ${r.failure?.detail}\n  replay: ${r.failure?.replay}`);
    assert.ok(r.operatorRejoins >= 1, `operator rejoins: ${r.operatorRejoins}`);
    const damage = r.injected['rot']! + r.injected['latent-sector-error']! + r.injected['misdirected-write']!;
    assert.ok(damage >= 1, JSON.stringify(r.injected));
  });
}
