// Real Apache ZooKeeper servers (Debian's `zookeeper` package, 3.8) started from a test: one
// standalone server or a 3-server ensemble on free loopback ports, data in a temporary directory,
// the four-letter words monitoring tools use whitelisted, a bounded readiness wait (`srvr` on each
// client port must answer with a Mode line), and stop() by PID that kills the JVMs and removes the
// directory. Callers put stop() in a `finally` (or t.after), so a failing test leaves nothing behind.
//
// Debian ships no launcher for a hand-started server: we run the main class from zookeeper.jar (its
// manifest Class-Path brings the dependencies) with slf4j-simple as the log binding, logs to a file
// in the temporary directory (its tail is quoted when a server does not come up).
// Ports are the OS's (bind port 0, read it, close), all drawn at once so they are distinct; a port
// taken by someone else between close and the JVM's bind shows up as a readiness failure that says so.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { stopProcess, tempDir } from '../integration/helpers.ts';

export const zookeeperJar = '/usr/share/java/zookeeper.jar';
const slf4jSimpleJar = '/usr/share/java/slf4j-simple.jar';
export const zkCliPath = '/usr/share/zookeeper/bin/zkCli.sh';
const host = '127.0.0.1';
const fourLetterWords = 'srvr,stat,mntr,conf,envi,ruok,cons,wchs,dump,isro';
const readyMsMax = 60_000;
const fourLetterReplyMsMax = 3_000;
const fourLetterReplyBytesMax = 1 << 20;
const stopGraceMs = 5_000;

/** Why real ZooKeeper tests cannot run here (java or the zookeeper package missing), or undefined. */
export function zookeeperUnavailable(): string | undefined {
  for (const f of [zookeeperJar, slf4jSimpleJar, zkCliPath]) {
    if (!existsSync(f)) return `${f} is missing: install Debian's zookeeper package (apt-get install zookeeper)`;
  }
  const java = spawnSync('java', ['-version'], { stdio: 'ignore', timeout: 20_000 });
  if (java.error !== undefined || java.status !== 0) return 'java is not on PATH (the zookeeper package pulls it in)';
  return undefined;
}

/** `count` distinct ports the OS reports free on loopback right now. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, host, () => resolve());
      });
    }
    return servers.map((s) => {
      const a = s.address();
      if (a === null || typeof a === 'string') throw new Error('listen(0) gave no port');
      return a.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Sends a four-letter word and returns the whole reply (the server closes after answering). */
export function fourLetter(port: number, word: string, boundMs = fourLetterReplyMsMax): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`4lw ${word} on ${host}:${port}: no complete reply within ${boundMs} ms`));
    }, boundMs);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.length > fourLetterReplyBytesMax)
        socket.destroy(new Error(`4lw ${word}: reply over ${fourLetterReplyBytesMax} bytes`));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

export interface ZkServerProcess {
  readonly id: number;
  readonly clientPort: number;
  readonly logPath: string;
  readonly child: ChildProcess;
}

export interface ZkCluster {
  /** host:port[,host:port...] for clients. */
  readonly connectString: string;
  readonly servers: readonly ZkServerProcess[];
  /** Kills every server (TERM, then KILL after a grace) and removes the data directory. Idempotent. */
  stop(): Promise<void>;
}

export interface ZkStartOptions {
  /** 1 = standalone (ZooKeeperServerMain), 3 = an ensemble (QuorumPeerMain). */
  readonly serverCount: 1 | 3;
  readonly heapMb?: number;
  readonly readyMs?: number;
  /**
   * fsync the transaction log before acknowledging (ZooKeeper's default and the anchors' ensemble).
   * Tests leave it off; a benchmark against our fsynced writes turns it on.
   */
  readonly forceSync?: boolean;
  /**
   * JVM options replacing the tests' (a -Xmx of heapMb, the serial GC, C1 only: quick to start,
   * slow to run). A benchmark passes a server's: e.g. the anchors' ['-Xms512m', '-Xmx512m'].
   */
  readonly jvmArgs?: readonly string[];
}

function configText(o: {
  dataDir: string;
  clientPort: number;
  peers: readonly string[] | undefined;
  forceSync: boolean;
}): string {
  return [
    'tickTime=2000',
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${o.dataDir}`,
    `clientPort=${o.clientPort}`,
    `clientPortAddress=${host}`,
    'maxClientCnxns=200',
    'admin.enableServer=false',
    `4lw.commands.whitelist=${fourLetterWords}`,
    // Tests do not need durability across machine crashes; skipping fsync keeps them cheap.
    `forceSync=${o.forceSync ? 'yes' : 'no'}`,
    ...(o.peers ?? []),
    '',
  ].join('\n');
}

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `srvr` until it reports a mode; fails at once if the JVM exits, or after boundMs. */
async function waitReady(s: ZkServerProcess, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  let last = '';
  for (;;) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) {
      throw new Error(
        `ZooKeeper server ${s.id} exited (${s.child.exitCode ?? s.child.signalCode}); log:\n${tail(s.logPath)}`,
      );
    }
    try {
      const reply = await fourLetter(s.clientPort, 'srvr', 1_000);
      if (/^Mode: (standalone|leader|follower)$/m.test(reply)) return;
      last = reply.trim().split('\n')[0] ?? '';
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `ZooKeeper server ${s.id} on ${host}:${s.clientPort} not ready after ${boundMs} ms (last: ${last}); log:\n${tail(s.logPath)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts ZooKeeper and waits (bounded) until every server answers `srvr` with its mode. */
export async function startZooKeeper(options: ZkStartOptions): Promise<ZkCluster> {
  const n = options.serverCount;
  const dir = tempDir('baristas-zk-');
  const ports = await freePorts(n * 3);
  const clientPorts = ports.slice(0, n);
  const peers =
    n === 1 ? undefined : clientPorts.map((_, i) => `server.${i + 1}=${host}:${ports[n + i]}:${ports[2 * n + i]}`);
  const mainClass =
    n === 1 ? 'org.apache.zookeeper.server.ZooKeeperServerMain' : 'org.apache.zookeeper.server.quorum.QuorumPeerMain';
  const servers: ZkServerProcess[] = [];
  let stopped = false;
  // Last resort if the test process ends without stop() (an uncaught error, process.exit): JVMs
  // outlive their parent otherwise. Only a synchronous kill can run in an 'exit' handler.
  const killOnExit = (): void => {
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    await Promise.all(servers.map((s) => stopProcess(s.child, stopGraceMs)));
    dir.remove();
  };
  try {
    for (let i = 0; i < n; i++) {
      const id = i + 1;
      const serverDir = join(dir.path, `zk${id}`);
      const dataDir = join(serverDir, 'data');
      mkdirSync(dataDir, { recursive: true });
      if (n > 1) writeFileSync(join(dataDir, 'myid'), `${id}\n`);
      const cfg = join(serverDir, 'zoo.cfg');
      writeFileSync(
        cfg,
        configText({ dataDir, clientPort: clientPorts[i]!, peers, forceSync: options.forceSync ?? false }),
      );
      const logPath = join(serverDir, 'server.log');
      const logFd = openSync(logPath, 'a');
      const child = spawn(
        'java',
        [
          ...(options.jvmArgs ?? [`-Xmx${options.heapMb ?? 256}m`, '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1']),
          '-Djava.net.preferIPv4Stack=true',
          '-cp',
          `${zookeeperJar}:${slf4jSimpleJar}`,
          mainClass,
          cfg,
        ],
        { stdio: ['ignore', logFd, logFd] },
      );
      closeSync(logFd);
      servers.push({ id, clientPort: clientPorts[i]!, logPath, child });
    }
    const boundMs = options.readyMs ?? readyMsMax;
    await Promise.all(servers.map((s) => waitReady(s, boundMs)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { connectString: clientPorts.map((p) => `${host}:${p}`).join(','), servers, stop };
}
