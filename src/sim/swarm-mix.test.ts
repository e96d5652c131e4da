// Goal: the swarm registry (swarm.ts) draws a seed's fault mix and intensities deterministically,
// each class independently of the others (adding a class must not reshuffle every seed's mix),
// with every class on in some seeds and off in others and intensities that vary; classes that are
// off leave the simulator quiet; and a class is counted by what the simulator injected, never by
// whether it was on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Simulation } from './simulation.ts';
import {
  drawSwarmMix,
  faultClasses,
  injectedByClass,
  leaseClockDriftRateMax,
  SwarmTally,
  swarmClassesWithout,
} from './swarm.ts';

test('a mix is a pure function of the seed, and seeds differ', () => {
  assert.deepEqual(drawSwarmMix('42'), drawSwarmMix('42'));
  const distinct = new Set(Array.from({ length: 50 }, (_, i) => JSON.stringify(drawSwarmMix(String(i)).on)));
  assert.ok(distinct.size >= 45, `50 seeds gave only ${distinct.size} distinct mixes`);
});

test('each class draws from its own stream: removing a class leaves the others unchanged', () => {
  const without = faultClasses.filter((c) => c.name !== 'partition');
  for (let seed = 0; seed < 50; seed++) {
    const full = drawSwarmMix(String(seed)).on.filter((c) => c.name !== 'partition');
    assert.deepEqual(drawSwarmMix(String(seed), without).on, full, `seed ${seed}`);
  }
});

test('over 300 seeds every class is on in some and off in others, at varying intensity', () => {
  const onCount = new Map<string, number>();
  const intensities = new Map<string, Set<string>>();
  for (let seed = 0; seed < 300; seed++) {
    for (const c of drawSwarmMix(String(seed)).on) {
      onCount.set(c.name, (onCount.get(c.name) ?? 0) + 1);
      if (!intensities.has(c.name)) intensities.set(c.name, new Set());
      intensities.get(c.name)!.add(c.intensity);
    }
  }
  for (const c of faultClasses) {
    const n = onCount.get(c.name) ?? 0;
    assert.ok(n > 30 && n < 270, `${c.name} on in ${n}/300 seeds`);
    const boolean = [
      'lost-unsynced',
      'torn-write',
      'torn-sectors-any-order',
      'lease-reads',
      'membership-change',
    ].includes(c.name);
    if (!boolean) assert.ok(intensities.get(c.name)!.size > 20, `${c.name}: intensities vary`);
  }
});

test('classes that are off leave the knobs quiet; classes that are on set them', () => {
  for (let seed = 0; seed < 100; seed++) {
    const { on, knobs } = drawSwarmMix(String(seed));
    const isOn = (name: string): boolean => on.some((c) => c.name === name);
    assert.equal((knobs.network.duplicateProbability ?? 0) > 0, isOn('duplicate'));
    assert.equal((knobs.network.reorderProbability ?? 0) > 0, isOn('reorder'));
    assert.equal((knobs.network.lossProbability ?? 0) > 0, isOn('loss'));
    assert.equal((knobs.network.corruptDetectedProbability ?? 0) > 0, isOn('payload-corruption'));
    assert.equal(knobs.network.corruptUndetectedProbability, 0);
    assert.equal(knobs.diskFaults.tornWrites, isOn('torn-write'));
    assert.equal(knobs.diskFaults.tornSectorsAnyOrder, isOn('torn-sectors-any-order'));
    assert.equal((knobs.diskFaults.syncErrorProbability ?? 0) > 0, isOn('fsync-eio'));
    assert.equal((knobs.diskFaults.writeErrorProbability ?? 0) > 0, isOn('write-eio'));
    assert.equal((knobs.diskFaults.noSpaceProbability ?? 0) > 0, isOn('enospc'));
    assert.equal(knobs.diskFaults.lostUnsynced, isOn('lost-unsynced'));
    assert.equal((knobs.diskFaults.readCorruptionProbability ?? 0) > 0, isOn('read-bitflip'));
    assert.equal((knobs.diskFaults.slowSyncProbability ?? 0) > 0, isOn('slow-sync'));
    assert.equal(knobs.workload.control, isOn('membership-change'));
    assert.equal(knobs.raft.readOnly === 'lease', isOn('lease-reads'));
    if (isOn('lease-reads')) {
      assert.ok((knobs.nemesis.driftRateMax ?? 0) <= leaseClockDriftRateMax, `${seed}: drift within the lease bound`);
    }
    for (const kind of ['partition', 'crash', 'crash-in-io', 'pause', 'clock', 'clock-step', 'clog', 'loss'] as const) {
      assert.equal(knobs.nemesis.kinds.includes(kind), isOn(kind), `${seed}: nemesis ${kind}`);
    }
  }
});

test('a class is counted from what was injected, not from being on', () => {
  const sim = new Simulation({ seed: 1, nodes: ['a', 'b', 'c'], program: () => ({}) });
  const quiet = injectedByClass({ stats: sim.stats(), controlActions: 0, leaseReads: 0 });
  assert.ok(
    Object.values(quiet).every((n) => n === 0),
    'nothing injected yet',
  );
  sim.inject({ kind: 'isolate', node: 'a' });
  sim.inject({ kind: 'clock', node: 'b', skewMs: 5 });
  sim.inject({ kind: 'clock-step', node: 'b', skewMs: 600_000 });
  sim.crash('c');
  const counted = injectedByClass({ stats: sim.stats(), controlActions: 2, leaseReads: 3 });
  assert.equal(counted['partition'], 1);
  assert.equal(counted['clock'], 1);
  assert.equal(counted['clock-step'], 1);
  assert.equal(counted['crash'], 1);
  assert.equal(counted['crash-in-io'], 0);
  assert.equal(counted['membership-change'], 2);
  assert.equal(counted['lease-reads'], 3);
  const tally = new SwarmTally();
  tally.add(quiet);
  tally.add(counted);
  assert.equal(tally.seeds, 2);
  assert.equal(tally.totals['partition'], 1);
  assert.equal(tally.seedsInjecting['crash'], 1);
  assert.ok(tally.neverInjected().includes('duplicate'));
  assert.ok(!tally.neverInjected().includes('crash'));
});

test('a mix without a class is the full mix with that class off (the others draw the same)', () => {
  for (let i = 1; i <= 200; i++) {
    const seed = String(i);
    const full = drawSwarmMix(seed);
    const without = drawSwarmMix(seed, swarmClassesWithout(['partition']));
    assert.deepEqual(
      without.on,
      full.on.filter((c) => c.name !== 'partition'),
      `${seed}: only partition left the mix`,
    );
  }
  assert.throws(() => swarmClassesWithout(['partitions']), /unknown fault class "partitions"/);
});
