// Goal: the keyspace and the string/key commands behave like a plain in-memory model of Redis
// under random commands, clean restarts and power losses on the simulator's disk (fast-check; the
// disk as in src/storage/lsm/engine-crash.test.ts: unsynced writes lost or torn, sectors in any
// order). Each command's reply must equal the model's; after a restart the state must equal the
// model's; after a crash it must equal the model's state after SOME prefix of the commands since
// the last check, at least as long as the last durable one ('always': every command that
// returned; 'periodic': up to the last sync()), and never a partial command (the prefixes are
// whole-command states). A set-like collection written through the element API (head count +
// one element per member) stands in for the collection families, so whole-key delete, overwrite
// by another type, RENAME of a collection, expiry of a collection whose head compaction drops
// (tombstoneGraceMs 5), re-creation over stale elements and active expiry (reclaimExpired) are all
// exercised. SCAN's full
// iteration, DBSIZE and KEYS are checked against the model's live keys after every check point.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRng } from '../lib/rng.ts';
import { defaultDiskFaults, SimDiskStore } from '../sim/disk.ts';
import type { LsmEngine, SyncPolicy } from '../storage/lsm/engine.ts';
import { armedDisk, ManualClock, openEngine, PowerLoss } from '../storage/lsm/test-support.ts';
import { reply, type RespValue, encodeReply } from '../wire/resp/index.ts';
import type { CommandContext } from './command.ts';
import { Keyspace } from './keyspace.ts';
import { runCommand } from './table.ts';

type Value =
  | { readonly type: 'string'; readonly value: string; readonly exp: number }
  | { readonly type: 'set'; readonly members: ReadonlySet<string>; readonly exp: number };
type State = Map<string, Value>;

type Cmd =
  | {
      readonly op: 'set';
      readonly k: string;
      readonly v: string;
      readonly px?: number;
      readonly mode?: 'NX' | 'XX' | 'KEEPTTL';
    }
  | { readonly op: 'del' | 'incr' | 'persist' | 'get' | 'pttl'; readonly k: string }
  | { readonly op: 'append'; readonly k: string; readonly v: string }
  | { readonly op: 'pexpire'; readonly k: string; readonly ms: number }
  | { readonly op: 'rename'; readonly k: string; readonly k2: string }
  | { readonly op: 'mset'; readonly pairs: ReadonlyArray<readonly [string, string]> }
  | { readonly op: 'sadd' | 'srem'; readonly k: string; readonly m: string }
  | { readonly op: 'flushall' | 'sync' | 'restart' | 'check' }
  | { readonly op: 'tick'; readonly ms: number }
  | { readonly op: 'crash'; readonly afterOps: number }
  | { readonly op: 'reclaim'; readonly entriesMax: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'k\u0000z', 'longer-key-name');
const valArb = fc.oneof(fc.constantFrom('1', '-7', '99', 'x', ''), fc.string({ maxLength: 40 }));
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), k: keyArb, v: valArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      k: keyArb,
      v: valArb,
      px: fc.integer({ min: 1, max: 400 }),
      mode: fc.constantFrom('NX' as const, 'XX' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      k: keyArb,
      v: valArb,
      mode: fc.constant('KEEPTTL' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constantFrom('del' as const, 'incr' as const, 'persist' as const, 'get' as const, 'pttl' as const),
      k: keyArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('append' as const), k: keyArb, v: valArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('pexpire' as const), k: keyArb, ms: fc.integer({ min: -50, max: 400 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rename' as const), k: keyArb, k2: keyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('mset' as const),
      pairs: fc.array(fc.tuple(keyArb, valArb), { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constantFrom('sadd' as const, 'srem' as const),
      k: keyArb,
      m: fc.constantFrom('m1', 'm2', 'm3', 'm\u0000', 'm4'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'flushall' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('reclaim' as const), entriesMax: fc.integer({ min: 1, max: 30 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'restart' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'check' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('crash' as const), afterOps: fc.integer({ min: 0, max: 20 }) }) },
);

const utf8 = new TextEncoder();
const enc = (s: string): Uint8Array => utf8.encode(s);
const show = (v: RespValue): string => Buffer.from(encodeReply(v, 2)).toString('latin1');
const WRONGTYPE = reply.error('WRONGTYPE Operation against a key holding the wrong kind of value');

// --- the model ---------------------------------------------------------------------------------------

function live(s: State, k: string, now: number): Value | undefined {
  const v = s.get(k);
  if (v === undefined) return undefined;
  if (v.exp !== 0 && v.exp <= now) {
    s.delete(k);
    return undefined;
  }
  return v;
}

/** The model's reply to `c` at `now`, updating `s`. */
function modelRun(s: State, c: Cmd, now: number): RespValue | undefined {
  switch (c.op) {
    case 'set': {
      const old = live(s, c.k, now);
      if ((c.mode === 'NX' && old) || (c.mode === 'XX' && !old)) return reply.null;
      const exp = c.px !== undefined ? now + c.px : c.mode === 'KEEPTTL' && old ? old.exp : 0;
      s.set(c.k, { type: 'string', value: c.v, exp });
      return reply.ok;
    }
    case 'mset':
      for (const [k, v] of c.pairs) s.set(k, { type: 'string', value: v, exp: 0 });
      return reply.ok;
    case 'del': {
      const old = live(s, c.k, now);
      s.delete(c.k);
      return reply.integer(old ? 1 : 0);
    }
    case 'get': {
      const old = live(s, c.k, now);
      if (!old) return reply.null;
      return old.type === 'string' ? reply.bulk(old.value) : WRONGTYPE;
    }
    case 'append': {
      const old = live(s, c.k, now);
      if (old?.type === 'set') return WRONGTYPE;
      const value = (old?.value ?? '') + c.v;
      s.set(c.k, { type: 'string', value, exp: old?.exp ?? 0 });
      return reply.integer(utf8.encode(value).length);
    }
    case 'incr': {
      const old = live(s, c.k, now);
      if (old?.type === 'set') return WRONGTYPE;
      const text = old?.value ?? '0';
      if (!/^(0|-?[1-9][0-9]{0,17})$/.test(text)) return reply.error('ERR value is not an integer or out of range');
      const v = BigInt(text) + 1n;
      s.set(c.k, { type: 'string', value: String(v), exp: old?.exp ?? 0 });
      return reply.integer(v);
    }
    case 'pexpire': {
      const old = live(s, c.k, now);
      if (!old) return reply.integer(0);
      if (now + c.ms <= now) s.delete(c.k);
      else s.set(c.k, { ...old, exp: now + c.ms });
      return reply.integer(1);
    }
    case 'persist': {
      const old = live(s, c.k, now);
      if (!old || old.exp === 0) return reply.integer(0);
      s.set(c.k, { ...old, exp: 0 });
      return reply.integer(1);
    }
    case 'pttl': {
      const old = live(s, c.k, now);
      if (!old) return reply.integer(-2);
      return reply.integer(old.exp === 0 ? -1 : old.exp - now);
    }
    case 'rename': {
      const old = live(s, c.k, now);
      if (!old) return reply.error('ERR no such key');
      if (c.k !== c.k2) {
        s.delete(c.k);
        s.set(c.k2, old);
      }
      return reply.ok;
    }
    case 'sadd':
    case 'srem': {
      const old = live(s, c.k, now);
      if (old?.type === 'string') return WRONGTYPE;
      const members = new Set(old?.members ?? []);
      const had = members.has(c.m);
      if (c.op === 'sadd') members.add(c.m);
      else members.delete(c.m);
      if (members.size === 0) s.delete(c.k);
      else s.set(c.k, { type: 'set', members, exp: old?.exp ?? 0 });
      return reply.integer(c.op === 'sadd' ? (had ? 0 : 1) : had ? 1 : 0);
    }
    case 'flushall':
      s.clear();
      return reply.ok;
    default:
      return undefined;
  }
}

// --- the system: commands through the table, sets through the element API ---------------------------

/** A minimal SADD/SREM on the element API, as a collection family writes: head count + one element per member. */
function setCommand(ks: Keyspace, c: { op: 'sadd' | 'srem'; k: string; m: string }, now: number): RespValue {
  const key = enc(c.k);
  const member = enc(c.m);
  const head = ks.getHead(key, now);
  if (head !== undefined && head.type !== 'set') return WRONGTYPE;
  const count = head === undefined ? 0 : Number(new TextDecoder().decode(head.value));
  const had = head !== undefined && ks.getElement(key, member) !== undefined;
  if (c.op === 'sadd') {
    if (had) return reply.integer(0);
    // Element first, then the head: the keyspace keeps this command's own elements at creation.
    ks.putElement(key, member, new Uint8Array(0));
    ks.putHead(key, { type: 'set', value: enc(String(count + 1)), expiresAtMs: head?.expiresAtMs ?? 0 }, now);
    return reply.integer(1);
  }
  if (!had) return reply.integer(0);
  if (count === 1) ks.deleteKey(key, now);
  else {
    ks.deleteElement(key, member, now);
    ks.putHead(key, { type: 'set', value: enc(String(count - 1)), expiresAtMs: head!.expiresAtMs }, now);
  }
  return reply.integer(1);
}

function argvOf(c: Cmd): string[] | undefined {
  switch (c.op) {
    case 'set':
      return ['SET', c.k, c.v, ...(c.px !== undefined ? ['PX', String(c.px)] : []), ...(c.mode ? [c.mode] : [])];
    case 'mset':
      return ['MSET', ...c.pairs.flat()];
    case 'del':
    case 'get':
    case 'incr':
    case 'persist':
    case 'pttl':
      return [c.op.toUpperCase(), c.k];
    case 'append':
      return ['APPEND', c.k, c.v];
    case 'pexpire':
      return ['PEXPIRE', c.k, String(c.ms)];
    case 'rename':
      return ['RENAME', c.k, c.k2];
    case 'flushall':
      return ['FLUSHALL'];
    default:
      return undefined;
  }
}

/** The keyspace's whole live state at `now`: every key via KEYS, its head, and a set's members. */
function dump(ks: Keyspace, now: number): State {
  const out: State = new Map();
  const dec = new TextDecoder();
  for (const key of ks.keys(now, () => true, 1000)!) {
    const head = ks.getHead(key, now)!;
    if (head.type === 'string')
      out.set(dec.decode(key), { type: 'string', value: dec.decode(head.value), exp: head.expiresAtMs });
    else {
      const members = new Set<string>();
      let from: Uint8Array | null = new Uint8Array(0);
      while (from !== null) {
        const page = ks.scanElements(key, { from, limit: 2 });
        for (const e of page.elements) members.add(dec.decode(e.sub));
        from = page.next;
      }
      assert.equal(String(members.size), dec.decode(head.value), `set ${dec.decode(key)}: head count = members`);
      out.set(dec.decode(key), { type: 'set', members, exp: head.expiresAtMs });
    }
  }
  return out;
}

function liveView(s: State, now: number): string {
  const rows: string[] = [];
  for (const [k, v] of s) {
    if (v.exp !== 0 && v.exp <= now) continue;
    rows.push(JSON.stringify([k, v.type, v.type === 'string' ? v.value : [...v.members].sort(), v.exp]));
  }
  return rows.sort().join('\n');
}

function cloneState(s: State): State {
  return new Map([...s].map(([k, v]) => [k, v.type === 'set' ? { ...v, members: new Set(v.members) } : { ...v }]));
}

interface RunResult {
  readonly crashes: number;
  readonly commands: number;
}

/** Runs `cmds` against the keyspace and the model; throws on a divergence. */
function runModel(cmds: readonly Cmd[], policy: SyncPolicy, seed: string): RunResult {
  const rng = new SeededRng(seed);
  const store = new SimDiskStore(rng.fork('disk'), { ...defaultDiskFaults, tornSectorsAnyOrder: true });
  const clock = new ManualClock();
  const countdown = { ops: Number.POSITIVE_INFINITY, processOnly: false };
  const options = {
    sync: policy,
    tombstoneGraceMs: 5,
    keyBytesMax: 256,
    valueBytesMax: 4096,
    memtableBytesMax: 1024,
    commitLogPendingBytesMax: 64 * 1024,
    commitLogSegmentBytesMax: 32 * 1024,
  };
  let model: State = new Map();
  /** Model states after each command since the last check point (index 0 = at the check point). */
  let states: State[] = [cloneState(model)];
  let durable = 0;
  let seqs: number[] = [0];
  let crashes = 0;
  let commands = 0;

  const open = (): { engine: LsmEngine; ks: Keyspace } => {
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 50, 'recovery keeps failing');
      try {
        const engine = openEngine(armedDisk(store, countdown), clock, options);
        return { engine, ks: new Keyspace(engine, { storageKeyBytesMax: 256 }) };
      } catch (error) {
        if (!(error instanceof PowerLoss)) throw error;
        crashes++;
        countdown.ops = Number.POSITIVE_INFINITY;
      }
    }
  };

  /** After a crash: the recovered state is some whole-command prefix covering the durable ones. */
  const verifyRecovered = (ks: Keyspace, label: string): void => {
    const got = liveView(dump(ks, clock.nowMs), clock.nowMs);
    const candidates: number[] = [];
    for (let i = durable; i < states.length; i++) if (liveView(states[i]!, clock.nowMs) === got) candidates.push(i);
    assert.ok(
      candidates.length > 0,
      `${label}: recovered state is no prefix covering the ${durable} durable commands of ${states.length - 1}:\n${got}\n` +
        `model after all:\n${liveView(states[states.length - 1]!, clock.nowMs)}`,
    );
    // Re-base on what survived: later commands continue from the recovered state.
    model = dump(ks, clock.nowMs);
    states = [cloneState(model)];
    seqs = [ks.durableSeq];
    durable = 0;
  };

  const checkAll = (ks: Keyspace, label: string): void => {
    const now = clock.nowMs;
    assert.equal(liveView(dump(ks, now), now), liveView(model, now), `${label}: state`);
    const ctx: CommandContext = { keyspace: ks, nowMs: now, rng };
    const expectKeys = liveView(model, now)
      .split('\n')
      .filter((r) => r !== '')
      .map((r) => JSON.parse(r)[0] as string)
      .sort();
    assert.equal(show(runCommand(ctx, [enc('DBSIZE')])), `:${expectKeys.length}\r\n`, `${label}: DBSIZE`);
    const seen = new Set<string>();
    let cursor = '0';
    for (let pages = 0; pages === 0 || cursor !== '0'; pages++) {
      assert.ok(pages < 100, 'SCAN ends');
      const r = runCommand(ctx, [enc('SCAN'), enc(cursor), enc('COUNT'), enc('2')]);
      assert.ok(r.type === 'array');
      const [c, keys] = r.items as [RespValue, RespValue];
      assert.ok(c.type === 'bulk' && keys.type === 'array');
      cursor = new TextDecoder().decode(c.value);
      for (const k of keys.items) if (k.type === 'bulk') seen.add(new TextDecoder().decode(k.value));
    }
    assert.deepEqual([...seen].sort(), expectKeys, `${label}: SCAN`);
  };

  let { engine, ks } = open();
  let reclaimCursor = 0n;
  for (const [i, c] of cmds.entries()) {
    const label = `#${i} ${JSON.stringify(c)}`;
    try {
      if (c.op === 'tick') {
        clock.nowMs += c.ms;
        continue;
      }
      if (c.op === 'crash') {
        countdown.ops = c.afterOps;
        countdown.processOnly = c.afterOps % 3 === 0;
        continue;
      }
      if (c.op === 'sync') {
        ks.sync();
        durable = seqs.findLastIndex((s) => s <= ks.durableSeq);
        continue;
      }
      if (c.op === 'restart') {
        engine.close();
        ({ engine, ks } = open());
        checkAll(ks, `${label} after restart`);
        states = [cloneState(model)];
        seqs = [ks.durableSeq];
        durable = 0;
        continue;
      }
      if (c.op === 'check') {
        checkAll(ks, label);
        continue;
      }
      const now = clock.nowMs;
      if (c.op === 'reclaim') {
        // Active expiry as the server's timer runs it: removes only what reads cannot see.
        reclaimCursor = ks.reclaimExpired(reclaimCursor, now, c.entriesMax).cursor;
        ks.endCommand();
        states.push(cloneState(model));
        seqs.push(engine.lastAppliedSeq);
        durable = seqs.findLastIndex((s) => s <= ks.durableSeq);
        continue;
      }
      const expected = modelRun(model, c, now)!;
      const argv = argvOf(c);
      let got: RespValue;
      if (argv !== undefined) {
        got = runCommand({ keyspace: ks, nowMs: now, rng }, argv.map(enc));
      } else {
        got = setCommand(ks, c as { op: 'sadd' | 'srem'; k: string; m: string }, now);
        ks.endCommand();
      }
      commands++;
      assert.equal(show(got), show(expected), `${label}: reply`);
      states.push(cloneState(model));
      seqs.push(engine.lastAppliedSeq);
      durable = seqs.findLastIndex((s) => s <= ks.durableSeq);
    } catch (error) {
      if (!(error instanceof PowerLoss)) throw error;
      crashes++;
      // The command in flight may or may not have landed: its model state is the next prefix.
      if (c.op !== 'restart' && c.op !== 'check' && c.op !== 'sync' && c.op !== 'reclaim') {
        const m = cloneState(states[states.length - 1]!);
        modelRun(m, c, clock.nowMs);
        states.push(m);
      }
      countdown.ops = Number.POSITIVE_INFINITY;
      ({ engine, ks } = open());
      verifyRecovered(ks, label);
    }
  }
  countdown.ops = Number.POSITIVE_INFINITY; // a power loss armed but not struck: disarmed for the clean close
  engine.close();
  ({ engine, ks } = open());
  if (states.length > 1 || crashes > 0) {
    // A clean close made everything durable.
    durable = states.length - 1;
    verifyRecovered(ks, 'final reopen');
  }
  checkAll(ks, 'final');
  engine.close();
  return { crashes, commands };
}

for (const policy of ['always', 'periodic'] as const) {
  test(`keyspace vs model: random commands, restarts and power losses (sync ${policy})`, () => {
    let crashes = 0;
    let commands = 0;
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 20, maxLength: 120 }), fc.integer(), (cmds, seed) => {
        const r = runModel(cmds, policy, `redis-model-${policy}-${seed}`);
        crashes += r.crashes;
        commands += r.commands;
      }),
      { numRuns: 80 },
    );
    assert.ok(crashes > 20, `power losses exercised (${crashes})`);
    assert.ok(commands > 1000, `commands run (${commands})`);
  });
}
