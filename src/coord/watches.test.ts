// Goal: the watch manager fires what ZooKeeper 3.8's server fires, to whom, once: one-shot data,
// exists and child watches; NodeDeleted reaching data and child watchers of the path once each;
// persistent watches surviving their events; recursive watches seeing descendants but never
// NodeChildrenChanged; check/remove by watcher type; setWatches' immediate events against
// relativeZxid; a closed connection's watches gone; the bounds refusing, never growing past.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EventType, WatcherType } from './codes.ts';
import { type WatchEvent, WatchManager } from './watches.ts';

const roomy = { watchesPerWatcherMax: 1000, watchesTotalMax: 10_000 };

function ev(watcher: number, type: EventType, path: string): WatchEvent {
  return { watcher, type, path };
}

test('a data watch fires once on NodeDataChanged, then is gone', () => {
  const w = new WatchManager(roomy);
  assert.equal(w.addDataWatch(1, '/a'), 'ok');
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDataChanged }]), [
    ev(1, EventType.nodeDataChanged, '/a'),
  ]);
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDataChanged }]), []);
  assert.equal(w.size, 0);
});

test('an exists watch on an absent node fires NodeCreated; a child watch fires on NodeChildrenChanged only', () => {
  const w = new WatchManager(roomy);
  w.addDataWatch(1, '/a');
  w.addChildWatch(2, '/');
  assert.deepEqual(w.trigger([{ path: '/', type: EventType.nodeDataChanged }]), []);
  assert.deepEqual(
    w.trigger([
      { path: '/a', type: EventType.nodeCreated },
      { path: '/', type: EventType.nodeChildrenChanged },
    ]),
    [ev(1, EventType.nodeCreated, '/a'), ev(2, EventType.nodeChildrenChanged, '/')],
  );
});

test('NodeDeleted reaches data and child watchers of the path, one event per watcher', () => {
  const w = new WatchManager(roomy);
  w.addDataWatch(1, '/a');
  w.addChildWatch(1, '/a');
  w.addChildWatch(2, '/a');
  w.addChildWatch(3, '/');
  const events = w.trigger([
    { path: '/a', type: EventType.nodeDeleted },
    { path: '/', type: EventType.nodeChildrenChanged },
  ]);
  assert.deepEqual(events, [
    ev(1, EventType.nodeDeleted, '/a'),
    ev(2, EventType.nodeDeleted, '/a'),
    ev(3, EventType.nodeChildrenChanged, '/'),
  ]);
  assert.equal(w.size, 0, 'every one-shot watch cleared, including the suppressed child watch of 1');
});

test('a persistent watch sees data, children and deletion of its path and survives them', () => {
  const w = new WatchManager(roomy);
  assert.equal(w.addPersistentWatch(1, '/a', false), 'ok');
  assert.equal(w.size, 2, 'one entry in each table');
  const triggers = [
    { path: '/a', type: EventType.nodeDataChanged },
    { path: '/a', type: EventType.nodeChildrenChanged },
    { path: '/a/b', type: EventType.nodeCreated },
    { path: '/a', type: EventType.nodeDeleted },
    { path: '/a', type: EventType.nodeCreated },
  ];
  assert.deepEqual(w.trigger(triggers), [
    ev(1, EventType.nodeDataChanged, '/a'),
    ev(1, EventType.nodeChildrenChanged, '/a'),
    ev(1, EventType.nodeDeleted, '/a'),
    ev(1, EventType.nodeCreated, '/a'),
  ]);
  assert.equal(w.size, 2);
});

test('a recursive watch sees the path and descendants, never NodeChildrenChanged, and survives', () => {
  const w = new WatchManager(roomy);
  w.addPersistentWatch(1, '/a', true);
  const events = w.trigger([
    { path: '/a/b/c', type: EventType.nodeCreated },
    { path: '/a/b', type: EventType.nodeChildrenChanged },
    { path: '/a', type: EventType.nodeDataChanged },
    { path: '/ab', type: EventType.nodeCreated },
    { path: '/a/b/c', type: EventType.nodeDeleted },
  ]);
  assert.deepEqual(events, [
    ev(1, EventType.nodeCreated, '/a/b/c'),
    ev(1, EventType.nodeDataChanged, '/a'),
    ev(1, EventType.nodeDeleted, '/a/b/c'),
  ]);
  assert.equal(w.size, 1);
});

test('a one-shot watch beside a persistent one: one event, the persistent one stays', () => {
  const w = new WatchManager(roomy);
  w.addPersistentWatch(1, '/a', false);
  w.addDataWatch(1, '/a');
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDataChanged }]), [
    ev(1, EventType.nodeDataChanged, '/a'),
  ]);
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDataChanged }]), [
    ev(1, EventType.nodeDataChanged, '/a'),
  ]);
  // A recursive watch at / and a one-shot at the path: still one event per trigger.
  w.addPersistentWatch(2, '/', true);
  w.addDataWatch(2, '/a');
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDataChanged }]), [
    ev(1, EventType.nodeDataChanged, '/a'),
    ev(2, EventType.nodeDataChanged, '/a'),
  ]);
});

test('checkWatches and removeWatches by watcher type', () => {
  const w = new WatchManager(roomy);
  w.addDataWatch(1, '/a');
  w.addChildWatch(1, '/b');
  assert.equal(w.contains(1, '/a', WatcherType.data), true);
  assert.equal(w.contains(1, '/a', WatcherType.children), false);
  assert.equal(w.contains(1, '/a', WatcherType.any), true);
  assert.equal(w.contains(2, '/a', WatcherType.any), false);
  assert.equal(w.contains(1, '/a', 9), false, 'an unknown type matches nothing');
  assert.equal(w.remove(1, '/a', WatcherType.children), false, 'NoWatcher');
  assert.equal(w.remove(1, '/a', WatcherType.any), true);
  assert.equal(w.remove(1, '/a', WatcherType.data), false);
  assert.equal(w.remove(1, '/b', WatcherType.children), true);
  assert.equal(w.size, 0);
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDeleted }]), []);
});

test('setWatches fires what changed since relativeZxid and registers the rest', () => {
  const w = new WatchManager(roomy);
  const tree = new Map([
    ['/old', { mzxid: 5, pzxid: 5 }],
    ['/changed', { mzxid: 12, pzxid: 5 }],
    ['/kids', { mzxid: 3, pzxid: 11 }],
  ]);
  const { events, refused } = w.setWatches(
    7,
    10,
    {
      dataWatches: ['/old', '/changed', '/gone'],
      existWatches: ['/old', '/absent'],
      childWatches: ['/kids', '/old', '/gone'],
      persistentWatches: ['/p'],
      persistentRecursiveWatches: ['/r'],
    },
    (path) => tree.get(path),
  );
  assert.equal(refused, 0);
  assert.deepEqual(events, [
    ev(7, EventType.nodeDataChanged, '/changed'),
    ev(7, EventType.nodeDeleted, '/gone'),
    ev(7, EventType.nodeCreated, '/old'),
    ev(7, EventType.nodeChildrenChanged, '/kids'),
    ev(7, EventType.nodeDeleted, '/gone'),
  ]);
  assert.equal(w.contains(7, '/old', WatcherType.data), true);
  assert.equal(w.contains(7, '/absent', WatcherType.data), true);
  assert.equal(w.contains(7, '/old', WatcherType.children), true);
  assert.equal(w.contains(7, '/changed', WatcherType.any), false);
  assert.equal(w.contains(7, '/p', WatcherType.children), true);
  assert.equal(w.contains(7, '/r', WatcherType.data), true);
  assert.deepEqual(w.trigger([{ path: '/r/x', type: EventType.nodeCreated }]), [ev(7, EventType.nodeCreated, '/r/x')]);
});

test('a closed connection loses every watch', () => {
  const w = new WatchManager(roomy);
  w.addDataWatch(1, '/a');
  w.addChildWatch(1, '/a');
  w.addPersistentWatch(1, '/', true);
  w.addDataWatch(2, '/a');
  w.removeWatcher(1);
  assert.equal(w.countOf(1), 0);
  assert.equal(w.size, 1);
  assert.deepEqual(w.trigger([{ path: '/a', type: EventType.nodeDeleted }]), [ev(2, EventType.nodeDeleted, '/a')]);
});

test('bounds: per watcher and in total, refused and never exceeded', () => {
  const w = new WatchManager({ watchesPerWatcherMax: 2, watchesTotalMax: 3 });
  assert.equal(w.addDataWatch(1, '/a'), 'ok');
  assert.equal(w.addDataWatch(1, '/a'), 'ok', 'the same watch again takes no room');
  assert.equal(w.addPersistentWatch(1, '/b', false), 'watcher_limit', 'needs two entries, one is left');
  assert.equal(w.addChildWatch(1, '/a'), 'ok');
  assert.equal(w.addDataWatch(1, '/c'), 'watcher_limit');
  assert.equal(w.addDataWatch(2, '/a'), 'ok');
  assert.equal(w.addDataWatch(3, '/a'), 'total_limit');
  const { refused } = w.setWatches(4, 0, { dataWatches: ['/a'], existWatches: [], childWatches: [] }, () => ({
    mzxid: 0,
    pzxid: 0,
  }));
  assert.equal(refused, 1);
  assert.equal(w.size, 3);
});

// Against a plain reference: a list of (table, path, watcher, mode) and ZooKeeper's rules spelled
// out naively; random adds, removes and triggers must produce the same events and counts.
test('property: the manager agrees with a naive reference model', () => {
  const paths = ['/', '/a', '/a/b', '/a/b/c', '/d'];
  const types = [
    EventType.nodeCreated,
    EventType.nodeDeleted,
    EventType.nodeDataChanged,
    EventType.nodeChildrenChanged,
  ];
  const op = fc.oneof(
    fc.record({
      k: fc.constant('add' as const),
      watcher: fc.integer({ min: 1, max: 3 }),
      path: fc.constantFrom(...paths),
      mode: fc.constantFrom('data', 'child', 'persistent', 'recursive'),
    }),
    fc.record({
      k: fc.constant('remove' as const),
      watcher: fc.integer({ min: 1, max: 3 }),
      path: fc.constantFrom(...paths),
      type: fc.constantFrom(1, 2, 3),
    }),
    fc.record({ k: fc.constant('trigger' as const), path: fc.constantFrom(...paths), type: fc.constantFrom(...types) }),
    fc.record({ k: fc.constant('close' as const), watcher: fc.integer({ min: 1, max: 3 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const w = new WatchManager(roomy);
      // reference: entries "table|path|watcher" -> set of modes
      const ref = new Map<string, Set<string>>();
      const key = (t: string, p: string, x: number) => `${t}|${p}|${x}`;
      const addRef = (t: string, p: string, x: number, m: string) => {
        const k = key(t, p, x);
        const s = ref.get(k) ?? new Set<string>();
        s.add(m);
        ref.set(k, s);
      };
      const isAncestor = (a: string, p: string) => a !== p && (a === '/' ? true : p.startsWith(`${a}/`));
      const runRef = (t: string, path: string, type: number, sent: Set<number>, out: WatchEvent[]) => {
        for (const [k, modes] of [...ref]) {
          const [table, p, xs] = k.split('|') as [string, string, string];
          const x = Number(xs);
          if (table !== t) continue;
          let fires = false;
          if (p === path) {
            fires = modes.has('std') || modes.has('persistent') || (modes.has('recursive') && type !== 4);
            if (modes.delete('std') && modes.size === 0) ref.delete(k);
          } else if (isAncestor(p, path)) fires = modes.has('recursive') && type !== 4;
          if (fires && !sent.has(x)) {
            sent.add(x);
            out.push({ watcher: x, type: type as EventType, path });
          }
        }
      };
      for (const o of ops) {
        if (o.k === 'add') {
          if (o.mode === 'data') {
            w.addDataWatch(o.watcher, o.path);
            addRef('d', o.path, o.watcher, 'std');
          }
          if (o.mode === 'child') {
            w.addChildWatch(o.watcher, o.path);
            addRef('c', o.path, o.watcher, 'std');
          }
          if (o.mode === 'persistent') {
            w.addPersistentWatch(o.watcher, o.path, false);
            addRef('d', o.path, o.watcher, 'persistent');
            addRef('c', o.path, o.watcher, 'persistent');
          }
          if (o.mode === 'recursive') {
            w.addPersistentWatch(o.watcher, o.path, true);
            addRef('d', o.path, o.watcher, 'recursive');
          }
        } else if (o.k === 'remove') {
          const tables = o.type === 1 ? ['c'] : o.type === 2 ? ['d'] : ['d', 'c'];
          let removed = false;
          for (const t of tables) removed = ref.delete(key(t, o.path, o.watcher)) || removed;
          assert.equal(w.remove(o.watcher, o.path, o.type), removed);
        } else if (o.k === 'close') {
          w.removeWatcher(o.watcher);
          for (const k of [...ref.keys()]) if (k.endsWith(`|${o.watcher}`)) ref.delete(k);
        } else {
          const expected: WatchEvent[] = [];
          const sent = new Set<number>();
          if (o.type === EventType.nodeChildrenChanged) runRef('c', o.path, o.type, sent, expected);
          else runRef('d', o.path, o.type, sent, expected);
          if (o.type === EventType.nodeDeleted) runRef('c', o.path, o.type, sent, expected);
          const got = w.trigger([{ path: o.path, type: o.type }]);
          const order = (e: WatchEvent) => e.watcher;
          assert.deepEqual(
            [...got].sort((x, y) => order(x) - order(y)),
            expected.sort((x, y) => order(x) - order(y)),
          );
        }
        assert.equal(w.size, ref.size);
      }
    }),
    { numRuns: 300 },
  );
});

test("the paths' code units are bounded per watcher and in total; a removed watch and a closed watcher give them back", () => {
  // An audit, 2026-12-07: the counts alone let a connection hold 100,000 paths of a million characters.
  const w = new WatchManager({ ...roomy, pathCharsPerWatcherMax: 20, pathCharsTotalMax: 30 });
  const p = (c: string) => `/${c.repeat(9)}`; // 10 code units
  assert.equal(w.addDataWatch(1, p('a')), 'ok');
  assert.equal(w.addChildWatch(1, p('b')), 'ok');
  assert.equal(w.addDataWatch(1, '/c'), 'watcher_limit');
  assert.equal(w.addDataWatch(2, p('d')), 'ok');
  assert.equal(w.addDataWatch(2, '/e'), 'total_limit');
  // A persistent watch takes an entry in both tables: 20 code units for a path of 10.
  assert.equal(w.remove(1, p('b'), WatcherType.children), true);
  assert.equal(w.addPersistentWatch(1, p('f'), false), 'watcher_limit', 'a: 10, f twice: 30');
  assert.equal(w.addPersistentWatch(3, p('f'), false), 'total_limit', 'a, d: 20, f twice: 40');
  w.removeWatcher(2);
  assert.equal(w.addPersistentWatch(3, p('f'), false), 'ok');
  w.removeWatcher(1);
  assert.equal(w.addDataWatch(2, p('g')), 'ok');
  assert.equal(w.addDataWatch(4, '/h'), 'total_limit');
  assert.equal(w.size, 3);
});
