// Memory per key, Baristas' store against Redis 7.0 (issue 10's benchmark: "memory per key
// reported next to Redis' used_memory for a million keys"), the same keys on both sides: N string
// keys `key:00000000`... with --value-bytes values, loaded by `redis-cli --pipe` (one stream of
// SET commands, generated once into a temp file).
//   npm run bench -- redis-memory [--keys 1000000] [--value-bytes 100]
// Reported per key, as the difference after minus before loading:
//   Redis: INFO used_memory (its allocator's count of the dataset and its overhead) and the
//          process' resident set (/proc/PID/status VmRSS);
//   Baristas (one node, N=1, store.sync none): INFO used_memory, which is the LSM engine's memory
//          (memtable, the sorted runs' indexes and bloom filters: the data itself is on disk, the
//          memtable flushes at its bound), and the node process' resident set, which also holds
//          V8's heap, the commit log's buffers and whatever the GC has not returned yet.
// The two used_memory figures do not mean the same thing: Redis keeps every key and value in RAM;
// Baristas keeps them on disk with bounded memory (docs/COMPAT-REDIS.md). RSS is the figure to
// compare for "what does a million keys cost this machine".
// Then, on the loaded server, the milliseconds `redis-cli INFO keyspace` and `redis-cli DBSIZE` take
// (median of 5, each a redis-cli process: its start-up, ~25-35 ms on this machine, is in both sides'
// figures). ioredis
// sends INFO on every connect; before the keyspace counted its keys both took ~1.5 s here.
// Last, the milliseconds one `redis-cli FLUSHALL` takes on the loaded server (the same start-up in
// it), then DBSIZE must answer 0. Before 2026-12-07 ours refused it past ~300,000 keys.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type RunningRespServer,
  redisServerUnavailable,
  startRedisServer,
  startStoreNode,
} from '../test/support/redis-servers.ts';
import { machineLine } from './_machine.ts';

const pipeMsMax = 900_000;

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

function usedMemory(s: RunningRespServer): number {
  const r = spawnSync('redis-cli', ['-h', s.host, '-p', String(s.port), 'INFO', 'memory'], { encoding: 'utf8' });
  const m = /^used_memory:(\d+)/m.exec(r.stdout);
  if (m === null) throw new Error(`${s.name}: no used_memory in INFO: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

function dbsize(s: RunningRespServer): number {
  const r = spawnSync('redis-cli', ['-h', s.host, '-p', String(s.port), 'DBSIZE'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

/** The RESP stream of `keys` SETs, written to a file for redis-cli --pipe. */
function writeLoad(path: string, keys: number, valueBytes: number): void {
  const value = 'v'.repeat(valueBytes);
  const chunks: string[] = [];
  for (let i = 0; i < keys; i++) {
    const key = `key:${String(i).padStart(8, '0')}`;
    chunks.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${valueBytes}\r\n${value}\r\n`);
  }
  writeFileSync(path, chunks.join(''));
}

interface Measured {
  readonly usedPerKey: number;
  readonly rssPerKey: number;
  readonly loadSeconds: number;
  readonly keys: number;
  readonly infoMs: number;
  readonly dbsizeMs: number;
  readonly flushallMs: number;
}

/** Median wall ms of `redis-cli ARGS` against `s`, over `runs` runs. */
function cliMs(s: RunningRespServer, args: readonly string[], runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync('redis-cli', ['-h', s.host, '-p', String(s.port), ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${s.name}: redis-cli ${args.join(' ')}: ${r.stderr}`);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

async function measure(s: RunningRespServer, load: string, keys: number): Promise<Measured> {
  const used0 = usedMemory(s);
  const rss0 = rssBytes(s.pid);
  const started = performance.now();
  const r = spawnSync('redis-cli', ['-h', s.host, '-p', String(s.port), '--pipe'], {
    input: readFileSync(load),
    encoding: 'utf8',
    timeout: pipeMsMax,
    maxBuffer: 64 * 1024 * 1024,
  });
  const loadSeconds = (performance.now() - started) / 1000;
  if (r.status !== 0 || !/errors: 0, replies: \d+/.test(r.stdout)) {
    throw new Error(`${s.name}: redis-cli --pipe failed: ${r.stdout.slice(-500)}${r.stderr.slice(-500)}`);
  }
  const stored = dbsize(s);
  if (stored !== keys) throw new Error(`${s.name}: DBSIZE ${stored} after loading ${keys} keys`);
  const measured = {
    usedPerKey: (usedMemory(s) - used0) / keys,
    rssPerKey: (rssBytes(s.pid) - rss0) / keys,
    loadSeconds,
    keys,
    infoMs: cliMs(s, ['INFO', 'keyspace']),
    dbsizeMs: cliMs(s, ['DBSIZE']),
  };
  const flushallMs = cliMs(s, ['FLUSHALL'], 1);
  const left = dbsize(s);
  if (left !== 0) throw new Error(`${s.name}: DBSIZE ${left} after FLUSHALL`);
  return { ...measured, flushallMs };
}

export default async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { keys: { type: 'string', default: '1000000' }, 'value-bytes': { type: 'string', default: '100' } },
  });
  const keys = Number(values.keys);
  const valueBytes = Number(values['value-bytes']);
  if (!(Number.isSafeInteger(keys) && keys > 0 && Number.isSafeInteger(valueBytes) && valueBytes > 0)) {
    throw new Error('--keys and --value-bytes must be positive integers');
  }
  const missing = redisServerUnavailable();
  if (missing !== undefined) {
    console.log(`redis-memory: skipped: ${missing}`);
    return;
  }
  console.log(`command: npm run bench -- redis-memory --keys ${keys} --value-bytes ${valueBytes}`);
  console.log(machineLine());
  const load = join(tmpdir(), `redis-memory-${process.pid}.resp`);
  writeLoad(load, keys, valueBytes);
  const rows: [string, Measured][] = [];
  try {
    for (const start of [() => startRedisServer('none'), () => startStoreNode({ sync: 'none' })]) {
      const s = await start();
      try {
        rows.push([s.name, await measure(s, load, keys)]);
      } finally {
        await s.stop();
      }
    }
  } finally {
    rmSync(load, { force: true });
  }
  console.log(`\n${keys} keys, ${valueBytes} B values (key ${`key:${'0'.repeat(8)}`.length} B)`);
  console.log(
    'system                          used_memory/key   RSS/key   load (s)   INFO keyspace (ms)   DBSIZE (ms)   FLUSHALL (ms)',
  );
  for (const [name, m] of rows) {
    console.log(
      `${name.padEnd(32)}${m.usedPerKey.toFixed(1).padStart(15)}${m.rssPerKey.toFixed(1).padStart(10)}${m.loadSeconds.toFixed(1).padStart(11)}${m.infoMs.toFixed(1).padStart(21)}${m.dbsizeMs.toFixed(1).padStart(14)}${m.flushallMs.toFixed(1).padStart(16)}`,
    );
  }
  const [redis, ours] = [rows[0]![1], rows[1]![1]];
  console.log(`RSS per key, Baristas / Redis: ${(ours.rssPerKey / redis.rssPerKey).toFixed(2)}`);
}
