// Goal (issue 9, real processes): a real ZooKeeper client library (node-zookeeper-client 1.1.3)
// against a 3-node `barista dev` cluster's zookeeper ports: connect, create/get/set/delete,
// exists, getChildren, sequential names, a watch fires once with the right event, an ephemeral
// is gone (seen from another node) once its session closes, and the four-letter words answer on
// the same port. Every wait is a bounded poll or a client callback with a deadline.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import zookeeper from 'node-zookeeper-client';
import type { ClusterFile } from '../../src/cli/cluster-file.ts';
import { zkCall } from '../support/zk-call.ts';
import { freePortRange, type Spawned, spawnCli, stopProcess, tempDir, until } from './helpers.ts';

type Client = zookeeper.Client;

const deadlineMs = 15_000;

/** A node-style callback call as a promise that fails after deadlineMs. */
function call<T>(what: string, start: (cb: (error: unknown, value?: T) => void) => void): Promise<T> {
  return zkCall(what, start, deadlineMs);
}

async function connected(connect: string, sessionTimeout = 6000): Promise<Client> {
  const client = zookeeper.createClient(connect, { sessionTimeout, spinDelay: 200, retries: 3 });
  await call<void>('connect', (cb) => {
    client.once('connected', () => cb(null));
    client.connect();
  });
  return client;
}

/** Sends a four-letter word and reads until the server closes the connection. */
function fourLetter(host: string, port: number, word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, host, () => socket.write(word));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${word}: the server did not close within ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('data', (d) => {
      text += d.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe('coord: node-zookeeper-client against a 3-node barista dev cluster', () => {
  const dir = tempDir('baristas-zk-');
  let dev: Spawned;
  let cluster: ClusterFile;
  const clients: Client[] = [];
  const zkAddress = (i: number) => `${cluster.nodes[i]!.host}:${cluster.nodes[i]!.ports['zookeeper']}`;

  before(async () => {
    const basePort = await freePortRange(30);
    dev = spawnCli(['dev', '--data-dir', dir.path, '--base-port', String(basePort)]);
    await until('all three nodes healthy', 60_000, () => dev.output().includes('live view'));
    cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
    // The coord group has elected a leader once ruok... srvr says leader somewhere.
    await until('a coord leader', 20_000, async () => {
      const modes = await Promise.all(
        cluster.nodes.map((n) => fourLetter(n.host, n.ports['zookeeper']!, 'srvr').catch(() => '')),
      );
      return modes.some((m) => m.includes('Mode: leader'));
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    if (dev) await stopProcess(dev.child, 10_000);
    dir.remove();
  });

  test('ruok and srvr answer on the zookeeper port', async () => {
    const n = cluster.nodes[0]!;
    assert.equal(await fourLetter(n.host, n.ports['zookeeper']!, 'ruok'), 'imok');
    const srvr = await fourLetter(n.host, n.ports['zookeeper']!, 'srvr');
    assert.match(srvr, /^Zookeeper version: /);
    assert.match(srvr, /\nMode: (leader|follower)\n/);
  });

  test('create, get, set, exists, getChildren, delete through one node; read back through another', async () => {
    const a = await connected(zkAddress(0));
    const b = await connected(zkAddress(1));
    clients.push(a, b);
    const created = await call<string>('create', (cb) =>
      a.create('/app', Buffer.from('v1'), zookeeper.CreateMode.PERSISTENT, cb),
    );
    assert.equal(created, '/app');
    const [data] = await call<[Buffer, zookeeper.Stat]>('getData', (cb) =>
      a.getData('/app', (e, d, s) => cb(e, [d, s])),
    );
    assert.equal(data.toString(), 'v1');
    const stat = await call<zookeeper.Stat>('setData', (cb) => a.setData('/app', Buffer.from('v2'), 0, cb));
    assert.equal(stat.version, 1);
    // b sees a's write once it syncs; per-session FIFO on b itself is exercised below.
    await until('b reads v2', deadlineMs, async () => {
      const [d] = await call<[Buffer, zookeeper.Stat]>('getData b', (cb) =>
        b.getData('/app', (e, d2, s) => cb(e, [d2, s])),
      );
      return d.toString() === 'v2';
    });
    const seq = await call<string>('create sequential', (cb) =>
      b.create('/app/job-', Buffer.from(''), zookeeper.CreateMode.PERSISTENT_SEQUENTIAL, cb),
    );
    assert.equal(seq, '/app/job-0000000000');
    const children = await call<string[]>('getChildren', (cb) => b.getChildren('/app', cb));
    assert.deepEqual(children, ['job-0000000000']);
    const exists = await call<zookeeper.Stat | null>('exists', (cb) => b.exists('/app/nothing', cb));
    assert.equal(exists ?? null, null);
    await assert.rejects(
      call('create existing', (cb) => a.create('/app', cb)),
      (e: unknown) => e instanceof zookeeper.Exception && e.getCode() === zookeeper.Exception.NODE_EXISTS,
    );
    await call<void>('delete', (cb) => b.remove('/app/job-0000000000', -1, cb));
    await call<void>('delete', (cb) => b.remove('/app', -1, cb));
    // Another session on another node sees the delete once its node has applied it (ZooKeeper's
    // reads are sequentially consistent, not linearizable across sessions): bounded wait.
    await until(
      'a sees /app gone',
      deadlineMs,
      async () => (await call<unknown>('exists', (cb) => a.exists('/app', cb))) == null,
    );
  });

  test('a data watch fires once, as NODE_DATA_CHANGED, before the reply to the write seen', async () => {
    const a = await connected(zkAddress(0));
    const b = await connected(zkAddress(2));
    clients.push(a, b);
    await call<string>('create', (cb) => a.create('/w', Buffer.from('0'), cb));
    await until(
      'b sees /w',
      deadlineMs,
      async () => (await call<unknown>('exists', (cb) => b.exists('/w', cb))) != null,
    );
    const events: zookeeper.Event[] = [];
    await call<unknown>('getData with watch', (cb) =>
      b.getData(
        '/w',
        (event) => events.push(event),
        (e, d) => cb(e, d),
      ),
    );
    await call<unknown>('setData', (cb) => a.setData('/w', Buffer.from('1'), cb));
    await until('the watch fired', deadlineMs, () => events.length > 0);
    assert.equal(events[0]!.getType(), zookeeper.Event.NODE_DATA_CHANGED);
    assert.equal(events[0]!.getPath(), '/w');
    await call<unknown>('setData', (cb) => a.setData('/w', Buffer.from('2'), cb));
    // Once b reads '2' its node has applied the second change (and any event for it is sent
    // before that reply, per session order): only then does one event prove the watch one-shot.
    await until('b reads 2', deadlineMs, async () => {
      const [d] = await call<[Buffer, zookeeper.Stat]>('getData', (cb) =>
        b.getData('/w', (e, d2, s) => cb(e, [d2, s])),
      );
      return d.toString() === '2';
    });
    assert.equal(events.length, 1, 'one-shot');
  });

  test('multi: all or nothing; ACL with addauth digest: others get NO_AUTH', async () => {
    const a = await connected(zkAddress(0));
    const b = await connected(zkAddress(1));
    clients.push(a, b);
    const results = await call<unknown[]>('multi', (cb) =>
      a.transaction().create('/m').create('/m/1', Buffer.from('x')).setData('/m', Buffer.from('y'), 0).commit(cb),
    );
    assert.equal(results.length, 3);
    await assert.rejects(
      call('failing multi', (cb) => a.transaction().create('/m/2').check('/m', 7).commit(cb)),
      (e: unknown) => e instanceof zookeeper.Exception && e.getCode() === zookeeper.Exception.BAD_VERSION,
    );
    const kids = await call<string[]>('getChildren', (cb) => a.getChildren('/m', cb));
    assert.deepEqual(kids, ['1'], 'the failed multi left nothing behind');

    a.addAuthInfo('digest', Buffer.from('alice:secret'));
    const acl = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('auth', ''))];
    await call<string>('create with auth ACL', (cb) =>
      a.create('/private', Buffer.from('s'), acl, zookeeper.CreateMode.PERSISTENT, cb),
    );
    const [data] = await call<[Buffer, zookeeper.Stat]>('owner reads', (cb) =>
      a.getData('/private', (e, d, st) => cb(e, [d, st])),
    );
    assert.equal(data.toString(), 's');
    await until(
      'b sees /private',
      deadlineMs,
      async () => (await call<unknown>('exists', (cb) => b.exists('/private', cb))) != null,
    );
    await assert.rejects(
      call('stranger reads', (cb) => b.getData('/private', cb)),
      (e: unknown) => e instanceof zookeeper.Exception && e.getCode() === zookeeper.Exception.NO_AUTH,
    );
  });

  test('an ephemeral is gone, seen from another node, once its session closes', async () => {
    const a = await connected(zkAddress(1));
    const b = await connected(zkAddress(0));
    clients.push(a, b); // closing twice is harmless; a failure before a.close() must not leak it
    await call<string>('create ephemeral', (cb) =>
      a.create('/eph', Buffer.from('x'), zookeeper.CreateMode.EPHEMERAL, cb),
    );
    await until(
      'b sees /eph',
      deadlineMs,
      async () => (await call<unknown>('exists', (cb) => b.exists('/eph', cb))) != null,
    );
    a.close();
    await until('b no longer sees /eph', 2 * deadlineMs, async () => {
      const s = await call<unknown>('exists', (cb) => b.exists('/eph', cb));
      return s == null;
    });
  });

  // Last: it kills a node. The client moves to another node with its session, ephemeral and watch.
  test('kill -9 the node a client is connected to: it reconnects elsewhere and keeps session, ephemeral and watch', async () => {
    const all = cluster.nodes.map((_, i) => zkAddress(i)).join(',');
    // node-zookeeper-client re-sends its watches on reconnect as a setWatches numbered like any
    // request: the reply must echo that xid (a fixed -8 made it drop every new connection).
    const a = await connected(all, 6000);
    const b = await connected(all, 6000);
    clients.push(a, b);
    const before = a.getSessionId().toString('hex');
    await call<string>('create ephemeral', (cb) =>
      a.create('/kept', Buffer.from('1'), zookeeper.CreateMode.EPHEMERAL, cb),
    );
    await call<string>('create watched', (cb) => b.create('/watched', Buffer.from('0'), cb));
    await until(
      'a sees /watched',
      deadlineMs,
      async () => (await call<unknown>('exists', (cb) => a.exists('/watched', cb))) != null,
    );
    const events: zookeeper.Event[] = [];
    await call<unknown>('getData with watch', (cb) =>
      a.getData(
        '/watched',
        (e) => events.push(e),
        (e, d) => cb(e, d),
      ),
    );
    // Which node holds a's connection: `stat` lists each node's clients; a's is the one b is not.
    const local = (a as unknown as { connectionManager: { socket: { localPort: number } } }).connectionManager.socket
      .localPort;
    let victim = -1;
    for (const [i, n] of cluster.nodes.entries()) {
      const stat = await fourLetter(n.host, n.ports['zookeeper']!, 'stat');
      if (stat.includes(`:${local}[`)) victim = i;
    }
    assert.ok(victim >= 0, "found the node of a's connection");
    const pid = cluster.nodes[victim]!.pid;
    assert.ok(pid !== null && pid > 0);
    process.kill(pid, 'SIGKILL');
    await until('a reconnected', 15_000, async () => {
      try {
        await call<unknown>('exists', (cb) => a.exists('/kept', cb));
        return true;
      } catch {
        return false;
      }
    });
    assert.equal(a.getSessionId().toString('hex'), before, 'the same session');
    const kept = await call<zookeeper.Stat | null>('exists', (cb) => b.exists('/kept', cb));
    assert.ok(kept != null, 'its ephemeral survived the move');
    await call<unknown>('setData', (cb) => b.setData('/watched', Buffer.from('1'), cb));
    await until('the watch set before the kill fired after the move', 10_000, () => events.length > 0);
    assert.equal(events[0]!.getType(), zookeeper.Event.NODE_DATA_CHANGED);
  });
});
