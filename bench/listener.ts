// Client listener isolation: flooding one port past its bounds must leave a client of another port
// within a stated factor of its unloaded p99.
//
//   npm run bench -- listener [--requests N] [--reps R] [--flood-connections C] [--pipeline P]
//
// Three processes on loopback:
//   - server (`--child server`): one TcpClientListeners (src/net/tcp-listener.ts) with two test-proto
//     listeners (src/wire/test-proto): `flood` with tight bounds (connectionsMax 128, 32 per
//     address, 8 in flight, 256 KiB buffered, idle none) and `probe` with roomy ones. Prints both
//     ports, and on stdin EOF the listener metrics as one JSON line.
//   - flooder (`--child flooder PORT C P`): C connections from 127.0.0.2..4 (the per-address
//     bound refuses some; refused ones redial after 5 ms), each writing P pipelined ECHOs per
//     write whenever its socket drains, reading the replies; plus 40 connections from 127.0.0.7
//     (past the per-address and per-port bounds with the others) that send `PUSH` for 64 MiB and
//     never read (evicted as slow readers, then redial). It prints `flooding` once it has dialled
//     everything; the loaded phase starts 1 s later.
//   - probe (this process): one connection to `probe`, N sequential ECHO round trips (c=1), latency
//     from write to reply (at most probeMsMax per phase).
//   - burners (`--child burner`, two): busy loops, so the "busy" phase has the flooded phase's CPU
//     contention (the server and the flooder each keep a core busy) without the flood: on 2 cores
//     the probe's latency under flood is largely its wait for a core, which no listener removes.
// Each repetition measures the probe unloaded, then beside a burner, then with the flooder running;
// repetitions interleave so machine noise hits all three. Reported: p50/p99 per phase, the loaded/unloaded p99
// factor per rep and its median, and what the server refused and evicted.
// The machine is shared (other suites run at the same time): read the factor, not absolute times.

import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { realClock, realTimers } from '../src/env/real-time.ts';
import type { ListenerBounds } from '../src/env/types.ts';
import { MemoryMetrics, silentLogger } from '../src/net/testing.ts';
import { TcpClientListeners } from '../src/net/tcp-listener.ts';
import { encodeRequest, TestReplyDecoder } from '../src/wire/test-proto/codec.ts';
import { serveTestProto } from '../src/wire/test-proto/session.ts';
import { limits } from '../src/lib/limits.ts';
import { machineLine } from './_machine.ts';

const here = dirname(fileURLToPath(import.meta.url));
const host = '127.0.0.1';
/** One probe phase stops after this long even if it has not made all its requests (a loaded box). */
const probeMsMax = 30_000;

export const floodBounds: ListenerBounds = {
  connectionsMax: 128,
  connectionsPerAddressMax: 32,
  bufferedBytesMax: 256 * 1024,
  inflightRequestsMax: 8,
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none',
};
const probeBounds: ListenerBounds = { ...floodBounds, connectionsMax: 64, connectionsPerAddressMax: 64 };

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer`);
  return v;
}

// ------------------------------------------------------------------------------------------------
// Children

async function serverChild(turnBytesMax: number): Promise<void> {
  const metrics = new MemoryMetrics();
  const listeners = new TcpClientListeners({
    host,
    clock: realClock,
    timers: realTimers,
    metrics,
    log: silentLogger,
    turnBytesMax,
  });
  const serve = serveTestProto({ timers: realTimers, metrics });
  const flood = listeners.listen('flood', { port: 0, bounds: floodBounds }, serve);
  const probe = listeners.listen('probe', { port: 0, bounds: probeBounds }, serve);
  console.log(`ports ${await flood.ready()} ${await probe.ready()}`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    const p = { protocol: 'flood' };
    const v = (name: string, labels: Record<string, string> = {}) => metrics.value(name, { ...p, ...labels });
    console.log(
      JSON.stringify({
        accepted: v('client_connections_accepted_total'),
        refusedPortFull: v('client_connections_refused_total', { reason: 'port_full' }),
        refusedAddressFull: v('client_connections_refused_total', { reason: 'address_full' }),
        evictedSlowReader: v('client_connections_closed_total', { reason: 'slow_reader' }),
        inflightPauses: v('client_read_pauses_total', { reason: 'inflight' }),
        mbReceived: v('client_bytes_received_total') / 1e6,
        mbSent: v('client_bytes_sent_total') / 1e6,
      }),
    );
    void listeners.close().then(() => process.exit(0));
  });
}

function flooderChild(port: number, connections: number, pipeline: number): void {
  const batch = Buffer.concat(Array.from({ length: pipeline }, (_, i) => encodeRequest('ECHO', `flood ${i}`)));
  const open = (localAddress: string, pusher: boolean): void => {
    const socket = connect({ host, port, localAddress, noDelay: true });
    socket.on('error', () => undefined);
    socket.once('close', () => void delay(5).then(() => open(localAddress, pusher)));
    if (pusher) {
      socket.pause();
      socket.write(encodeRequest('PUSH', '8192 8192'));
      return;
    }
    socket.on('data', () => undefined); // read replies (and drop them)
    const pump = (): void => {
      while (socket.writable && socket.write(batch));
    };
    socket.on('drain', pump);
    socket.once('connect', pump);
  };
  for (let i = 0; i < connections; i++) open(`127.0.0.${2 + (i % 3)}`, false);
  for (let i = 0; i < 40; i++) open('127.0.0.7', true);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0)); // the bench is gone: stop flooding
  console.log('flooding');
}

/** A core kept busy (as the flooder keeps one) until killed or the bench is gone (stdin EOF). */
function burnerChild(): void {
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  console.log('burning');
  const spin = (): void => {
    const until = performance.now() + 50;
    while (performance.now() < until);
    setImmediate(spin);
  };
  spin();
}

// ------------------------------------------------------------------------------------------------
// Probe

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Sequential round trips: `requests` of them, or as many as fit in probeMsMax. */
async function probe(port: number, requests: number): Promise<{ n: number; p50: number; p99: number; max: number }> {
  const socket: Socket = connect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new TestReplyDecoder();
  const latencies: number[] = [];
  let waiting: (() => void) | null = null;
  socket.on('data', (chunk) => {
    decoder.push(chunk);
    if (decoder.drain().length > 0) waiting?.();
  });
  const request = encodeRequest('ECHO', 'probe');
  const deadline = performance.now() + probeMsMax;
  for (let i = 0; i < requests && performance.now() < deadline; i++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      waiting = resolve;
      socket.write(request);
    });
    latencies.push(performance.now() - started);
  }
  socket.destroy();
  latencies.sort((a, b) => a - b);
  return {
    n: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1)!,
  };
}

function child(args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(here, '..', 'scripts', 'ts-loader.mjs')).href,
      join(here, 'listener.ts'),
      '--child',
      ...args,
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
}

export default async function main(args: string[]): Promise<void> {
  const requests = flag(args, '--requests', 3000);
  const reps = flag(args, '--reps', 3);
  const floodConnections = flag(args, '--flood-connections', 200);
  const pipeline = flag(args, '--pipeline', 64);
  // --turn-bytes: the per-port budget per loop turn (src/net/port-turns.ts); a huge value turns it off.
  const turnBytes = flag(args, '--turn-bytes', limits.clientPortTurnBytesMax);
  console.log(machineLine());
  console.log(
    `npm run bench -- listener --requests ${requests} --reps ${reps} --flood-connections ${floodConnections} --pipeline ${pipeline} --turn-bytes ${turnBytes}`,
  );
  console.log(`flood port bounds: ${JSON.stringify(floodBounds)}`);
  const server = child(['server', String(turnBytes)]);
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]();
  const first = (await lines.next()).value as string;
  const [, floodPort, probePort] = first.split(' ').map(Number);
  const factors: number[] = [];
  const fmt = (n: number): string => n.toFixed(3);
  const busyFactors: number[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const unloaded = await probe(probePort!, requests);
    // Flooded, the server and the flooder each keep a core busy; so do these two burners (busy
    // loops, no network): the busy baseline has the flooded phase's CPU contention without the flood.
    const burners = [child(['burner']), child(['burner'])];
    for (const b of burners) await createInterface({ input: b.stdout! })[Symbol.asyncIterator]().next(); // 'burning'
    const busy = await probe(probePort!, requests);
    for (const b of burners) b.kill('SIGKILL');
    await Promise.all(burners.map((b) => new Promise((resolve) => b.once('exit', resolve))));
    const flooder = child(['flooder', String(floodPort), String(floodConnections), String(pipeline)]);
    await createInterface({ input: flooder.stdout! })[Symbol.asyncIterator]().next(); // 'flooding'
    await delay(1000);
    const loaded = await probe(probePort!, requests);
    flooder.kill('SIGKILL');
    await new Promise((resolve) => flooder.once('exit', resolve));
    await delay(300);
    const factor = loaded.p99 / unloaded.p99;
    factors.push(factor);
    const busyFactor = loaded.p99 / busy.p99;
    busyFactors.push(busyFactor);
    console.log(
      `rep ${rep}: unloaded n ${unloaded.n} p50 ${fmt(unloaded.p50)} p99 ${fmt(unloaded.p99)} max ${fmt(unloaded.max)} ms | ` +
        `busy n ${busy.n} p50 ${fmt(busy.p50)} p99 ${fmt(busy.p99)} ms | ` +
        `flooded n ${loaded.n} p50 ${fmt(loaded.p50)} p99 ${fmt(loaded.p99)} max ${fmt(loaded.max)} ms | ` +
        `p99 factor ${factor.toFixed(2)} (vs busy ${busyFactor.toFixed(2)})`,
    );
  }
  server.stdin!.end();
  const stats = (await lines.next()).value as string;
  factors.sort((a, b) => a - b);
  busyFactors.sort((a, b) => a - b);
  console.log(`flood port, whole run: ${stats}`);
  console.log(
    `p99 factor (flooded / unloaded): median ${percentile(factors, 0.5).toFixed(2)}, max ${factors.at(-1)!.toFixed(2)}`,
  );
  console.log(
    `p99 factor (flooded / busy, the same CPU contention without the flood): median ${percentile(busyFactors, 0.5).toFixed(2)}, max ${busyFactors.at(-1)!.toFixed(2)}`,
  );
}

if (process.argv[2] === '--child') {
  const [, , , mode, ...rest] = process.argv;
  if (mode === 'server') await serverChild(Number(rest[0]));
  else if (mode === 'flooder') flooderChild(Number(rest[0]), Number(rest[1]), Number(rest[2]));
  else if (mode === 'burner') burnerChild();
  else throw new Error(`unknown child mode ${mode}`);
}
