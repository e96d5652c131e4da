// Goal (issue 9, item 6): our ZooKeeper client (src/zkclient) and its recipes against a REAL Apache
// ZooKeeper 3.8 (Debian's package), an oracle independent of our own service: every op and its
// error codes, one-shot and persistent watches, auth and ACLs, multi, session expiry as the server
// declares it; the lock (one holder at a time, each waiter watching only its predecessor, counted
// by the server's own `wchs`; fencing tokens increasing), election, barriers, registry, and feature
// flags (live value, change seen, fallbacks, the server stopped). One standalone server for the
// file; the last test kills it. Skips with a message when java or the zookeeper package is absent.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AddWatchMode, CreateMode, EventType, KeeperState, Perm, WatcherType, ZkErr } from '../../src/coord/codes.ts';
import {
  booleanFlag,
  isZkError,
  jsonFlag,
  ZkBarrier,
  type ZkClient,
  ZkDoubleBarrier,
  ZkElection,
  ZkFlags,
  ZkLock,
  type ZkLockHandle,
  ZkServiceRegistry,
  type ZkWatchEvent,
} from '../../src/zkclient/index.ts';
import { connectZk } from '../../src/net/zk-tcp.ts';
import { runZk, type ZkCliOptions, ZK_EXIT } from '../../src/cli/zk.ts';
import { writeClusterFile } from '../../src/cli/cluster-file.ts';
import { tempDir } from '../integration/helpers.ts';
import { fourLetter, startZooKeeper, type ZkCluster, zookeeperUnavailable } from '../support/zookeeper-server.ts';

const unavailable = zookeeperUnavailable();
const skip = unavailable === undefined ? false : `real ZooKeeper unavailable: ${unavailable}`;
const waitMsMax = 10_000;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Polls `cond` every 10 ms until it holds, failing after a bound. */
async function until(what: string, cond: () => boolean | Promise<boolean>, boundMs = waitMsMax): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejectsWith(p: Promise<unknown>, zkErr: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isZkError(e), `not a ZkError: ${String(e)}`);
    assert.equal(e.zkErr, zkErr, String(e));
    return true;
  });
}

function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

describe('our ZooKeeper client against real ZooKeeper 3.8 (standalone)', { skip }, () => {
  let zk: ZkCluster;
  const clients: ZkClient[] = [];
  const client = async (): Promise<ZkClient> => {
    const c = connectZk({ connectString: zk.connectString, sessionTimeoutMs: 4_000 });
    clients.push(c);
    await c.ready();
    return c;
  };
  before(async () => {
    zk = await startZooKeeper({ serverCount: 1 });
  });
  /** The server's watch totals (4lw wchs): distinct paths watched and watches. */
  const watchTotals = async (): Promise<{ paths: number; watches: number }> => {
    const reply = await fourLetter(zk.servers[0]!.clientPort, 'wchs');
    const m = /watching (\d+) paths\s+Total watches:(\d+)/.exec(reply);
    assert.ok(m, `wchs answered ${reply}`);
    return { paths: Number(m[1]), watches: Number(m[2]) };
  };
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await zk?.stop();
  });

  test('session: negotiated timeout, every op, and its error codes', async () => {
    const c = await client();
    assert.equal(c.state, 'connected');
    assert.notEqual(c.sessionId, 0n);
    assert.equal(c.negotiatedTimeoutMs, 4_000);

    assert.equal(await c.create('/ops', 'root'), '/ops');
    const { path, stat } = await c.create2('/ops/a', 'one');
    assert.equal(path, '/ops/a');
    assert.equal(stat.version, 0);
    assert.equal(stat.dataLength, 3);
    assert.ok(c.lastZxidSeen >= stat.czxid);
    await rejectsWith(c.create('/ops/a'), ZkErr.nodeExists);
    await rejectsWith(c.create('/ops/none/x'), ZkErr.noNode);
    await rejectsWith(c.create('no-slash'), ZkErr.badArguments);

    const seq1 = await c.create('/ops/s-', 'x', { mode: CreateMode.persistentSequential });
    const seq2 = await c.create('/ops/s-', 'x', { mode: CreateMode.persistentSequential });
    assert.match(seq1, /^\/ops\/s-\d{10}$/);
    assert.ok(seq2 > seq1);
    const eph = await c.create('/ops/e', 'x', { mode: CreateMode.ephemeral });
    await rejectsWith(c.create(`${eph}/child`), ZkErr.noChildrenForEphemerals);
    assert.deepEqual(await c.getEphemerals('/ops'), ['/ops/e']);
    const container = await c.create2('/ops/c', '', { mode: CreateMode.container });
    assert.equal(container.stat.ephemeralOwner, 0n);
    // TTL nodes are off unless the server enables extended types (zookeeper.extendedTypesEnabled).
    await rejectsWith(
      c.create('/ops/ttl', 'x', { mode: CreateMode.persistentWithTtl, ttlMs: 1000 }),
      ZkErr.unimplemented,
    );

    const got = await c.getData('/ops/a');
    assert.equal(text(got.data), 'one');
    const set = await c.setData('/ops/a', 'two', 0);
    assert.equal(set.version, 1);
    await rejectsWith(c.setData('/ops/a', 'three', 0), ZkErr.badVersion);
    await rejectsWith(c.getData('/ops/missing'), ZkErr.noNode);
    assert.equal(await c.exists('/ops/missing'), null);
    assert.equal((await c.exists('/ops/a'))?.version, 1);

    const kids = await c.getChildren('/ops');
    assert.deepEqual(kids.children.sort(), ['a', 'c', 'e', seq1.slice(5), seq2.slice(5)].sort());
    assert.equal(kids.stat.numChildren, 5);
    assert.equal(await c.getAllChildrenNumber('/ops'), 5);
    assert.equal(await c.sync('/ops'), '/ops');
    await rejectsWith(c.delete('/ops'), ZkErr.notEmpty);
    await rejectsWith(c.delete('/ops/a', 7), ZkErr.badVersion);
    await c.delete('/ops/a', 1);
    await rejectsWith(c.delete('/ops/a'), ZkErr.noNode);

    const acl = await c.getACL('/ops');
    assert.deepEqual(acl.acl, [{ perms: Perm.all, id: { scheme: 'world', id: 'anyone' } }]);
    await rejectsWith(c.setACL('/ops', acl.acl, 5), ZkErr.badVersion);
    const setAcl = await c.setACL(
      '/ops',
      [{ perms: Perm.read | Perm.create | Perm.delete, id: { scheme: 'world', id: 'anyone' } }],
      0,
    );
    assert.equal(setAcl.aversion, 1);
    await rejectsWith(c.setACL('/ops', acl.acl), ZkErr.noAuth); // ADMIN is gone
    await rejectsWith(c.setData('/ops', 'no write perm'), ZkErr.noAuth);
    assert.deepEqual(await c.whoAmI(), [{ authScheme: 'ip', user: '127.0.0.1' }]);
  });

  test('multi is all or nothing with per-op results; multiRead answers each read', async () => {
    const c = await client();
    await c.create('/m');
    const ok = await c.multi([
      { op: 'create', path: '/m/x', data: '1' },
      { op: 'setData', path: '/m/x', data: '2', version: 0 },
      { op: 'check', path: '/m/x', version: 1 },
      { op: 'create', path: '/m/y' },
      { op: 'delete', path: '/m/y' },
    ]);
    assert.deepEqual(
      ok.map((r) => r.op),
      ['create', 'setData', 'check', 'create', 'delete'],
    );
    await assert.rejects(
      c.multi([
        { op: 'create', path: '/m/z' },
        { op: 'check', path: '/m/x', version: 0 },
      ]),
      (e: unknown) => {
        assert.ok(isZkError(e, ZkErr.badVersion), String(e));
        assert.deepEqual(e.results, [
          { op: 'error', zkErr: ZkErr.ok },
          { op: 'error', zkErr: ZkErr.badVersion },
        ]);
        return true;
      },
    );
    assert.equal(await c.exists('/m/z'), null);
    const reads = await c.multiRead([
      { op: 'getData', path: '/m/x' },
      { op: 'getChildren', path: '/m' },
      { op: 'getData', path: '/m/none' },
    ]);
    assert.equal(reads[0]?.op === 'getData' && text(reads[0].data ?? new Uint8Array()), '2');
    assert.deepEqual(reads[1], { op: 'getChildren', children: ['x'] });
    assert.deepEqual(reads[2], { op: 'error', zkErr: ZkErr.noNode });
  });

  test('watches: one-shot data/exist/child watches fire once; persistent ones stay; removeWatches', async () => {
    const a = await client();
    const b = await client();
    await a.create('/w');
    const events: string[] = [];
    const log =
      (tag: string) =>
      (e: ZkWatchEvent): void => {
        events.push(`${tag}:${e.type}:${e.path}`);
      };
    await a.create('/w/d', 'v0');
    await a.getData('/w/d', log('data'));
    assert.equal(await a.exists('/w/new', log('exist')), null);
    await a.getChildren('/w', log('child'));
    await b.setData('/w/d', 'v1');
    await b.setData('/w/d', 'v2'); // the one-shot watch fired already: no second event
    await b.create('/w/new');
    await until('three one-shot events', () => events.length >= 3);
    await a.sync('/w'); // everything b did is now behind a's session
    assert.deepEqual(events.sort(), [
      `child:${EventType.nodeChildrenChanged}:/w`,
      `data:${EventType.nodeDataChanged}:/w/d`,
      `exist:${EventType.nodeCreated}:/w/new`,
    ]);
    assert.equal(a.watcherCount, 0);

    const persistent: string[] = [];
    const recursive: string[] = [];
    await a.addWatch('/w', (e) => persistent.push(`${e.type}:${e.path}`), AddWatchMode.persistent);
    await a.addWatch('/w', (e) => recursive.push(`${e.type}:${e.path}`), AddWatchMode.persistentRecursive);
    await b.setData('/w', 'p1');
    await b.setData('/w', 'p2');
    await b.setData('/w/d', 'deep');
    await until('persistent events', () => persistent.length >= 2 && recursive.length >= 3);
    assert.deepEqual(persistent, [`${EventType.nodeDataChanged}:/w`, `${EventType.nodeDataChanged}:/w`]);
    assert.deepEqual(recursive, [
      `${EventType.nodeDataChanged}:/w`,
      `${EventType.nodeDataChanged}:/w`,
      `${EventType.nodeDataChanged}:/w/d`,
    ]);

    const removed: number[] = [];
    await a.getData('/w/d', (e) => removed.push(e.type));
    await a.removeWatches('/w/d', WatcherType.data);
    assert.deepEqual(await new Promise((r) => setImmediate(() => r(removed))), [EventType.dataWatchRemoved]);
    await rejectsWith(a.removeWatches('/w/d', WatcherType.data), ZkErr.noWatcher);
    await b.setData('/w/d', 'after-remove');
    await a.sync('/w');
    assert.deepEqual(removed, [EventType.dataWatchRemoved]);
  });

  test('auth: digest ACLs refuse other identities until addAuth', async () => {
    const alice = await client();
    const other = await client();
    await alice.addAuth('digest', 'alice:secret');
    await alice.create('/secure', 'hidden', {
      acl: [{ perms: Perm.all, id: { scheme: 'digest', id: digestId('alice', 'secret') } }],
    });
    await rejectsWith(other.getData('/secure'), ZkErr.noAuth);
    await other.addAuth('digest', 'alice:wrong');
    await rejectsWith(other.getData('/secure'), ZkErr.noAuth);
    await other.addAuth('digest', 'alice:secret');
    assert.equal(text((await other.getData('/secure')).data), 'hidden');
    const who = await alice.whoAmI();
    assert.ok(
      who.some((i) => i.authScheme === 'digest' && i.user === 'alice'),
      JSON.stringify(who),
    );
  });

  test('session expiry: the server says so; the ephemerals go; watchers hear it; requests fail', async () => {
    const a = await client();
    await a.create('/exp-e', '', { mode: CreateMode.ephemeral });
    const heard: ZkWatchEvent[] = [];
    await a.exists('/exp-none', (e) => heard.push(e));
    const states: number[] = [];
    a.onState((e) => states.push(e.state));
    // ZooKeeper's own trick: another connection resumes the session and closes it, so the server
    // ends it now. The server closes `a`'s connection when the thief takes the session over; a
    // waits a random pause (reconnectJitterMs) before reconnecting, and its reconnect is answered
    // "expired". Should a's pause draw shorter than the thief's closeSession takes, a takes the
    // session back first (the thief's connection is closed under it) and the trick is repeated.
    for (let round = 1; ; round++) {
      const connects = states.filter((s) => s === KeeperState.syncConnected).length;
      const thief = connectZk({
        connectString: zk.connectString,
        sessionTimeoutMs: 4_000,
        session: { sessionId: a.sessionId, passwd: a.sessionPasswd },
      });
      await thief.ready();
      assert.equal(thief.sessionId, a.sessionId);
      await thief.close();
      // a learns it on its next connection, which may wait out its read timeout on a loaded machine.
      const back = (): boolean => states.filter((s) => s === KeeperState.syncConnected).length > connects;
      await until('a expired or took its session back', () => a.state === 'expired' || back(), 30_000);
      if (a.state === 'expired') break;
      assert.ok(round < 3, `a took its session back ${round} times: states ${states}`);
    }
    assert.ok(states.includes(KeeperState.expired), `states ${states}`);
    await until('the watcher heard the expiry', () => heard.length === 1);
    assert.deepEqual(heard, [{ type: EventType.none, state: KeeperState.expired, path: null }]);
    await rejectsWith(a.getData('/'), ZkErr.sessionExpired);
    const b = await client();
    assert.equal(await b.exists('/exp-e'), null);
  });

  test('lock: one holder at a time, each waiter watches only its predecessor, fencing tokens increase', async () => {
    const [c1, c2, c3] = [await client(), await client(), await client()];
    const before = await watchTotals(); // earlier tests' persistent watches stay
    const locks = [c1, c2, c3].map((c) => new ZkLock(c, '/locks/l1'));
    const h1 = await locks[0]!.acquire();
    const p2 = locks[1]!.acquire();
    await until('c2 waits', () => locks[1]!.watching !== null);
    const p3 = locks[2]!.acquire();
    await until('c3 waits', () => locks[2]!.watching !== null);
    assert.equal(locks[1]!.watching, h1.path);
    assert.notEqual(locks[2]!.watching, h1.path, 'c3 must watch c2, not the holder (herd effect)');
    // The server's own count: exactly two more watches, on two distinct paths (one per waiter,
    // each on its predecessor; a herd would be two watches on the holder's one path).
    assert.deepEqual(await watchTotals(), { paths: before.paths + 2, watches: before.watches + 2 });
    assert.match(locks[2]!.watching ?? '', /^\/locks\/l1\/lock-/);
    let done2 = false;
    void p2.then(() => {
      done2 = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done2, false, 'c2 must not hold the lock while c1 does');
    await h1.release();
    const h2 = await p2;
    assert.equal(locks[2]!.watching, h2.path);
    await h2.release();
    const h3 = await p3;
    assert.ok(h1.fencingToken < h2.fencingToken && h2.fencingToken < h3.fencingToken);
    await h3.release();

    // Three contenders in loops: never two holders; tokens strictly increase in holding order.
    let holders = 0;
    let maxHolders = 0;
    const tokens: bigint[] = [];
    await Promise.all(
      locks.map(async (lock) => {
        for (let i = 0; i < 3; i++) {
          const h: ZkLockHandle = await lock.acquire();
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          tokens.push(h.fencingToken);
          await new Promise((r) => setImmediate(r)); // let the other contenders run while held
          holders--;
          await h.release();
        }
      }),
    );
    assert.equal(maxHolders, 1);
    assert.equal(tokens.length, 9);
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i - 1]! < tokens[i]!, `tokens ${tokens}`);
    // No watch outlives its wait: a predecessor gone before the waiter looked leaves none behind.
    for (const c of [c1, c2, c3]) assert.equal(c.watcherCount, 0);
  });

  test('election: the first candidate leads; when its session ends the next leads with a larger token', async () => {
    const c1 = await client();
    const c2 = await client();
    const e1 = new ZkElection(c1, '/election');
    const e2 = new ZkElection(c2, '/election');
    const l1 = await e1.campaign('node-1');
    const p2 = e2.campaign('node-2');
    await until('c2 waits', () => e2.watching !== null);
    assert.equal(e2.watching, l1.path);
    assert.equal(text((await e2.leader())!.data), 'node-1');
    await c1.close(); // the leader's process goes: its ephemeral child goes with its session
    const l2 = await p2;
    assert.ok(l2.fencingToken > l1.fencingToken);
    assert.equal(text((await e2.leader())!.data), 'node-2');
    await l2.resign();
    assert.equal(await e2.leader(), null);
  });

  test('barriers: pass() waits for lower(); a double barrier lets all in together', async () => {
    const [a, b, c] = [await client(), await client(), await client()];
    const barrier = new ZkBarrier(a, '/barriers/b1');
    await barrier.raise();
    let passed = 0;
    const waiting = [b, c].map((x) => new ZkBarrier(x, '/barriers/b1').pass().then(() => passed++));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(passed, 0);
    await barrier.lower();
    await Promise.all(waiting);
    assert.equal(passed, 2);

    const entered: string[] = [];
    const enter = (x: ZkClient, name: string) =>
      new ZkDoubleBarrier(x, '/barriers/d1', 3, name).enter().then(() => entered.push(name));
    const first = [enter(a, 'a'), enter(b, 'b')];
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(entered, []);
    await Promise.all([...first, enter(c, 'c')]);
    assert.deepEqual(entered.sort(), ['a', 'b', 'c']);
    await Promise.all(['a', 'b', 'c'].map((n, i) => new ZkDoubleBarrier([a, b, c][i]!, '/barriers/d1', 3, n).leave()));
  });

  test('registry: members come and go (also with their session), watchers see each list', async () => {
    const [a, b, watcherClient] = [await client(), await client(), await client()];
    const seen: string[][] = [];
    const registry = new ZkServiceRegistry(watcherClient);
    const stop = registry.watch('api', (members) => seen.push(members.map((m) => `${m.instance}=${text(m.data)}`)));
    await until('empty list', () => seen.length >= 1);
    const unregisterA = await new ZkServiceRegistry(a).register('api', 'a', '127.0.0.1:1');
    await new ZkServiceRegistry(b).register('api', 'b', '127.0.0.1:2');
    await until('both', () => seen.at(-1)?.length === 2);
    assert.deepEqual(seen.at(-1), ['a=127.0.0.1:1', 'b=127.0.0.1:2']);
    await unregisterA();
    await until('b only', () => seen.at(-1)?.join() === 'b=127.0.0.1:2');
    await b.close();
    await until('none', () => seen.at(-1)?.length === 0);
    stop();
    assert.deepEqual(
      (await registry.members('api')).map((m) => m.instance),
      [],
    );
  });

  test('barista zk: zkCli-like output and exit codes; the connect string from cluster.json', async () => {
    const dir = tempDir('baristas-zkcli-');
    try {
      const port = zk.servers[0]!.clientPort;
      writeClusterFile(dir.path, {
        clusterId: 'c',
        dataDir: dir.path,
        ready: true,
        nodes: [
          {
            id: 'n1',
            pid: null,
            host: '127.0.0.1',
            ports: { peer: 1, admin: 2, zookeeper: port },
            dataDir: '',
            config: '',
          },
        ],
      });
      const cli = async (command: ZkCliOptions['command'], args: string[], more: Partial<ZkCliOptions> = {}) => {
        let out = '';
        let err = '';
        const code = await runZk(
          {
            command,
            args,
            server: undefined,
            dataDir: dir.path,
            sessionTimeoutMs: 4_000,
            connectTimeoutMs: 5_000,
            ...more,
          },
          { out: (t) => void (out += t), err: (t) => void (err += t) },
        );
        return { code, out, err };
      };
      assert.deepEqual(await cli('create', ['/cli', 'hello']), { code: 0, out: 'Created /cli\n', err: '' });
      assert.deepEqual(await cli('create', ['/cli', 'again']), {
        code: ZK_EXIT.compareFailed,
        out: '',
        err: 'Node already exists: /cli\n',
      });
      assert.deepEqual(await cli('create', ['/cli/s-'], { sequential: true }), {
        code: 0,
        out: 'Created /cli/s-0000000000\n',
        err: '',
      });
      assert.deepEqual(await cli('ls', ['/cli']), { code: 0, out: '[s-0000000000]\n', err: '' });
      assert.deepEqual(await cli('ls', ['/cli'], { recursive: true }), {
        code: 0,
        out: '/cli\n/cli/s-0000000000\n',
        err: '',
      });
      const got = await cli('get', ['/cli'], { stat: true });
      assert.equal(got.code, 0);
      assert.match(
        got.out,
        /^hello\ncZxid = 0x[0-9a-f]+\nctime = .*\n[\s\S]*dataVersion = 0\n[\s\S]*numChildren = 1\n$/,
      );
      assert.deepEqual(await cli('set', ['/cli', 'x'], { version: 7 }), {
        code: ZK_EXIT.compareFailed,
        out: '',
        err: 'version No is not valid : /cli\n',
      });
      assert.equal((await cli('set', ['/cli', 'world'])).code, 0);
      assert.match((await cli('stat', ['/cli'])).out, /dataVersion = 1\n/);
      assert.deepEqual(await cli('get', ['/none']), {
        code: ZK_EXIT.notFound,
        out: '',
        err: 'Node does not exist: /none\n',
      });
      assert.deepEqual(await cli('delete', ['/cli']), {
        code: ZK_EXIT.rejected,
        out: '',
        err: 'Node not empty: /cli\n',
      });
      assert.equal((await cli('acl', ['set', '/cli', 'world:anyone:r'])).code, 0);
      assert.deepEqual(await cli('acl', ['get', '/cli']), { code: 0, out: "'world,'anyone\n: r\n", err: '' });
      assert.deepEqual(await cli('set', ['/cli', 'no']), {
        code: ZK_EXIT.rejected,
        out: '',
        err: 'Insufficient permission : /cli\n',
      });

      const other = await client();
      await other.create('/cli-w', 'v0');
      const baseline = (await watchTotals()).watches;
      const watching = cli('watch', ['/cli-w'], { count: 1 });
      await until('the CLI watch is on the server', async () => (await watchTotals()).watches === baseline + 1);
      await other.setData('/cli-w', 'v1');
      assert.deepEqual(await watching, {
        code: 0,
        out: 'WatchedEvent state:SyncConnected type:NodeDataChanged path:/cli-w\n',
        err: '',
      });
      const unreachable = await runZk(
        {
          command: 'ls',
          args: ['/'],
          server: '127.0.0.1:1',
          dataDir: dir.path,
          sessionTimeoutMs: 1_000,
          connectTimeoutMs: 300,
        },
        { out: () => undefined, err: () => undefined },
      );
      assert.equal(unreachable, ZK_EXIT.unavailable);
    } finally {
      dir.remove();
    }
  });

  test('flags: live values, changes seen, fallbacks when missing, unreadable, and the server stopped', async () => {
    const admin = await client();
    const c = await client();
    const frontend = booleanFlag('frontend', false);
    const antiEntropy = booleanFlag('anti-entropy', true);
    const limit = jsonFlag('rate', 10, (v) => {
      if (typeof v !== 'number') throw new TypeError('not a number');
      return v;
    });
    await admin.create('/baristas').catch((e) => assert.ok(isZkError(e, ZkErr.nodeExists)));
    await admin.create('/baristas/flags');
    await admin.create('/baristas/flags/frontend', 'on');
    await admin.create('/baristas/flags/rate', '25');
    const flags = new ZkFlags(c, [frontend, antiEntropy, limit]);
    await flags.loaded();
    assert.deepEqual(flags.get(frontend), { value: true, source: 'live', version: 0 });
    assert.deepEqual(flags.get(limit), { value: 25, source: 'live', version: 0 });
    assert.deepEqual(flags.get(antiEntropy), { value: true, source: 'fallback', reason: 'missing' });

    await admin.setData('/baristas/flags/frontend', 'off');
    await until('the change is seen', () => flags.get(frontend).value === false);
    assert.equal(flags.get(frontend).source, 'live');
    await admin.create('/baristas/flags/anti-entropy', 'false');
    await until('the created flag is seen', () => flags.get(antiEntropy).source === 'live');
    assert.equal(flags.get(antiEntropy).value, false);
    await admin.setData('/baristas/flags/rate', '"fast"');
    await until('unreadable', () => flags.get(limit).source === 'fallback');
    assert.deepEqual(flags.get(limit), { value: 10, source: 'fallback', reason: 'unreadable' });

    // The coordination service goes away: every flag falls back to its fail-safe default.
    zk.servers[0]!.child.kill('SIGKILL');
    await until('fallbacks', () => flags.snapshot().every((f) => f.source === 'fallback'));
    assert.deepEqual(flags.get(frontend), { value: false, source: 'fallback', reason: 'unreachable' });
    assert.deepEqual(flags.get(antiEntropy), { value: true, source: 'fallback', reason: 'unreachable' });
    flags.stop();
  });
});
