// Goal (issue 10, cluster-aware clients, real processes): a 3-node `barista dev` cluster (N = 1)
// answers CLUSTER SLOTS/NODES so that ioredis' Cluster client spreads keys over every node by
// their slot, pipelines work, and after kill -9 of one node the keys of its slots fail with a
// clear error while every other key keeps working; redis-cli -c and redis-benchmark --cluster
// run against it (skipped when Debian's redis-tools are absent). Then the same cluster layout at
// N = 3 (made by `barista dev --replicas 3`, nodes then started by `barista node` at QUORUM):
// after kill -9 of one node the refreshed slot map leads no range with it and every key reads at
// QUORUM. Every wait is a bounded poll.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import type { ClusterFile } from '../../src/cli/cluster-file.ts';
import { keySlot } from '../../src/dynamo/slots.ts';
import { freePortRange, httpGet, type Spawned, spawnCli, stopProcess, tempDir, until } from '../integration/helpers.ts';

const tool = (name: string): string | false =>
  spawnSync(name, ['--version']).status === 0 ? false : `${name} (Debian redis-tools) is not installed`;
const KEYS = 300;
const b = (s: string) => new TextEncoder().encode(s);

describe('redis cluster clients against a 3-node barista dev cluster (N = 1)', () => {
  const dir = tempDir('baristas-redis-cluster-');
  let dev: Spawned;
  let cluster: ClusterFile;
  const clients: Array<Redis | Cluster> = [];
  const respPort = (i: number) => cluster.nodes[i]!.ports['resp']!;
  /** Commands the three nodes ran for another node (store_forwarded_total{outcome="served"}). */
  const forwardedServed = async (): Promise<number> => {
    let total = 0;
    for (const n of cluster.nodes) {
      const r = await httpGet(n.host, n.ports['admin']!, '/metrics');
      const m = /^store_forwarded_total\{outcome="served"\} (\d+)/m.exec(r.body);
      total += m === null ? 0 : Number(m[1]);
    }
    return total;
  };

  before(async () => {
    const basePort = await freePortRange(30);
    dev = spawnCli(['dev', '--data-dir', dir.path, '--base-port', String(basePort)]);
    await until('all three nodes healthy', 90_000, () => dev.output().includes('live view'));
    cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
    // Every node knows the ring and every endpoint: CLUSTER INFO says all 16384 slots are served.
    await until('every node serves the whole slot map', 30_000, async () => {
      for (let i = 0; i < 3; i++) {
        const r = new Redis({
          port: respPort(i),
          host: cluster.nodes[i]!.host,
          lazyConnect: true,
          maxRetriesPerRequest: 0,
        });
        try {
          await r.connect();
          const info = String(await r.call('CLUSTER', 'INFO'));
          if (!info.includes('cluster_slots_assigned:16384') || !info.includes('cluster_known_nodes:3')) return false;
        } catch {
          return false;
        } finally {
          r.disconnect();
        }
      }
      return true;
    });
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    if (dev) await stopProcess(dev.child, 10_000);
    dir.remove();
  });

  test('CLUSTER SLOTS names the three nodes; KEYSLOT is Redis slot', async () => {
    const r = new Redis({ port: respPort(0), host: cluster.nodes[0]!.host });
    clients.push(r);
    const slots = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
    const ports = new Set(slots.map((s) => s[2][1]));
    assert.deepEqual([...ports].sort(), [0, 1, 2].map(respPort).sort());
    assert.equal(await r.call('CLUSTER', 'KEYSLOT', 'foo'), 12182);
    assert.match(String(await r.info('server')), /redis_mode:cluster/);
  });

  test('redis-cli -c and redis-benchmark --cluster', {
    skip: tool('redis-cli') || tool('redis-benchmark'),
  }, async () => {
    const host = cluster.nodes[0]!.host;
    const cli = (...args: string[]) =>
      spawnSync('redis-cli', ['-c', '-h', host, '-p', String(respPort(0)), ...args], {
        encoding: 'utf8',
        timeout: 10_000,
      });
    const forwarded0 = await forwardedServed();
    for (let i = 0; i < 10; i++) assert.equal(cli('SET', `cli:${i}`, `c${i}`).stdout.trim(), 'OK');
    for (let i = 0; i < 10; i++) assert.equal(cli('GET', `cli:${i}`).stdout.trim(), `c${i}`);
    // Negative control for the ioredis test's forwarding check: a plain client on one node does
    // reach keys owned elsewhere through forwarding (no MOVED is ever sent).
    assert.ok((await forwardedServed()) > forwarded0, 'redis-cli on one node had keys forwarded');
    const bench = spawnSync(
      'redis-benchmark',
      ['--cluster', '-h', host, '-p', String(respPort(0)), '-t', 'set,get', '-n', '2000', '-c', '4', '-q'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const out = `${bench.stdout}${bench.stderr}`;
    assert.equal(bench.status, 0, out);
    assert.match(out, /Cluster has 3 master nodes/);
    assert.match(out, /SET: [\d.]+ requests per second/);
    assert.match(out, /GET: [\d.]+ requests per second/);
  });

  test('ioredis Cluster: keys spread by slot over every node, pipelines, then kill -9 of one node', async () => {
    const c = new Cluster([{ host: cluster.nodes[0]!.host, port: respPort(0) }], {
      clusterRetryStrategy: () => 100,
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 1000 },
    });
    clients.push(c);
    // Connection errors to the killed node are expected; counted, not printed by ioredis.
    let connectionErrors = 0;
    c.on('node error', () => connectionErrors++);
    c.on('error', () => connectionErrors++);
    await until('the cluster client is ready', 20_000, () => c.status === 'ready');
    assert.equal(c.nodes('master').length, 3, 'three masters');
    const before = await Promise.all(c.nodes('master').map((n) => n.dbsize()));
    const forwardedBefore = await forwardedServed();
    for (let i = 0; i < KEYS; i++) await c.set(`k:${i}`, `v${i}`);
    const p = c.pipeline();
    for (let i = 0; i < 20; i++) p.get(`{tag}:${i}`).set(`{tag}:${i}`, `t${i}`);
    const piped = await p.exec();
    assert.ok(
      piped?.every(([e]) => e === null),
      'pipeline without errors',
    );
    // Each key was sent straight to its slot's master: each node's own DBSIZE is its share.
    const sizes = (await Promise.all(c.nodes('master').map((n) => n.dbsize()))).map((n, i) => n - before[i]!);
    assert.equal(
      sizes.reduce((a, x) => a + x, 0),
      KEYS + 20,
    );
    assert.ok(
      sizes.every((n) => n > 0),
      `spread over every node: ${sizes}`,
    );
    // The slot map is right: no command needed forwarding to its owner.
    assert.equal(await forwardedServed(), forwardedBefore, 'every key went straight to its owner');
    for (let i = 0; i < KEYS; i += 7) assert.equal(await c.get(`k:${i}`), `v${i}`);

    // kill -9 node n3: its slots fail, the others' keys still work.
    const victim = cluster.nodes[2]!;
    const slotsOf = (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
    const victimSlots = slotsOf.filter((s) => s[2][1] === respPort(2));
    const onVictim = (k: string) => victimSlots.some(([lo, hi]) => keySlot(b(k)) >= lo && keySlot(b(k)) <= hi);
    process.kill(victim.pid!, 'SIGKILL');
    const keys = Array.from({ length: 60 }, (_, i) => `k:${i}`);
    const live = keys.filter((k) => !onVictim(k));
    const lost = keys.filter(onVictim);
    assert.ok(live.length > 0 && lost.length > 0);
    await until('reads of live nodes answer after the kill', 30_000, async () => {
      try {
        for (const k of live) if ((await c.get(k)) !== `v${k.slice(2)}`) return false;
        return true;
      } catch {
        return false;
      }
    });
    const errors: string[] = [];
    for (const k of lost.slice(0, 3)) {
      await c.get(k).then(
        (v) => assert.fail(`a key on the dead node answered ${v}`),
        (e: Error) => errors.push(e.message),
      );
    }
    assert.equal(errors.length, 3, errors.join(' | '));
    console.log(
      `after kill -9 of ${victim.id}: ${live.length} keys still read; the dead node's keys fail: ${errors[0]}`,
    );
  });
});

describe('ioredis Cluster against a 3-node cluster at N = 3 (QUORUM): kill -9 of one node, reads continue', () => {
  const dir = tempDir('baristas-redis-cluster-n3-');
  let cluster: ClusterFile;
  const nodes: Spawned[] = [];
  const clients: Cluster[] = [];

  before(async () => {
    // `barista dev --replicas 3` makes the cluster (ids, ports, node.json at N = 3: the ring records
    // the keyspace's N, so it cannot be changed afterwards); each node then runs with QUORUM.
    const basePort = await freePortRange(30);
    const dev = spawnCli([
      'dev',
      '--data-dir',
      dir.path,
      '--base-port',
      String(basePort),
      '--replicas',
      '3',
      '--exit-when-healthy',
    ]);
    assert.equal(await dev.exited(), 0, dev.output());
    cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
    for (const n of cluster.nodes) {
      const config = JSON.parse(readFileSync(n.config, 'utf8')) as Record<string, unknown>;
      config['store'] = { ...(config['store'] as object), consistency: 'QUORUM' };
      writeFileSync(n.config, JSON.stringify(config, null, 2));
      nodes.push(spawnCli(['node', '--config', n.config]));
    }
    await until('every node serves the whole slot map', 60_000, async () => {
      for (const n of cluster.nodes) {
        const r = new Redis({ port: n.ports['resp']!, host: n.host, lazyConnect: true, maxRetriesPerRequest: 0 });
        try {
          await r.connect();
          const info = String(await r.call('CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_known_nodes:3')) return false;
        } catch {
          return false;
        } finally {
          r.disconnect();
        }
      }
      return true;
    });
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    for (const n of nodes) await stopProcess(n.child, 10_000);
    dir.remove();
  });

  test('every key still reads after kill -9 of one node', async () => {
    const first = cluster.nodes[0]!;
    const c = new Cluster([{ host: first.host, port: first.ports['resp']! }], {
      clusterRetryStrategy: () => 100,
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 1000 },
    });
    clients.push(c);
    // Connection errors to the killed node are expected; counted, not printed by ioredis.
    let connectionErrors = 0;
    c.on('node error', () => connectionErrors++);
    c.on('error', () => connectionErrors++);
    await until('the cluster client is ready', 20_000, () => c.status === 'ready');
    const slots = (await c.call('CLUSTER', 'SLOTS')) as unknown[][];
    assert.ok(
      slots.every((s) => s.length === 5),
      'N = 3: a master and two replicas per range',
    );
    for (let i = 0; i < 100; i++) assert.equal(await c.set(`n3:${i}`, `v${i}`), 'OK');
    process.kill(nodes[2]!.child.pid!, 'SIGKILL');
    const t0 = Date.now();
    await until('every key reads again through the refreshed map', 60_000, async () => {
      try {
        c.refreshSlotsCache();
        for (let i = 0; i < 100; i++) if ((await c.get(`n3:${i}`)) !== `v${i}`) return false;
        return true;
      } catch {
        return false;
      }
    });
    console.log(
      `N = 3: all 100 keys read ${Date.now() - t0} ms after kill -9 of ${cluster.nodes[2]!.id} (${connectionErrors} connection errors seen)`,
    );
    const after = (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
    assert.ok(!after.some((s) => s[2][1] === cluster.nodes[2]!.ports['resp']), 'the dead node leads no range');
  });
});
