// Goal: the znode namespace (codec + tree) behaves like a reference tree written here in the most
// obvious form of ZooKeeper's rules — a plain Map of path → node, copied wholesale for multi —
// over random op sequences: identical per-op results (error, created path, Stat), identical Stats
// and children afterwards; a snapshot loaded elsewhere gives an identical tree that answers the
// rest of the sequence identically; a snapshot taken in slices while writes go on between them is
// the tree as it was when the snapshot began, byte for byte.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ApplyContext } from '../rsm/namespace.ts';
import { concatBytes } from '../lib/bytes.ts';
import { limits } from '../lib/limits.ts';
import { aclListBytes, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE } from './acl.ts';
import { CreateMode, Perm, ZkErr } from './codes.ts';
import { type CoordCommand, decodeResult, encodeCommand } from './command.ts';
import { CoordNamespace } from './namespace.ts';
import { SORTED_RUN_LENGTH } from './sliced-sort.ts';
import { znodeBytes } from './store.ts';
import { type OpResult, type Stat, sessionBytes, type WriteOp, type ZnodeTree } from './tree.ts';

interface MNode {
  data: string;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  owner: bigint;
}
interface Model {
  nodes: Map<string, MNode>;
  sessions: Set<number>;
}

const parentOf = (p: string) => (p.lastIndexOf('/') === 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const kids = (m: Map<string, MNode>, p: string) =>
  [...m.keys()]
    .filter((k) => k !== '/' && parentOf(k) === p)
    .map((k) => k.slice(k.lastIndexOf('/') + 1))
    .sort();
const stat = (m: Map<string, MNode>, p: string): Stat => {
  const n = m.get(p)!;
  return {
    czxid: n.czxid,
    mzxid: n.mzxid,
    ctime: n.ctime,
    mtime: n.mtime,
    version: n.version,
    cversion: n.cversion * 2 - kids(m, p).length,
    aversion: n.aversion,
    ephemeralOwner: n.owner > 0n ? n.owner : 0n,
    dataLength: n.data.length,
    numChildren: kids(m, p).length,
    pzxid: n.pzxid,
  };
};

function freshModel(): Model {
  const z = (): MNode => ({
    data: '',
    czxid: 0,
    mzxid: 0,
    pzxid: 0,
    ctime: 0,
    mtime: 0,
    version: 0,
    cversion: 0,
    aversion: 0,
    owner: 0n,
  });
  const nodes = new Map<string, MNode>([
    ['/', z()],
    ['/zookeeper', z()],
    ['/zookeeper/quota', z()],
    ['/zookeeper/config', { ...z(), aversion: -1 }],
  ]);
  return { nodes, sessions: new Set() };
}

/** ZooKeeper's rules, plainly, on a map (open ACLs only). */
function modelOp(
  m: Map<string, MNode>,
  sessions: Set<number>,
  op: WriteOp,
  zxid: number,
  time: number,
  sid: number,
): OpResult {
  if (sid !== 0 && !sessions.has(sid)) return { err: ZkErr.sessionExpired };
  switch (op.op) {
    case 'create': {
      const ephemeral = op.mode === CreateMode.ephemeral || op.mode === CreateMode.ephemeralSequential;
      if (ephemeral && !sessions.has(sid)) return { err: ZkErr.sessionExpired };
      const parent = m.get(parentOf(op.path));
      if (!parent) return { err: ZkErr.noNode };
      const seq = op.mode === CreateMode.persistentSequential || op.mode === CreateMode.ephemeralSequential;
      const path = seq ? op.path + String(parent.cversion).padStart(10, '0') : op.path;
      if (m.has(path)) return { err: ZkErr.nodeExists };
      if (parent.owner > 0n) return { err: ZkErr.noChildrenForEphemerals };
      parent.cversion++;
      parent.pzxid = zxid;
      const owner = ephemeral ? BigInt(sid) : op.mode === CreateMode.container ? -(2n ** 63n) : 0n;
      const data = String.fromCharCode(...op.data);
      m.set(path, {
        data,
        czxid: zxid,
        mzxid: zxid,
        pzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        owner,
      });
      return { err: ZkErr.ok, path, stat: stat(m, path) };
    }
    case 'delete': {
      if (['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config'].includes(op.path))
        return { err: ZkErr.badArguments };
      const parent = m.get(parentOf(op.path));
      if (!parent) return { err: ZkErr.noNode };
      const n = m.get(op.path);
      if (!n) return { err: ZkErr.noNode };
      if (op.version !== -1 && op.version !== n.version) return { err: ZkErr.badVersion };
      if (kids(m, op.path).length > 0) return { err: ZkErr.notEmpty };
      m.delete(op.path);
      parent.pzxid = Math.max(parent.pzxid, zxid);
      return { err: ZkErr.ok };
    }
    case 'setData': {
      const n = m.get(op.path);
      if (!n) return { err: ZkErr.noNode };
      if (op.version !== -1 && op.version !== n.version) return { err: ZkErr.badVersion };
      Object.assign(n, { data: String.fromCharCode(...op.data), version: n.version + 1, mtime: time, mzxid: zxid });
      return { err: ZkErr.ok, stat: stat(m, op.path) };
    }
    case 'check': {
      const n = m.get(op.path);
      if (!n) return { err: ZkErr.noNode };
      if (op.version !== -1 && op.version !== n.version) return { err: ZkErr.badVersion };
      return { err: ZkErr.ok };
    }
    case 'setACL': {
      const n = m.get(op.path);
      if (!n) return { err: ZkErr.noNode };
      if (op.version !== -1 && op.version !== n.aversion) return { err: ZkErr.badVersion };
      n.aversion++;
      return { err: ZkErr.ok, stat: stat(m, op.path) };
    }
    case 'fail':
      return { err: op.err };
  }
}

const cloneMap = (m: Map<string, MNode>) => new Map([...m].map(([k, v]) => [k, { ...v }]));

type Step =
  | { kind: 'session'; timeoutMs: number }
  | { kind: 'close'; pick: number }
  | { kind: 'write'; who: number; op: WriteOp }
  | { kind: 'multi'; who: number; ops: WriteOp[] };

interface Outcome {
  err: number;
  sessionId?: number;
  op?: OpResult;
  results?: readonly OpResult[];
}

function modelStep(model: Model, step: Step, zxid: number, sessionIds: number[]): Outcome {
  const time = zxid * 10;
  switch (step.kind) {
    case 'session':
      model.sessions.add(zxid);
      return { err: ZkErr.ok, sessionId: zxid };
    case 'close': {
      const id = sessionIds[step.pick % Math.max(1, sessionIds.length)] ?? 999_999;
      if (!model.sessions.has(id)) return { err: ZkErr.sessionExpired };
      for (const [p, n] of [...model.nodes].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        if (n.owner === BigInt(id)) {
          model.nodes.delete(p);
          const parent = model.nodes.get(parentOf(p))!;
          parent.pzxid = Math.max(parent.pzxid, zxid);
        }
      }
      model.sessions.delete(id);
      return { err: ZkErr.ok };
    }
    case 'write': {
      const sid = step.who === 0 ? 0 : (sessionIds[step.who % Math.max(1, sessionIds.length)] ?? 0);
      const m = cloneMap(model.nodes);
      const r = modelOp(m, model.sessions, step.op, zxid, time, sid);
      if (r.err === ZkErr.ok) model.nodes = m;
      return { err: r.err, op: r };
    }
    case 'multi': {
      const sid = step.who === 0 ? 0 : (sessionIds[step.who % Math.max(1, sessionIds.length)] ?? 0);
      const m = cloneMap(model.nodes);
      const results: OpResult[] = [];
      for (let i = 0; i < step.ops.length; i++) {
        const r = modelOp(m, model.sessions, step.ops[i]!, zxid, time, sid);
        if (r.err !== ZkErr.ok) {
          return {
            err: r.err,
            results: step.ops.map((_, j) => ({ err: j < i ? ZkErr.ok : j === i ? r.err : ZkErr.runtimeInconsistency })),
          };
        }
        results.push(r);
      }
      model.nodes = m;
      return { err: ZkErr.ok, results };
    }
  }
}

const TWO_DIGESTS = [
  { scheme: 'digest', id: 'a:x' },
  { scheme: 'digest', id: 'b:y' },
];

function toCommand(step: Step, zxid: number, sessionIds: number[]): CoordCommand {
  const header = (who: number) => ({
    timeMs: zxid * 10,
    sessionId: who === 0 ? 0 : (sessionIds[who % Math.max(1, sessionIds.length)] ?? 0),
    // Caller 3 presents two digests: an `auth` ACL entry of its stands for both.
    identities: who === 3 ? TWO_DIGESTS : [],
  });
  switch (step.kind) {
    case 'session':
      return { type: 'createSession', timeoutMs: step.timeoutMs, passwd: new Uint8Array(16).fill(7) };
    case 'close':
      return { type: 'closeSession', sessionId: sessionIds[step.pick % Math.max(1, sessionIds.length)] ?? 999_999 };
    case 'write':
      return { type: 'write', header: header(step.who), op: step.op };
    case 'multi':
      return { type: 'multi', header: header(step.who), ops: step.ops };
  }
}

function nsStep(ns: CoordNamespace, step: Step, zxid: number, sessionIds: number[]): Outcome {
  const ctx: ApplyContext = { index: zxid, logTimeMs: 0, term: 1, sessionId: 0 };
  const r = decodeResult(ns.apply(ctx, encodeCommand(toCommand(step, zxid, sessionIds))));
  return {
    err: r.err,
    ...(r.sessionId !== undefined ? { sessionId: r.sessionId } : {}),
    ...(r.op ? { op: r.op } : {}),
    ...(r.results ? { results: r.results } : {}),
  };
}

/**
 * The tree's bytes counted from scratch (its nodes, the distinct ACL lists they hold but the open
 * one, its sessions) must equal what it keeps up to date at every write, freeze and rollback; and
 * its snapshot section must fit in them (plus the section's header and the open list), which is
 * what bounding them is for (limits.coordTreeBytesMax).
 */
function checkBytes(ns: CoordNamespace, label: string, section = true): void {
  const t: ZnodeTree = ns.tree;
  let n = 0;
  const refs = new Set<number>();
  for (const { path, record } of t.nodesInOrder()) {
    n += znodeBytes(path, record.data.length);
    if (record.acl !== 0) refs.add(record.acl);
  }
  for (const ref of refs) n += aclListBytes(t.acls.get(ref));
  for (const session of t.sessions.values()) n += sessionBytes(session.passwd);
  assert.equal(t.bytes, n, `${label}: the tree's bytes`);
  if (!section) return;
  const sectionBytes = ns.snapshot().length;
  assert.ok(sectionBytes <= t.bytes + 64, `${label}: a section of ${sectionBytes} bytes, the tree counted ${t.bytes}`);
}

const PATHS = ['/a', '/b', '/a/x', '/a/y', '/b/x', '/a/x/z', '/zookeeper/q', '/zookeeper'];
const pathArb = fc.constantFrom(...PATHS);
const version = fc.constantFrom(-1, 0, 1, 2);
const data = fc.uint8Array({ maxLength: 4 });
const mode = fc.constantFrom(
  CreateMode.persistent,
  CreateMode.ephemeral,
  CreateMode.persistentSequential,
  CreateMode.ephemeralSequential,
  CreateMode.container,
);
const opArb: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({
    op: fc.constant('create' as const),
    path: pathArb,
    data,
    acl: fc.constant(OPEN_ACL_UNSAFE),
    mode,
    ttlMs: fc.constant(-1),
  }),
  fc.record({ op: fc.constant('delete' as const), path: pathArb, version }),
  fc.record({ op: fc.constant('setData' as const), path: pathArb, data, version }),
  fc.record({ op: fc.constant('setACL' as const), path: pathArb, acl: fc.constant(OPEN_ACL_UNSAFE), version }),
);
const multiOpArb: fc.Arbitrary<WriteOp> = fc.oneof(
  { weight: 8, arbitrary: opArb.filter((o) => o.op !== 'setACL') },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('check' as const), path: pathArb, version }) },
  { weight: 1, arbitrary: fc.constant({ op: 'fail' as const, err: ZkErr.unimplemented }) },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('session' as const), timeoutMs: fc.integer({ min: 1, max: 60_000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat(5) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), who: fc.nat(3), op: opArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('multi' as const),
      who: fc.nat(3),
      ops: fc.array(multiOpArb, { maxLength: 4 }),
    }),
  },
);

function sameState(ns: CoordNamespace, model: Model, label: string): void {
  const t = ns.tree;
  assert.deepEqual([...t.sessions.keys()].sort(), [...model.sessions].sort(), `${label}: sessions`);
  assert.equal(t.size, model.nodes.size, `${label}: node count`);
  for (const p of model.nodes.keys()) {
    assert.deepEqual(t.exists(p).stat, stat(model.nodes, p), `${label}: Stat of ${p}`);
    assert.deepEqual(t.getChildren(p, []).value, kids(model.nodes, p), `${label}: children of ${p}`);
    assert.deepEqual(
      t.getData(p, []).value,
      Uint8Array.from(model.nodes.get(p)!.data, (c) => c.charCodeAt(0)),
      `${label}: data of ${p}`,
    );
  }
}

test('random op sequences: the namespace and the reference tree give identical results, Stats and children', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 60 }), (steps) => {
      const ns = new CoordNamespace();
      const model = freshModel();
      const sessionIds: number[] = [];
      let zxid = 0;
      for (const step of steps) {
        zxid += 1 + (zxid % 3);
        const want = modelStep(model, step, zxid, sessionIds);
        const got = nsStep(ns, step, zxid, sessionIds);
        assert.deepEqual(got, want, `step ${JSON.stringify(step)} at ${zxid}`);
        if (step.kind === 'session') sessionIds.push(zxid);
      }
      sameState(ns, model, 'end');
      checkBytes(ns, 'end');
    }),
    { numRuns: 300 },
  );
});

test('snapshot → load elsewhere: identical tree, and identical results for the rest of the sequence', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 40 }), fc.array(stepArb, { maxLength: 30 }), (first, rest) => {
      const ns = new CoordNamespace();
      const model = freshModel();
      const sessionIds: number[] = [];
      let zxid = 0;
      const run = (steps: Step[], target: CoordNamespace) => {
        for (const step of steps) {
          zxid += 1;
          const want = modelStep(model, step, zxid, sessionIds);
          assert.deepEqual(nsStep(target, step, zxid, sessionIds), want);
          if (step.kind === 'session') sessionIds.push(zxid);
        }
      };
      run(first, ns);
      const image = ns.snapshot();
      const copy = new CoordNamespace();
      copy.loadSnapshot(image)();
      sameState(copy, model, 'loaded');
      assert.equal(copy.tree.bytes, ns.tree.bytes, 'the loaded tree counts the same bytes');
      checkBytes(copy, 'loaded');
      assert.deepEqual(copy.snapshot(), image, 'the loaded tree snapshots to the same bytes');
      run(rest, copy);
      sameState(copy, model, 'after the rest');
    }),
    { numRuns: 150 },
  );
});

// ACLs that come and go, so ACL numbers are freed and could be reused during a snapshot; and
// lists at the bound with an `auth` entry, which caller 3's two digests expand past it (stored
// once, the loader refused the snapshot: an audit, 2026-12-07; now InvalidACL).
const aclArb = fc.oneof(
  fc.constantFrom(OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, [
    { perms: Perm.all, scheme: 'world', id: 'anyone' },
    { perms: Perm.read, scheme: 'ip', id: '10.0.0.1' },
  ]),
  fc
    .integer({ min: limits.coordAclEntriesMax - 3, max: limits.coordAclEntriesMax - 1 })
    .map((n) => [
      ...Array.from({ length: n }, (_, i) => ({ perms: Perm.all, scheme: 'digest', id: `u${i}:h` })),
      { perms: Perm.all, scheme: 'auth', id: '' },
    ]),
);
const churnStepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: stepArb },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      who: fc.nat(3),
      op: fc.record({ op: fc.constant('setACL' as const), path: pathArb, acl: aclArb, version: fc.constant(-1) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      who: fc.nat(3),
      op: fc.record({
        op: fc.constant('create' as const),
        path: pathArb,
        data,
        acl: aclArb,
        mode,
        ttlMs: fc.constant(-1),
      }),
    }),
  },
);

test('a snapshot in slices while writes go on between slices: the tree when it began, byte for byte', () => {
  let changedMeanwhile = 0;
  fc.assert(
    fc.property(
      fc.array(churnStepArb, { maxLength: 40 }),
      fc.array(fc.array(churnStepArb, { maxLength: 6 }), { maxLength: 12 }),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 1, max: 3 }),
      (first, between, perSlice, childrenPerStep) => {
        const ns = new CoordNamespace();
        const sessionIds: number[] = [];
        let zxid = 0;
        const run = (steps: Step[]) => {
          for (const step of steps) {
            zxid += 1;
            nsStep(ns, step, zxid, sessionIds);
            if (step.kind === 'session') sessionIds.push(zxid);
          }
        };
        run(first);
        const atStart = ns.snapshot();
        // A listing of 1-3 children a step: a parent's children are listed across slices, with
        // children created and deleted between the steps.
        const step = ns.snapshotInSlices(perSlice, childrenPerStep);
        let parts: readonly Uint8Array[] | undefined;
        let batch = 0;
        while ((parts = step()) === undefined) {
          run(between[batch++] ?? []);
          // Frozen: ACL lists no node holds wait for the thaw here, and on no other replica.
          checkBytes(ns, `frozen, batch ${batch}`, false);
        }
        assert.deepEqual(concatBytes(parts), atStart, 'the sliced image is the tree at its start');
        assert.equal(ns.tree.isFrozen, false, 'the view ended with the last slice');
        // The check can fail: a walk of the live tree would have seen the writes made meanwhile.
        const atEnd = ns.snapshot();
        if (!Buffer.from(atEnd).equals(Buffer.from(atStart))) changedMeanwhile++;
        // The tree after the view is whole: its image loads into a tree that images the same.
        const copy = new CoordNamespace();
        copy.loadSnapshot(atEnd)();
        assert.deepEqual(copy.snapshot(), atEnd);
        run(between.slice(batch).flat());
        assert.equal(ns.tree.frozenKept, 0, 'nothing is kept once thawed');
        checkBytes(ns, 'thawed');
      },
    ),
    { numRuns: 500 },
  );
  assert.ok(changedMeanwhile > 100, `the tree changed during the walk in ${changedMeanwhile} of 500 runs`);
});

test('a parent with more children than one sort run: its children sorted in steps across slices, the image byte for byte the one-go image', () => {
  const ns = new CoordNamespace();
  let zxid = 0;
  const create = (path: string) => {
    zxid += 1;
    const op: WriteOp = {
      op: 'create',
      path,
      data: new Uint8Array(0),
      acl: OPEN_ACL_UNSAFE,
      mode: CreateMode.persistent,
      ttlMs: -1,
    };
    assert.equal(nsStep(ns, { kind: 'write', who: 0, op }, zxid, []).err, ZkErr.ok);
  };
  create('/wide');
  // Names created out of order, so the walk's sort has work to do.
  const n = SORTED_RUN_LENGTH * 2 + 123;
  for (let i = 0; i < n; i++) create(`/wide/c${(i * 7919) % n}`);
  create('/wide/c0/under');
  const atStart = ns.snapshot();
  const step = ns.snapshotInSlices(1_000);
  let parts: readonly Uint8Array[] | undefined;
  let slices = 0;
  while ((parts = step()) === undefined) {
    slices++;
    create(`/late${slices}`); // writes go on between slices
  }
  assert.deepEqual(concatBytes(parts), atStart, 'the sliced image is the tree at its start');
  // The sort's steps are slices of their own: 3 runs, then 2 merge passes of ~65,536 moves each.
  assert.ok(slices > n / 1_000 + 3, `${slices} slices`);
});
