// Seeded random scripts of Redis collection commands, in the scripts' line format of
// src/redis/coll-live.test.ts (words split on blanks; a leading "~" marks a reply in hash order, to
// be compared as a multiset), and a sequential client to run them on a real server: used against
// redis-server 7.0 by coll-live.test.ts (N = 1) and test/compat/redis-replicated-session.test.ts
// (N = 3, one connection, nothing concurrent: the replies must be Redis' own).
import { connect } from 'node:net';
import { SeededRng } from '../../src/lib/rng.ts';
import { ProtocolError } from '../../src/lib/errors.ts';
import { encodeCommand, RespReplyDecoder, type RespValue } from '../../src/wire/resp/index.ts';

// Seeded random scripts over the four families at once: the mixtures the scripts above do not
// reach (a list moved into, a set stored over, a sorted set's flags meeting its scores, a key of
// the wrong type), each reply compared as above. Lex ranges only on z3, whose members all score 0
// (Redis leaves lex order among different scores unspecified).
// `prefix` goes before every key name (a cluster's run that should not meet an earlier one's keys);
// `mixTypes` false keeps every command on keys of its own family, so no key ever changes type (at
// N > 1 a *STORE onto a key of another type answers an error where Redis replaces the key:
// docs/COMPAT-REDIS.md; and a key of one family becomes another's when such a command creates it).
export function randomCollectionScript(seed: string, lines: number, prefix = '', mixTypes = true): string {
  const rng = new SeededRng(`coll-random/${seed}`);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const some = (n: number, f: () => string): string => Array.from({ length: 1 + rng.int(n) }, f).join(' ');
  const member = (): string => pick(['a', 'b', 'c', 'd', 'e', '1', '2', '10', '-3']);
  const index = (): string => String(rng.int(11) - 5);
  const score = (): string => pick(['0', '1', '1.5', '-2', '3', '10', '-inf', '+inf']);
  const bound = (): string => pick(['-inf', '+inf', '0', '1', '(1', '2', '(3', '10', '-2', '(-inf']);
  const lex = (): string => pick(['-', '+', '[a', '(b', '[c', '(e', '[1', '(10']);
  const families = {
    list: ['l1', 'l2'],
    hash: ['h1', 'h2'],
    set: ['s1', 's2', 's3'],
    zset: ['z1', 'z2'],
  };
  // One time in eight a command of one family names a key of another (or the string): WRONGTYPE.
  const key = (family: keyof typeof families): string => {
    const k = rng.int(8) === 0 ? pick(['str', ...Object.values(families).flat()]) : pick(families[family]);
    return mixTypes || families[family].includes(k) ? k : families[family][0]!;
  };
  const out: string[] = ['set str x'];
  for (let i = 0; i < lines; i++) {
    const roll = rng.int(5);
    if (roll === 0) {
      const l = key('list');
      out.push(
        pick([
          () => `${pick(['lpush', 'rpush', 'lpushx', 'rpushx'])} ${l} ${some(3, member)}`,
          () => `${pick(['lpop', 'rpop'])} ${l}${rng.int(2) === 0 ? '' : ` ${rng.int(4)}`}`,
          () => `lrange ${l} ${index()} ${index()}`,
          () => `lindex ${l} ${index()}`,
          () => `lset ${l} ${index()} ${member()}`,
          () => `linsert ${l} ${pick(['before', 'after'])} ${member()} ${member()}`,
          () => `lrem ${l} ${index()} ${member()}`,
          () => `ltrim ${l} ${index()} ${index()}`,
          () =>
            `lpos ${l} ${member()}${rng.int(2) === 0 ? '' : ` rank ${pick(['1', '-1', '2', '-2'])}`}${rng.int(2) === 0 ? '' : ` count ${rng.int(3)}`}${rng.int(3) === 0 ? ` maxlen ${rng.int(4)}` : ''}`,
          () => `llen ${l}`,
          () => `lmove ${l} ${key('list')} ${pick(['left', 'right'])} ${pick(['left', 'right'])}`,
          () => `rpoplpush ${l} ${key('list')}`,
          () =>
            `lmpop 2 ${l} ${key('list')} ${pick(['left', 'right'])}${rng.int(2) === 0 ? '' : ` count ${1 + rng.int(3)}`}`,
        ])(),
      );
    } else if (roll === 1) {
      const h = key('hash');
      out.push(
        pick([
          () => `hset ${h} ${some(2, () => `${member()} ${member()}`)}`,
          () => `hsetnx ${h} ${member()} ${member()}`,
          () => `hget ${h} ${member()}`,
          () => `hmget ${h} ${some(3, member)}`,
          () => `hdel ${h} ${some(2, member)}`,
          () => `hlen ${h}`,
          () => `hexists ${h} ${member()}`,
          () => `hstrlen ${h} ${member()}`,
          () => `hincrby ${h} ${member()} ${index()}`,
          () => `hincrbyfloat ${h} ${member()} ${pick(['1.5', '-0.25', '3', '1e2'])}`,
          () => `~hkeys ${h}`,
          () => `~hvals ${h}`,
          () => `~hgetall ${h}`,
        ])(),
      );
    } else if (roll === 2) {
      const s = key('set');
      out.push(
        pick([
          () => `sadd ${s} ${some(3, member)}`,
          () => `srem ${s} ${some(2, member)}`,
          () => `sismember ${s} ${member()}`,
          () => `smismember ${s} ${some(3, member)}`,
          () => `scard ${s}`,
          () => `smove ${s} ${key('set')} ${member()}`,
          () => `~smembers ${s}`,
          () => `~${pick(['sinter', 'sunion', 'sdiff'])} ${s} ${key('set')}`,
          () => `${pick(['sinterstore', 'sunionstore', 'sdiffstore'])} ${key('set')} ${s} ${key('set')}`,
          () => `sintercard 2 ${s} ${key('set')}${rng.int(2) === 0 ? '' : ` limit ${rng.int(3)}`}`,
        ])(),
      );
    } else if (roll === 3) {
      const z = key('zset');
      const withScores = (): string => (rng.int(2) === 0 ? '' : ' withscores');
      const limit = (): string => (rng.int(3) === 0 ? ` limit ${rng.int(3)} ${rng.int(4) - 1}` : '');
      out.push(
        pick([
          () =>
            `zadd ${z}${pick(['', '', ' nx', ' xx'])}${pick(['', '', ' gt', ' lt'])}${pick(['', ' ch'])}${rng.int(6) === 0 ? ' incr' : ''} ${some(2, () => `${score()} ${member()}`)}`,
          () => `zincrby ${z} ${score()} ${member()}`,
          () => `zrem ${z} ${some(2, member)}`,
          () => `zscore ${z} ${member()}`,
          () => `zmscore ${z} ${some(2, member)}`,
          () => `${pick(['zrank', 'zrevrank'])} ${z} ${member()}`,
          () => `zcard ${z}`,
          () => `zcount ${z} ${bound()} ${bound()}`,
          () => `zrange ${z} ${index()} ${index()}${rng.int(3) === 0 ? ' rev' : ''}${withScores()}`,
          () => `zrange ${z} ${bound()} ${bound()} byscore${rng.int(2) === 0 ? ' rev' : ''}${limit()}${withScores()}`,
          () => `${pick(['zrangebyscore', 'zrevrangebyscore'])} ${z} ${bound()} ${bound()}${withScores()}${limit()}`,
          () => `${pick(['zpopmin', 'zpopmax'])} ${z}${rng.int(2) === 0 ? '' : ` ${rng.int(3)}`}`,
          () => `zremrangebyrank ${z} ${index()} ${index()}`,
          () => `zremrangebyscore ${z} ${bound()} ${bound()}`,
          () =>
            `${pick(['zunionstore', 'zinterstore'])} ${key('zset')} 2 ${z} ${key('zset')}${rng.int(2) === 0 ? '' : ` weights ${pick(['1', '2', '-1', '0.5'])} ${pick(['1', '3'])}`}${rng.int(2) === 0 ? '' : ` aggregate ${pick(['sum', 'min', 'max'])}`}`,
          () => `${pick(['zunion', 'zinter', 'zdiff'])} 2 ${z} ${key('zset')}${withScores()}`,
          () => `zrangestore ${key('zset')} ${z} ${index()} ${index()}`,
        ])(),
      );
    } else {
      // z3's members all score 0: lex ranges are defined there.
      out.push(
        pick([
          () => `zadd z3 ${some(3, () => `0 ${member()}`)}`,
          () => `zrangebylex z3 ${lex()} ${lex()}${rng.int(3) === 0 ? ` limit ${rng.int(3)} ${rng.int(3)}` : ''}`,
          () => `zrevrangebylex z3 ${lex()} ${lex()}`,
          () => `zlexcount z3 ${lex()} ${lex()}`,
          () => `zremrangebylex z3 ${lex()} ${lex()}`,
          () => `zrange z3 ${lex()} ${lex()} bylex${rng.int(3) === 0 ? ' rev' : ''}`,
          () => `${pick(['del', 'exists', 'type'])} ${pick(['str', 'z3', ...Object.values(families).flat()])}`,
        ])(),
      );
    }
  }
  const keys = new Set(['str', 'z3', ...Object.values(families).flat()]);
  return out.map((line) => line.replace(/\S+/g, (w) => (keys.has(w) ? prefix + w : w))).join('\n');
}

/**
 * Runs `commands` on one connection to host:port, each sent once the reply before it arrived (so a
 * server that pipelines still runs them one by one); the replies in order. Bounded per reply.
 */
export function callEach(
  host: string,
  port: number,
  commands: ReadonlyArray<readonly string[]>,
  replyMsMax = 10_000,
): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const decoder = new RespReplyDecoder();
    const out: RespValue[] = [];
    let timer: NodeJS.Timeout | undefined;
    const s = connect(port, host);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    const next = (): void => {
      clearTimeout(timer);
      if (out.length === commands.length) {
        s.destroy();
        resolve(out);
        return;
      }
      const c = commands[out.length]!;
      timer = setTimeout(() => fail(new Error(`no reply to ${c.join(' ')} within ${replyMsMax} ms`)), replyMsMax);
      s.write(encodeCommand(c.map((a) => Buffer.from(a, 'latin1'))));
    };
    s.on('connect', next);
    s.on('data', (d) => {
      decoder.push(new Uint8Array(d));
      for (let r = decoder.next(); r !== undefined; r = decoder.next()) {
        if (r instanceof ProtocolError) return fail(r);
        out.push(r);
        next();
      }
    });
    s.on('error', fail);
  });
}

/**
 * Seeded random string and key commands (the same line format): SET with its options, GETs with
 * side effects, counters and floats, ranges, MSET/MGET, DEL, EXISTS, TYPE, EXPIRE with its flags,
 * PERSIST, TTL/PTTL (a "%" mark: compared as -2, -1 or a deadline, time passes), RENAME and
 * RENAMENX between keys that hold strings or nothing. No collections: keys never change family.
 */
// `conditionalSet` false leaves SET's NX, XX, GET and KEEPTTL out (at N > 1 they need SERIAL).
export function randomStringScript(seed: string, lines: number, prefix = '', conditionalSet = true): string {
  const rng = new SeededRng(`string-random/${seed}`);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const key = (): string => `${prefix}${pick(['k1', 'k2', 'k3', 'n1', 'n2'])}`;
  const value = (): string =>
    pick(['a', 'hello', '7', '-3', '10', '1.5', '9223372036854775807', 'x y'.replace(' ', '_')]);
  const int = (): string => pick(['0', '1', '-1', '5', '100', '-9223372036854775808', 'x']);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    out.push(
      pick([
        () =>
          `set ${key()} ${value()}${pick(['', '', ' ex 100', ' px 100000', ' keepttl'])}${pick(['', '', ' nx', ' xx'])}${pick(['', ' get'])}`.replace(
            conditionalSet ? /^$/ : / (keepttl|nx|xx|get)/g,
            '',
          ),
        () => `get ${key()}`,
        () => `getset ${key()} ${value()}`,
        () => `getdel ${key()}`,
        () => `getex ${key()}${pick(['', ' persist', ' ex 200'])}`,
        () => `append ${key()} ${value()}`,
        () => `strlen ${key()}`,
        () => `setrange ${key()} ${pick(['0', '2', '5'])} ${value()}`,
        () => `getrange ${key()} ${pick(['0', '-3', '2'])} ${pick(['-1', '3', '0'])}`,
        () => `${pick(['incr', 'decr'])} ${key()}`,
        () => `${pick(['incrby', 'decrby'])} ${key()} ${int()}`,
        () => `incrbyfloat ${key()} ${pick(['1.5', '-0.25', '3', '1e3', 'abc'])}`,
        () => `mset ${key()} ${value()} ${key()} ${value()}`,
        () => `mget ${key()} ${key()} ${key()}`,
        () => `del ${key()}${rng.int(2) === 0 ? '' : ` ${key()}`}`,
        () => `exists ${key()} ${key()}`,
        () => `type ${key()}`,
        () => `expire ${key()} ${pick(['100', '300', '-1', '0'])}${pick(['', '', ' nx', ' xx', ' gt', ' lt'])}`,
        () => `persist ${key()}`,
        () => `%${pick(['ttl', 'pttl'])} ${key()}`,
        () => `${pick(['rename', 'renamenx'])} ${key()} ${key()}`,
      ])(),
    );
  }
  return out.join('\n');
}
