// Redis' own command, run on one key's value held in memory: how a collection command at N > 1
// gets Redis' exact reply and effect without a second implementation. The replicated path
// (src/services/store/replicated.ts) reads the key at the connection's level, materializes the
// merged value here (`Materialized`), runs the command with the same code a node at N = 1 runs
// (table.ts runCommand over a Keyspace), and reads the value back; the difference between before
// and after becomes CRDT operations (src/dynamo/typed.ts). The reply is the one Redis would give
// on the value the coordinator read.
//
// The keyspace here sits on a MemoryEngine: a sorted map with the KeyspaceEngine surface
// (apply, getEntry, scan, sync and the seqs), holding one key's entries for one command, so
// nothing reaches a disk and its bounds are the materialized value's own (the caller bounds that).

import { limits } from '../lib/limits.ts';
import { lowerBound } from '../lib/sorted.ts';
import type { Rng } from '../env/types.ts';
import { type Entry, EntryKind } from '../storage/lsm/entry.ts';
import type { ScanRange, ScanResult, Write } from '../storage/lsm/engine.ts';
import type { RespValue } from '../wire/resp/index.ts';
import { formatDouble } from '../wire/resp/reply.ts';
import { Keyspace, type KeyspaceEngine } from './keyspace.ts';
import { lookupCommand, runCommand } from './table.ts';

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const ascii = (s: string): Uint8Array => bytesOf(s);

/** One key's value as the commands see it. */
export type Materialized =
  /** `expiresAtMs`: the string's absolute deadline (GETEX, SETRANGE at N > 1 run on it); absent: none. */
  | { readonly type: 'string'; readonly value: Uint8Array; readonly expiresAtMs?: number }
  | { readonly type: 'list'; readonly values: readonly Uint8Array[] }
  | { readonly type: 'set'; readonly members: readonly Uint8Array[] }
  | { readonly type: 'zset'; readonly entries: ReadonlyArray<readonly [Uint8Array, number]> }
  | { readonly type: 'hash'; readonly entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]> };

/** An in-memory engine for one command's keyspace (not durable; no expiry of its own). */
export class MemoryEngine implements KeyspaceEngine {
  private readonly entries = new Map<string, Entry>();
  private sorted: string[] | null = null;
  private seq = 0;

  apply(writes: readonly Write[]): number {
    for (const w of writes) {
      const key = latin1(w.key);
      if (!this.entries.has(key)) this.sorted = null;
      const empty = new Uint8Array(0);
      this.entries.set(key, {
        key: w.key.slice(),
        seq: ++this.seq,
        kind: w.kind === 'put' ? EntryKind.put : EntryKind.tombstone,
        timeMs: w.kind === 'put' ? (w.expiresAtMs ?? 0) : w.deletedAtMs,
        meta: w.meta === undefined ? empty : w.meta.slice(),
        value: w.kind === 'put' ? w.value.slice() : empty,
      });
    }
    return this.seq;
  }

  getEntry(key: Uint8Array): Entry | undefined {
    return this.entries.get(latin1(key));
  }

  scan(range: ScanRange): ScanResult {
    if (this.sorted === null) this.sorted = [...this.entries.keys()].sort();
    const sorted = this.sorted;
    const start = latin1(range.start);
    const end = range.end === null ? null : latin1(range.end);
    const limit = range.limit ?? Number.MAX_SAFE_INTEGER;
    const lo = lowerBound(sorted, start);
    const out: Entry[] = [];
    for (let i = lo; i < sorted.length; i++) {
      const k = sorted[i]!;
      if (end !== null && k >= end) break;
      if (out.length >= limit) return { entries: out, next: bytesOf(k) };
      const e = this.entries.get(k)!;
      if (e.kind === EntryKind.put || range.includeDead === true) out.push(e);
    }
    return { entries: out, next: null };
  }

  sync(): number {
    return this.seq;
  }

  truncate(): number {
    this.entries.clear();
    this.sorted = null;
    return this.seq;
  }

  get durableSeq(): number {
    return this.seq;
  }

  get lastAppliedSeq(): number {
    return this.seq;
  }
}

/** What running a command on a materialized value gave: Redis' reply and the value after. */
export interface ScratchOutcome {
  readonly reply: RespValue;
  /** The key's value after the command (null: no key). */
  readonly after: Materialized | null;
}

/**
 * Runs `argv` (a command on the single key argv[1]) on `value` at `nowMs`; throws only for a bug.
 * The caller checks the command is one it offers this way (single key, no blocking).
 */
export function runOnValue(
  value: Materialized | null,
  argv: readonly Uint8Array[],
  nowMs: number,
  rng: Rng,
): ScratchOutcome {
  const out = runOnValues([[argv[1]!, value]], argv, nowMs, rng);
  return { reply: out.reply, after: out.after[0]! };
}

/** runOnValue over several keys (each with its value as read); `after` in the order of `values`. */
export function runOnValues(
  values: ReadonlyArray<readonly [Uint8Array, Materialized | null]>,
  argv: readonly Uint8Array[],
  nowMs: number,
  rng: Rng,
): { readonly reply: RespValue; readonly after: Array<Materialized | null> } {
  const ctx = scratchContext(nowMs, rng);
  for (const [key, value] of values) if (value !== null) load(ctx, key, value);
  const reply = runCommand(ctx, argv);
  // A read-only command (COMMAND INFO's flag) leaves every value as it was: the very values given.
  if (lookupCommand(argv[0]!)?.flags.includes('readonly') === true) return { reply, after: values.map(([, v]) => v) };
  return { reply, after: values.map(([key]) => readBack(ctx, key)) };
}

type Ctx = Parameters<typeof runCommand>[0];

/** A keyspace of one command (or one queue) in memory, with no dataset account. */
function scratchContext(nowMs: number, rng: Rng): Ctx {
  const keyspace = new Keyspace(new MemoryEngine(), {
    batchBytesMax: Number.MAX_SAFE_INTEGER,
    // A string command's result is bounded as a replicated value is (SETRANGE k 9007199254740000 x
    // must answer Redis' "string exceeds maximum allowed size", not allocate or throw).
    stringBytesMax: limits.kvValueBytesMax,
    storageKeyBytesMax: Number.MAX_SAFE_INTEGER,
    countDataset: false,
  });
  return { keyspace, nowMs, rng };
}

function must(ctx: Ctx, argv: Uint8Array[]): RespValue {
  const r = runCommand(ctx, argv);
  if (r.type === 'error') throw new Error(`scratch: loading failed: ${String(r.message)}`);
  return r;
}

function load(ctx: Ctx, key: Uint8Array, v: Materialized): void {
  switch (v.type) {
    case 'string':
      must(
        ctx,
        v.expiresAtMs === undefined
          ? [ascii('set'), key, v.value]
          : [ascii('set'), key, v.value, ascii('pxat'), ascii(String(v.expiresAtMs))],
      );
      return;
    case 'list':
      if (v.values.length > 0) must(ctx, [ascii('rpush'), key, ...v.values]);
      return;
    case 'set':
      if (v.members.length > 0) must(ctx, [ascii('sadd'), key, ...v.members]);
      return;
    case 'zset':
      if (v.entries.length > 0)
        must(ctx, [ascii('zadd'), key, ...v.entries.flatMap(([m, s]) => [ascii(formatDouble(s)), m])]);
      return;
    case 'hash':
      if (v.entries.length > 0) must(ctx, [ascii('hset'), key, ...v.entries.flat()]);
      return;
  }
}

function readBack(ctx: Ctx, key: Uint8Array): Materialized | null {
  const type = ctx.keyspace.typeOf(key, ctx.nowMs);
  if (type === undefined) return null;
  const bulks = (r: RespValue): Uint8Array[] => {
    if (r.type !== 'array' && r.type !== 'set') throw new Error(`scratch: read back ${r.type}`);
    return r.items.map((i) => {
      if (i.type !== 'bulk') throw new Error(`scratch: read back item ${i.type}`);
      return i.value;
    });
  };
  switch (type) {
    case 'string': {
      const r = must(ctx, [ascii('get'), key]);
      if (r.type !== 'bulk') throw new Error('scratch: GET');
      const at = must(ctx, [ascii('pexpiretime'), key]);
      if (at.type !== 'integer') throw new Error('scratch: PEXPIRETIME');
      return at.value < 0n ? { type, value: r.value } : { type, value: r.value, expiresAtMs: Number(at.value) };
    }
    case 'list':
      return { type, values: bulks(must(ctx, [ascii('lrange'), key, ascii('0'), ascii('-1')])) };
    case 'set':
      return { type, members: bulks(must(ctx, [ascii('smembers'), key])) };
    case 'zset': {
      const r = must(ctx, [ascii('zrange'), key, ascii('0'), ascii('-1'), ascii('withscores')]);
      if (r.type !== 'array') throw new Error('scratch: ZRANGE');
      return {
        type,
        entries: r.items.map((pair) => {
          const [m, s] = pair.type === 'array' ? pair.items : [];
          if (m?.type !== 'bulk' || s?.type !== 'double') throw new Error('scratch: ZRANGE pair');
          return [m.value, s.value] as const;
        }),
      };
    }
    case 'hash': {
      const r = must(ctx, [ascii('hgetall'), key]);
      if (r.type !== 'map') throw new Error(`scratch: HGETALL ${r.type}`);
      return {
        type,
        entries: r.entries.map(([f, x]) => {
          if (f.type !== 'bulk' || x.type !== 'bulk') throw new Error('scratch: HGETALL pair');
          return [f.value, x.value] as const;
        }),
      };
    }
  }
}

/** A key's value with its deadline, whatever its type (a transaction's keys at N > 1: tag-state.ts). */
export interface Held {
  /** A string here carries no deadline of its own: `expiresAtMs` is every type's. */
  readonly value: Materialized;
  readonly expiresAtMs?: number;
}

/**
 * Several commands in turn on one keyspace holding `values` (each key with its value and deadline
 * as read): a MULTI queue, or one command, at SERIAL over a hash tag's keys. Every command's
 * reply, in order (an error reply does not stop the ones after it, as in Redis' EXEC), and each
 * key's value after the last, in the order of `values`. The caller passes every key the commands
 * name. Throws only for a bug.
 */
export function runQueue(
  values: ReadonlyArray<readonly [Uint8Array, Held | null]>,
  commands: ReadonlyArray<readonly Uint8Array[]>,
  nowMs: number,
  rng: Rng,
): { readonly replies: RespValue[]; readonly after: Array<Held | null> } {
  const ctx = scratchContext(nowMs, rng);
  for (const [key, held] of values) {
    if (held === null) continue;
    const v = held.value.type === 'string' ? { type: 'string' as const, value: held.value.value } : held.value;
    load(ctx, key, v);
    if (held.expiresAtMs !== undefined) must(ctx, [ascii('pexpireat'), key, ascii(String(held.expiresAtMs))]);
  }
  const replies = commands.map((argv) => runCommand(ctx, argv));
  const after = values.map(([key]): Held | null => {
    const v = readBack(ctx, key);
    if (v === null) return null;
    if (v.type === 'string') {
      const value = { type: 'string' as const, value: v.value };
      return v.expiresAtMs === undefined ? { value } : { value, expiresAtMs: v.expiresAtMs };
    }
    const at = must(ctx, [ascii('pexpiretime'), key]);
    if (at.type !== 'integer') throw new Error('scratch: PEXPIRETIME');
    return at.value < 0n ? { value: v } : { value: v, expiresAtMs: Number(at.value) };
  });
  return { replies, after };
}
