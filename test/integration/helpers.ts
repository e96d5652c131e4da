// Helpers for tests that run real barista processes on loopback: free port ranges, spawning the
// CLI, bounded polling (never sleep-and-hope), and cleanup that cannot leave processes behind.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliArgv, httpGet } from '../../src/cli/common.ts';
import { probePort } from '../../src/cli/dev.ts';

export { httpGet };

/**
 * Where ports are picked: below the kernel's ephemeral range, so a connection's local port (a
 * client's, or a test's own probe) cannot take a port between the check and the bind. Before, bases
 * were drawn from 20000-50000, which overlaps Linux's default 32768-60999: a bench's node then lost
 * its resp port to a redis-benchmark connection now and then.
 */
function pickRange(span: number): { low: number; size: number } {
  let ephemeralLow = 32_768;
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isSafeInteger(first) && first > 0) ephemeralLow = first;
  } catch {
    // not Linux: keep the default's low end
  }
  const low = 10_000;
  return ephemeralLow - span > low + 1000 ? { low, size: ephemeralLow - span - low } : { low: 20_000, size: 30_000 };
}

/** Ports a claim covers: ranges start at multiples of this, so two claims overlap only if equal. */
const PORT_BLOCK = 100;
/** One file per claimed block, holding the claiming process' pid (shared by every test process). */
const PORT_CLAIMS_DIR = join(tmpdir(), 'baristas-test-port-claims');
const claimedHere: string[] = [];

/** Removes this process' claims (at exit). */
function releaseClaims(): void {
  for (const f of claimedHere) rmSync(f, { force: true });
}

/** Whether a process with this pid is running (a claim of a process that died is stale). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims block `block` for this process until it exits: a file created exclusively, so test
 * processes running at once never pick overlapping ranges (each only probed its ports free, and
 * two could pick overlapping ones before either bound them: a CI run lost `barista dev`'s resp
 * port that way). A claim whose process is gone is taken over.
 */
function claimBlock(block: number): boolean {
  mkdirSync(PORT_CLAIMS_DIR, { recursive: true });
  const file = join(PORT_CLAIMS_DIR, String(block));
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      if (claimedHere.length === 0) process.once('exit', releaseClaims);
      claimedHere.push(file);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(file, 'utf8'));
      // Unreadable (a claim being written this instant) counts as held; only a dead pid is stale.
      if (!(Number.isSafeInteger(holder) && holder > 0) || alive(holder)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

/**
 * A base port such that base..base+span-1 are all free right now and claimed by this process
 * (random block, bounded tries): blocks of PORT_BLOCK ports, claimed through files shared by
 * every test process on the machine, so concurrent tests never pick overlapping ranges.
 */
export async function freePortRange(span: number): Promise<number> {
  const blocks = Math.ceil(span / PORT_BLOCK);
  const range = pickRange(blocks * PORT_BLOCK);
  const first = Math.ceil(range.low / PORT_BLOCK);
  const count = Math.floor(range.size / PORT_BLOCK);
  for (let attempt = 0; attempt < 50; attempt++) {
    const block = first + Math.floor(Math.random() * count);
    const claimed: number[] = [];
    for (let b = block; b < block + blocks && claimBlock(b); b++) claimed.push(b);
    if (claimed.length < blocks) continue; // a block taken by another process: try elsewhere (ours stay claimed)
    const base = block * PORT_BLOCK;
    let ok = true;
    for (let p = base; p < base + span && ok; p++) ok = (await probePort('127.0.0.1', p)) === undefined;
    if (ok) return base;
  }
  throw new Error('no free port range found after 50 attempts');
}

/**
 * A temporary directory. remove() runs in `finally` blocks, so it reports a failure (a process
 * left behind still writing there) on stderr instead of throwing: a throw would replace the
 * test's own failure, which says what was left behind.
 */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => {
    try {
      rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch (err) {
      process.stderr.write(`tempDir: could not remove ${path}: ${String(err)}\n`);
    }
  };
  return { path, remove };
}

export interface Spawned {
  readonly child: ChildProcess;
  output(): string;
  exited(): Promise<number | null>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env): Spawned {
  const child = spawn(process.execPath, [...cliArgv(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited: () => exit };
}

/** Polls `condition` every intervalMs until it returns a truthy value or boundMs passes. */
export async function until<T>(
  what: string,
  boundMs: number,
  condition: () => Promise<T | undefined | false> | T | undefined | false,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${boundMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function getJson<T>(host: string, port: number, path: string): Promise<T> {
  const r = await httpGet(host, port, path, 1_000);
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return JSON.parse(r.body) as T;
}

/** Kills a process and waits for it (SIGTERM, then SIGKILL after graceMs). */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/**
 * Writes the config of node n1 (peer, admin, zookeeper and resp ports base..base+3, data in
 * `dir`/n1) to `dir`/node.json and returns its path. `peerPorts`: n2, n3, ... on those ports
 * (nobody need listen there). `extra`: more top-level fields (service sections).
 */
export function writeNodeConfig(
  dir: string,
  base: number,
  clusterId: string,
  peerPorts: readonly number[] = [],
  extra: Record<string, unknown> = {},
): string {
  const config = join(dir, 'node.json');
  writeFileSync(
    config,
    JSON.stringify({
      nodeId: 'n1',
      clusterId,
      dataDir: join(dir, 'n1'),
      host: '127.0.0.1',
      ports: { peer: base, admin: base + 1, zookeeper: base + 2, resp: base + 3 },
      peers: peerPorts.map((port, i) => ({ id: `n${i + 2}`, host: '127.0.0.1', port })),
      ...extra,
    }),
  );
  return config;
}
