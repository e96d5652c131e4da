// Goal: one scripted redis-cli session gives the same output from Debian's redis-server 7.0 and
// from one Baristas node: connection commands (PING, ECHO, SELECT, CLIENT SETNAME/GETNAME, AUTH
// without a password, HELLO's errors), strings and keys, CONFIG SET maxmemory with its errors and -OOM, transactions (MULTI/EXEC, EXECABORT,
// WATCH, DISCARD), a few collection commands (lists, sets, hashes, sorted sets with RESP3 doubles),
// the errors (arity, unknown command and subcommand, wrong type, not an integer), CONFIG GET. Run in RESP2 and in RESP3 (redis-cli -3, whose HELLO
// 3 handshake our node must accept). Normalised only where the servers must differ: HELLO's
// client id. Skipped, saying so, when redis-server or redis-cli is absent.
import { after, before, describe, test } from 'node:test';
import { assertSameSession, sessionSkip } from '../support/redis-session.ts';
import { type RunningRespServer, startRedisServer, startStoreNode } from '../support/redis-servers.ts';

/** One command per line, as redis-cli reads them from stdin; quoting is redis-cli's. */
export const SESSION = [
  'PING',
  'PING "hello world"',
  'ECHO ""',
  'SELECT 0',
  'SELECT 1x',
  'SELECT 99999999999',
  'AUTH secret',
  'AUTH default anything',
  'HELLO 4',
  'HELLO x',
  'HELLO 2 FOO',
  'CLIENT SETNAME "bad name"',
  'CLIENT SETNAME session',
  'CLIENT GETNAME',
  'CLIENT NOSUCH',
  'CLIENT',
  'CONFIG GET maxmemory',
  'CONFIG GET maxmemory-policy',
  'SET s:a hello',
  'GET s:a',
  'GET s:missing',
  'SET s:n 10',
  'INCR s:n',
  'INCRBY s:n -15',
  'DECR s:n',
  'INCR s:a',
  'APPEND s:a " world"',
  'STRLEN s:a',
  'MSET s:x 1 s:y 2',
  'MGET s:x s:missing s:y',
  'EXISTS s:x s:y s:missing s:x',
  'SETNX s:x 9',
  'GET s:x',
  'SET s:t v EX 1000',
  'TTL s:t',
  'PERSIST s:t',
  'TTL s:t',
  'TTL s:missing',
  'TYPE s:a',
  'TYPE s:missing',
  'DEL s:x s:y s:missing',
  'GET',
  'SET s:a',
  'NOSUCH a b',
  'nosuch',
  'MULTI',
  'SET s:m 1',
  'INCR s:m',
  'GET s:m',
  'EXEC',
  'MULTI',
  'MULTI',
  'GET',
  'SET s:m 2',
  'EXEC',
  'GET s:m',
  'EXEC',
  'DISCARD',
  'MULTI',
  'WATCH s:m',
  'DISCARD',
  'WATCH s:m',
  'SET s:m changed',
  'MULTI',
  'INCR s:m',
  'EXEC',
  'WATCH s:m',
  'UNWATCH',
  'MULTI',
  'SET s:m 5',
  'EXEC',
  'RPUSH s:l a b c',
  'LPUSH s:l z',
  'LRANGE s:l 0 -1',
  'LPOP s:l',
  'LLEN s:l',
  'GET s:l',
  'SADD s:set a b a',
  'SCARD s:set',
  'SISMEMBER s:set b',
  'HSET s:h f1 v1 f2 v2',
  'HGET s:h f1',
  'HLEN s:h',
  'HGET s:h missing',
  'ZADD s:z 1 one 2.5 two',
  'ZSCORE s:z two',
  'ZRANGE s:z 0 -1 WITHSCORES',
  'ZADD s:z x one',
  'CONFIG SET maxmemory-policy bogus',
  'CONFIG SET maxmemory abc',
  'CONFIG SET maxmemory 1.5mb',
  'CONFIG SET maxmemory 1 maxmemory 2',
  'CONFIG SET nosuch 1',
  'CONFIG SET maxmemory 1 maxmemory-policy',
  'CONFIG SET maxmemory 100MB maxmemory-policy ALLKEYS-LRU',
  'CONFIG GET maxmemory',
  'CONFIG GET maxmemory-policy',
  'OBJECT FREQ s:a',
  'OBJECT IDLETIME s:none',
  'OBJECT BOGUS s:a',
  'OBJECT FREQ',
  'CONFIG SET maxmemory-policy allkeys-lfu',
  'OBJECT IDLETIME s:a',
  'CONFIG SET maxmemory-policy allkeys-lru',
  'CONFIG SET maxmemory 2 maxmemory-policy bogus',
  'CONFIG GET maxmemory',
  'CONFIG SET maxmemory-policy noeviction maxmemory 1',
  'SET s:oom v',
  'INCR s:n',
  'GET s:a',
  'MULTI',
  'GET s:a',
  'EXEC',
  'CONFIG SET maxmemory 0',
  'SET s:oom v',
  'DBSIZE',
  'FLUSHALL',
  'DBSIZE',
  'QUIT',
];

describe('a scripted redis-cli session: redis-server 7.0 and Baristas answer alike', { skip: sessionSkip }, () => {
  let redis: RunningRespServer;
  let baristas: RunningRespServer;
  before(async () => {
    redis = await startRedisServer('none');
    baristas = await startStoreNode({ sync: 'always' });
  });
  after(async () => {
    await redis?.stop();
    await baristas?.stop();
  });

  for (const [name, args] of [
    ['RESP2', []],
    ['RESP3 (redis-cli -3)', ['-3']],
  ] as const) {
    test(name, () => assertSameSession(redis, baristas, [...args], SESSION));
  }
});
