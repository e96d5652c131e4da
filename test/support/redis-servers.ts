// Real RESP servers for tests and benchmarks, as processes with a PID (the benchmark reads their
// CPU): Debian's redis-server 7.0 on a free loopback port (no persistence, or AOF with appendfsync
// everysec / always; redis-server.ts has the in-process exchange helper for the data model's live
// comparisons), and one Baristas node process
// (`barista node --config`, a one-node cluster) with a chosen `store` section, or a cluster of them
// (startStoreCluster: N > 1 and a default consistency level in the `store` section). Each waits, within
// a bound, until its server answers PING; stop() kills the process and removes its directory.

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePortRange, spawnCli, stopProcess, tempDir, until } from '../integration/helpers.ts';

export { redisServerUnavailable } from './redis-server.ts';

export interface RunningRespServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Every process of the server (a cluster's nodes); absent: just `pid`. */
  readonly pids?: readonly number[];
  /** Everything the process printed (Baristas node) or '' (redis-server logs to its file). */
  output(): string;
  stop(): Promise<void>;
}

/** Whether something on host:port answers PING with +PONG. */
export function pingOnce(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let got = '';
    const done = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (c) => {
      got += c.toString('latin1');
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
    s.on('error', () => done(false));
  });
}

export type RedisPersistence = 'none' | 'everysec' | 'always';

/** redis-server 7.0 with the persistence mode of /work/shared/anchors/redis.sh. */
export async function startRedisServer(persistence: RedisPersistence = 'none'): Promise<RunningRespServer> {
  const dir = tempDir('redis-server-');
  const port = await freePortRange(1);
  const persist =
    persistence === 'none'
      ? ['--save', '', '--appendonly', 'no']
      : ['--save', '', '--appendonly', 'yes', '--appendfsync', persistence];
  const child: ChildProcess = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir.path, '--daemonize', 'no', ...persist],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    await stopProcess(child, 5_000);
    dir.remove();
  };
  try {
    await until(`redis-server on ${port}`, 20_000, () => pingOnce('127.0.0.1', port), 50);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    name: `redis-server (${persistence === 'none' ? 'no persistence' : `appendfsync ${persistence}`})`,
    host: '127.0.0.1',
    port,
    pid: child.pid!,
    output: () => '',
    stop,
  };
}

/** One Baristas node (a one-node cluster) whose store section is `store`. */
export async function startStoreNode(store: Record<string, unknown> = {}): Promise<RunningRespServer> {
  const dir = tempDir('baristas-store-');
  const base = await freePortRange(4);
  const config = join(dir.path, 'node.json');
  writeFileSync(
    config,
    JSON.stringify({
      nodeId: 'n1',
      clusterId: 'store-test',
      dataDir: join(dir.path, 'n1'),
      host: '127.0.0.1',
      ports: { peer: base, admin: base + 1, zookeeper: base + 2, resp: base + 3 },
      peers: [],
      store,
    }),
  );
  const node = spawnCli(['node', '--config', config]);
  const port = base + 3;
  const stop = async () => {
    await stopProcess(node.child, 10_000);
    dir.remove();
  };
  try {
    await until(`Baristas node's resp port ${port}`, 60_000, () => {
      if (node.child.exitCode !== null) throw new Error(`the node exited: ${node.output()}`);
      return pingOnce('127.0.0.1', port);
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const sync = typeof store['sync'] === 'string' ? store['sync'] : 'periodic';
  return {
    name: `Baristas (sync ${sync})`,
    host: '127.0.0.1',
    port,
    pid: node.child.pid!,
    output: node.output,
    stop,
  };
}

/**
 * A cluster of `count` Baristas node processes (like `barista dev`, without its supervisor) whose
 * store section is `store` (e.g. `{ replication: { replicas: 3 }, consistency: 'QUORUM' }`). Ready
 * once every node answers PING on its resp port and places a probe key on N replicas. The
 * RunningRespServer is the first node (clients connect there); `stop` stops every node.
 */
export async function startStoreCluster(
  count: number,
  store: Record<string, unknown> = {},
): Promise<RunningRespServer & { readonly nodes: readonly { host: string; port: number; pid: number }[] }> {
  const dir = tempDir('baristas-store-cluster-');
  const base = await freePortRange(10 * count);
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const portsOf = (i: number) => ({
    peer: base + 10 * i,
    admin: base + 10 * i + 1,
    zookeeper: base + 10 * i + 2,
    resp: base + 10 * i + 3,
  });
  const procs = ids.map((id, i) => {
    const config = join(dir.path, `${id}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        nodeId: id,
        clusterId: 'store-cluster',
        dataDir: join(dir.path, id),
        initialClusterState: 'new',
        host: '127.0.0.1',
        ports: portsOf(i),
        peers: ids
          .filter((p) => p !== id)
          .map((p) => ({ id: p, host: '127.0.0.1', port: portsOf(ids.indexOf(p)).peer })),
        store,
      }),
    );
    return spawnCli(['node', '--config', config]);
  });
  const stop = async () => {
    await Promise.all(procs.map((p) => stopProcess(p.child, 10_000)));
    dir.remove();
  };
  const replication = store['replication'] as { replicas?: number } | undefined;
  const n = Math.min(count, replication?.replicas ?? 1);
  try {
    for (const [i, p] of procs.entries()) {
      const port = portsOf(i).resp;
      await until(`node ${ids[i]}'s resp port ${port}`, 60_000, () => {
        if (p.child.exitCode !== null) throw new Error(`${ids[i]} exited: ${p.output()}`);
        return pingOnce('127.0.0.1', port);
      });
    }
    // The ring is committed through the metadata group; each node must know it, and know it
    // current (a node coordinates only after a read barrier on that group: ring-keeper.ts).
    await until('every node places a key on its replicas and coordinates', 60_000, async () => {
      for (let i = 0; i < count; i++) {
        const where = await respCommand('127.0.0.1', portsOf(i).resp, ['BARISTA', 'WHERE', 'probe']);
        if (!where.startsWith(`*${n}\r\n`)) return false;
        if (n > 1 && (await respCommand('127.0.0.1', portsOf(i).resp, ['GET', 'probe'])).startsWith('-')) return false;
      }
      return true;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const level = typeof store['consistency'] === 'string' ? store['consistency'] : 'QUORUM';
  return {
    name: `Baristas ${count} nodes, N=${n}, ${level}`,
    host: '127.0.0.1',
    port: portsOf(0).resp,
    pid: procs[0]!.child.pid!,
    pids: procs.map((p) => p.child.pid!),
    nodes: procs.map((p, i) => ({ host: '127.0.0.1', port: portsOf(i).resp, pid: p.child.pid! })),
    output: () => procs.map((p) => p.output()).join('\n'),
    stop,
  };
}

/** Sends one command on a fresh connection; resolves with the raw reply bytes as latin1 (bounded wait). */
function respCommand(host: string, port: number, argv: readonly string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${host}:${port}`));
    }, timeoutMs);
    socket.on('data', (c) => {
      text += c.toString('latin1');
      if (text.endsWith('\r\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(text);
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.write(`*${argv.length}\r\n${argv.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}
