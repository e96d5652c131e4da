// Goal: TcpTransport behaviour beyond the shared compliance suite (test/compliance/real.test.ts),
// on real loopback sockets: reconnect after a peer that was down comes up (and after it restarts);
// foreign connections sending garbage, a wrong cluster id, an unknown sender, a changed sender or an
// oversize length are rejected, counted by reason and closed while real peers keep being served;
// the per-peer send queue bound drops and counts; a taken listen port is a typed error; large
// transfers survive socket backpressure; frames encoded into small, reused send slabs arrive intact
// and in order. Every wait is a bounded poll (pollUntil) or one event-loop turn, never a sleep.
import assert from 'node:assert/strict';
import { createServer, type Socket, connect } from 'node:net';
import { after, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import type { PeerMessage } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import { MessageType } from '../lib/message-types.ts';
import { SeededRng } from '../lib/rng.ts';
import { FrameDecoder, FrameEncoder } from './frame.ts';
import { type PeerAddress, TcpTransport, type TcpTransportOptions } from './tcp-transport.ts';
import { type MemoryLogger, memoryLogger } from '../env/log.ts';
import { MemoryMetrics, pollUntil } from './testing.ts';

const host = '127.0.0.1';
const cluster = 'test-cluster';
const open: TcpTransport[] = [];
after(async () => {
  await Promise.all(open.map((t) => t.close()));
});

function make(
  self: string,
  peers: Record<string, PeerAddress>,
  extra: Partial<TcpTransportOptions> = {},
): { t: TcpTransport; metrics: MemoryMetrics; log: MemoryLogger; inbox: PeerMessage[] } {
  const metrics = new MemoryMetrics();
  const log = memoryLogger(10_000);
  const t = new TcpTransport({
    self,
    clusterId: cluster,
    listen: { host, port: 0 },
    peers,
    metrics,
    log,
    rng: new SeededRng(`tcp-test/${self}`),
    reconnectBackoffMsMin: 5,
    reconnectBackoffMsMax: 50,
    ...extra,
  });
  open.push(t);
  const inbox: PeerMessage[] = [];
  t.onMessage((m) => inbox.push({ from: m.from, type: m.type, payload: Uint8Array.from(m.payload) }));
  return { t, metrics, log, inbox };
}

/** A port nobody listens on right now (bound then released; the kernel will not hand it out again soon). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

async function pair(): Promise<{
  a: ReturnType<typeof make>;
  b: ReturnType<typeof make>;
}> {
  const a = make('a', { b: { host, port: 0 } });
  const b = make('b', { a: { host, port: 0 } });
  await a.t.start();
  await b.t.start();
  a.t.setPeerAddress('b', b.t.address());
  b.t.setPeerAddress('a', a.t.address());
  return { a, b };
}

async function rawConnect(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = connect({ host, port });
  let isClosed = false;
  socket.on('close', () => {
    isClosed = true;
  });
  socket.on('error', () => {}); // a reset from the transport is expected
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed: () => isClosed };
}

test('a peer that is down at start receives the queued messages once it comes up, and again after a restart', async () => {
  const port = await freePort();
  const a = make('a', { b: { host, port } });
  await a.t.start();
  for (let i = 0; i < 5; i++) assert.equal(a.t.send('b', MessageType.TestEcho, Uint8Array.of(i)), true);
  await pollUntil(() => (a.t.peerStatus()[0]?.reconnectAttempt ?? 0) >= 3, 'a fails to dial b a few times');
  assert.deepEqual(a.t.connectedPeers(), []);
  assert.equal(a.t.peerStatus()[0]?.queuedFrames, 5);

  const b1 = make('b', { a: a.t.address() }, { listen: { host, port } });
  await b1.t.start();
  await pollUntil(() => b1.inbox.length >= 5, 'b receives the queued messages');
  assert.deepEqual(
    b1.inbox.map((m) => m.payload[0]),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(a.t.connectedPeers(), ['b']);
  assert.equal(a.metrics.value('peer_connects_total', { peer: 'b' }), 1);
  assert.equal(a.t.peerStatus()[0]?.reconnectAttempt, 0, 'backoff resets on connect');

  // Restart b on the same port: a notices, reconnects and delivers again.
  await b1.t.close();
  await pollUntil(() => a.t.connectedPeers().length === 0, 'a notices b went away');
  assert.equal(a.metrics.value('peer_disconnects_total', { peer: 'b' }), 1);
  const b2 = make('b', { a: a.t.address() }, { listen: { host, port } });
  await b2.t.start();
  await pollUntil(() => a.t.connectedPeers().length === 1, 'a reconnects to the restarted b');
  assert.equal(a.t.send('b', MessageType.TestEcho, Uint8Array.of(42)), true);
  await pollUntil(() => b2.inbox.length >= 1, 'the restarted b receives');
  assert.equal(b2.inbox[0]?.payload[0], 42);
  assert.equal(a.metrics.value('peer_connects_total', { peer: 'b' }), 2);
});

/** A valid frame from the configured peer `a` with one payload bit flipped after encoding. */
function corrupted(): Uint8Array {
  const frame = new FrameEncoder({ clusterId: cluster, senderId: 'a' }).encode(
    MessageType.TestEcho,
    Uint8Array.of(250),
  );
  frame[frame.length - 5]! ^= 0x10;
  return frame;
}

const foreign: Array<[string, (port: number) => Uint8Array[], string]> = [
  [
    'HTTP garbage (its first 4 bytes read as an oversize length)',
    () => [Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    'frame_too_large',
  ],
  ['an oversize length prefix', () => [Uint8Array.of(0x01, 0, 0, 1)], 'frame_too_large'],
  ['an unknown envelope version', () => [Uint8Array.of(0, 0, 0, 11, 7, 0, 1)], 'unknown_envelope_version'],
  ['a frame whose checksum does not match (corrupted in transit)', () => [corrupted()], 'frame_checksum_mismatch'],
  [
    'a wrong cluster id',
    () => [new FrameEncoder({ clusterId: 'other-cluster', senderId: 'a' }).encode(1, Uint8Array.of(1))],
    'cluster_mismatch',
  ],
  [
    'an unknown sender',
    () => [new FrameEncoder({ clusterId: cluster, senderId: 'mallory' }).encode(1, Uint8Array.of(1))],
    'unknown_sender',
  ],
  [
    'a sender that changes mid-connection',
    () => [
      new FrameEncoder({ clusterId: cluster, senderId: 'a' }).encode(MessageType.TestEcho, Uint8Array.of(200)),
      new FrameEncoder({ clusterId: cluster, senderId: 'c' }).encode(MessageType.TestEcho, Uint8Array.of(201)),
    ],
    'sender_changed',
  ],
];

test('foreign connections are rejected, counted by reason and closed; real peers keep being served', async () => {
  const b = make('b', { a: { host, port: 0 }, c: { host, port: 0 } });
  await b.t.start();
  const a = make('a', { b: b.t.address() });
  await a.t.start();
  let expectedFromA = 0;
  for (const [name, bytes, reason] of foreign) {
    const before = b.metrics.value('peer_frames_rejected_total', { reason });
    const { socket, closed } = await rawConnect(b.t.address().port);
    for (const chunk of bytes(b.t.address().port)) socket.write(chunk);
    await pollUntil(closed, `b closes the connection that sent ${name}`);
    assert.equal(b.metrics.value('peer_frames_rejected_total', { reason }), before + 1, name);
    assert.ok(
      b.log.lines().some((l) => l.level === 'warn' && l['reason'] === reason),
      `${name} is logged`,
    );
    // The real peer is still served.
    assert.equal(a.t.send('b', MessageType.TestEcho, Uint8Array.of(expectedFromA)), true);
    expectedFromA++;
    await pollUntil(
      () => b.inbox.filter((m) => m.from === 'a' && m.payload[0]! < 200).length >= expectedFromA,
      `a still reaches b after ${name}`,
    );
  }
  // The changed-sender connection delivered its first (valid) frame before being cut; nothing else foreign got in.
  assert.deepEqual(
    b.inbox.filter((m) => m.payload[0]! >= 200).map((m) => m.payload[0]),
    [200],
  );
  assert.deepEqual(
    b.inbox.filter((m) => m.payload[0]! < 200).map((m) => m.payload[0]),
    foreign.map((_, i) => i),
  );
});

test('the send queue bound drops and counts while a peer is unreachable', async () => {
  const port = await freePort();
  const frameBytesMax = 1024;
  const a = make(
    'a',
    { b: { host, port } },
    { sendQueueFramesMax: 10, sendQueueBytesMax: 4096, frameBytesMax, reconnectBackoffMsMax: 1000 },
  );
  await a.t.start();
  // Frame-count bound.
  for (let i = 0; i < 10; i++) assert.equal(a.t.send('b', MessageType.TestEcho, Uint8Array.of(i)), true, `send ${i}`);
  assert.equal(a.t.send('b', MessageType.TestEcho, Uint8Array.of(10)), false);
  assert.equal(a.metrics.value('peer_send_dropped_total', { peer: 'b', reason: 'queue_full' }), 1);
  assert.equal(a.metrics.value('peer_send_queue_frames', { peer: 'b' }), 10);
  // Byte bound, on a second transport.
  const c = make('c', { b: { host, port } }, { sendQueueBytesMax: 4096, frameBytesMax, reconnectBackoffMsMax: 1000 });
  await c.t.start();
  let accepted = 0;
  while (c.t.send('b', MessageType.TestBulk, new Uint8Array(990))) accepted++;
  assert.equal(accepted, 4, 'four ~1 KiB frames fit in 4096 bytes, the fifth does not');
  assert.ok((c.t.peerStatus()[0]?.queuedBytes ?? 0) <= 4096);
  assert.equal(c.metrics.value('peer_send_dropped_total', { peer: 'b', reason: 'queue_full' }), 1);
  // An oversize payload is refused whatever the queue holds.
  assert.equal(c.t.send('b', MessageType.TestBulk, new Uint8Array(frameBytesMax)), false);
  assert.equal(c.metrics.value('peer_send_dropped_total', { peer: 'b', reason: 'frame_too_large' }), 1);
  // Unknown peers and sends after close are refused and counted too.
  assert.equal(c.t.send('zed', MessageType.TestEcho, Uint8Array.of(1)), false);
  assert.equal(c.metrics.value('peer_send_dropped_total', { peer: 'unknown', reason: 'unknown_peer' }), 1);
  await c.t.close();
  assert.equal(c.t.send('b', MessageType.TestEcho, Uint8Array.of(1)), false);
  assert.equal(c.metrics.value('peer_send_dropped_total', { peer: 'b', reason: 'closed' }), 1);
});

test('a listen port already in use is a typed error naming host:port', async () => {
  const first = make('a', {});
  await first.t.start();
  const { port } = first.t.address();
  const second = make('b', {}, { listen: { host, port } });
  await assert.rejects(second.t.start(), (err: unknown) => {
    assert.ok(err instanceof BaristaError);
    assert.equal(err.code, 'listen_address_in_use');
    assert.match(err.message, new RegExp(`${host}:${port}`));
    assert.deepEqual(err.fields, { host, port });
    return true;
  });
});

test('bad configuration is a ConfigError naming the field', () => {
  const metrics = new MemoryMetrics();
  const log = memoryLogger(10_000);
  const base = { self: 'a', clusterId: cluster, listen: { host, port: 0 }, metrics, log };
  assert.throws(() => new TcpTransport({ ...base, peers: { a: { host, port: 1 } } }), /peers: must not include self/);
  assert.throws(() => new TcpTransport({ ...base, peers: { ['x'.repeat(65)]: { host, port: 1 } } }), {
    code: 'config_invalid',
  });
  assert.throws(() => new TcpTransport({ ...base, peers: {}, sendQueueFramesMax: 0 }), /sendQueueFramesMax/);
  assert.throws(() => new TcpTransport({ ...base, peers: { b: { host, port: 70000 } } }), /peers.b: port/);
  assert.throws(() => new TcpTransport({ ...base, peers: {}, sendSlabBytes: 100 }), /sendSlabBytes/);
});

test('1 MiB frames in bulk pass through socket backpressure intact and in order', async () => {
  const { a, b } = await pair();
  const count = 48; // 48 MiB: far past the socket's high-water mark, under the 64 MiB queue bound
  const payload = new Uint8Array(1024 * 1024);
  for (let i = 0; i < count; i++) {
    payload.fill(i);
    assert.equal(a.t.send('b', MessageType.TestBulk, payload), true, `send ${i}`);
  }
  await pollUntil(() => b.inbox.length >= count, 'b receives every bulk frame', 30_000);
  for (let i = 0; i < count; i++) {
    const m = b.inbox[i]!;
    assert.equal(m.payload.byteLength, payload.byteLength);
    assert.ok(
      m.payload.every((x) => x === i),
      `frame ${i} intact`,
    );
  }
  assert.equal(a.t.peerStatus()[0]?.queuedFrames, 0);
  assert.equal(a.metrics.value('peer_frames_sent_total', { peer: 'b' }), count);
  assert.equal(b.metrics.value('peer_frames_received_total', { peer: 'a' }), count);
  assert.equal(
    b.metrics.value('peer_bytes_received_total', { peer: 'a' }),
    a.metrics.value('peer_bytes_sent_total', { peer: 'b' }),
  );
});

test('messages arriving before a handler is set are dropped and counted', async () => {
  const a = make('a', { b: { host, port: 0 } });
  const metrics = new MemoryMetrics();
  const b = new TcpTransport({
    self: 'b',
    clusterId: cluster,
    listen: { host, port: 0 },
    peers: { a: { host, port: 0 } },
    metrics,
    log: memoryLogger(10_000),
  });
  open.push(b);
  await a.t.start();
  await b.start();
  a.t.setPeerAddress('b', b.address());
  a.t.send('b', MessageType.TestEcho, Uint8Array.of(1));
  await pollUntil(
    () => metrics.value('peer_messages_dropped_total', { reason: 'no_handler' }) === 1,
    'b counts the undeliverable message',
  );
  const got: PeerMessage[] = [];
  b.onMessage((m) => got.push(m));
  a.t.send('b', MessageType.TestEcho, Uint8Array.of(2));
  await pollUntil(() => got.length === 1, 'b delivers once a handler is set');
});

test('flushNow hands queued frames to the socket at once, not at the end of the turn', async () => {
  const { a, b } = await pair();
  a.t.send('b', MessageType.TestEcho, Uint8Array.of(0));
  await pollUntil(() => b.inbox.length === 1, 'connected: the first frame arrives');
  const sent = (): number => a.metrics.value('peer_frames_sent_total', { peer: 'b' }) ?? 0;
  const before = sent();
  a.t.send('b', MessageType.TestEcho, Uint8Array.of(1));
  assert.equal(sent(), before, 'send only queues: the flush runs at the end of the turn');
  a.t.flushNow();
  // Counted synchronously, before any microtask: the frame is with the socket while the caller
  // (a Raft driver about to fsync) still holds the thread.
  assert.equal(sent(), before + 1);
  await pollUntil(() => b.inbox.length === 2, 'the flushed frame arrives');
  await setImmediate();
  assert.equal(sent(), before + 1, 'the end-of-turn flush sends nothing twice');
  assert.deepEqual(
    b.inbox.map((m) => m.payload[0]),
    [0, 1],
  );
});

/** Payload `seq` of `bytes` bytes: its first bytes spell seq, the rest a pattern derived from it. */
function patterned(seq: number, bytes: number): Uint8Array {
  const p = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) p[i] = (seq * 31 + i) & 0xff;
  if (bytes >= 4) new DataView(p.buffer).setUint32(0, seq);
  return p;
}

test('small slabs: mixed small and large frames cross slab boundaries, slabs are reused, and nothing is corrupted', async () => {
  // sendSlabBytes 256: frames up to 64 bytes (payload up to 64 - 22 envelope bytes) are encoded into
  // slabs, larger ones get their own buffer, so random sizes exercise slab retirement, sealing at
  // each flush, FIFO across the two kinds, and reuse of written slabs. The caller scribbles over its
  // buffer after every send: what arrives must be what was passed, byte for byte.
  const port = await freePort();
  const a = make('a', { b: { host, port } }, { sendSlabBytes: 256 });
  await a.t.start();
  const rng = new SeededRng('slabs');
  const sizes: number[] = [];
  const send = (): void => {
    const seq = sizes.length;
    const bytes = rng.chance(0.8) ? rng.int(43) : 43 + rng.int(300);
    const payload = patterned(seq, bytes);
    assert.equal(a.t.send('b', MessageType.TestBulk, payload), true, `send ${seq}`);
    payload.fill(0xee);
    sizes.push(bytes);
  };
  // Phase 1: the peer is down; frames pile up across many retired slabs.
  for (let i = 0; i < 300; i++) send();
  await setImmediate();
  assert.equal(a.metrics.value('peer_send_queue_frames', { peer: 'b' }), 300, 'gauges refreshed after the turn');
  const b = make('b', { a: a.t.address() }, { listen: { host, port } });
  await b.t.start();
  await pollUntil(() => b.inbox.length >= 300, 'b receives the frames queued while it was down');
  // Phase 2: bursts of random length, each flushed in its own turn, while earlier writes complete.
  for (let round = 0; round < 40; round++) {
    const burst = 1 + rng.int(100);
    for (let i = 0; i < burst; i++) send();
    await setImmediate();
  }
  await pollUntil(() => b.inbox.length >= sizes.length, 'b receives every burst');
  assert.equal(b.inbox.length, sizes.length);
  for (let seq = 0; seq < sizes.length; seq++) {
    assert.deepEqual(b.inbox[seq]?.payload, patterned(seq, sizes[seq]!), `message ${seq} intact and in order`);
  }
  assert.ok(a.metrics.value('peer_send_slabs_total', { result: 'reused' }) > 0, 'written slabs were reused');
  assert.equal(a.metrics.value('peer_frames_sent_total', { peer: 'b' }), sizes.length);
  assert.equal(b.metrics.value('peer_frames_received_total', { peer: 'a' }), sizes.length);
  assert.equal(
    b.metrics.value('peer_bytes_received_total', { peer: 'a' }),
    a.metrics.value('peer_bytes_sent_total', { peer: 'b' }),
  );
  assert.equal(a.t.peerStatus()[0]?.queuedFrames, 0);
  assert.equal(a.t.peerStatus()[0]?.queuedBytes, 0);
  assert.equal(a.metrics.value('peer_send_queue_bytes', { peer: 'b' }), 0);
});

test('a handler that closes the transport mid-read gets no further message from that read', async () => {
  const { a, b } = await pair();
  const got: number[] = [];
  b.t.onMessage((m) => {
    got.push(m.payload[0]!);
    if (got.length === 3) void b.t.close();
  });
  // One turn of sends is one write, so these frames very likely share one read on b's side.
  for (let i = 0; i < 50; i++) a.t.send('b', MessageType.TestEcho, Uint8Array.of(i));
  await pollUntil(() => got.length >= 3, 'b sees three messages');
  await setImmediate();
  assert.deepEqual(got, [0, 1, 2]);
});

test('under real socket backpressure a slab is reused only after its bytes have left', async () => {
  // The peer is a raw socket that stops reading, so writes stay pending in the kernel and in libuv
  // while the sender keeps encoding into slabs. A slab recycled before its pending write completed
  // would be overwritten under the socket: the reader, resumed, would see corrupt frames.
  let received: Buffer[] = [];
  let peer: Socket | null = null;
  const server = createServer((socket) => {
    peer = socket;
    socket.pause();
    socket.on('data', (chunk: Buffer) => received.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const a = make(
    'a',
    { b: { host, port: address.port } },
    { sendSlabBytes: 64 * 1024, sendQueueFramesMax: 100_000, sendQueueBytesMax: 64 * 1024 * 1024 },
  );
  await a.t.start();
  await pollUntil(() => peer !== null, 'the transport connects');
  const rng = new SeededRng('backpressure');
  const sizes: number[] = [];
  let total = 0;
  while (total < 24 * 1024 * 1024) {
    for (let i = 0; i < 64; i++) {
      const bytes = 1 + rng.int(16 * 1024 - 30);
      const payload = patterned(sizes.length, bytes);
      assert.equal(a.t.send('b', MessageType.TestBulk, payload), true);
      payload.fill(0xee);
      sizes.push(bytes);
      total += bytes;
    }
    await setImmediate();
  }
  assert.ok((a.t.peerStatus()[0]?.queuedBytes ?? 0) > 0, 'the paused reader holds the sender back');
  const decoder = new FrameDecoder();
  const frames: Uint8Array[] = [];
  const drain = (): void => {
    for (const chunk of received) {
      for (const e of decoder.push(chunk)) {
        assert.equal(e.kind, 'frame', e.kind === 'error' ? e.error.code : '');
        // Every connection opens with a TransportHello (identification), not a message.
        if (e.kind === 'frame' && e.frame.type !== MessageType.TransportHello) frames.push(e.frame.payload);
      }
    }
    received = [];
  };
  (peer as Socket | null)?.resume();
  await pollUntil(
    () => {
      drain();
      return frames.length >= sizes.length;
    },
    'the reader gets every frame',
    30_000,
  );
  for (let seq = 0; seq < sizes.length; seq++) {
    assert.deepEqual(frames[seq], patterned(seq, sizes[seq]!), `frame ${seq} intact`);
  }
  assert.ok(a.metrics.value('peer_send_slabs_total', { result: 'reused' }) > 0, 'written slabs were reused');
  (peer as Socket | null)?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('an inbound connection that never identifies itself is closed after connectTimeoutMs; identified peers stay', async () => {
  const b = make('b', { a: { host, port: 0 } }, { connectTimeoutMs: 200 });
  await b.t.start();
  const a = make('a', { b: b.t.address() }, { connectTimeoutMs: 200 });
  await a.t.start();
  a.t.send('b', MessageType.TestEcho, Uint8Array.of(1));
  await pollUntil(() => b.inbox.length === 1, 'b hears a');
  const idle = await rawConnect(b.t.address().port);
  await pollUntil(idle.closed, 'b closes the silent connection');
  assert.equal(b.metrics.value('peer_frames_rejected_total', { reason: 'identify_timeout' }), 1);
  // a's connection identified itself long ago and was not timed out: it still delivers.
  a.t.send('b', MessageType.TestEcho, Uint8Array.of(2));
  await pollUntil(() => b.inbox.length === 2, 'b still hears a');
  assert.equal(b.metrics.value('peer_frames_rejected_total', { reason: 'identify_timeout' }), 1);
});

// --- Inbound resource bounds (issue 7 item 13) and rate-limited rejection logs (item 14).

/** A connection to `port` that identifies itself as `sender` with one small valid frame. */
async function identifiedAs(port: number, sender: string): Promise<Awaited<ReturnType<typeof rawConnect>>> {
  const conn = await rawConnect(port);
  conn.socket.write(
    new FrameEncoder({ clusterId: cluster, senderId: sender }).encode(MessageType.TestEcho, Uint8Array.of(99)),
  );
  return conn;
}

/** Starts a frame of `frameBytes` on the wire and sends only `sentBytes` of it (a partial frame held by the receiver). */
function partialFrame(frameBytes: number, sentBytes: number): Uint8Array {
  const out = new Uint8Array(sentBytes);
  new DataView(out.buffer).setUint32(0, frameBytes - 4);
  out[4] = 2; // envelope version
  return out;
}

test('partial frames across inbound connections are bounded: the connection that crosses the bound is closed', async () => {
  const frameBytesMax = 256 * 1024;
  const b = make(
    'b',
    { a: { host, port: 0 }, c: { host, port: 0 } },
    { frameBytesMax, inboundHeldBytesMax: frameBytesMax },
  );
  await b.t.start();
  const port = b.t.address().port;
  const first = await identifiedAs(port, 'a');
  const second = await identifiedAs(port, 'c');
  await pollUntil(() => b.inbox.length === 2, 'both connections identify themselves');
  // Each holds a partial frame of 150 KiB of a declared 250 KiB: together past the 256 KiB bound.
  first.socket.write(partialFrame(250 * 1024, 150 * 1024));
  await pollUntil(() => b.metrics.value('peer_inbound_held_bytes') >= 140 * 1024, 'b holds the first partial frame');
  second.socket.write(partialFrame(250 * 1024, 150 * 1024));
  await pollUntil(second.closed, 'the connection crossing the bound is closed');
  assert.equal(b.metrics.value('peer_frames_rejected_total', { reason: 'inbound_buffer_full' }), 1);
  assert.equal(first.closed(), false, 'the connection within the bound stays');
  assert.ok(b.metrics.value('peer_inbound_held_bytes') <= frameBytesMax, 'the closed one released its bytes');
  first.socket.destroy();
  await pollUntil(() => b.metrics.value('peer_inbound_held_bytes') === 0, 'closing releases everything held');
});

test('a connection that has not identified itself may send only a small first frame', async () => {
  const b = make('b', { a: { host, port: 0 } }, { identifyFrameBytesMax: 1024 });
  await b.t.start();
  const conn = await rawConnect(b.t.address().port);
  // A forged 16 MiB frame as the first frame: refused on its length prefix, nothing buffered.
  conn.socket.write(partialFrame(16 * 1024 * 1024, 64 * 1024));
  await pollUntil(conn.closed, 'b closes it');
  assert.equal(b.metrics.value('peer_frames_rejected_total', { reason: 'frame_too_large' }), 1);
  assert.equal(b.metrics.value('peer_inbound_held_bytes'), 0);
});

test('an identified connection that goes silent is closed after inboundIdleTimeoutMs', async () => {
  const b = make('b', { a: { host, port: 0 } }, { inboundIdleTimeoutMs: 200 });
  await b.t.start();
  const conn = await identifiedAs(b.t.address().port, 'a');
  await pollUntil(() => b.inbox.length === 1, 'b hears the connection identify itself');
  // It now holds a partial frame and sends nothing more (slow-loris).
  conn.socket.write(partialFrame(100_000, 1_000));
  await pollUntil(conn.closed, 'b closes the idle connection', 5_000);
  assert.equal(b.metrics.value('peer_inbound_closed_total', { reason: 'idle_timeout' }), 1);
  await pollUntil(() => b.metrics.value('peer_inbound_held_bytes') === 0, 'and releases its partial frame');
});

test('a newer connection from a peer id closes the older one; the newer one is served', async () => {
  const b = make('b', { a: { host, port: 0 } });
  await b.t.start();
  const port = b.t.address().port;
  const older = await identifiedAs(port, 'a');
  await pollUntil(() => b.inbox.length === 1, 'the older connection identifies itself');
  older.socket.write(partialFrame(1_000_000, 100_000));
  const newer = await identifiedAs(port, 'a');
  await pollUntil(older.closed, 'b closes the older connection');
  await pollUntil(() => b.inbox.length === 2, 'the newer connection is served');
  assert.equal(b.metrics.value('peer_inbound_closed_total', { reason: 'superseded' }), 1);
  assert.equal(b.t.peerStatus()[0]?.inboundConnections, 1);
  assert.equal(newer.closed(), false);
  // Twenty impostors in a row leave one connection and no partial frames behind (20 used to hold 290 MB).
  const impostors: Awaited<ReturnType<typeof rawConnect>>[] = [];
  for (let i = 0; i < 20; i++) {
    const conn = await identifiedAs(port, 'a');
    conn.socket.write(partialFrame(1_000_000, 100_000));
    impostors.push(conn);
  }
  await pollUntil(() => impostors.slice(0, -1).every((c) => c.closed()) && newer.closed(), 'all but the newest closed');
  await pollUntil(() => b.metrics.value('peer_inbound_held_bytes') <= 1_000_000, 'at most one partial frame held');
  assert.equal(b.t.peerStatus()[0]?.inboundConnections, 1);
  for (const c of impostors) c.socket.destroy();
});

test('rejected connections are logged at a bounded rate; what was left out is counted', async () => {
  const b = make('b', { a: { host, port: 0 } });
  await b.t.start();
  const conns: Awaited<ReturnType<typeof rawConnect>>[] = [];
  for (let i = 0; i < 100; i++) {
    const conn = await rawConnect(b.t.address().port);
    conn.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    conns.push(conn);
  }
  await pollUntil(() => conns.every((c) => c.closed()), 'every garbage connection is closed');
  assert.equal(b.metrics.value('peer_frames_rejected_total', { reason: 'frame_too_large' }), 100);
  const warnings = b.log.lines().filter((l) => l.level === 'warn').length;
  assert.ok(warnings <= 15, `${warnings} warning lines for 100 rejected connections`);
  assert.ok(b.metrics.value('log_lines_suppressed_total', { component: 'tcp-transport' }) >= 85);
});
