// Goal: Pub/Sub and blocking pops answer alike from Debian's redis-server 7.0 and one Baristas node,
// reply for reply (type and content, so a RESP2 `*-1` is told from `$-1` and a RESP3 push from an
// array): SUBSCRIBE / PSUBSCRIBE confirmations, PUBLISH's receivers, `message` and `pmessage`, PUBSUB
// NUMSUB / NUMPAT / CHANNELS, the subscribed-mode error and PING's `pong` array (RESP2), any command
// while subscribed (RESP3), UNSUBSCRIBE / PUNSUBSCRIBE with no names; BLPOP timing out, its timeout
// errors, a BLPOP woken by RPUSH, and BLPOP / BLMOVE inside MULTI; sharded Pub/Sub (SSUBSCRIBE,
// SPUBLISH, `smessage`, SUNSUBSCRIBE, PUBSUB SHARDCHANNELS / SHARDNUMSUB). Raw sockets with the RESP reply
// decoder; each step waits (bounded) for the replies it expects. Skipped when redis-server is absent.
// Then ioredis (RESP3 and RESP2) against a Baristas node alone: its subscriber mode gets `message` and
// `pmessage` events, and its BLPOP is woken by another client's push.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RespConn as Conn } from '../support/resp-conn.ts';
import {
  type RunningRespServer,
  redisServerUnavailable,
  startRedisServer,
  startStoreNode,
} from '../support/redis-servers.ts';

const skip = redisServerUnavailable();

async function script(server: RunningRespServer, resp3: boolean): Promise<string[]> {
  const sub = new Conn(server);
  const pub = new Conn(server);
  const out: string[] = [];
  let n = 0;
  if (resp3) await sub.hello3();
  sub.send('SUBSCRIBE', 'a', 'b');
  sub.send('PSUBSCRIBE', 'n?ws');
  await sub.upTo((n += 3));
  pub.send('PUBLISH', 'a', 'hi');
  pub.send('PUBLISH', 'news', 'x');
  pub.send('PUBLISH', 'zz', 'y');
  pub.send('PUBSUB', 'NUMSUB', 'a', 'zz');
  pub.send('PUBSUB', 'NUMPAT');
  pub.send('PUBSUB', 'CHANNELS', 'a*');
  out.push(...(await pub.upTo(6)));
  await sub.upTo((n += 2));
  sub.send('GET', 'k');
  sub.send('PING');
  sub.send('PING', 'x');
  // One name at a time first: Redis drops "all" in its dict's order, we in subscription order.
  sub.send('UNSUBSCRIBE', 'b');
  sub.send('UNSUBSCRIBE');
  sub.send('PUNSUBSCRIBE');
  sub.send('PUNSUBSCRIBE');
  sub.send('PING');
  out.push(...(await sub.upTo((n += 8))));
  // Blocking pops.
  const c = new Conn(server);
  c.send('BLPOP', 'bq', '0.1');
  c.send('BLPOP', 'bq', 'abc');
  c.send('BLPOP', 'bq', '-1');
  c.send('MULTI');
  c.send('BLPOP', 'bq', '0');
  c.send('BLMOVE', 'bq', 'x', 'LEFT', 'LEFT', '0');
  c.send('EXEC');
  out.push(...(await c.upTo(7)));
  const d = new Conn(server);
  d.send('BLPOP', 'bq2', 'bq3', '0');
  d.send('PING');
  // The BLPOP is blocked before the push: CLIENT LIST shows it (polled, bounded).
  const e = new Conn(server);
  const deadline = Date.now() + 5_000;
  let m = 0;
  for (;;) {
    e.send('LLEN', 'bq3');
    await e.upTo(++m);
    if (Date.now() > deadline || d.replies.length > 0) break;
    e.send('CLIENT', 'LIST');
    const list = await e.upTo(++m);
    if (/cmd=blpop/.test(list.at(-1)!)) break;
  }
  e.send('RPUSH', 'bq3', 'v1', 'v2');
  await e.upTo(++m);
  out.push(...(await d.upTo(2)));
  e.send('LRANGE', 'bq3', '0', '-1');
  out.push((await e.upTo(++m)).at(-1)!);
  // Sharded Pub/Sub: a namespace of its own, counts of shard channels only, `smessage`.
  const sh = new Conn(server);
  const sp = new Conn(server);
  let k = 0;
  if (resp3) await sh.hello3();
  sh.send('SSUBSCRIBE', 'sa', 'sb');
  sh.send('SUBSCRIBE', 'sa');
  await sh.upTo((k += 3));
  sp.send('SPUBLISH', 'sa', 'hi');
  sp.send('PUBLISH', 'sa', 'p');
  sp.send('SPUBLISH', 'zz', 'x');
  sp.send('PUBSUB', 'SHARDNUMSUB', 'sa', 'zz');
  sp.send('PUBSUB', 'SHARDCHANNELS', 'sa*');
  sp.send('PUBSUB', 'shardchannels', 'a', 'b');
  sp.send('SPUBLISH');
  out.push(...(await sp.upTo(7)));
  await sh.upTo((k += 2));
  sh.send('GET', 'k');
  sh.send('SUNSUBSCRIBE', 'sb');
  sh.send('SUNSUBSCRIBE');
  sh.send('SUNSUBSCRIBE');
  sh.send('UNSUBSCRIBE');
  sh.send('PING');
  out.push(...(await sh.upTo((k += 6))));
  for (const x of [sub, pub, c, d, e, sh, sp]) x.close();
  return out;
}

describe('Pub/Sub and blocking pops: redis-server 7.0 and Baristas answer alike', { skip }, () => {
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
  for (const resp3 of [false, true]) {
    test(resp3 ? 'RESP3' : 'RESP2', async () => {
      const expected = await script(redis, resp3);
      const actual = await script(baristas, resp3);
      assert.ok(expected.length >= 37, `redis-server answered the script: ${expected.join('\n')}`);
      assert.deepEqual(actual, expected);
    });
  }
});

describe('ioredis against a Baristas node: Pub/Sub events and BLPOP', () => {
  let node: RunningRespServer;
  before(async () => {
    node = await startStoreNode({ sync: 'periodic' });
  });
  after(async () => {
    await node?.stop();
  });
  for (const protocol of [3, 2] as const) {
    test(`RESP${protocol}`, async () => {
      const opts = { host: node.host, port: node.port, protocol, lazyConnect: true, maxRetriesPerRequest: 0 };
      const sub = new Redis(opts);
      const pub = new Redis(opts);
      const blocked = new Redis(opts);
      try {
        await Promise.all([sub.connect(), pub.connect(), blocked.connect()]);
        const got: string[] = [];
        sub.on('message', (ch: string, msg: string) => got.push(`message ${ch} ${msg}`));
        sub.on('pmessage', (pat: string, ch: string, msg: string) => got.push(`pmessage ${pat} ${ch} ${msg}`));
        assert.equal(await sub.subscribe('io-ch', 'io-other'), 2);
        assert.equal(await sub.psubscribe('io-*'), 3);
        assert.equal(await pub.publish('io-ch', 'hello'), 2);
        assert.equal(await pub.publish('nobody', 'x'), 0);
        const deadline = Date.now() + 5_000;
        while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
        assert.deepEqual(got.sort(), ['message io-ch hello', 'pmessage io-* io-ch hello']);
        const popped = blocked.blpop(`io-q${protocol}`, 5);
        // Push once the BLPOP is blocked (CLIENT LIST shows it), polled with a bound.
        for (let i = 0; i < 500; i++) {
          if (/cmd=blpop/.test(String(await pub.call('CLIENT', 'LIST')))) break;
          await new Promise((r) => setImmediate(r));
        }
        await pub.rpush(`io-q${protocol}`, 'job');
        assert.deepEqual(await popped, [`io-q${protocol}`, 'job']);
        assert.equal(await blocked.blpop(`io-empty${protocol}`, 0.05), null, 'a timeout answers nil');
      } finally {
        sub.disconnect();
        pub.disconnect();
        blocked.disconnect();
      }
    });
  }
});
