// maxmemory's count of collections kept in rows (collection-store.ts StoredRows.bytes, the
// header's bytes record; replica.ts wires each change's difference into onStored): the deltas a
// replica reports from an empty store add up to a walk of that store, its values priced as
// storedValueBytes and each collection's header and rows read row by row, after random set, hash
// and list changes (overwrites of a field with values of other sizes, removes, DELs that clear the
// rows, a string over a set, then a hash over it that drops the set's collection) through every node, with a node down for a
// while (hints, pulls) and partitions (read repair and anti-entropy joins).
// Negative controls (by hand, 2026-12-05): StoredRows.put pricing an overwritten row as new (no
// old size) fails; the replica not wiring Collections.onBytes fails; a drop not reporting fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRng } from '../lib/rng.ts';
import { ENTRY_OVERHEAD_BYTES } from '../redis/memory.ts';
import { STORED_VALUE_OVERHEAD_BYTES } from './store.ts';
import { storedValueBytes } from './replica.ts';
import type { TypedOp } from './typed.ts';
import { DynamoCluster, pricedWalk } from './testing.ts';
import { Versioned } from './versions.ts';

const enc = new TextEncoder();
const IDS = ['a', 'b', 'c'];

/** What `id`'s store holds, priced as maxmemory prices it, read value by value and row by row. */
function walk(c: DynamoCluster, id: string): number {
  return pricedWalk(c.node(id).store);
}

function randomOp(rng: SeededRng): { key: string; op: TypedOp | null | string } {
  const bytes = (n: number) => enc.encode('v'.repeat(n));
  switch (rng.int(9)) {
    case 0:
      return {
        key: `s${rng.int(4)}`,
        op: { type: 'sadd', members: [enc.encode(`m${rng.int(30)}`), enc.encode(`m${rng.int(30)}`)] },
      };
    case 1:
      return { key: `s${rng.int(4)}`, op: { type: 'srem', members: [enc.encode(`m${rng.int(30)}`)] } };
    case 2:
    case 3:
      return {
        key: `h${rng.int(4)}`,
        op: { type: 'hset', members: [enc.encode(`f${rng.int(12)}`), bytes(rng.int(120))] },
      };
    case 4:
      return { key: `h${rng.int(4)}`, op: { type: 'hdel', members: [enc.encode(`f${rng.int(12)}`)] } };
    case 5:
      // A DEL: the collection's rows are cleared where the tombstone supersedes its marker.
      return { key: rng.int(2) === 0 ? `s${rng.int(4)}` : `h${rng.int(4)}`, op: null };
    case 6:
      // A string over a set: its collection is dropped.
      return { key: `s${rng.int(4)}`, op: `x${'y'.repeat(rng.int(40))}` };
    case 7:
      // A hash over a set key (WRONGTYPE while the set lives; after a DEL or a string the set's
      // header and rows are dropped for the hash's).
      return { key: `s${rng.int(4)}`, op: { type: 'hset', members: [enc.encode('f'), bytes(rng.int(20))] } };
    default:
      return { key: `k${rng.int(8)}`, op: `v${'z'.repeat(rng.int(60))}` };
  }
}

for (const seed of ['rows-memory-1', 'rows-memory-2', 'rows-memory-3'])
  test(`the bytes a replica reports for collections in rows add up to a walk of its store (${seed})`, () => {
    const c = new DynamoCluster({ ids: IDS, seed, config: { collections: 'rows' } });
    c.checkInvariants = false;
    const counted = new Map<string, number>(IDS.map((id) => [id, 0]));
    for (const id of IDS) {
      c.node(id).replica.onStored = (_key, delta) => counted.set(id, counted.get(id)! + delta);
      assert.equal(walk(c, id), 0);
    }
    const rng = new SeededRng(`${seed}/ops`);
    for (let i = 0; i < 400; i++) {
      if (i === 100) c.down('c');
      if (i === 160) c.up('c');
      if (i === 220) c.partition([['a'], ['b', 'c']]);
      if (i === 300) c.heal();
      const at = IDS.filter((id) => c.node(id).up)[rng.int(IDS.length - (c.node('c').up ? 0 : 1))]!;
      const { key, op } = randomOp(rng);
      if (op === null || typeof op === 'string') c.put(at, key, op, 'ONE');
      else c.typed(at, key, op, 'ONE');
      for (let d = rng.int(6); d > 0 && c.queue.length > 0; d--) c.deliver(rng.int(c.queue.length));
      if (rng.int(10) === 0) c.tick();
    }
    c.settle();
    for (const id of IDS) {
      const w = walk(c, id);
      assert.ok(w > 2_000, `${id}: a real data set (${w})`);
      assert.equal(counted.get(id), w, `${id}: the reported bytes equal the walk`);
      // The replica's own answer, as the recount reads it (a header's record, or an open handle).
      let viaReplica = 0;
      for (let from: Uint8Array | null = null; ; ) {
        const page = c.node(id).store.scanValues(from, 100);
        for (const e of page.entries)
          viaReplica +=
            storedValueBytes(e.key, Versioned.decode(e.state), e.state.length) +
            c.node(id).replica.collectionBytes(e.key);
        if (page.next === null) break;
        from = page.next;
      }
      assert.equal(viaReplica, w, `${id}: the replica's collectionBytes (what the recount adds) equal the walk`);
    }
  });

test('a row, header or value is priced with the N = 1 keyspace overhead per entry (one maxmemory figure in both)', () => {
  assert.equal(STORED_VALUE_OVERHEAD_BYTES, ENTRY_OVERHEAD_BYTES);
});
