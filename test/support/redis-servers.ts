// Real RESP servers for tests and benchmarks, as processes with a PID (the benchmark reads their
// CPU): Debian's redis-server 7.0 on a free loopback port (no persistence, or AOF with appendfsync
// everysec / always; redis-server.ts has the in-process exchange helper for the data model's live
// comparisons), and one Baristas node process
// (`barista node --config`, a one-node cluster) with a chosen `store` section. Each waits, within
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
