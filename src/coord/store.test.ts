// Goal: the znode store's paged columns and sharded path index (store.ts) keep every record across
// page boundaries: page 0 grows by doubling to 65,536 slots, later pages are added whole; slots freed
// and reused on either side of a boundary read back what was written; paths() and size see all.
// A parent's children stay exact, in insertion order, when their set grows into chunks (a huge
// parent never rehashes one big Set).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHILD_CHUNK_MEMBERS_MAX, ChildSlots, type NodeRecord, ZnodeStore } from './store.ts';

const rec = (i: number): NodeRecord => ({
  data: `d${i}`,
  acl: i % 7,
  czxid: i,
  mzxid: i + 1,
  pzxid: i + 2,
  ctimeMs: i * 10,
  mtimeMs: i * 10 + 1,
  version: i % 1000,
  cversion: (i * 3) % 1000,
  aversion: (i * 5) % 1000,
  owner: i % 11,
});

test('records survive page 0 doubling and whole new pages; freed slots are reused across boundaries', () => {
  const st = new ZnodeStore();
  const root = st.insert('/', -1, rec(0));
  const n = 140_000; // page 0 (65,536 slots) full, page 1 full, page 2 begun
  const slots: number[] = [root];
  for (let i = 1; i <= n; i++) slots.push(st.insert(`/n${i}`, root, rec(i)));
  assert.equal(st.size, n + 1);
  for (const i of [1, 1023, 1024, 65_535, 65_536, 65_537, 131_071, 131_072, n]) {
    assert.equal(st.slot(`/n${i}`), slots[i], `slot of /n${i}`);
    assert.deepEqual(st.read(slots[i]!), rec(i), `record of /n${i}`);
    assert.equal(st.pzxid(slots[i]!), i + 2);
  }
  // Free slots on both sides of the 65,536 boundary, then reuse them for new paths.
  for (const i of [65_535, 65_536, 131_072]) st.remove(slots[i]!);
  assert.equal(st.size, n - 2);
  assert.equal(st.slot('/n65536'), undefined);
  const reused = [st.insert('/r1', root, rec(1)), st.insert('/r2', root, rec(2)), st.insert('/r3', root, rec(3))];
  assert.deepEqual(new Set(reused), new Set([slots[65_535], slots[65_536], slots[131_072]]));
  for (const [k, s] of reused.entries()) assert.deepEqual(st.read(s), rec(k + 1));
  assert.deepEqual(st.read(slots[65_537]!), rec(65_537), 'a neighbour is untouched');
  assert.equal([...st.paths()].length, st.size);
  assert.equal(st.childCount(root), n);
});

test('a child set in chunks of CHILD_CHUNK_MEMBERS_MAX stays exact and in insertion order: size, members, deletes of absent slots, emptied chunks', () => {
  const kids = new ChildSlots();
  const model = new Set<number>(); // a Set iterates in insertion order too
  const add = (x: number) => {
    kids.add(x);
    model.add(x);
  };
  const del = (x: number) => {
    kids.delete(x);
    model.delete(x);
  };
  const n = 2 * CHILD_CHUNK_MEMBERS_MAX + 5000;
  for (let i = 0; i < n; i++) add(i * 3);
  assert.equal(kids.chunkCount, 3);
  for (let i = 0; i < CHILD_CHUNK_MEMBERS_MAX; i++) del(i * 3); // the whole first chunk
  assert.equal(kids.chunkCount, 2, 'an emptied chunk goes');
  for (let i = CHILD_CHUNK_MEMBERS_MAX; i < n; i += 7) del(i * 3);
  del(-5); // not a member: nothing changes
  del(3 * (n - 1));
  del(3 * (n - 1)); // twice
  for (let i = 0; i < 100; i++) add(10_000_000 + i);
  assert.equal(kids.size, model.size);
  assert.deepEqual([...kids], [...model], 'the same members in the same (insertion) order');
  // Negative control: the comparison notices a member out of place.
  const got = [...kids];
  [got[0], got[1]] = [got[1]!, got[0]!];
  assert.notDeepEqual(got, [...model]);
});

/** Every path a frozen listing gives, page by page (`between` runs after each page), sorted, repeats dropped. */
function listAll(st: ZnodeStore, path: string, between: (page: number) => void): string[] {
  const node = st.frozenNode(path);
  assert.ok(node !== undefined);
  const all: string[] = [];
  const list = node.children;
  if (list === undefined) return [];
  for (let page = 0; ; page++) {
    const { paths, done } = list(1);
    all.push(...paths);
    if (done) break;
    between(page);
  }
  return [...new Set(all)].sort();
}

test("a frozen view's children listed in pages while children come and go: exactly the children at the freeze", () => {
  const st = new ZnodeStore();
  const root = st.insert('/', -1, rec(0));
  const p = st.insert('/p', root, rec(1));
  for (const name of ['b', 'a', 'c']) st.insert(`/p/${name}`, p, rec(2));
  st.freeze();
  // After the first page (/p/b): every child goes, so /p's child set is dropped; then /p/a comes
  // back (a new set the listing does not walk) and /p/d is created. The view's children stay
  // a, b, c: b listed alive, a and c from the removed ones (a although it is alive again).
  const listed = listAll(st, '/p', (page) => {
    if (page !== 0) return;
    for (const name of ['a', 'b', 'c']) st.remove(st.slot(`/p/${name}`)!);
    st.insert('/p/a', p, rec(3));
    st.insert('/p/d', p, rec(4));
  });
  assert.deepEqual(listed, ['/p/a', '/p/b', '/p/c']);
  st.thaw();
  // Children created after the freeze and met alive in a page are left out.
  const q = st.insert('/q', root, rec(5));
  st.insert('/q/x', q, rec(6));
  st.freeze();
  const withLate = listAll(st, '/q', (page) => {
    if (page === 0) st.insert('/q/y', q, rec(7));
  });
  assert.deepEqual(withLate, ['/q/x']);
  // A leaf has no listing at all.
  assert.equal(st.frozenNode('/q/x')?.children, undefined);
  st.thaw();
  // A step's bound counts children created since the freeze too (it visits them to skip them).
  const r = st.insert('/r', root, rec(8));
  st.insert('/r/a', r, rec(9));
  st.freeze();
  for (const name of ['b', 'c', 'd', 'e', 'f']) st.insert(`/r/${name}`, r, rec(10));
  const step = st.frozenNode('/r')!.children!;
  assert.deepEqual(step(2), { paths: ['/r/a'], done: false }, 'two visited, one listed');
  assert.deepEqual(step(2), { paths: [], done: false });
  st.thaw();
});
