// Goal: the four collection families (hash.ts, set.ts, list.ts, zset.ts) behave as a naive
// in-memory model of Redis says, for random command sequences over a few shared keys (so
// WRONGTYPE, emptied-key deletion and STORE overwrites of other types come up), with the engine
// closed and reopened on the same simulated disk in between (state survives a restart).
// Random commands (SPOP, SRANDMEMBER, HRANDFIELD) are checked for membership and count, and the
// model then follows what was chosen. Orders: hashes and sets by field/member bytes (ours),
// lists by position, zsets by (score, member).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { RespValue } from '../wire/resp/index.ts';
import { RedisHarness } from './testing.ts';

type Plain = null | number | string | Plain[];
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** A reply in a comparable form: errors as "!text", doubles and integers as numbers. */
function plain(v: RespValue): Plain {
  switch (v.type) {
    case 'simple':
      return `+${typeof v.value === 'string' ? v.value : text(v.value)}`;
    case 'error':
      return `!${typeof v.message === 'string' ? v.message : text(v.message)}`;
    case 'integer':
      return Number(v.value);
    case 'bulk':
      return text(v.value);
    case 'null':
    case 'nullArray':
      return null;
    case 'double':
      return v.value;
    case 'array':
    case 'set':
    case 'push':
      return v.items.map(plain);
    case 'map':
      return v.entries.map(([k, x]) => [plain(k), plain(x)]);
    default:
      return `?${v.type}`;
  }
}

type Value =
  | { type: 'hash'; v: Map<string, string> }
  | { type: 'set'; v: Set<string> }
  | { type: 'list'; v: string[] }
  | { type: 'zset'; v: Map<string, number> };

const WRONGTYPE = '!WRONGTYPE Operation against a key holding the wrong kind of value';
const bytewise = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const zorder = (z: Map<string, number>): Array<[string, number]> =>
  [...z.entries()].sort((a, b) => a[1] - b[1] || bytewise(a[0], b[0]));

class Model {
  readonly keys = new Map<string, Value>();

  get<T extends Value['type']>(key: string, type: T): Extract<Value, { type: T }> | null | 'wrong' {
    const v = this.keys.get(key);
    if (v === undefined) return null;
    return v.type === type ? (v as Extract<Value, { type: T }>) : 'wrong';
  }

  /** Deletes emptied collections, as Redis does. */
  tidy(key: string): void {
    const v = this.keys.get(key);
    if (v === undefined) return;
    const size = v.type === 'list' ? v.v.length : v.v.size;
    if (size === 0) this.keys.delete(key);
  }
}

const keyArb = fc.constantFrom('k1', 'k2', 'k3');
const fieldArb = fc.constantFrom('a', 'b', 'c', 'd', '');
const itemArb = fc.constantFrom('x', 'y', 'z');
const scoreArb = fc.constantFrom(-Infinity, -1.5, 0, 1, 2, 2.5, Infinity);
const fmt = (s: number): string => (s === Infinity ? '+inf' : s === -Infinity ? '-inf' : String(s));
const smallInt = fc.integer({ min: -4, max: 4 });

type Cmd = string[];
const hashArbs: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(keyArb, fieldArb, itemArb).map(([k, f, v]) => ['HSET', k, f, v]),
  fc.tuple(keyArb, fieldArb).map(([k, f]) => ['HDEL', k, f]),
  fc.tuple(keyArb, fieldArb).map(([k, f]) => ['HGET', k, f]),
  fc.tuple(keyArb, fieldArb, smallInt).map(([k, f, n]) => ['HINCRBY', k, f, String(n)]),
  keyArb.map((k) => ['HGETALL', k]),
  keyArb.map((k) => ['HLEN', k]),
  keyArb.map((k) => ['HRANDFIELD', k, '2']),
];
const setArbs: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(keyArb, fieldArb).map(([k, m]) => ['SADD', k, m]),
  fc.tuple(keyArb, fieldArb).map(([k, m]) => ['SREM', k, m]),
  keyArb.map((k) => ['SMEMBERS', k]),
  fc.tuple(keyArb, keyArb).map(([a, b]) => ['SINTER', a, b]),
  fc.tuple(keyArb, keyArb).map(([a, b]) => ['SUNION', a, b]),
  fc.tuple(keyArb, keyArb).map(([a, b]) => ['SDIFF', a, b]),
  fc
    .tuple(fc.constantFrom('SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE'), keyArb, keyArb, keyArb)
    .map(([c, d, a, b]) => [c, d, a, b]),
  fc.tuple(keyArb, keyArb, fieldArb).map(([a, b, m]) => ['SMOVE', a, b, m]),
  fc.tuple(keyArb, fc.integer({ min: 1, max: 3 })).map(([k, n]) => ['SPOP', k, String(n)]),
  keyArb.map((k) => ['SCARD', k]),
];
const listArbs: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(fc.constantFrom('LPUSH', 'RPUSH'), keyArb, itemArb, itemArb).map(([c, k, a, b]) => [c, k, a, b]),
  fc
    .tuple(fc.constantFrom('LPOP', 'RPOP'), keyArb, fc.integer({ min: 1, max: 3 }))
    .map(([c, k, n]) => [c, k, String(n)]),
  fc.tuple(keyArb, smallInt, smallInt).map(([k, a, b]) => ['LRANGE', k, String(a), String(b)]),
  fc.tuple(keyArb, smallInt).map(([k, i]) => ['LINDEX', k, String(i)]),
  fc.tuple(keyArb, smallInt, itemArb).map(([k, i, v]) => ['LSET', k, String(i), v]),
  fc.tuple(keyArb, smallInt, smallInt).map(([k, a, b]) => ['LTRIM', k, String(a), String(b)]),
  fc.tuple(keyArb, smallInt, itemArb).map(([k, n, v]) => ['LREM', k, String(n), v]),
  fc.tuple(keyArb, fc.constantFrom('BEFORE', 'AFTER'), itemArb, itemArb).map(([k, w, p, v]) => ['LINSERT', k, w, p, v]),
  fc
    .tuple(keyArb, keyArb, fc.constantFrom('LEFT', 'RIGHT'), fc.constantFrom('LEFT', 'RIGHT'))
    .map(([a, b, f, t]) => ['LMOVE', a, b, f, t]),
  fc.tuple(keyArb, itemArb).map(([k, v]) => ['LPOS', k, v, 'COUNT', '0']),
];
const zsetArbs: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(keyArb, scoreArb, fieldArb, scoreArb, fieldArb).map(([k, s, m, t, n]) => ['ZADD', k, fmt(s), m, fmt(t), n]),
  fc
    .tuple(keyArb, fc.constantFrom('NX', 'XX', 'GT', 'LT', 'CH'), scoreArb, fieldArb)
    .map(([k, o, s, m]) => ['ZADD', k, o, fmt(s), m]),
  fc.tuple(keyArb, fieldArb).map(([k, m]) => ['ZREM', k, m]),
  fc.tuple(keyArb, fc.constantFrom(-1, 0.5, 2), fieldArb).map(([k, s, m]) => ['ZINCRBY', k, String(s), m]),
  fc.tuple(keyArb, fieldArb).map(([k, m]) => ['ZSCORE', k, m]),
  fc.tuple(keyArb, fieldArb).map(([k, m]) => ['ZRANK', k, m]),
  fc.tuple(keyArb, fieldArb).map(([k, m]) => ['ZREVRANK', k, m]),
  fc.tuple(keyArb, smallInt, smallInt).map(([k, a, b]) => ['ZRANGE', k, String(a), String(b), 'WITHSCORES']),
  fc.tuple(keyArb, smallInt, smallInt).map(([k, a, b]) => ['ZREVRANGE', k, String(a), String(b)]),
  fc.tuple(keyArb, scoreArb, scoreArb).map(([k, a, b]) => ['ZRANGEBYSCORE', k, fmt(a), fmt(b)]),
  fc.tuple(keyArb, scoreArb, scoreArb).map(([k, a, b]) => ['ZREVRANGEBYSCORE', k, fmt(b), `(${fmt(a)}`]),
  fc.tuple(keyArb, scoreArb, scoreArb).map(([k, a, b]) => ['ZCOUNT', k, `(${fmt(a)}`, fmt(b)]),
  fc
    .tuple(fc.constantFrom('ZPOPMIN', 'ZPOPMAX'), keyArb, fc.integer({ min: 1, max: 3 }))
    .map(([c, k, n]) => [c, k, String(n)]),
  fc.tuple(keyArb, smallInt, smallInt).map(([k, a, b]) => ['ZREMRANGEBYRANK', k, String(a), String(b)]),
  fc.tuple(keyArb, scoreArb, scoreArb).map(([k, a, b]) => ['ZREMRANGEBYSCORE', k, fmt(a), fmt(b)]),
  keyArb.map((k) => ['ZCARD', k]),
];
/** The keyspace's part: DEL and an engine restart. */
const keyspaceArbs: Array<fc.Arbitrary<Cmd>> = [keyArb.map((k) => ['DEL', k]), fc.constant<Cmd>(['RESTART'])];

/** Redis' [start, stop] over n items, or null when empty. */
function clamp(start: number, stop: number, n: number): [number, number] | null {
  let s = start < 0 ? n + start : start;
  let e = stop < 0 ? n + stop : stop;
  if (s < 0) s = 0;
  if (s > e || s >= n) return null;
  if (e >= n) e = n - 1;
  return [s, e];
}

function inScore(s: number, min: string, max: string): boolean {
  const bound = (t: string): [number, boolean] => {
    const ex = t.startsWith('(');
    const v = ex ? t.slice(1) : t;
    return [v === '+inf' ? Infinity : v === '-inf' ? -Infinity : Number(v), ex];
  };
  const [lo, loEx] = bound(min);
  const [hi, hiEx] = bound(max);
  return (loEx ? s > lo : s >= lo) && (hiEx ? s < hi : s <= hi);
}

/** The model's reply for `c`; `ours` only for random commands (the model checks, then follows it). */
function expect(m: Model, c: Cmd, ours: Plain): Plain {
  const [name, key = ''] = c;
  switch (name) {
    case 'DEL':
      return m.keys.delete(key) ? 1 : 0;
    case 'HSET': {
      const h = m.get(key, 'hash');
      if (h === 'wrong') return WRONGTYPE;
      const map = h?.v ?? new Map<string, string>();
      const created = map.has(c[2]!) ? 0 : 1;
      map.set(c[2]!, c[3]!);
      m.keys.set(key, { type: 'hash', v: map });
      return created;
    }
    case 'HDEL': {
      const h = m.get(key, 'hash');
      if (h === 'wrong') return WRONGTYPE;
      const n = h?.v.delete(c[2]!) ? 1 : 0;
      m.tidy(key);
      return n;
    }
    case 'HGET': {
      const h = m.get(key, 'hash');
      if (h === 'wrong') return WRONGTYPE;
      return h?.v.get(c[2]!) ?? null;
    }
    case 'HINCRBY': {
      const h = m.get(key, 'hash');
      if (h === 'wrong') return WRONGTYPE;
      const map = h?.v ?? new Map<string, string>();
      const old = map.get(c[2]!) ?? '0';
      if (!/^(0|-?[1-9][0-9]*)$/.test(old)) return '!ERR hash value is not an integer';
      const v = Number(old) + Number(c[3]);
      map.set(c[2]!, String(v));
      m.keys.set(key, { type: 'hash', v: map });
      return v;
    }
    case 'HGETALL': {
      const h = m.get(key, 'hash');
      if (h === 'wrong') return WRONGTYPE;
      return [...(h?.v ?? new Map()).entries()].sort((a, b) => bytewise(a[0], b[0]));
    }
    case 'HLEN': {
      const h = m.get(key, 'hash');
      return h === 'wrong' ? WRONGTYPE : (h?.v.size ?? 0);
    }
    case 'HRANDFIELD': {
      const h = m.get(key, 'hash');
      if (h === 'wrong') return WRONGTYPE;
      const fields = [...(h?.v.keys() ?? [])];
      assert.ok(Array.isArray(ours));
      assert.equal(ours.length, Math.min(2, fields.length));
      assert.equal(new Set(ours).size, ours.length, 'distinct fields for a positive count');
      for (const f of ours) assert.ok(fields.includes(f as string));
      return ours;
    }
    case 'SADD': {
      const s = m.get(key, 'set');
      if (s === 'wrong') return WRONGTYPE;
      const set = s?.v ?? new Set<string>();
      const n = set.has(c[2]!) ? 0 : 1;
      set.add(c[2]!);
      m.keys.set(key, { type: 'set', v: set });
      return n;
    }
    case 'SREM': {
      const s = m.get(key, 'set');
      if (s === 'wrong') return WRONGTYPE;
      const n = s?.v.delete(c[2]!) ? 1 : 0;
      m.tidy(key);
      return n;
    }
    case 'SCARD': {
      const s = m.get(key, 'set');
      return s === 'wrong' ? WRONGTYPE : (s?.v.size ?? 0);
    }
    case 'SMEMBERS': {
      const s = m.get(key, 'set');
      return s === 'wrong' ? WRONGTYPE : [...(s?.v ?? [])].sort(bytewise);
    }
    case 'SINTER':
    case 'SUNION':
    case 'SDIFF':
    case 'SINTERSTORE':
    case 'SUNIONSTORE':
    case 'SDIFFSTORE': {
      const store = name.endsWith('STORE');
      const srcs = c.slice(store ? 2 : 1).map((k) => m.get(k, 'set'));
      if (srcs.includes('wrong')) return WRONGTYPE;
      const sets = srcs.map((s) => (s === null || s === 'wrong' ? null : s.v));
      const [first, ...rest] = sets.map((s) => [...(s ?? [])]);
      let out: string[];
      if (name.startsWith('SINTER'))
        out = sets.includes(null) ? [] : first!.filter((x) => rest.every((r) => r.includes(x)));
      else if (name.startsWith('SUNION')) out = [...new Set([first!, ...rest].flat())];
      else out = first!.filter((x) => !rest.some((r) => r.includes(x)));
      out.sort(bytewise);
      if (!store) return out;
      m.keys.delete(c[1]!);
      if (out.length > 0) m.keys.set(c[1]!, { type: 'set', v: new Set(out) });
      return out.length;
    }
    case 'SMOVE': {
      const src = m.get(key, 'set');
      const dst = m.get(c[2]!, 'set');
      if (src === null) return 0;
      if (src === 'wrong' || dst === 'wrong') return WRONGTYPE;
      if (!src.v.has(c[3]!)) return 0;
      if (key === c[2]) return 1;
      src.v.delete(c[3]!);
      m.tidy(key);
      const d = dst?.v ?? new Set<string>();
      d.add(c[3]!);
      m.keys.set(c[2]!, { type: 'set', v: d });
      return 1;
    }
    case 'SPOP': {
      const s = m.get(key, 'set');
      if (s === 'wrong') return WRONGTYPE;
      if (s === null) return [];
      assert.ok(Array.isArray(ours));
      assert.equal(ours.length, Math.min(Number(c[2]), s.v.size));
      for (const x of ours) assert.ok(s.v.delete(x as string), `SPOP returned ${String(x)}, not a member`);
      m.tidy(key);
      return ours;
    }
    case 'LPUSH':
    case 'RPUSH': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      const list = l?.v ?? [];
      for (const x of c.slice(2)) name === 'LPUSH' ? list.unshift(x) : list.push(x);
      m.keys.set(key, { type: 'list', v: list });
      return list.length;
    }
    case 'LPOP':
    case 'RPOP': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      if (l === null) return null;
      const n = Math.min(Number(c[2]), l.v.length);
      const out = name === 'LPOP' ? l.v.splice(0, n) : l.v.splice(l.v.length - n, n).reverse();
      m.tidy(key);
      return out;
    }
    case 'LRANGE': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      const r = clamp(Number(c[2]), Number(c[3]), l?.v.length ?? 0);
      return r === null ? [] : l!.v.slice(r[0], r[1] + 1);
    }
    case 'LINDEX':
    case 'LSET': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      if (l === null) return name === 'LSET' ? '!ERR no such key' : null;
      let i = Number(c[2]);
      if (i < 0) i += l.v.length;
      const inside = i >= 0 && i < l.v.length;
      if (name === 'LINDEX') return inside ? l.v[i]! : null;
      if (!inside) return '!ERR index out of range';
      l.v[i] = c[3]!;
      return '+OK';
    }
    case 'LTRIM': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      if (l === null) return '+OK';
      const r = clamp(Number(c[2]), Number(c[3]), l.v.length);
      l.v = r === null ? [] : l.v.slice(r[0], r[1] + 1);
      m.tidy(key);
      return '+OK';
    }
    case 'LREM': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      if (l === null) return 0;
      const n = Number(c[2]);
      const idx = l.v.map((x, i) => (x === c[3] ? i : -1)).filter((i) => i >= 0);
      const chosen = n === 0 ? idx : n > 0 ? idx.slice(0, n) : idx.slice(Math.max(0, idx.length + n));
      l.v = l.v.filter((_, i) => !chosen.includes(i));
      m.tidy(key);
      return chosen.length;
    }
    case 'LINSERT': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      if (l === null) return 0;
      const p = l.v.indexOf(c[3]!);
      if (p < 0) return -1;
      l.v.splice(c[2] === 'AFTER' ? p + 1 : p, 0, c[4]!);
      return l.v.length;
    }
    case 'LMOVE': {
      const src = m.get(key, 'list');
      if (src === 'wrong') return WRONGTYPE;
      if (src === null) return null;
      const dst = m.get(c[2]!, 'list');
      if (dst === 'wrong') return WRONGTYPE;
      const item = c[3] === 'LEFT' ? src.v.shift()! : src.v.pop()!;
      m.tidy(key);
      const d = m.get(c[2]!, 'list');
      const list = d === null || d === 'wrong' ? [] : d.v;
      c[4] === 'LEFT' ? list.unshift(item) : list.push(item);
      m.keys.set(c[2]!, { type: 'list', v: list });
      return item;
    }
    case 'LPOS': {
      const l = m.get(key, 'list');
      if (l === 'wrong') return WRONGTYPE;
      return (l?.v ?? []).map((x, i) => (x === c[2] ? i : -1)).filter((i) => i >= 0);
    }
    case 'ZADD': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      const opts = new Set(c.slice(2).filter((a) => /^[A-Z]+$/.test(a)));
      const rest = c.slice(2 + opts.size);
      if (z === null && opts.has('XX')) return 0;
      const map = z?.v ?? new Map<string, number>();
      let added = 0;
      let changed = 0;
      for (let i = 0; i < rest.length; i += 2) {
        const t = rest[i]!;
        const s = t === '+inf' ? Infinity : t === '-inf' ? -Infinity : Number(t);
        const mem = rest[i + 1]!;
        const old = map.get(mem);
        if (old === undefined) {
          if (opts.has('XX')) continue;
          map.set(mem, s);
          added++;
        } else {
          if (opts.has('NX') || (opts.has('GT') && s <= old) || (opts.has('LT') && s >= old)) continue;
          if (s !== old) changed++;
          map.set(mem, s);
        }
      }
      if (map.size > 0) m.keys.set(key, { type: 'zset', v: map });
      return opts.has('CH') ? added + changed : added;
    }
    case 'ZREM': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      const n = z?.v.delete(c[2]!) ? 1 : 0;
      m.tidy(key);
      return n;
    }
    case 'ZINCRBY': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      const map = z?.v ?? new Map<string, number>();
      const s = (map.get(c[3]!) ?? 0) + Number(c[2]);
      if (Number.isNaN(s)) return '!ERR resulting score is not a number (NaN)';
      map.set(c[3]!, s);
      m.keys.set(key, { type: 'zset', v: map });
      return s;
    }
    case 'ZSCORE': {
      const z = m.get(key, 'zset');
      return z === 'wrong' ? WRONGTYPE : (z?.v.get(c[2]!) ?? null);
    }
    case 'ZRANK':
    case 'ZREVRANK': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      if (z === null || !z.v.has(c[2]!)) return null;
      const order = zorder(z.v).map(([x]) => x);
      const r = order.indexOf(c[2]!);
      return name === 'ZRANK' ? r : order.length - 1 - r;
    }
    case 'ZCARD': {
      const z = m.get(key, 'zset');
      return z === 'wrong' ? WRONGTYPE : (z?.v.size ?? 0);
    }
    case 'ZRANGE':
    case 'ZREVRANGE': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      let order = zorder(z?.v ?? new Map());
      if (name === 'ZREVRANGE') order = order.reverse();
      const r = clamp(Number(c[2]), Number(c[3]), order.length);
      const slice = r === null ? [] : order.slice(r[0], r[1] + 1);
      return name === 'ZRANGE' ? slice.map(([x, s]) => [x, s]) : slice.map(([x]) => x);
    }
    case 'ZRANGEBYSCORE':
    case 'ZREVRANGEBYSCORE':
    case 'ZCOUNT': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      const rev = name === 'ZREVRANGEBYSCORE';
      const [min, max] = rev ? [c[3]!, c[2]!] : [c[2]!, c[3]!];
      const hits = zorder(z?.v ?? new Map()).filter(([, s]) => inScore(s, min, max));
      if (name === 'ZCOUNT') return hits.length;
      return (rev ? hits.reverse() : hits).map(([x]) => x);
    }
    case 'ZPOPMIN':
    case 'ZPOPMAX': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      if (z === null) return [];
      let order = zorder(z.v);
      if (name === 'ZPOPMAX') order = order.reverse();
      const out = order.slice(0, Number(c[2]));
      for (const [x] of out) z.v.delete(x);
      m.tidy(key);
      return out.map(([x, s]) => [x, s]);
    }
    case 'ZREMRANGEBYRANK':
    case 'ZREMRANGEBYSCORE': {
      const z = m.get(key, 'zset');
      if (z === 'wrong') return WRONGTYPE;
      if (z === null) return 0;
      const order = zorder(z.v);
      let gone: Array<[string, number]>;
      if (name === 'ZREMRANGEBYRANK') {
        const r = clamp(Number(c[2]), Number(c[3]), order.length);
        gone = r === null ? [] : order.slice(r[0], r[1] + 1);
      } else gone = order.filter(([, s]) => inScore(s, c[2]!, c[3]!));
      for (const [x] of gone) z.v.delete(x);
      m.tidy(key);
      return gone.length;
    }
    default:
      throw new Error(`no model for ${name}`);
  }
}

/** Each family's first command adds (HSET, SADD, LPUSH/RPUSH, ZADD): drawn 4 times as often, so collections grow. */
function growing(arbs: ReadonlyArray<fc.Arbitrary<Cmd>>): Array<fc.Arbitrary<Cmd>> {
  return [arbs[0]!, arbs[0]!, arbs[0]!];
}

function check(cmds: readonly Cmd[], seed: string): void {
  const h = new RedisHarness({ seed });
  const m = new Model();
  for (const c of cmds) {
    if (c[0] === 'RESTART') {
      h.restart();
      continue;
    }
    const ours = plain(h.run(...c));
    assert.deepEqual(ours, expect(m, c, ours), c.join(' '));
  }
  // The final state, read back after one more restart, is the model's.
  h.restart();
  for (const [k, v] of m.keys) {
    const probe: Record<Value['type'], string[]> = {
      hash: ['HLEN', k],
      set: ['SCARD', k],
      list: ['LLEN', k],
      zset: ['ZCARD', k],
    };
    const size = v.type === 'list' ? v.v.length : v.v.size;
    assert.equal(plain(h.run(...probe[v.type])), size, `${k} (${v.type}) after restart`);
  }
  assert.equal(plain(h.run('DBSIZE')), m.keys.size);
}

for (const [family, arbs] of [
  ['hash', hashArbs],
  ['set', setArbs],
  ['list', listArbs],
  ['zset', zsetArbs],
] as const) {
  test(`${family}: random commands agree with the model, across engine restarts`, () => {
    let run = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(...arbs, ...growing(arbs), ...keyspaceArbs), { minLength: 20, maxLength: 100 }),
        (cmds) => check(cmds, `coll-model-${family}-${run++}`),
      ),
      { numRuns: 60 },
    );
  });
}

test('all families on shared keys: WRONGTYPE, STORE over other types, deletes, restarts', () => {
  let run = 0;
  fc.assert(
    fc.property(
      fc.array(fc.oneof(...hashArbs, ...setArbs, ...listArbs, ...zsetArbs, ...growing(listArbs), ...keyspaceArbs), {
        minLength: 20,
        maxLength: 100,
      }),
      (cmds) => check(cmds, `coll-model-mixed-${run++}`),
    ),
    { numRuns: 40 },
  );
});
