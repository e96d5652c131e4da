// Goal (issue 9, item 6 and the kill -9 acceptance): our ZooKeeper client keeps its session across
// the death of the server it is connected to, on a real 3-server ZooKeeper 3.8 ensemble: it moves
// to another member with sessionId + passwd + lastZxidSeen, the session's ephemeral node is still
// there, and its watch (re-registered with setWatches2) fires exactly once for a change made after
// the kill. The client starts on a follower (the ensemble keeps its leader, so the test measures the
// client, not an election). Skips with a message when java or the zookeeper package is absent.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateMode, EventType, KeeperState } from '../../src/coord/codes.ts';
import type { ZkClient, ZkWatchEvent } from '../../src/zkclient/index.ts';
import { connectZk, tcpIo } from '../../src/net/zk-tcp.ts';
import { fourLetter, startZooKeeper, type ZkCluster, zookeeperUnavailable } from '../support/zookeeper-server.ts';

const unavailable = zookeeperUnavailable();
// Three JVMs: on by default (the only real-server check of the client's failover);
// ZK_COMPAT_ENSEMBLE=0 leaves it out, as for the harness's own ensemble test.
const skip =
  unavailable !== undefined
    ? `real ZooKeeper unavailable: ${unavailable}`
    : process.env.ZK_COMPAT_ENSEMBLE === '0'
      ? 'ZK_COMPAT_ENSEMBLE=0: 3-server ensemble left out'
      : false;

async function until(what: string, cond: () => boolean | Promise<boolean>, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('our ZooKeeper client against a real 3-server ZooKeeper 3.8 ensemble', { skip }, () => {
  let zk: ZkCluster;
  const clients: ZkClient[] = [];
  before(async () => {
    zk = await startZooKeeper({ serverCount: 3 });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await zk?.stop();
  });

  test('kill -9 the connected server: the session, its ephemeral and its watch survive on another member', async () => {
    const modes = await Promise.all(
      zk.servers.map(async (s) => /^Mode: (\w+)/m.exec(await fourLetter(s.clientPort, 'srvr'))?.[1]),
    );
    const follower = zk.servers[modes.indexOf('follower')]!;
    const others = zk.servers.filter((s) => s !== follower);
    const endpoint = (port: number): string => `127.0.0.1:${port}`;
    // No rng: the connect string in order (the follower first), as the kill below needs.
    const { rng: _random, ...inOrder } = tcpIo();
    const a = connectZk(
      { connectString: [follower, ...others].map((s) => endpoint(s.clientPort)), sessionTimeoutMs: 8_000 },
      inOrder,
    );
    const b = connectZk({ connectString: endpoint(others[0]!.clientPort), sessionTimeoutMs: 8_000 });
    clients.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    assert.equal(a.connectedEndpoint, endpoint(follower.clientPort));
    const sessionId = a.sessionId;
    const states: number[] = [];
    a.onState((e) => states.push(e.state));

    await a.create('/k-eph', 'mine', { mode: CreateMode.ephemeral });
    await a.create('/k-data', 'v0');
    const events: ZkWatchEvent[] = [];
    await a.getData('/k-data', (e) => events.push(e));
    const zxidBefore = a.lastZxidSeen;

    follower.child.kill('SIGKILL');
    await until(
      'a is on another member',
      () => a.state === 'connected' && a.connectedEndpoint !== endpoint(follower.clientPort),
    );
    assert.equal(a.sessionId, sessionId, 'the same session');
    assert.deepEqual(states.slice(0, 2), [KeeperState.disconnected, KeeperState.syncConnected]);
    assert.ok(a.lastZxidSeen >= zxidBefore);

    await b.sync('/');
    const eph = await b.getData('/k-eph');
    assert.equal(eph.stat.ephemeralOwner, sessionId, 'the ephemeral survived with its owner');
    assert.deepEqual(await a.getEphemerals('/'), ['/k-eph']);

    await b.setData('/k-data', 'v1');
    await until('the watch fired', () => events.length >= 1);
    await b.setData('/k-data', 'v2');
    await a.sync('/k-data'); // b's second write is now behind a's session: a second event would be here
    assert.deepEqual(events, [{ type: EventType.nodeDataChanged, state: KeeperState.syncConnected, path: '/k-data' }]);
  });
});
