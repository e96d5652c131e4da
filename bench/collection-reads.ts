// Big collections at N = 3 (issue 10): reads of every row and ordered reads of a sorted set,
// against redis-server 7.0 in the same run, as ratios. Both sides get the same data: a sorted set
// `z` of --elements members (member mI, score I), a list `l` and a set `s` of as many, loaded 500
// elements per command over one connection. Then, per command, redis-benchmark in command mode
// (`redis-benchmark -n N -c C CMD...`), first on Redis (appendfsync everysec), then through the
// first of 3 Baristas node processes (N = 3, rows layout, sync periodic, the level --level).
//
//   npm run bench -- collection-reads [--elements 10000] [-n 200] [-c 10] [--level QUORUM]
//
// The commands: ZRANGE z 0 9 WITHSCORES, ZREVRANGE z 0 9, ZRANK z (the middle member), SMEMBERS s,
// LINDEX l (the middle), LRANGE l 0 99, LSET l (the middle) x. What it shows: a command that
// reads every row costs O(n) on the coordinator at N > 1 (Redis: O(log n + k) for the sorted set
// reads), and whether the replicas agree (the tail read's check) decides if rows are shipped.
// Then a leaderboard: ZINCRBY z 1 m__rand_int__ (-r --elements) and ZREVRANGE z 0 9 WITHSCORES
// by two redis-benchmark processes at once (-n N each, -c C/2 each): every read follows writes
// (at N > 1 its kept view is patched, and replicas whose writes are in flight join their rows
// changed lately rather than ship every row).
// Each system is started fresh and stopped after its runs; every run is bounded by
// redis-benchmark's own -n and a 10-minute timeout.
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type RunningRespServer,
  redisServerUnavailable,
  startRedisServer,
  startStoreCluster,
} from '../test/support/redis-servers.ts';
import { f } from './_load.ts';
import { machineLine } from './_machine.ts';

const LOAD_BATCH_ELEMENTS = 500;

function encode(argv: readonly string[]): Buffer {
  const parts = [`*${argv.length}\r\n`];
  for (const a of argv) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

/** Loads z, l and s with `elements` each; resolves once every reply (one per command) arrived. */
function load(server: RunningRespServer, elements: number): Promise<void> {
  const commands: Buffer[] = [];
  for (let i = 0; i < elements; i += LOAD_BATCH_ELEMENTS) {
    const end = Math.min(elements, i + LOAD_BATCH_ELEMENTS);
    const z = ['ZADD', 'z'];
    const l = ['RPUSH', 'l'];
    const s = ['SADD', 's'];
    for (let j = i; j < end; j++) {
      z.push(String(j), `m${j}`);
      l.push(`e${j}`);
      s.push(`s${j}`);
    }
    commands.push(encode(z), encode(l), encode(s));
  }
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, server.host);
    let replies = 0;
    let pending = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`loading ${server.name} took over 120 s`));
    }, 120_000);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      const lines = pending.split('\r\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('-')) {
          clearTimeout(timer);
          socket.destroy();
          return reject(new Error(`loading ${server.name}: ${line}`));
        }
        replies++;
      }
      if (replies >= commands.length) {
        clearTimeout(timer);
        socket.end();
        resolve();
      }
    });
    socket.write(Buffer.concat(commands));
  });
}

interface Row {
  readonly rps: number;
  readonly p50Ms: number;
}

function benchmark(server: RunningRespServer, n: number, c: number, command: readonly string[]): Row {
  const r = spawnSync(
    'redis-benchmark',
    ['-h', server.host, '-p', String(server.port), '-n', String(n), '-c', String(c), '--csv', ...command],
    { encoding: 'utf8', timeout: 10 * 60_000 },
  );
  if (r.status !== 0) throw new Error(`redis-benchmark ${command.join(' ')} on ${server.name}: ${r.stderr}`);
  return parseCsv(server.name, command, r.stdout);
}

function parseCsv(name: string, command: readonly string[], stdout: string): Row {
  const line = stdout.trim().split('\n').at(-1);
  const cells = (line ?? '').split(',').map((x) => x.replace(/"/g, ''));
  const row = { rps: Number(cells[1]), p50Ms: Number(cells[4]) };
  if (!Number.isFinite(row.rps)) throw new Error(`redis-benchmark ${command.join(' ')} on ${name}: ${stdout}`);
  return row;
}

/** redis-benchmark of `command` as a child process (for two at once), bounded by 10 minutes. */
function benchmarkAsync(
  server: RunningRespServer,
  n: number,
  c: number,
  command: readonly string[],
  extra: readonly string[] = [],
): Promise<Row> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'redis-benchmark',
      ['-h', server.host, '-p', String(server.port), '-n', String(n), '-c', String(c), ...extra, '--csv', ...command],
      { timeout: 10 * 60_000 },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`redis-benchmark ${command.join(' ')} on ${server.name}: exit ${code}`));
      else {
        try {
          resolve(parseCsv(server.name, command, out));
        } catch (error) {
          reject(error);
        }
      }
    });
  });
}

const LEADERBOARD_WRITE = ['ZINCRBY', 'z', '1', 'm__rand_int__'] as const;
const LEADERBOARD_READ = ['ZREVRANGE', 'z', '0', '9', 'WITHSCORES'] as const;

async function measure(
  start: () => Promise<RunningRespServer>,
  elements: number,
  n: number,
  c: number,
  commands: readonly (readonly string[])[],
): Promise<{ name: string; rows: Row[]; leaderboard: { write: Row; read: Row } }> {
  const server = await start();
  try {
    await load(server, elements);
    const rows = commands.map((cmd) => benchmark(server, n, c, cmd));
    const half = Math.max(1, Math.floor(c / 2));
    const [write, read] = await Promise.all([
      benchmarkAsync(server, n, half, LEADERBOARD_WRITE, ['-r', String(elements)]),
      benchmarkAsync(server, n, half, LEADERBOARD_READ),
    ]);
    return { name: server.name, rows, leaderboard: { write: write!, read: read! } };
  } finally {
    await server.stop();
  }
}

export default async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      elements: { type: 'string', default: '10000' },
      n: { type: 'string', short: 'n', default: '200' },
      c: { type: 'string', short: 'c', default: '10' },
      level: { type: 'string', default: 'QUORUM' },
    },
  });
  const unavailable =
    redisServerUnavailable() ??
    (spawnSync('redis-benchmark', ['--version']).status === 0 ? undefined : 'redis-benchmark is not installed');
  if (unavailable !== undefined) {
    console.log(`bench collection-reads: ${unavailable}; nothing to compare with`);
    return;
  }
  const elements = Number(values.elements);
  const n = Number(values.n);
  const c = Number(values.c);
  if (![elements, n, c].every((x) => Number.isSafeInteger(x) && x > 0)) {
    throw new Error('--elements, -n and -c take whole numbers > 0');
  }
  const level = values.level;
  const mid = String(Math.floor(elements / 2));
  const commands = [
    ['ZRANGE', 'z', '0', '9', 'WITHSCORES'],
    ['ZREVRANGE', 'z', '0', '9'],
    ['ZRANK', 'z', `m${mid}`],
    ['SMEMBERS', 's'],
    ['LINDEX', 'l', mid],
    ['LRANGE', 'l', '0', '99'],
    ['LSET', 'l', mid, 'x'],
  ] as const;
  console.log(
    `bench collection-reads: ${elements} elements in z, l and s; redis-benchmark -n ${n} -c ${c} per command; ` +
      `3 Baristas nodes N=3 at ${level}, rows layout, sync periodic / Redis everysec`,
  );
  console.log(machineLine());
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (a shared machine)`,
  );
  const redis = await measure(() => startRedisServer('everysec'), elements, n, c, commands);
  const ours = await measure(
    () =>
      startStoreCluster(3, {
        sync: 'periodic',
        consistency: level,
        replication: { replicas: 3, collections: 'rows' },
      }),
    elements,
    n,
    c,
    commands,
  );
  console.log(`\n${redis.name} vs ${ours.name}`);
  console.log('command                          redis req/s  p50 ms | baristas req/s  p50 ms | ratio');
  commands.forEach((cmd, i) => {
    const a = redis.rows[i]!;
    const b = ours.rows[i]!;
    console.log(
      `${cmd.join(' ').padEnd(32)} ${f(a.rps, 0).padStart(11)}  ${f(a.p50Ms, 3).padStart(6)} | ` +
        `${f(b.rps, 1).padStart(14)}  ${f(b.p50Ms, 1).padStart(6)} | ${f(b.rps / a.rps, 4)}`,
    );
  });
  console.log(`leaderboard, both at once (-c ${Math.max(1, Math.floor(c / 2))} each):`);
  for (const [what, cmd] of [
    ['write', LEADERBOARD_WRITE],
    ['read', LEADERBOARD_READ],
  ] as const) {
    const a = redis.leaderboard[what];
    const b = ours.leaderboard[what];
    console.log(
      `${`  ${cmd.join(' ')}`.padEnd(32)} ${f(a.rps, 0).padStart(11)}  ${f(a.p50Ms, 3).padStart(6)} | ` +
        `${f(b.rps, 1).padStart(14)}  ${f(b.p50Ms, 1).padStart(6)} | ${f(b.rps / a.rps, 4)}`,
    );
  }
  console.log(
    `\nload average at end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}
