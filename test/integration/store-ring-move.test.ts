// Goal (issue 10, ring moves over real processes): four node processes, N = 3, store.sync periodic
// (the replica's writes ride the timer; ring-move pages wait for their own sync); the ring starts
// with n1..n3 (store.ringNodes). While ioredis clients write distinct keys at QUORUM without pause,
// `BARISTA RING JOIN n4` (sent to another node) streams n4 its ranges over TCP and completes, then
// `BARISTA RING LEAVE n1` streams n1's ranges away and completes. Every write acknowledged before,
// during and after the moves reads back at QUORUM and at ALL through the nodes left on the ring.
// ioredis reconnection is off: an error must surface, not be retried behind the test's back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startStoreCluster } from '../support/redis-servers.ts';
import { spawnCli, until } from './helpers.ts';

type Cluster = Awaited<ReturnType<typeof startStoreCluster>>;

describe('ring join and decommission under load on 4 real processes', () => {
  let cluster: Cluster;
  const clients: Redis[] = [];
  const connect = async (i: number): Promise<Redis> => {
    const n = cluster.nodes[i]!;
    const r = new Redis({
      host: n.host,
      port: n.port,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    r.on('error', () => undefined);
    clients.push(r);
    await r.connect();
    return r;
  };
  const ring = async (r: Redis): Promise<string> => String(await r.call('BARISTA', 'RING'));

  before(async () => {
    cluster = await startStoreCluster(4, {
      sync: 'periodic',
      consistency: 'QUORUM',
      ringNodes: ['n1', 'n2', 'n3'],
      replication: { replicas: 3, ringDelayMs: 500 },
    });
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
  });

  test('JOIN n4 then LEAVE n1 while writing at QUORUM: every acknowledged write reads back', async () => {
    const [n1, n2, n3, n4] = [await connect(0), await connect(1), await connect(2), await connect(3)];
    await until('every node knows the 3-node ring and sees the others alive', 60_000, async () => {
      for (const r of [n1, n2, n3, n4]) {
        const text = await ring(r).catch(() => '');
        if (!/^version [1-9]/.test(text) || /\nn4 /.test(text)) return false;
        if ((await r.set('probe', 'x').catch(() => null)) !== 'OK') return false;
      }
      return true;
    });

    const acked = new Map<string, string>();
    let stop = false;
    const writer = async (r: Redis, prefix: string): Promise<string[]> => {
      const errors: string[] = [];
      for (let i = 0; !stop; i++) {
        const key = `${prefix}:${i}`;
        try {
          if ((await r.set(key, `v${i}`)) === 'OK') acked.set(key, `v${i}`);
        } catch (error) {
          errors.push(String(error));
        }
      }
      return errors;
    };
    const writers = [writer(n2, 'a'), writer(n3, 'b')];
    await until('some writes acknowledged', 20_000, () => acked.size >= 200);

    // The join through the CLI (`barista store ring join n4`), as an operator would.
    const n2Endpoint = `${cluster.nodes[1]!.host}:${cluster.nodes[1]!.port}`;
    const join = spawnCli(['store', 'ring', 'join', 'n4', '--server', n2Endpoint]);
    assert.equal(await join.exited(), 0, join.output());
    assert.match(join.output(), /^OK ring version \d+\n$/);
    await until('the join completed on every node', 90_000, async () => {
      for (const r of [n1, n2, n3, n4]) {
        const text = await ring(r);
        if (!/\nn4 normal /.test(text) || !/move none/.test(text)) return false;
      }
      return true;
    });
    const show = spawnCli(['store', 'ring', '--server', n2Endpoint]);
    assert.equal(await show.exited(), 0, show.output());
    assert.match(show.output(), /\nn4 normal tokens \d+\n/);
    const where = spawnCli(['store', 'where', 'a:0', '--server', n2Endpoint]);
    assert.equal(await where.exited(), 0, where.output());
    assert.equal(where.output().trim().split('\n').length, 3, `three replicas: ${where.output()}`);
    const afterJoin = acked.size;
    await until('writes go on after the join', 20_000, () => acked.size >= afterJoin + 100);

    assert.match(String(await n3.call('BARISTA', 'RING', 'LEAVE', 'n1')), /^OK ring version \d+$/);
    await until('the decommission completed on every node', 90_000, async () => {
      for (const r of [n1, n2, n3, n4]) {
        const text = await ring(r);
        if (/\nn1 /.test(text) || !/move none/.test(text)) return false;
      }
      return true;
    });
    const afterLeave = acked.size;
    await until('writes go on after the decommission', 20_000, () => acked.size >= afterLeave + 100);
    stop = true;
    const errors = (await Promise.all(writers)).flat();
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} writes failed while the ring moved`);

    // Every acknowledged key, through the nodes on the final ring, at QUORUM and at ALL.
    assert.equal(await n4.call('BARISTA', 'CONSISTENCY', 'ALL'), 'OK');
    let i = 0;
    for (const [key, value] of acked) {
      const r = i++ % 2 === 0 ? n3 : n4;
      assert.equal(await r.get(key), value, `${key} at ${r === n3 ? 'n3 (QUORUM)' : 'n4 (ALL)'}`);
    }
    assert.ok(acked.size >= 400, `writes acknowledged: ${acked.size}`);
  });
});
