// Goal: the ReplicaStore contract (src/dynamo/store.ts header) holds for both implementations,
// the in-memory twin and the LSM-backed store, by one suite run against each (libp2p's
// compliance-suite habit): reads see unsynced writes; hints are counted, replaced and deleted
// exactly; hints() lists by owner then key; sync() makes every earlier write durable and a crash
// loses at most the writes since the last sync (for the LSM store: the simulator's disk losing,
// tearing or keeping unsynced sectors, then recovery on reopen, which must give the state after
// some prefix of the writes since the last sync, never less than the synced state, never an
// invented value); the hint count is right after recovery. A fast-check run mixes all of it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  keyString,
  MemoryReplicaStore,
  type ReplicaStore,
  rowKeyBytes,
  scanToken,
  tokenPage,
  valuePosition,
} from '../../../dynamo/store.ts';
import { LimitError } from '../../../lib/errors.ts';
import { limits } from '../../../lib/limits.ts';
import { SeededRng } from '../../../lib/rng.ts';
import { defaultDiskFaults, SimDiskStore } from '../../../sim/disk.ts';
import { ManualClock } from '../../../storage/lsm/test-support.ts';
import { recordingComponents } from '../../../storage/wal/test-components.ts';
import { LsmEngine } from '../../../storage/lsm/engine.ts';
import { emptyContext, Versioned } from '../../../dynamo/versions.ts';
import { LsmReplicaStore } from './lsm-store.ts';

interface Harness {
  store: ReplicaStore;
  /** The process dies (power loss for the LSM store); returns the store as recovery opens it. */
  crash(): ReplicaStore;
}

interface Implementation {
  readonly name: string;
  make(seed: string): Harness;
}

const implementations: Implementation[] = [
  {
    name: 'MemoryReplicaStore',
    make() {
      const store = new MemoryReplicaStore();
      return {
        store,
        crash() {
          store.crash();
          return store;
        },
      };
    },
  },
  {
    name: 'LsmReplicaStore',
    make(seed) {
      const disk = new SimDiskStore(new SeededRng(seed), { ...defaultDiskFaults, tornSectorsAnyOrder: true });
      const clock = new ManualClock();
      // Small engine bounds: a few dozen writes flush memtables, roll log segments and compact.
      const open = () =>
        LsmReplicaStore.open(
          { ...recordingComponents(), disk: disk.view(), clock },
          {
            dir: 'replica',
            tombstoneGraceMs: 0,
            engine: {
              memtableBytesMax: 1024,
              keyBytesMax: 2048,
              blockBytes: 256,
              commitLogSegmentBytesMax: 8192,
              commitLogPendingBytesMax: 8192,
              valueBytesMax: 1024,
              metaBytesMax: 16,
              compactionMinRuns: 2,
              runsCountMax: 4,
            },
          },
        );
      const h: Harness = {
        store: open(),
        crash() {
          disk.crash();
          h.store = open();
          return h.store;
        },
      };
      return h;
    },
  },
];

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);
const s = (x: Uint8Array | undefined) => (x === undefined ? undefined : dec.decode(x));
/** A key string of one byte per character (keyString's inverse, for bytes over 0x7f). */
const latin = (k: string) => Uint8Array.from(k, (c) => c.charCodeAt(0));

/** What a store holds, comparable: values of the keys asked for, and every hint. */
function contents(store: ReplicaStore, keys: readonly string[]): string {
  const values = keys.map((k) => [k, s(store.get(b(k)))]).filter(([, v]) => v !== undefined);
  const hints = store.hints().map((h) => [h.owner, keyString(h.key), s(h.state)]);
  return JSON.stringify({ values, hints, count: store.hintCount });
}

for (const impl of implementations) {
  describe(`ReplicaStore contract: ${impl.name}`, () => {
    test('reads see unsynced writes; a put replaces; an absent key is undefined', () => {
      const { store } = impl.make('basic');
      assert.equal(store.get(b('k')), undefined);
      store.put(b('k'), b('one'));
      assert.equal(s(store.get(b('k'))), 'one');
      store.put(b('k'), b('two'));
      assert.equal(s(store.get(b('k'))), 'two');
      store.put(new Uint8Array(0), b('empty key'));
      assert.equal(s(store.get(new Uint8Array(0))), 'empty key');
      store.put(Uint8Array.of(0, 255, 0), b('binary key'));
      assert.equal(s(store.get(Uint8Array.of(0, 255, 0))), 'binary key');
      assert.equal(store.get(Uint8Array.of(0, 255)), undefined);
    });

    test('a caller reusing one key buffer for another key reads and writes that key (no answer for the old bytes)', () => {
      const { store } = impl.make('reused-key');
      const key = b('k1');
      store.put(key, b('one'));
      store.putHeader(key, b('header one'));
      key[1] = 0x32; // now 'k2', the same array
      assert.equal(store.get(key), undefined);
      assert.equal(store.getHeader(key), undefined);
      store.put(key, b('two'));
      assert.equal(s(store.get(b('k2'))), 'two');
      assert.equal(s(store.get(b('k1'))), 'one');
      assert.equal(s(store.getHeader(b('k1'))), 'header one');
      key[1] = 0x31; // back to 'k1'
      assert.equal(s(store.get(key)), 'one');
      store.delete(key);
      assert.equal(store.get(b('k1')), undefined);
      assert.equal(s(store.get(b('k2'))), 'two');
    });

    test('delete forgets a value (scans skip it), meta records are kept apart; both survive a crash once synced', () => {
      const h = impl.make('delete-meta');
      h.store.put(b('a'), b('1'));
      h.store.put(b('b'), b('2'));
      h.store.putMeta('dot-counter', b('1048577'));
      h.store.delete(b('a'));
      h.store.delete(b('never')); // deleting an absent key does nothing
      assert.equal(h.store.get(b('a')), undefined);
      assert.deepEqual(
        h.store.scanValues(null, 10).entries.map((e) => s(e.key)),
        ['b'],
        'neither the deleted value nor the meta record is a value',
      );
      assert.equal(s(h.store.getMeta('dot-counter')), '1048577');
      assert.equal(h.store.getMeta('other'), undefined);
      h.store.sync();
      const after = h.crash();
      assert.equal(after.get(b('a')), undefined);
      assert.equal(s(after.get(b('b'))), '2');
      assert.equal(s(after.getMeta('dot-counter')), '1048577');
    });

    test('scanValues pages through every value in token order, hints never among them, across a crash', () => {
      const h = impl.make('scan');
      const keys = ['', 'a', 'a\u0000', 'ab', 'b', 'z', '\u00ff', 'k1', 'k2', 'k3', 'k4'];
      for (const k of [...keys].reverse()) h.store.put(latin(k), b(`v${k}`));
      h.store.putHint('n2', b('c'), b('hinted'));
      h.store.put(b('a'), b('va2')); // a replace shows once, newest
      const all = (store: ReplicaStore, page: number) => {
        const seen: string[] = [];
        let from: Uint8Array | null = null;
        for (let calls = 0; calls < 100; calls++) {
          const p = store.scanValues(from, page);
          assert.ok(p.entries.length <= page);
          for (const e of p.entries) seen.push(`${keyString(e.key)}=${s(e.state)}`);
          if (p.next === null) return seen;
          from = p.next;
        }
        assert.fail('scanValues did not end');
      };
      const order = [...keys].sort((x, y) => {
        const px = keyString(valuePosition(latin(x)));
        const py = keyString(valuePosition(latin(y)));
        return px < py ? -1 : px > py ? 1 : 0;
      });
      assert.notDeepEqual(order, [...keys].sort(), 'token order is not key order for these keys');
      const expected = order.map((k) => `${k}=${k === 'a' ? 'va2' : `v${k}`}`);
      for (const page of [1, 2, 3, 100]) assert.deepEqual(all(h.store, page), expected, `pages of ${page}`);
      // Starting mid-way at a key's position: inclusive.
      assert.deepEqual(
        h.store.scanValues(valuePosition(latin(order[4]!)), 100).entries.map((e) => keyString(e.key)),
        order.slice(4),
      );
      // Starting at a token: the first value whose token is at or past it.
      const t4 = scanToken(latin(order[4]!));
      assert.deepEqual(
        h.store.scanValues(t4, 100).entries.map((e) => keyString(e.key)),
        order.slice(4),
      );
      assert.deepEqual(
        h.store.scanValues(t4 + 1n, 100).entries.map((e) => keyString(e.key)),
        order.slice(5),
      );
      h.store.sync();
      h.store.put(b('late'), b('unsynced'));
      const after = h.crash();
      assert.deepEqual(all(after, 2), expected, 'after a crash: the synced values, not the lost write');
    });

    test('rows, headers and marks of decomposed collections: per key, rows in element byte order, paged, apart from values, across a crash', () => {
      const h = impl.make('rows');
      // Keys one of which prefixes another (and a NUL inside): no key's rows show among another's.
      const keys = ['a', 'a\u0000', 'ab', '', 'z\u00ff'];
      const elements = ['', '\u0000', '\u0000\u0000', 'a', 'a\u0000', 'ab', '\u00ff', '\u00ff\u00ff'];
      for (const k of keys) {
        for (const e of [...elements].reverse()) h.store.putRow(latin(k), latin(e), b(`${k}/${e}`));
        h.store.putHeader(latin(k), b(`header ${k}`));
      }
      h.store.put(b('a'), b('value a'));
      h.store.putRow(b('a'), b('a'), b('replaced'));
      h.store.deleteRow(b('a'), latin('\u00ff'));
      h.store.deleteRow(b('a'), b('never')); // an absent row: nothing
      const rowsOf = (store: ReplicaStore, k: string, page: number, from = ''): string[] => {
        const seen: string[] = [];
        let at: Uint8Array | null = latin(from);
        for (let calls = 0; at !== null; calls++) {
          assert.ok(calls < 100, 'scanRows did not end');
          const p = store.scanRows(latin(k), at, page);
          assert.ok(p.entries.length <= page);
          for (const e of p.entries) seen.push(`${keyString(e.element)}=${s(e.row)}`);
          at = p.next;
        }
        return seen;
      };
      const sorted = [...elements].sort();
      const expected = (k: string): string[] =>
        sorted
          .filter((e) => !(k === 'a' && e === '\u00ff'))
          .map((e) => `${e}=${k === 'a' && e === 'a' ? 'replaced' : `${k}/${e}`}`);
      for (const page of [1, 2, 3, 100]) {
        for (const k of keys)
          assert.deepEqual(rowsOf(h.store, k, page), expected(k), `${JSON.stringify(k)}, pages of ${page}`);
      }
      assert.deepEqual(rowsOf(h.store, 'ab', 2, 'a'), expected('ab').slice(3), 'from an element: inclusive');
      // Backwards: the same rows last first, paged by each page's next (exclusive).
      const rowsBack = (store: ReplicaStore, k: string, page: number, before: string | null = null): string[] => {
        const seen: string[] = [];
        let at: Uint8Array | null | undefined = before === null ? null : latin(before);
        for (let calls = 0; at !== undefined; calls++) {
          assert.ok(calls < 100, 'scanRowsBack did not end');
          const p = store.scanRowsBack(latin(k), at, page);
          assert.ok(p.entries.length <= page);
          for (const e of p.entries) seen.push(`${keyString(e.element)}=${s(e.row)}`);
          at = p.next ?? undefined;
        }
        return seen;
      };
      for (const page of [1, 2, 3, 100]) {
        for (const k of keys)
          assert.deepEqual(
            rowsBack(h.store, k, page),
            expected(k).reverse(),
            `${JSON.stringify(k)}, back in pages of ${page}`,
          );
      }
      assert.deepEqual(
        rowsBack(h.store, 'ab', 2, 'a'),
        expected('ab').slice(0, 3).reverse(),
        'before an element: exclusive',
      );
      assert.deepEqual(rowsBack(h.store, 'none', 2), []);
      assert.deepEqual(rowsOf(h.store, 'none', 2), []);
      assert.equal(s(h.store.getRow(b('ab'), latin('\u0000'))), 'ab/\u0000');
      assert.equal(h.store.getRow(b('ab'), b('zz')), undefined);
      assert.equal(s(h.store.getHeader(latin('a\u0000'))), 'header a\u0000');
      assert.deepEqual(
        h.store.scanValues(null, 100).entries.map((e) => s(e.key)),
        ['a'],
        'headers and rows are not values',
      );
      assert.equal(h.store.hintCount, 0);
      h.store.deleteHeader(b('ab'));
      h.store.deleteHeader(b('never'));
      assert.equal(h.store.getHeader(b('ab')), undefined);
      // A row key past the engine's bound is refused, nothing written.
      const long = new Uint8Array(limits.lsmKeyBytesMax + 1);
      assert.ok(rowKeyBytes(b('k'), long) > limits.lsmKeyBytesMax);
      assert.throws(() => h.store.putRow(b('k'), long, b('x')), LimitError);
      assert.deepEqual(rowsOf(h.store, 'k', 10), []);
      // Marks: set, replaced, removed; listed (in no promised order) apart from everything else.
      h.store.markCollection(b('ab'), b('note 1'));
      h.store.markCollection(latin('a\u0000'), b('note 2'));
      h.store.markCollection(b('ab'), b('note 3'));
      h.store.markCollection(b('gone'), b('x'));
      h.store.unmarkCollection(b('gone'));
      h.store.unmarkCollection(b('never'));
      const marks = (store: ReplicaStore) =>
        store
          .markedCollections()
          .map((m) => `${keyString(m.key)}=${s(m.note)}`)
          .sort();
      assert.deepEqual(marks(h.store), ['a\u0000=note 2', 'ab=note 3']);
      h.store.sync();
      h.store.putRow(b('late'), b('x'), b('unsynced'));
      const after = h.crash();
      assert.deepEqual(marks(after), ['a\u0000=note 2', 'ab=note 3'], 'synced marks survive a crash');
      for (const k of keys) assert.deepEqual(rowsOf(after, k, 3), expected(k), `after a crash: ${JSON.stringify(k)}`);
      assert.equal(after.getHeader(b('ab')), undefined);
      assert.equal(s(after.getHeader(b('a'))), 'header a');
      assert.equal(after.getRow(b('late'), b('x')), undefined, 'the unsynced row is lost (power loss at once)');
    });

    test('tokenPage: pages cut at token boundaries cover every value once, cursors rising', () => {
      const { store } = impl.make('token-page');
      const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
      for (const k of keys) store.put(b(k), b('x'));
      for (const count of [1, 7, 64, 500]) {
        const seen: string[] = [];
        let cursor = 0n;
        for (let calls = 0; ; calls++) {
          assert.ok(calls <= 250, 'tokenPage did not end');
          const page = tokenPage(store, cursor, count);
          for (const e of page.entries) {
            const t = scanToken(e.key);
            assert.ok(t >= cursor, 'nothing before the cursor');
            if (page.next !== null) assert.ok(t < page.next, 'nothing at or past the next cursor');
            seen.push(s(e.key)!);
          }
          if (page.next === null) break;
          assert.ok(page.next > cursor, 'the cursor rises');
          cursor = page.next;
        }
        assert.deepEqual([...seen].sort(), [...keys].sort(), `COUNT ${count}: every key once`);
      }
    });

    test('tokenPage over more deleted values than one engine scan examines: pages with nothing in them still move on', () => {
      const { store } = impl.make('token-page-deleted');
      const keys = Array.from({ length: 10_500 }, (_, i) => `d:${i}`);
      for (const k of keys) store.put(b(k), b('x'));
      const kept = new Set(keys.filter((_, i) => i % 1_000 === 0));
      for (const k of keys) if (!kept.has(k)) store.delete(b(k));
      const seen: string[] = [];
      let cursor = 0n;
      for (let calls = 0; ; calls++) {
        assert.ok(calls <= 100, 'tokenPage did not end');
        const page = tokenPage(store, cursor, 3);
        for (const e of page.entries) seen.push(s(e.key)!);
        if (page.next === null) break;
        assert.ok(page.next > cursor, 'the cursor rises');
        cursor = page.next;
      }
      assert.deepEqual([...seen].sort(), [...kept].sort());
    });

    test('values and hints live apart: a hint is never read as a value', () => {
      const { store } = impl.make('apart');
      store.putHint('n2', b('k'), b('hinted'));
      assert.equal(store.get(b('k')), undefined);
      store.put(b('k'), b('value'));
      assert.equal(s(store.getHint('n2', b('k'))), 'hinted');
      assert.equal(store.getHint('n3', b('k')), undefined);
    });

    test('hints: count, replace, delete, and order by owner then key', () => {
      const { store } = impl.make('hints');
      store.putHint('n2', b('b'), b('1'));
      store.putHint('n10', b('a'), b('2'));
      store.putHint('n1', b('z'), b('3'));
      store.putHint('n2', b('a'), b('4'));
      assert.equal(store.hintCount, 4);
      store.putHint('n2', b('b'), b('5')); // a replace counts nothing
      assert.equal(store.hintCount, 4);
      assert.deepEqual(
        store.hints().map((h) => `${h.owner}/${keyString(h.key)}=${s(h.state)}`),
        ['n1/z=3', 'n10/a=2', 'n2/a=4', 'n2/b=5'],
      );
      store.deleteHint('n2', b('a'));
      store.deleteHint('n2', b('a')); // a repeated delete counts nothing
      store.deleteHint('n9', b('a')); // nor one of a hint never stored
      assert.equal(store.hintCount, 3);
      assert.equal(store.getHint('n2', b('a')), undefined);
      store.putHint('n2', b('a'), b('6'));
      assert.equal(store.hintCount, 4);
      assert.equal(s(store.getHint('n2', b('a'))), '6');
    });

    test('a crash keeps what was synced, hint count included', () => {
      const h = impl.make('crash');
      h.store.put(b('a'), b('1'));
      h.store.putHint('n2', b('a'), b('h1'));
      h.store.putHint('n3', b('a'), b('h2'));
      h.store.sync();
      const synced = contents(h.store, ['a', 'b']);
      h.store.put(b('a'), b('2'));
      h.store.put(b('b'), b('3'));
      h.store.deleteHint('n2', b('a'));
      h.store.putHint('n4', b('b'), b('h3'));
      const after = h.crash();
      const got = contents(after, ['a', 'b']);
      // Memory loses every unsynced write; the disk may keep a prefix of them (checked in the property).
      if (impl.name === 'MemoryReplicaStore') assert.equal(got, synced);
      assert.equal(after.hintCount, after.hints().length);
      assert.equal(s(after.getHint('n3', b('a'))), 'h2');
    });

    test("hintsLazy: hints()' order, an owner skipped passed over whole, across pages", () => {
      const { store } = impl.make('hints-lazy');
      // 200 hints each for three owners (pages of 64 in the LSM store), the middle one skipped.
      for (const owner of ['n1', 'n2', 'n3'])
        for (let i = 0; i < 200; i++) store.putHint(owner, b(`k${String(i).padStart(3, '0')}`), b(`${owner}-${i}`));
      const shown = (hs: Iterable<{ owner: string; key: Uint8Array; state: Uint8Array }>) =>
        [...hs].map((h) => `${h.owner}/${keyString(h.key)}=${s(h.state)}`);
      const all = shown(store.hints());
      assert.equal(all.length, 600);
      assert.deepEqual(shown(store.hintsLazy(() => false)), all);
      assert.deepEqual(
        shown(store.hintsLazy((o) => o === 'n2')),
        all.filter((h) => !h.startsWith('n2/')),
      );
      // Read as it goes: stopping early reads no more (a generator left after its first hint).
      const first = store
        .hintsLazy((o) => o === 'n1')
        [Symbol.iterator]()
        .next();
      assert.equal(first.done, false);
      assert.equal(first.value!.owner, 'n2');
    });

    test('a crash after sync with nothing unsynced loses nothing', () => {
      const h = impl.make('crash-all-synced');
      for (let i = 0; i < 40; i++) h.store.put(b(`k${i}`), b(`v${i}`.repeat(8)));
      for (let i = 0; i < 10; i++) h.store.putHint(`n${i % 3}`, b(`k${i}`), b(`h${i}`));
      h.store.deleteHint('n0', b('k0'));
      h.store.sync();
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
      const before = contents(h.store, keys);
      assert.equal(contents(h.crash(), keys), before);
    });

    test('property: after any crash the store equals the model after some prefix of the writes since the last sync', () => {
      const cmd = fc.oneof(
        { weight: 5, arbitrary: fc.record({ op: fc.constant('put' as const), key: fc.nat(12), value: fc.nat(999) }) },
        {
          weight: 3,
          arbitrary: fc.record({
            op: fc.constant('putHint' as const),
            owner: fc.nat(3),
            key: fc.nat(12),
            value: fc.nat(999),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({ op: fc.constant('deleteHint' as const), owner: fc.nat(3), key: fc.nat(12) }),
        },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('sync' as const) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const) }) },
      );
      const keys = Array.from({ length: 13 }, (_, i) => `key-${i}`);
      let run = 0;
      fc.assert(
        fc.property(fc.array(cmd, { maxLength: 120 }), (cmds) => {
          const h = impl.make(`prop-${run++}`);
          const model = new MemoryReplicaStore();
          // The model's states since the last sync: recovery must land on one of them.
          let since: string[] = [contents(model, keys)];
          for (const c of cmds) {
            switch (c.op) {
              case 'put':
                h.store.put(b(keys[c.key]!), b(`v${c.value}`.padEnd(20 + (c.value % 40), '.')));
                model.put(b(keys[c.key]!), b(`v${c.value}`.padEnd(20 + (c.value % 40), '.')));
                break;
              case 'putHint':
                h.store.putHint(`n${c.owner}`, b(keys[c.key]!), b(`h${c.value}`));
                model.putHint(`n${c.owner}`, b(keys[c.key]!), b(`h${c.value}`));
                break;
              case 'deleteHint':
                h.store.deleteHint(`n${c.owner}`, b(keys[c.key]!));
                model.deleteHint(`n${c.owner}`, b(keys[c.key]!));
                break;
              case 'sync':
                h.store.sync();
                model.sync();
                since = [];
                break;
              case 'crash': {
                const got = contents(h.crash(), keys);
                const at = since.indexOf(got);
                assert.ok(at >= 0, `recovered ${got}\nnot one of the states since the last sync:\n${since.join('\n')}`);
                // Continue from what was recovered: the model rolls to the same prefix.
                model.crash();
                replayTo(model, h.store, keys);
                model.sync();
                since = [];
                break;
              }
            }
            since.push(contents(model, keys));
            assert.equal(contents(h.store, keys), contents(model, keys), 'reads see every write');
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}

/** Makes `model` hold exactly what `store` holds for `keys` and every hint. */
function replayTo(model: MemoryReplicaStore, store: ReplicaStore, keys: readonly string[]): void {
  for (const k of keys) {
    const v = store.get(b(k));
    if (v !== undefined) model.put(b(k), v);
  }
  for (const h of model.hints()) model.deleteHint(h.owner, h.key);
  for (const h of store.hints()) model.putHint(h.owner, h.key, h.state);
}

describe('LsmReplicaStore: a store written in key order (the layout before token order)', () => {
  test('opens with every value in token order, the old range emptied, once', () => {
    const disk = new SimDiskStore(new SeededRng('migrate'), defaultDiskFaults);
    const clock = new ManualClock();
    const components = () => ({ ...recordingComponents(), disk: disk.view(), clock });
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
    // The old layout, written straight into the engine: 'v' key -> state.
    const old = LsmEngine.open(components(), {
      dir: 'replica',
      sync: 'periodic',
      tombstoneGraceMs: 60_000,
      memtableBytesMax: 2048,
    });
    for (const k of keys) old.put(Uint8Array.from([0x76, ...b(k)]), b(`state ${k}`));
    old.close();

    const opened = components();
    const store = LsmReplicaStore.open(opened, { dir: 'replica', engine: { memtableBytesMax: 2048 } });
    assert.deepEqual(
      opened.log
        .lines()
        .map((l) => String(l.msg))
        .filter((m) => m.includes('token order')),
      ['replica store: values moved to token order'],
    );
    for (const k of keys) assert.equal(s(store.get(b(k))), `state ${k}`, k);
    const scanned: string[] = [];
    for (let from: Uint8Array | null = null, first = true; first || from !== null; first = false) {
      const page = store.scanValues(from, 64);
      for (const e of page.entries) scanned.push(s(e.key)!);
      from = page.next;
    }
    const order = (k: string) => keyString(valuePosition(b(k)));
    assert.deepEqual(
      scanned,
      [...keys].sort((x, y) => (order(x) < order(y) ? -1 : 1)),
    );
    store.close();

    // Reopened: nothing left to move, nothing lost (the move was synced).
    disk.crash();
    const again = components();
    const reopened = LsmReplicaStore.open(again, { dir: 'replica' });
    assert.equal(again.log.lines().filter((l) => String(l.msg).includes('token order')).length, 0);
    for (const k of keys) assert.equal(s(reopened.get(b(k))), `state ${k}`, k);
    reopened.close();
    const engine = LsmEngine.open(components(), { dir: 'replica', sync: 'periodic', tombstoneGraceMs: 60_000 });
    assert.deepEqual(engine.scan({ start: Uint8Array.of(0x76), end: Uint8Array.of(0x77) }).entries, []);
    engine.close();
  });

  test('a key in both layouts (an older binary wrote again after the move) opens with the two states merged', () => {
    const disk = new SimDiskStore(new SeededRng('migrate-merge'), defaultDiskFaults);
    const components = () => ({ ...recordingComponents(), disk: disk.view(), clock: new ManualClock() });
    const newer = Versioned.empty().update(emptyContext(), 'n1', b('from the new layout'), { wallMs: 10, logical: 0 });
    const older = Versioned.empty().update(emptyContext(), 'n2', b('from the old layout'), { wallMs: 20, logical: 0 });
    const first = LsmReplicaStore.open(components(), { dir: 'replica' });
    first.put(b('k'), newer.encode());
    first.close();
    const old = LsmEngine.open(components(), { dir: 'replica', sync: 'periodic', tombstoneGraceMs: 60_000 });
    old.put(Uint8Array.from([0x76, ...b('k')]), older.encode());
    old.close();
    const store = LsmReplicaStore.open(components(), { dir: 'replica' });
    const got = Versioned.decode(store.get(b('k'))!);
    assert.deepEqual(
      got.siblings.map((x) => s(x.value ?? undefined)).sort(),
      ['from the new layout', 'from the old layout'],
      'both concurrent writes are kept',
    );
    store.close();
  });
});
