// Transport throughput: TcpTransport between two processes on loopback, side by side with a raw
// node:net socket moving the same payload bytes with no framing, in the same run.
//
//   npm run bench -- transport [--small-count N] [--large-count N] [--reps R] [--timeout-ms T]
//
// Each run spawns a receiver child (`node --import tsx bench/transport.ts --child MODE COUNT BYTES`)
// that listens on an ephemeral port, prints `port P`, and prints `done` once it has every message
// (tcp mode) or every byte (raw mode). The parent sends and times from the first send to `done`.
// The raw reference writes the COUNT*BYTES payload bytes in 64 KiB chunks with backpressure: it is
// the ceiling for moving those bytes over one loopback socket in Node, so the ratio reports what
// framing, per-message encode/decode and delivery cost. Every run is bounded in count and time.
// Best of R repetitions is reported (throughput noise on a shared machine is one-sided).

import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MessageType } from '../src/lib/message-types.ts';
import { TcpTransport } from '../src/net/tcp-transport.ts';
import { nullMetrics, silentLogger } from '../src/net/testing.ts';
import { machineLine } from './_machine.ts';

type Mode = 'tcp' | 'raw';
const host = '127.0.0.1';
const rawChunkBytes = 64 * 1024;
const here = dirname(fileURLToPath(import.meta.url));

interface RunResult {
  seconds: number;
  messagesPerSecond: number;
  mbPerSecond: number;
}

function flagValue(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
}

// ------------------------------------------------------------------------------------------------
// Receiver (child process)

async function child(mode: Mode, count: number, bytes: number): Promise<void> {
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  if (mode === 'tcp') {
    const t = new TcpTransport({
      self: 'rx',
      clusterId: 'bench',
      listen: { host, port: 0 },
      peers: { tx: { host, port: 0 } },
      metrics: nullMetrics,
      log: silentLogger,
    });
    let received = 0;
    let badSize = 0;
    t.onMessage((m) => {
      if (m.payload.byteLength !== bytes) badSize++;
      if (++received === count) {
        say(badSize === 0 ? 'done' : `error ${badSize} payloads of the wrong size`);
        void t.close().then(() => process.exit(0));
      }
    });
    await t.start();
    say(`port ${t.address().port}`);
    return;
  }
  const expectedBytes = count * bytes;
  const server = createServer((socket) => {
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received >= expectedBytes) {
        say('done');
        socket.destroy();
        server.close(() => process.exit(0));
      }
    });
  });
  server.listen({ host, port: 0 }, () => {
    const a = server.address();
    if (a === null || typeof a !== 'object') throw new Error('no address');
    say(`port ${a.port}`);
  });
}

// ------------------------------------------------------------------------------------------------
// Sender (parent)

function spawnReceiver(mode: Mode, count: number, bytes: number): { proc: ChildProcess; lines: AsyncIterator<string> } {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(here, 'transport.ts'), '--child', mode, String(count), String(bytes)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (proc.stdout === null) throw new Error('child has no stdout');
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  return { proc, lines };
}

async function nextLine(lines: AsyncIterator<string>, timeoutMs: number, what: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    const r = await Promise.race([lines.next(), timeout]);
    if (r.done) throw new Error(`receiver exited before ${what}`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

async function run(mode: Mode, count: number, bytes: number, timeoutMs: number): Promise<RunResult> {
  const { proc, lines } = spawnReceiver(mode, count, bytes);
  try {
    const portLine = await nextLine(lines, 30_000, 'the receiver port');
    const port = Number(portLine.replace(/^port /, ''));
    const payload = new Uint8Array(bytes).fill(7);
    let sendDone: Promise<void>;
    let cleanup: () => Promise<void>;
    const started = performance.now();
    const deadline = started + timeoutMs;
    if (mode === 'tcp') {
      const t = new TcpTransport({
        self: 'tx',
        clusterId: 'bench',
        listen: { host, port: 0 },
        peers: { rx: { host, port } },
        metrics: nullMetrics,
        log: silentLogger,
      });
      await t.start();
      cleanup = () => t.close();
      sendDone = (async () => {
        let sent = 0;
        while (sent < count) {
          while (sent < count && t.send('rx', MessageType.TestBulk, payload)) sent++;
          if (performance.now() > deadline) throw new Error('send phase exceeded the time bound');
          await yieldTurn(); // queue full: let the socket drain
        }
      })();
    } else {
      const socket = connect({ host, port, noDelay: true });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      cleanup = async () => {
        socket.destroy();
      };
      const chunk = Buffer.alloc(rawChunkBytes, 7);
      let remaining = count * bytes;
      sendDone = (async () => {
        while (remaining > 0) {
          const n = Math.min(remaining, rawChunkBytes);
          remaining -= n;
          if (!socket.write(n === rawChunkBytes ? chunk : chunk.subarray(0, n))) {
            await new Promise<void>((resolve) => socket.once('drain', () => resolve()));
          }
          if (performance.now() > deadline) throw new Error('send phase exceeded the time bound');
        }
      })();
    }
    const done = await nextLine(lines, timeoutMs, `${mode} receiver to finish`);
    await sendDone;
    const seconds = (performance.now() - started) / 1000;
    await cleanup();
    if (done !== 'done') throw new Error(`receiver reported: ${done}`);
    return { seconds, messagesPerSecond: count / seconds, mbPerSecond: (count * bytes) / seconds / 1e6 };
  } finally {
    proc.kill();
  }
}

function best(results: RunResult[]): RunResult {
  return results.reduce((a, b) => (b.messagesPerSecond > a.messagesPerSecond ? b : a));
}

export default async function (args: string[]): Promise<void> {
  const reps = flagValue(args, '--reps', 3);
  const timeoutMs = flagValue(args, '--timeout-ms', 60_000);
  const cases = [
    { bytes: 100, count: flagValue(args, '--small-count', 300_000) },
    { bytes: 64 * 1024, count: flagValue(args, '--large-count', 4_000) },
  ];
  console.log(`command: npm run bench -- transport ${args.join(' ')}`.trimEnd());
  console.log(machineLine());
  console.log(`best of ${reps}; two processes on loopback; time = first send .. receiver has everything`);
  const header = ['payload', 'count', 'TcpTransport msg/s', 'MB/s', 'raw net msg/s', 'MB/s', 'ratio'];
  const rows: string[][] = [];
  for (const { bytes, count } of cases) {
    const tcp: RunResult[] = [];
    const raw: RunResult[] = [];
    for (let r = 0; r < reps; r++) {
      // Interleave so machine noise hits both sides alike.
      raw.push(await run('raw', count, bytes, timeoutMs));
      tcp.push(await run('tcp', count, bytes, timeoutMs));
    }
    const t = best(tcp);
    const w = best(raw);
    rows.push([
      bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`,
      String(count),
      t.messagesPerSecond.toFixed(0),
      t.mbPerSecond.toFixed(1),
      w.messagesPerSecond.toFixed(0),
      w.mbPerSecond.toFixed(1),
      (t.messagesPerSecond / w.messagesPerSecond).toFixed(2),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

const argv = process.argv;
if (argv[2] === '--child') {
  const mode = argv[3];
  if (mode !== 'tcp' && mode !== 'raw') throw new Error(`bad child mode ${mode}`);
  await child(mode, Number(argv[4]), Number(argv[5]));
}
