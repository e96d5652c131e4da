// Goal: blocked clients are woken as Debian's redis-server 7.0 wakes them, compared on both
// servers with several connections (a redis-cli script has one): a woken BLPOP / BLMPOP pops from
// the key that became ready, not the first of its keys; a write that leaves one of its keys holding
// another type (a SET) keeps BLPOP, BLMPOP and BLMOVE blocked, with no WRONGTYPE. Every wait is a
// bounded poll; "still blocked" is read from INFO on the writing connection, which both servers
// answer after they have served the keys its earlier commands made ready. Skipped, saying so,
// when redis-server is absent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  redisServerUnavailable,
  type RunningRespServer,
  startRedisServer,
  startStoreCluster,
  startStoreNode,
} from '../support/redis-servers.ts';
import { RespConn as Conn } from '../support/resp-conn.ts';

/** The first `n` replies of `c` (a bounded wait), as text with their type. */
async function first(c: Conn, n: number): Promise<string[]> {
  const got = await c.upTo(n);
  assert.ok(got.length >= n, `${n} replies, have: ${got.join(' ')}`);
  return got.slice(0, n);
}

/**
 * The scenario on one server: what each blocked client got, and the writer's view of the keys.
 * `transaction`: the pushes in one EXEC (both ready at once); else one command each (a cluster at
 * N > 1 runs a transaction only over one key or hash tag).
 */
async function scenario(server: RunningRespServer, transaction = true): Promise<Record<string, string[]>> {
  const w = new Conn(server);
  const a = new Conn(server);
  const m = new Conn(server);
  const t = new Conn(server);
  try {
    w.send('FLUSHALL');
    await first(w, 1);
    a.send('BLPOP', 'ka', 'kb', '0');
    m.send('BLMPOP', '0', '2', 'ma', 'mb', 'LEFT', 'COUNT', '5');
    t.send('BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', '0');
    const blocked = async (n: number) => {
      for (let i = 0; ; i++) {
        w.send('INFO', 'clients');
        const info = (await first(w, w.replies.length + 1)).at(-1)!;
        if (info.includes(`blocked_clients:${n}\r\n`)) return;
        assert.ok(i < 100, `${n} blocked clients: ${info}`);
      }
    };
    await blocked(3);
    const mark = w.replies.length;
    // A write that leaves a waited-for key holding a string: nobody wakes, nobody gets WRONGTYPE.
    w.send('SET', 'ka', 'str');
    w.send('SET', 'ma', 'str');
    w.send('SET', 'src', 'str');
    w.send('INFO', 'clients');
    const afterSet = (await first(w, mark + 4)).slice(mark);
    // Pushes to the second key first, then the first: both ready, in that order, in one EXEC.
    w.send('DEL', 'ka', 'ma', 'src');
    if (transaction) w.send('MULTI');
    for (const cmd of [
      ['RPUSH', 'kb', 'x'],
      ['RPUSH', 'ka', 'y'],
      ['RPUSH', 'mb', 'x1', 'x2'],
      ['RPUSH', 'ma', 'y1'],
      ['RPUSH', 'src', 's1'],
    ])
      w.send(...cmd);
    if (transaction) w.send('EXEC');
    const sent = transaction ? 8 : 6;
    await first(w, mark + 4 + sent);
    const woken = { a: await first(a, 1), m: await first(m, 1), t: await first(t, 1) };
    w.send('LRANGE', 'ka', '0', '-1');
    w.send('LRANGE', 'ma', '0', '-1');
    w.send('LRANGE', 'dst', '0', '-1');
    const left = (await first(w, mark + 4 + sent + 3)).slice(-3);
    return {
      afterSet: [
        ...afterSet.slice(0, 3),
        afterSet[3]!.includes('blocked_clients:3\r\n') ? 'still 3 blocked' : afterSet[3]!,
      ],
      ...woken,
      left,
    };
  } finally {
    for (const c of [w, a, m, t]) c.close();
  }
}

const skip = redisServerUnavailable();

describe('blocked clients woken as redis-server 7.0 wakes them', { skip }, () => {
  let redis: RunningRespServer;
  let baristas: RunningRespServer;
  before(async () => {
    redis = await startRedisServer('none');
    baristas = await startStoreNode({ sync: 'none' });
  });
  after(async () => {
    await redis?.stop();
    await baristas?.stop();
  });

  test('the ready key is popped; a key left holding another type keeps the client blocked', async () => {
    const expected = await scenario(redis);
    // What redis-server does, stated (so a change on either side shows which one moved).
    assert.deepEqual(expected, {
      afterSet: ['simple +OK', 'simple +OK', 'simple +OK', 'still 3 blocked'],
      a: ['array *[$kb,$x]'],
      m: ['array *[$mb,*[$x1,$x2]]'],
      t: ['bulk $s1'],
      left: ['array *[$y]', 'array *[$y1]', 'array *[$s1]'],
    });
    assert.deepEqual(await scenario(baristas), expected);
  });

  test('at N = 3 (3 nodes, QUORUM), the same clients and pushes one command each: the same replies as redis-server', async () => {
    const expected = await scenario(redis, false);
    const cluster = await startStoreCluster(3, { sync: 'none', consistency: 'QUORUM', replication: { replicas: 3 } });
    try {
      assert.deepEqual(await scenario(cluster, false), expected);
    } finally {
      await cluster.stop();
    }
  });
});
