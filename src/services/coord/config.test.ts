// Goal: the coord section of a node's /status shows the effective value of every coord setting
// (defaults applied, the session timeout bounds derived from tickTime as ZooKeeper does, the super
// digest only as set/unset), `barista status` prints them as a `coord flags` table, and
// docs/COMPAT-ZOOKEEPER.md documents each one with its ZooKeeper equivalent.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { serviceTables, statusSections } from '../../cli/status.ts';
import { coordConfigSchema, coordFlagEquivalents, coordFlags } from './config.ts';
import { simServices } from '../../../test/support/sim-services.ts';

const superDigest = 'super:D/InIHSb7yEEbrWz8b9l71RjZJU=';

test('coordFlags: every setting, defaults applied, bounds derived from tickTime, the digest hidden', () => {
  const d = coordFlags(coordConfigSchema.parse({}));
  assert.deepEqual(Object.keys(d).sort(), Object.keys(coordConfigSchema.shape).sort(), 'every setting');
  assert.deepEqual(Object.keys(coordFlagEquivalents).sort(), Object.keys(d).sort());
  assert.equal(d.tickTimeMs, 2000);
  assert.equal(d.minSessionTimeoutMs, 4000, "ZooKeeper's 2 ticks");
  assert.equal(d.maxSessionTimeoutMs, 40_000, "ZooKeeper's 20 ticks");
  assert.equal(d.juteMaxBufferBytes, 0xfffff);
  // Lowered, yes; raised past the tree's data bound, no (every replica refused such data at apply).
  assert.equal(coordConfigSchema.parse({ juteMaxBufferBytes: 4096 }).juteMaxBufferBytes, 4096);
  assert.equal(coordConfigSchema.safeParse({ juteMaxBufferBytes: 0xfffff + 1 }).success, false);
  assert.equal(d.fourLetterWords, 'ruok,srvr,stat,mntr,conf,envi');
  assert.equal(d.extendedTypesEnabled, false);
  assert.equal(d.superDigest, 'unset');
  assert.equal(d.leaderLostCloseMs, 3000);
  assert.equal(d.containerCheckIntervalMs, 60_000);
  assert.match(String(d.listen), /^connectionsMax=10000 connectionsPerAddressMax=1000 .*idleTimeoutMs=none$/);
  const o = coordFlags(
    coordConfigSchema.parse({
      tickTimeMs: 100,
      maxSessionTimeoutMs: 900,
      extendedTypesEnabled: true,
      fourLetterWords: ['*'],
      superDigest,
      listen: { zookeeper: { connectionsPerAddressMax: 60 } },
    }),
  );
  assert.deepEqual(
    [o.minSessionTimeoutMs, o.maxSessionTimeoutMs, o.extendedTypesEnabled, o.fourLetterWords, o.superDigest],
    [200, 900, true, '*', 'set'],
  );
  assert.ok(!JSON.stringify(o).includes('D/InIHSb7'), 'the digest itself is not shown');
  assert.match(String(o.listen), /connectionsPerAddressMax=60/);
});

test("a node's /status coord section carries the flags, and barista status prints them as a table", () => {
  const ids = ['n1', 'n2', 'n3'];
  const sim = simServices({
    seed: 'coord-flags-status',
    nodes: ids,
    coord: (nodeId) => ({ tickTimeMs: 200, extendedTypesEnabled: nodeId === 'n2' }),
  });
  sim.runFor(10);
  const rows = ids.map((id) => ({ node: id, services: statusSections(sim.instance(id)!.status()) }));
  const coord = rows[1]!.services['coord'] as { flags: Record<string, unknown> };
  assert.equal(coord.flags['extendedTypesEnabled'], true);
  assert.equal(coord.flags['maxSessionTimeoutMs'], 4000, '20 ticks of 200 ms');
  const tables = serviceTables(rows);
  const flags = tables.find((t) => t.includes('coord flags'));
  assert.ok(flags, tables.join('\n'));
  assert.match(flags, /coord flags.*n1.*n2.*n3/);
  assert.match(flags, /extendedTypesEnabled.*false.*true.*false/, 'a node that differs stands out on its row');
  for (const name of Object.keys(coordFlagEquivalents)) assert.match(flags, new RegExp(`│ ${name} `), name);
  const section = tables.find((t) => t.includes('coord: node'))!;
  assert.doesNotMatch(section, /flags/, 'not squeezed into a cell of the coord table');
});

test('docs/COMPAT-ZOOKEEPER.md has a row for every coord setting, with its ZooKeeper equivalent', () => {
  const doc = readFileSync(new URL('../../../docs/COMPAT-ZOOKEEPER.md', import.meta.url), 'utf8');
  for (const [name, zk] of Object.entries(coordFlagEquivalents)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row, `no row for ${name}`);
    assert.ok(row.includes(zk.split(' ')[0]!), `${name}'s row names ${zk}`);
  }
});

test('snapshotSliceNodes: 256 by default; a config may still set up to 2,000 (the default before 2026-12-05), not more', () => {
  assert.equal(coordConfigSchema.parse({}).snapshotSliceNodes, 256);
  assert.equal(coordConfigSchema.parse({ snapshotSliceNodes: 1000 }).snapshotSliceNodes, 1000);
  assert.equal(coordConfigSchema.parse({ snapshotSliceNodes: 2000 }).snapshotSliceNodes, 2000);
  assert.equal(coordConfigSchema.safeParse({ snapshotSliceNodes: 2001 }).success, false);
});
