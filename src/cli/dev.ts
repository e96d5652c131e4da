// `barista dev`: a local cluster of N node processes on 127.0.0.1 — the embedded default and
// `npm start`. It spawns the nodes, writes them to <data-dir>/cluster.json with `"ready": false`,
// shows progress until every node answers /ready (it serves: a linearizable read through Raft
// succeeded there), then rewrites cluster.json with `"ready": true` (atomically, so a script can
// poll it and then write at once), prints each endpoint, and keeps a compact live status (who is
// alive as each node sees it). On SIGINT (Ctrl-C), SIGTERM or SIGHUP, at any point, it stops every
// node gracefully (SIGTERM, then SIGKILL after a bound). Each node holds an IPC channel to this
// supervisor and stops by itself when the channel closes, so even a SIGKILLed supervisor leaves no
// node behind holding the ports. Restarting on the same data dir recovers the same cluster: node
// ids, ports and cluster id come from the existing cluster.json, data from each node's directory.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { ConfigError } from '../lib/errors.ts';
import type { NodeConfigInput } from '../node/config.ts';
import { registeredProtocols } from '../node/registry.ts';
import { type ClusterFile, type ClusterNode, readClusterFile, writeClusterFile } from './cluster-file.ts';
import { cliArgv, colours as pc, httpGet } from './common.ts';
import { limits } from '../lib/limits.ts';

export interface DevOptions {
  readonly nodes: number | undefined;
  readonly dataDir: string;
  readonly basePort: number;
  readonly host: string;
  /** Stop after the cluster is healthy (for scripted smoke tests). */
  readonly exitWhenHealthy: boolean;
  readonly healthTimeoutMs: number;
  /** The store's N (store.replication.replicas) for a new cluster; an existing one keeps its own. */
  readonly replicas?: number | undefined;
  /**
   * store.conflicts for every node (absent: the cluster's recorded one, else the default). Unlike
   * N it may change on a restart: both modes keep the same stored states.
   */
  readonly conflicts?: ClusterFile['conflicts'];
  /**
   * store.replication.collections (how sets, hashes and lists are kept at N > 1) for a new
   * cluster (absent: rows at N > 1); an existing one keeps its own (the layouts do not read each
   * other's data).
   */
  readonly collections?: ClusterFile['collections'];
}

const PORTS_PER_NODE = 10;
const NODES_MAX = limits.devNodesMax;
const STOP_GRACE_MS = 5_000;
const STATUS_PERIOD_MS = 1_000;
/** A /ready probe may wait on a Raft read; the node bounds it by its request timeout. */
const READY_PROBE_TIMEOUT_MS = 2_000;
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Node `index`'s ports, by protocol name: `peer` at base+10i, `admin` at +1, then each client
 * protocol the registered services declare, in registry order, at +2, +3, ... (at most
 * PORTS_PER_NODE per node, so nodes never overlap).
 */
export function portsFor(
  basePort: number,
  index: number,
  protocols: readonly string[] = registeredProtocols(),
): Record<string, number> {
  const names = ['peer', 'admin', ...protocols];
  if (names.length > PORTS_PER_NODE)
    throw new ConfigError('--base-port', `${names.length} ports per node do not fit in ${PORTS_PER_NODE}`);
  const base = basePort + index * PORTS_PER_NODE;
  return Object.fromEntries(names.map((name, k) => [name, base + k]));
}

/** A cluster.json written before a service's protocol existed lacks its port: add it after the others. */
function withMissingPorts(node: ClusterNode, basePort: number, index: number): ClusterNode {
  const wanted = portsFor(basePort, index);
  const missing = Object.keys(wanted).filter((name) => node.ports[name] === undefined);
  if (missing.length === 0) return node;
  const used = new Set(Object.values(node.ports));
  const ports = { ...node.ports };
  let next = node.ports['peer']! + 1;
  for (const name of missing) {
    while (used.has(next)) next++;
    ports[name] = next;
    used.add(next);
  }
  return { ...node, ports };
}

/** The cluster.json this run uses: the one in the data dir (checked against the options), or a new one. */
export function planCluster(o: DevOptions): ClusterFile {
  const dataDir = resolve(o.dataDir);
  const existing = readClusterFile(dataDir);
  if (existing !== undefined) {
    if (o.nodes !== undefined && o.nodes !== existing.nodes.length) {
      throw new ConfigError(
        '--nodes',
        `${dataDir} holds a ${existing.nodes.length}-node cluster; use another --data-dir or remove it to start ${o.nodes} nodes`,
      );
    }
    if (o.replicas !== undefined && o.replicas !== (existing.replicas ?? 1)) {
      throw new ConfigError(
        '--replicas',
        `${dataDir} holds a cluster with ${existing.replicas ?? 1} replica(s) per key; use another --data-dir or remove it to start with ${o.replicas}`,
      );
    }
    if (o.collections !== undefined && o.collections !== (existing.collections ?? 'whole')) {
      throw new ConfigError(
        '--collections',
        `${dataDir} holds a cluster keeping collections ${existing.collections ?? 'whole'}; use another --data-dir or remove it to start with ${o.collections}`,
      );
    }
    return {
      ...existing,
      ...(o.conflicts === undefined ? {} : { conflicts: o.conflicts }),
      nodes: existing.nodes.map((n, i) => withMissingPorts(n, o.basePort, i)),
    };
  }
  const replicas = o.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > limits.ringReplicasCountMax) {
    throw new ConfigError('--replicas', `must be an integer from 1 to ${limits.ringReplicasCountMax}, got ${replicas}`);
  }
  const count = o.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > NODES_MAX) {
    throw new ConfigError('--nodes', `must be an integer from 1 to ${NODES_MAX}, got ${count}`);
  }
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  return {
    clusterId: 'baristas-dev',
    dataDir,
    ready: false,
    replicas,
    ...(o.conflicts === undefined ? {} : { conflicts: o.conflicts }),
    // A new cluster at N > 1 keeps collections in rows unless told otherwise (recorded: a later
    // run keeps it; clusters created before rows were the default recorded nothing: whole).
    ...(o.collections === undefined && replicas === 1 ? {} : { collections: o.collections ?? 'rows' }),
    nodes: ids.map((id, i) => ({
      id,
      pid: null,
      host: o.host,
      ports: portsFor(o.basePort, i),
      dataDir: join(dataDir, id),
      config: join(dataDir, id, 'node.json'),
    })),
  };
}

/** `fresh`: this run creates the cluster (no cluster.json yet), so empty data dirs bootstrap it. */
export function nodeConfig(cluster: ClusterFile, node: ClusterNode, fresh: boolean): NodeConfigInput {
  return {
    nodeId: node.id,
    clusterId: cluster.clusterId,
    dataDir: node.dataDir,
    // Afterwards an empty data dir means lost data: the node refuses to vote (src/node/identity.ts).
    initialClusterState: fresh ? 'new' : 'existing',
    host: node.host,
    // Every port by protocol name: the platform's and each service's (config.ts checks they are all there).
    ports: { ...node.ports },
    peers: cluster.nodes
      .filter((p) => p.id !== node.id)
      .map((p) => ({ id: p.id, host: p.host, port: p.ports['peer']! })),
    store: {
      // The RESP endpoint cluster-aware clients are told (CLUSTER SLOTS): the address nodes bind.
      announceHost: node.host,
      // N > 1: every key on `replicas` nodes through the Dynamo replica (src/services/store/replication).
      ...((cluster.replicas ?? 1) > 1
        ? {
            replication: {
              replicas: cluster.replicas,
              // A cluster file that recorded no layout was made when the default was whole: its
              // nodes say so, or a wiped node would start a new store in rows (the default now).
              collections: cluster.collections ?? 'whole',
            },
          }
        : {}),
      ...(cluster.conflicts === undefined ? {} : { conflicts: cluster.conflicts }),
    },
  };
}

/** Whether `port` can be bound right now: undefined if free, else the bind error. */
export function probePort(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => done(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(undefined)));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function checkFree(cluster: ClusterFile): Promise<void> {
  const running = cluster.nodes.filter((n) => n.pid !== null && pidAlive(n.pid));
  if (running.length > 0) {
    throw new ConfigError(
      '--data-dir',
      `a cluster from ${cluster.dataDir} is already running (pids ${running.map((n) => n.pid).join(', ')}); stop it first`,
    );
  }
  for (const node of cluster.nodes) {
    for (const [name, port] of Object.entries(node.ports)) {
      const err = await probePort(node.host, port);
      if (err !== undefined) {
        const why = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${err.code ?? err.message})`;
        throw new ConfigError(
          '--base-port',
          `port ${port} (${node.id} ${name}) on ${node.host} ${why}; choose another --base-port`,
        );
      }
    }
  }
}

/**
 * Resolves once every node answers /ready in the same round (so a node that was ready early and
 * lost its leader since does not count), or with the signal that interrupted the wait.
 */
async function waitReady(
  cluster: ClusterFile,
  children: Map<string, ChildProcess>,
  timeoutMs: number,
  interrupted: () => NodeJS.Signals | undefined,
  out: (s: string) => void,
): Promise<NodeJS.Signals | undefined> {
  const seenReady = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (interrupted() !== undefined) return interrupted();
    for (const node of cluster.nodes) {
      const child = children.get(node.id)!;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ConfigError(
          node.id,
          `node exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); see ${join(node.dataDir, 'node.log')}`,
        );
      }
    }
    // All at once: one node's probe may wait on a Raft read for up to READY_PROBE_TIMEOUT_MS.
    const answers = await Promise.all(
      cluster.nodes.map((node) =>
        httpGet(node.host, node.ports['admin']!, '/ready', READY_PROBE_TIMEOUT_MS).then(
          (r) => r.status === 200,
          () => false, // not listening yet, or the probe's read timed out
        ),
      ),
    );
    cluster.nodes.forEach((node, i) => {
      if (!answers[i] || seenReady.has(node.id)) return;
      seenReady.add(node.id);
      out(`  ${pc.green('✓')} ${node.id} ready (${seenReady.size}/${cluster.nodes.length})\n`);
    });
    if (answers.every((a) => a)) return interrupted();
    if (Date.now() > deadline) {
      const missing = cluster.nodes.filter((_, i) => !answers[i]).map((n) => n.id);
      throw new ConfigError('--health-timeout-ms', `nodes not ready after ${timeoutMs} ms: ${missing.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const STATUS_GLYPH: Record<string, string> = {
  alive: pc.green('●'),
  suspect: pc.yellow('◐'),
  dead: pc.red('○'),
  unknown: pc.dim('?'),
};

async function statusLine(cluster: ClusterFile): Promise<string> {
  const parts: string[] = [];
  /** Leader per Raft group, in the order the nodes report them. */
  const leaders = new Map<string, string>();
  for (const node of cluster.nodes) {
    try {
      const r = await httpGet(node.host, node.ports['admin']!, '/status', 500);
      const s = JSON.parse(r.body) as {
        services?: { membership?: { peers: Array<{ id: string; status: string }> } };
        groups?: Record<string, { role: string; term: number; commitIndex: number }>;
      };
      const peers = s.services?.membership?.peers ?? [];
      parts.push(`${node.id}:[${peers.map((p) => `${p.id}${STATUS_GLYPH[p.status] ?? '?'}`).join(' ')}]`);
      for (const [name, g] of Object.entries(s.groups ?? {}))
        if (g.role === 'leader') leaders.set(name, `${name}: ${pc.bold(node.id)} t${g.term} c${g.commitIndex}`);
    } catch {
      parts.push(`${node.id}:${pc.red('down')}`);
    }
  }
  const raft = leaders.size === 0 ? pc.yellow('raft: no leader') : `leaders ${[...leaders.values()].join(', ')}`;
  return `${parts.join('  ')}  ${raft}`;
}

export async function runDev(
  o: DevOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const fresh = readClusterFile(resolve(o.dataDir)) === undefined;
  const cluster = planCluster(o);
  await checkFree(cluster);
  mkdirSync(cluster.dataDir, { recursive: true });
  out(
    `${pc.bold('barista dev')}: starting ${cluster.nodes.length} nodes (cluster ${cluster.clusterId}, data ${cluster.dataDir})\n`,
  );

  // From here on a stop signal, whenever it comes, stops the nodes (before, there are none).
  let signalled: NodeJS.Signals | undefined;
  let onStopSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const stopSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) return;
    signalled = signal;
    onStopSignal?.(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, stopSignal);
  try {
    return await superviseCluster(cluster, o, fresh, out, {
      signalled: () => signalled,
      onStopSignal: (f) => {
        onStopSignal = f;
        if (signalled !== undefined) f(signalled);
      },
    });
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, stopSignal);
  }
}

interface StopSignals {
  /** The stop signal received so far, if any. */
  signalled(): NodeJS.Signals | undefined;
  /** Calls `f` on the first stop signal (at once if it already came). */
  onStopSignal(f: (signal: NodeJS.Signals) => void): void;
}

/**
 * A supervisor's budget of restarts per node: at most `max` in any `windowMs` (more is a crash
 * loop, and the node stays down with its exit reported). Returns whether `id` may restart at `nowMs`.
 */
export function restartBudget(max: number, windowMs: number): (id: string, nowMs: number) => boolean {
  const recent = new Map<string, number[]>();
  return (id, nowMs) => {
    const times = (recent.get(id) ?? []).filter((t) => nowMs - t < windowMs);
    const allowed = times.length < max;
    if (allowed) times.push(nowMs);
    recent.set(id, times);
    return allowed;
  };
}

/** A node's exit code asking its supervisor to start it again (EX_TEMPFAIL; src/node/main.ts). */
const EXIT_RESTART_ME = 75;
/** More exits to restart than this in a minute: the supervisor gives up on the node (a crash loop). */
const RESTARTS_PER_MINUTE_MAX = 5;

async function superviseCluster(
  cluster: ClusterFile,
  o: DevOptions,
  /** This run creates the cluster: nodes bootstrap it (initialClusterState 'new'). */
  fresh: boolean,
  out: (s: string) => void,
  signals: StopSignals,
): Promise<number> {
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  // Not ready until every node serves; a file left by a killed supervisor may still say ready.
  cluster.ready = false;
  const mayRestart = restartBudget(RESTARTS_PER_MINUTE_MAX, 60_000);
  const start = (node: ClusterNode): void => {
    const logFd = openSync(join(node.dataDir, 'node.log'), 'a');
    // The 'ipc' channel is the node's lifeline: it stops when the channel closes (src/node/main.ts).
    const child = spawn(process.execPath, [...cliArgv(), 'node', '--config', node.config], {
      stdio: ['ignore', logFd, logFd, 'ipc'],
    });
    closeSync(logFd);
    children.set(node.id, child);
    node.pid = child.pid ?? null;
    child.on('exit', (code, signal) => {
      node.pid = null;
      if (!stopping && code === EXIT_RESTART_ME && mayRestart(node.id, Date.now())) {
        // EX_TEMPFAIL: the node stopped on purpose to start again (its incarnation was behind what
        // a peer knew: src/membership/membership.ts); as the simulator's supervisor does, start it.
        out(`${pc.yellow('!')} ${node.id} exited to restart (code ${code}); starting it again\n`);
        start(node);
        writeClusterFile(cluster.dataDir, cluster);
        return;
      }
      cluster.ready = false;
      writeClusterFile(cluster.dataDir, cluster);
      if (!stopping)
        out(
          `${pc.red('!')} ${node.id} exited (code ${code}, signal ${signal}); see ${join(node.dataDir, 'node.log')}\n`,
        );
    });
  };
  for (const node of cluster.nodes) {
    mkdirSync(node.dataDir, { recursive: true });
    writeFileSync(node.config, `${JSON.stringify(nodeConfig(cluster, node, fresh), null, 2)}\n`);
    start(node);
  }
  writeClusterFile(cluster.dataDir, cluster);

  const stopAll = async (): Promise<void> => {
    stopping = true;
    cluster.ready = false;
    const alive = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    const exited = alive.map((c) => new Promise<void>((r) => c.once('exit', () => r())));
    for (const c of alive) c.kill('SIGTERM');
    const grace = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_GRACE_MS).unref());
    if ((await Promise.race([Promise.all(exited), grace])) === 'timeout') {
      for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await Promise.all(exited);
    }
    for (const n of cluster.nodes) n.pid = null;
    writeClusterFile(cluster.dataDir, cluster);
  };

  let interrupted: NodeJS.Signals | undefined;
  try {
    interrupted = await waitReady(cluster, children, o.healthTimeoutMs, signals.signalled, out);
  } catch (err) {
    await stopAll();
    throw err;
  }
  if (interrupted !== undefined) {
    out(`\n${interrupted}: stopping ${cluster.nodes.length} nodes...\n`);
    await stopAll();
    out('stopped\n');
    return 0;
  }
  // Every node serves, so each wrote its identity: from now on an empty data dir is lost data,
  // also for a node restarted by hand with `barista node --config` (etcd's initial-cluster-state).
  if (fresh) {
    for (const node of cluster.nodes)
      writeFileSync(node.config, `${JSON.stringify(nodeConfig(cluster, node, false), null, 2)}\n`);
  }
  cluster.ready = true;
  writeClusterFile(cluster.dataDir, cluster);

  out(`\n${pc.bold('endpoints')} (also in ${join(cluster.dataDir, 'cluster.json')}, now "ready": true):\n`);
  for (const n of cluster.nodes) {
    const ports = Object.entries(n.ports)
      .map(([name, port]) => `${name} ${n.host}:${port}`)
      .join('  ');
    out(`  ${n.id}  pid ${n.pid}  ${ports}  http://${n.host}:${n.ports['admin']}/metrics\n`);
  }
  if (o.exitWhenHealthy) {
    await stopAll();
    out('all nodes ready; stopped (--exit-when-healthy)\n');
    return 0;
  }
  out(`\nlive view (each node's view of its peers; Ctrl-C stops the cluster):\n`);

  return await new Promise<number>((resolveExit) => {
    let last = '';
    const tty = process.stdout.isTTY === true;
    const timer = setInterval(() => {
      void statusLine(cluster).then((line) => {
        if (stopping) return;
        if (tty) out(`\r\x1b[2K${line}`);
        else if (line !== last) out(`${line}\n`);
        last = line;
      });
    }, STATUS_PERIOD_MS);
    signals.onStopSignal((signal) => {
      clearInterval(timer);
      out(`\n${signal}: stopping ${cluster.nodes.length} nodes...\n`);
      void stopAll().then(() => {
        out('stopped\n');
        resolveExit(0);
      });
    });
  });
}
