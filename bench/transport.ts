// Transport throughput: TcpTransport between two processes on loopback, side by side with two raw
// node:net references in the same run.
//
//   npm run bench -- transport [--small-count N] [--large-count N] [--reps R] [--timeout-ms T]
//                              [--framed-style cork|plain] [--only 100|65536] [--profile-dir DIR]
//
// --profile-dir DIR runs each receiver child under `node --cpu-prof --cpu-prof-dir=DIR` (profile the
// sender with `node --cpu-prof --import ./scripts/ts-loader.mjs bench/run.ts transport ...`).
//
// Three modes, each a sender in this process and a receiver child
// (`node --import ./scripts/ts-loader.mjs bench/transport.ts --child MODE COUNT BYTES`) that listens on an ephemeral port,
// prints `port P`, and prints `done` once it has every message (or every byte). Time runs from the
// first send to `done`.
//   - tcp:    TcpTransport -> TcpTransport (envelope, bounds, queue, metrics calls, per-message handler).
//             The sender sends until send() returns false (queue full), then waits 1 ms: Transport has
//             no drain signal, and spinning on setImmediate would steal the CPU the receiver needs.
//   - framed: "a raw socket doing the same": COUNT messages of BYTES each, each copied into its own
//             Buffer behind a hand-rolled 4-byte length prefix (the copy is what lets a caller reuse its
//             buffer, the same guarantee TcpTransport gives), one socket.write per message with
//             backpressure; the receiver splits the stream into messages and calls a handler once per
//             message. Style `cork` (default) corks the socket for each event-loop turn of writes and
//             uncorks at its end, which is what a careful Node program does and the stronger reference;
//             style `plain` writes uncorked, as the most naive program would.
//   - bytes:  "raw bytes ceiling": the COUNT*BYTES payload bytes in 64 KiB writes, no framing, no
//             per-message work on either side. The ceiling for one loopback socket in Node.
// Runs are interleaved (bytes, framed, tcp, bytes, ...) so machine noise hits all alike; the best and
// the median of R repetitions are reported, and every run (the machine is shared: noise is mostly
// one-sided, so best is the least disturbed, median the typical), plus the median CPU time per message
// of each side, which moves much less with other load than wall-clock rates. Every run is bounded in
// count and time.

import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay, setImmediate as yieldTurn } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageType } from '../src/lib/message-types.ts';
import { TcpTransport } from '../src/net/tcp-transport.ts';
import { nullMetrics, silentLogger } from '../src/net/testing.ts';
import { machineLine } from './_machine.ts';

type Mode = 'tcp' | 'framed' | 'bytes';
type FramedStyle = 'cork' | 'plain';
const modes: readonly Mode[] = ['bytes', 'framed', 'tcp'];
const host = '127.0.0.1';
const rawChunkBytes = 64 * 1024;
/** Messages the framed sender writes per event-loop turn at most (TcpTransport's default queue bound). */
const framedTurnMessagesMax = 4096;
const here = dirname(fileURLToPath(import.meta.url));

interface RunResult {
  seconds: number;
  messagesPerSecond: number;
  mbPerSecond: number;
  /** CPU time (user + system) per message in the sending and the receiving process. */
  senderCpuNsPerMessage: number;
  receiverCpuNsPerMessage: number;
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

function flagValue(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
}

function flagString(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i < 0 ? fallback : (args[i + 1] ?? fallback);
}

// ------------------------------------------------------------------------------------------------
// Receiver (child process)

async function child(mode: Mode, count: number, bytes: number): Promise<void> {
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  // CPU is counted from the moment the receiver is ready (start-up and compilation excluded).
  let cpuReady = process.cpuUsage();
  const ready = (port: number): void => {
    say(`port ${port}`);
    cpuReady = process.cpuUsage();
  };
  const done = (): void => say(`done ${cpuMicros(process.cpuUsage(cpuReady))}`);
  let received = 0;
  let badSize = 0;
  let finish = (): void => {};
  // One call per message in both tcp and framed modes: the work a consumer would do is the same.
  const onMessage = (payload: Uint8Array): void => {
    if (payload.length !== bytes) badSize++;
    if (++received === count) {
      if (badSize === 0) done();
      else say(`error ${badSize} payloads of the wrong size`);
      finish();
    }
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
    finish = () => void t.close().then(() => process.exit(0));
    t.onMessage((m) => onMessage(m.payload));
    await t.start();
    ready(t.address().port);
    return;
  }
  const expectedBytes = count * bytes;
  const server = createServer((socket) => {
    finish = () => {
      socket.destroy();
      server.close(() => process.exit(0));
    };
    if (mode === 'bytes') {
      let receivedBytes = 0;
      socket.on('data', (chunk: Buffer) => {
        receivedBytes += chunk.byteLength;
        if (receivedBytes >= expectedBytes) {
          done();
          finish();
        }
      });
      return;
    }
    // framed: the straightforward length-prefix splitter. Leftover bytes of a partial message are
    // joined with the next chunk (one copy); whole messages are views of the chunk.
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (buf.length - at >= 4) {
        const length = buf.readUInt32BE(at);
        if (buf.length - at - 4 < length) break;
        onMessage(buf.subarray(at + 4, at + 4 + length));
        at += 4 + length;
      }
      pending = at === buf.length ? null : buf.subarray(at);
    });
  });
  server.listen({ host, port: 0 }, () => {
    const a = server.address();
    if (a === null || typeof a !== 'object') throw new Error('no address');
    ready(a.port);
  });
}

// ------------------------------------------------------------------------------------------------
// Sender (parent)

let childProfileDir = '';

function spawnReceiver(mode: Mode, count: number, bytes: number): { proc: ChildProcess; lines: AsyncIterator<string> } {
  const profile = childProfileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${childProfileDir}`];
  const proc = spawn(
    process.execPath,
    [
      ...profile,
      '--import',
      pathToFileURL(join(here, '..', 'scripts', 'ts-loader.mjs')).href,
      join(here, 'transport.ts'),
      '--child',
      mode,
      String(count),
      String(bytes),
    ],
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

function drained(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => socket.once('drain', () => resolve()));
}

async function connected(port: number): Promise<Socket> {
  const socket = connect({ host, port, noDelay: true });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

interface Sender {
  done: Promise<void>;
  cleanup: () => Promise<void>;
}

async function startTcp(port: number, count: number, payload: Uint8Array, deadline: number): Promise<Sender> {
  const t = new TcpTransport({
    self: 'tx',
    clusterId: 'bench',
    listen: { host, port: 0 },
    peers: { rx: { host, port } },
    metrics: nullMetrics,
    log: silentLogger,
  });
  await t.start();
  const done = (async () => {
    let sent = 0;
    while (sent < count) {
      while (sent < count && t.send('rx', MessageType.TestBulk, payload)) sent++;
      if (performance.now() > deadline) throw new Error('send phase exceeded the time bound');
      await (sent < count ? delay(1) : yieldTurn()); // queue full: wait for the socket to drain
    }
  })();
  return { done, cleanup: () => t.close() };
}

async function startFramed(
  port: number,
  count: number,
  payload: Uint8Array,
  deadline: number,
  style: FramedStyle,
): Promise<Sender> {
  const socket = await connected(port);
  const bytes = payload.length;
  const done = (async () => {
    let sent = 0;
    while (sent < count) {
      if (style === 'cork') socket.cork();
      let ok = true;
      const turnEnd = Math.min(count, sent + framedTurnMessagesMax);
      while (ok && sent < turnEnd) {
        const message = Buffer.allocUnsafe(4 + bytes);
        message.writeUInt32BE(bytes, 0);
        message.set(payload, 4);
        ok = socket.write(message);
        sent++;
      }
      if (style === 'cork') socket.uncork();
      if (performance.now() > deadline) throw new Error('send phase exceeded the time bound');
      await (ok ? yieldTurn() : drained(socket));
    }
  })();
  return { done, cleanup: async () => void socket.destroy() };
}

async function startBytes(port: number, count: number, bytes: number, deadline: number): Promise<Sender> {
  const socket = await connected(port);
  const chunk = Buffer.alloc(rawChunkBytes, 7);
  const done = (async () => {
    let remaining = count * bytes;
    while (remaining > 0) {
      const n = Math.min(remaining, rawChunkBytes);
      remaining -= n;
      if (!socket.write(n === rawChunkBytes ? chunk : chunk.subarray(0, n))) await drained(socket);
      if (performance.now() > deadline) throw new Error('send phase exceeded the time bound');
    }
  })();
  return { done, cleanup: async () => void socket.destroy() };
}

async function run(
  mode: Mode,
  count: number,
  bytes: number,
  timeoutMs: number,
  style: FramedStyle,
): Promise<RunResult> {
  const { proc, lines } = spawnReceiver(mode, count, bytes);
  try {
    const portLine = await nextLine(lines, 30_000, 'the receiver port');
    const port = Number(portLine.replace(/^port /, ''));
    const payload = new Uint8Array(bytes).fill(7);
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    const deadline = started + timeoutMs;
    const sender =
      mode === 'tcp'
        ? await startTcp(port, count, payload, deadline)
        : mode === 'framed'
          ? await startFramed(port, count, payload, deadline, style)
          : await startBytes(port, count, bytes, deadline);
    const done = await nextLine(lines, timeoutMs, `${mode} receiver to finish`);
    await sender.done;
    const seconds = (performance.now() - started) / 1000;
    const senderCpuMicros = cpuMicros(process.cpuUsage(cpuStarted));
    await sender.cleanup();
    const reported = /^done (\d+)$/.exec(done);
    if (reported === null) throw new Error(`receiver reported: ${done}`);
    return {
      seconds,
      messagesPerSecond: count / seconds,
      mbPerSecond: (count * bytes) / seconds / 1e6,
      senderCpuNsPerMessage: (senderCpuMicros * 1000) / count,
      receiverCpuNsPerMessage: (Number(reported[1]) * 1000) / count,
    };
  } finally {
    // A profiled child must exit on its own to write its profile; it does once it has everything.
    if (childProfileDir === '') proc.kill();
  }
}

/** One measure of every run, sorted ascending. */
function sorted(results: RunResult[], measure: (r: RunResult) => number = (r) => r.messagesPerSecond): number[] {
  return results.map(measure).sort((a, b) => a - b);
}

function median(xs: number[]): number {
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

export default async function (args: string[]): Promise<void> {
  const reps = flagValue(args, '--reps', 5);
  const timeoutMs = flagValue(args, '--timeout-ms', 60_000);
  const style = flagString(args, '--framed-style', 'cork');
  if (style !== 'cork' && style !== 'plain') throw new Error('--framed-style must be cork or plain');
  childProfileDir = flagString(args, '--profile-dir', '');
  const only = args.includes('--only') ? flagValue(args, '--only', 100) : 0;
  const cases = [
    { bytes: 100, count: flagValue(args, '--small-count', 1_000_000) },
    { bytes: 64 * 1024, count: flagValue(args, '--large-count', 8_000) },
  ].filter((c) => only === 0 || c.bytes === only);
  console.log(`command: npm run bench -- transport ${args.join(' ')}`.trimEnd());
  console.log(machineLine());
  console.log(
    `${reps} reps, interleaved; two processes on loopback; time = first send .. receiver has everything; framed style: ${style}`,
  );
  const summary: string[][] = [];
  const spread: string[][] = [];
  const cpu: string[][] = [];
  for (const { bytes, count } of cases) {
    const results: Record<Mode, RunResult[]> = { tcp: [], framed: [], bytes: [] };
    for (let r = 0; r < reps; r++) {
      for (const mode of modes) results[mode].push(await run(mode, count, bytes, timeoutMs, style));
    }
    const label = bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
    const stat = { tcp: sorted(results.tcp), framed: sorted(results.framed), bytes: sorted(results.bytes) };
    for (const [which, pick] of [
      ['best', (xs: number[]) => xs.at(-1)!],
      ['median', median],
    ] as const) {
      const t = pick(stat.tcp);
      const f = pick(stat.framed);
      const b = pick(stat.bytes);
      const mb = (msgs: number): string => ((msgs * bytes) / 1e6).toFixed(1);
      summary.push([
        label,
        String(count),
        which,
        t.toFixed(0),
        mb(t),
        f.toFixed(0),
        mb(f),
        b.toFixed(0),
        mb(b),
        (t / f).toFixed(2),
        (t / b).toFixed(2),
      ]);
    }
    for (const mode of modes) {
      spread.push([label, mode, ...stat[mode].map((x) => x.toFixed(0))]);
    }
    // CPU per message is far less sensitive to other load on the machine than wall-clock rates.
    const cpuOf = (mode: Mode): [number, number] => [
      median(sorted(results[mode], (r) => r.senderCpuNsPerMessage)),
      median(sorted(results[mode], (r) => r.receiverCpuNsPerMessage)),
    ];
    const [tcpTx, tcpRx] = cpuOf('tcp');
    for (const mode of modes) {
      const [tx, rx] = cpuOf(mode);
      cpu.push([
        label,
        mode,
        tx.toFixed(0),
        rx.toFixed(0),
        (tx + rx).toFixed(0),
        (tx / tcpTx).toFixed(2),
        (rx / tcpRx).toFixed(2),
        ((tx + rx) / (tcpTx + tcpRx)).toFixed(2),
      ]);
    }
  }
  printTable(
    [
      'payload',
      'count',
      'stat',
      'TcpTransport msg/s',
      'MB/s',
      'framed raw msg/s',
      'MB/s',
      'raw bytes msg/s',
      'MB/s',
      'vs framed',
      'vs bytes',
    ],
    summary,
  );
  console.log('\nevery run, msg/s ascending:');
  printTable(['payload', 'mode', ...Array.from({ length: reps }, (_, i) => `#${i + 1}`)], spread);
  console.log(
    '\nCPU ns per message (user + system, median of the runs); "/ tcp" = this mode\'s CPU over TcpTransport\'s:',
  );
  printTable(['payload', 'mode', 'sender', 'receiver', 'total', 'sender / tcp', 'receiver / tcp', 'total / tcp'], cpu);
}

const argv = process.argv;
if (argv[2] === '--child') {
  const mode = argv[3];
  if (mode !== 'tcp' && mode !== 'framed' && mode !== 'bytes') throw new Error(`bad child mode ${mode}`);
  await child(mode, Number(argv[4]), Number(argv[5]));
}
