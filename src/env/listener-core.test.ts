// Goal: the listener's memory bound (ListenerBounds.memoryBytesMax) counts what its connections
// hold exactly: reported bytes and buffered replies, each once (a reply moving from held to
// written is never counted twice), released when a connection closes, a graceful close's unsent
// replies until they are sent or its pipe is gone (at most LINGER_MS); past the bound the
// connection holding the most is evicted at the end of the turn (never inside the code running
// now), connections set not evictable (CLIENT NO-EVICT) passed over. The listener compliance
// suite checks the same bound end to end over TCP and the simulator; this file checks the edges
// with a pipe and timers the test drives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordingMetrics } from '../storage/wal/test-components.ts';
import { memoryLogger } from './log.ts';
import { type ConnectionIo, type CoreConnection, LINGER_MS, ListenerCore } from './listener-core.ts';
import type { ClientCloseReason, ListenerBounds, Timer, Timers } from './types.ts';
import { RequestPipeline } from '../wire/pipeline.ts';
import { ascii, type TestRequest, TestRequestDecoder } from '../wire/test-proto/codec.ts';

/** Timers that run only when the test says: `turn()` runs what is due now (an event-loop turn). */
class Turns implements Timers {
  nowMs = 0;
  private tasks: { at: number; fn: () => void; cancelled: boolean }[] = [];
  after(delayMs: number, fn: () => void): Timer {
    const t = { at: this.nowMs + delayMs, fn, cancelled: false };
    this.tasks.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  every(): Timer {
    throw new Error('not used');
  }
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      const due = this.tasks.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.nowMs = due.at;
      due.fn();
    }
    this.nowMs = end;
  }
  turn(): void {
    this.advance(0);
  }
}

class FakeIo implements ConnectionIo {
  buffered = 0;
  ended = false;
  destroyed = false;
  write(bytes: Uint8Array): void {
    this.buffered += bytes.length;
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  setReading(): void {}
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

const bounds: ListenerBounds = {
  connectionsMax: 16,
  connectionsPerAddressMax: 16,
  bufferedBytesMax: 1 << 20,
  inflightRequestsMax: 8,
  memoryBytesMax: 1000,
  idleTimeoutMs: 'none',
};

function listener(b: ListenerBounds = bounds) {
  const timers = new Turns();
  const metrics = new RecordingMetrics();
  let peak = 0;
  const gauge = metrics.gauge.bind(metrics);
  metrics.gauge = (name, help, labels) => {
    const g = gauge(name, help, labels);
    if (name !== 'client_memory_bytes') return g;
    return {
      set: (v: number) => {
        peak = Math.max(peak, v);
        g.set(v);
      },
      add: g.add,
    };
  };
  const closes = new Map<number, ClientCloseReason>();
  const core = new ListenerCore({
    protocol: 'test-proto',
    bounds: b,
    clock: { monotonicMs: () => timers.nowMs, wallMs: () => timers.nowMs },
    timers,
    metrics,
    log: memoryLogger(100),
    handler: (c) => c.onClose((reason) => closes.set(c.id, reason)),
  });
  const open = (n: number) => {
    const io = new FakeIo();
    return { io, conn: core.accept(io, `10.0.0.${n}:1000`) };
  };
  return { core, timers, closes, open, peak: () => peak };
}

test('past the bound the connection holding the most is evicted at the end of the turn, and only it', () => {
  const { core, timers, closes, open } = listener();
  const a = open(1);
  const b = open(2);
  a.conn.reportHeldBytes(600);
  b.conn.reportHeldBytes(300);
  b.conn.write(new Uint8Array(200)); // 1,100 together: past 1,000
  assert.equal(core.heldMemoryBytes, 1100);
  assert.equal(a.conn.closed, false, 'not inside the code running now');
  timers.turn();
  assert.equal(closes.get(a.conn.id), 'client_memory');
  assert.equal(b.conn.closed, false);
  assert.equal(core.heldMemoryBytes, 500, 'the evicted connection left the count');
  assert.equal(a.io.destroyed, true, 'an eviction resets the connection');
  // A report from the closed connection changes nothing.
  a.conn.reportHeldBytes(5000);
  assert.equal(core.heldMemoryBytes, 500);
  // Written replies leave the count as the pipe sends them.
  b.io.buffered = 0;
  b.conn.drained();
  assert.equal(core.heldMemoryBytes, 300);
  b.conn.reportHeldBytes(0);
  assert.equal(core.heldMemoryBytes, 0);
});

test('a connection not evictable (CLIENT NO-EVICT) is passed over', () => {
  const { core, timers, closes, open } = listener();
  const a = open(1);
  const b = open(2);
  a.conn.setEvictable(false);
  a.conn.reportHeldBytes(700);
  b.conn.reportHeldBytes(400);
  timers.turn();
  assert.equal(a.conn.closed, false);
  assert.equal(closes.get(b.conn.id), 'client_memory');
  assert.equal(core.heldMemoryBytes, 700);
  // Alone past the bound and not evictable: it stays (the bound is for the others).
  a.conn.reportHeldBytes(1500);
  timers.turn();
  assert.equal(a.conn.closed, false);
});

test("a graceful close's unsent replies count until sent, or until LINGER_MS drops its pipe", () => {
  const { core, timers, open } = listener();
  const a = open(1);
  a.conn.reportHeldBytes(100);
  a.conn.write(new Uint8Array(400));
  a.conn.close();
  assert.equal(core.heldMemoryBytes, 400, 'the reported bytes are freed, the buffered ones still held');
  a.io.buffered = 150;
  a.conn.drained();
  assert.equal(core.heldMemoryBytes, 150);
  a.io.buffered = 0;
  a.conn.drained();
  assert.equal(core.heldMemoryBytes, 0);
  // A client that never reads: its pipe is dropped after LINGER_MS.
  const b = open(2);
  b.conn.write(new Uint8Array(300));
  b.conn.close();
  assert.equal(core.heldMemoryBytes, 300);
  timers.advance(LINGER_MS - 1);
  assert.equal(b.io.destroyed, false);
  timers.advance(1);
  assert.equal(b.io.destroyed, true);
  assert.equal(core.heldMemoryBytes, 0);
  // A lingering pipe is a candidate for eviction too, and a reset frees it at once.
  const c = open(3);
  c.conn.write(new Uint8Array(900));
  c.conn.close();
  const d = open(4);
  d.conn.reportHeldBytes(200);
  timers.turn();
  assert.equal(c.io.destroyed, true, 'the lingering connection held the most');
  assert.equal(d.conn.closed, false);
  assert.equal(core.heldMemoryBytes, 200);
  const e = open(5);
  e.conn.write(new Uint8Array(50));
  e.conn.ended('reset');
  assert.equal(core.heldMemoryBytes, 200);
});

test('a lingering connection keeps its slots (connectionsMax, connectionsPerAddressMax) until its pipe is gone', () => {
  // Its socket is still open: without this a client closing with unread replies could hold
  // sockets past both bounds for LINGER_MS each.
  const ports = listener({ ...bounds, connectionsMax: 2 });
  const a = ports.open(1);
  ports.open(2);
  a.conn.write(new Uint8Array(400));
  a.conn.close();
  assert.equal(ports.core.admit('10.0.0.9:2000'), 'port_full', 'one open, one lingering: full');
  a.io.buffered = 0;
  a.conn.drained();
  assert.equal(ports.core.admit('10.0.0.9:2000'), undefined, 'its replies sent: the slot is free');
  const hosts = listener({ ...bounds, connectionsPerAddressMax: 1 });
  const b = hosts.open(1);
  b.conn.write(new Uint8Array(10));
  b.conn.ended('remote');
  assert.equal(hosts.core.admit('10.0.0.1:2000'), 'address_full', "b's host slot is held while it lingers");
  // The client's FIN after ours (it half-closed and does not read): the bytes are still in the
  // pipe, so the slots stay held (a review: the FIN freed them while the socket held the bytes).
  b.conn.ended('remote');
  assert.equal(hosts.core.admit('10.0.0.1:2000'), 'address_full', 'a FIN while lingering frees nothing');
  assert.equal(hosts.core.heldMemoryBytes, 10);
  hosts.timers.advance(LINGER_MS);
  assert.equal(b.io.destroyed, true);
  assert.equal(hosts.core.admit('10.0.0.1:2000'), undefined, 'its pipe dropped after LINGER_MS: free');
  // The pipe emptied after the last count (no drain seen yet): the close does not linger.
  const h = hosts.open(11);
  h.conn.write(new Uint8Array(10));
  h.io.buffered = 0;
  h.conn.close();
  assert.equal(hosts.core.admit('10.0.0.11:2000'), undefined, 'nothing left to send: no linger');
  // Closed without unsent bytes, or reset: free at once.
  const c = hosts.open(4);
  c.conn.close();
  assert.equal(hosts.core.admit('10.0.0.4:2000'), undefined);
  const d = hosts.open(5);
  d.conn.write(new Uint8Array(10));
  d.conn.ended('reset');
  assert.equal(hosts.core.admit('10.0.0.5:2000'), undefined);
  // A lingering connection whose pipe is reset, or closes for good, or is evicted: free at once.
  for (const [n, end] of [
    [6, (x: CoreConnection) => x.ended('reset')],
    [7, (x: CoreConnection) => x.ended('closed')],
    [8, (x: CoreConnection) => x.evictForMemory()],
  ] as const) {
    const e = hosts.open(n);
    e.conn.write(new Uint8Array(10));
    e.conn.close();
    assert.equal(hosts.core.admit(`10.0.0.${n}:2000`), 'address_full', `${n} lingers`);
    end(e.conn);
    assert.equal(hosts.core.admit(`10.0.0.${n}:2000`), undefined, `${n}: its pipe is done`);
  }
  // The pipe closed for good while the connection was open: nothing to linger for.
  const f = hosts.open(9);
  f.conn.write(new Uint8Array(10));
  f.conn.ended('closed');
  assert.equal(hosts.core.admit('10.0.0.9:2000'), undefined);
  assert.equal(hosts.core.heldMemoryBytes, 0);
  // The listener closing drops every lingering pipe.
  const g = hosts.open(10);
  g.conn.write(new Uint8Array(10));
  g.conn.close();
  assert.equal(hosts.core.heldMemoryBytes, 10);
  hosts.core.close();
  assert.equal(g.io.destroyed, true);
  assert.equal(hosts.core.heldMemoryBytes, 0);
});

test('a reply moving from held to written through the pipeline is counted once', () => {
  const { core, timers, open, peak } = listener();
  const { conn } = open(1);
  const waiting: ((bytes: Uint8Array) => void)[] = [];
  new RequestPipeline<TestRequest>({
    connection: conn as CoreConnection,
    decoder: new TestRequestDecoder(),
    metrics: new RecordingMetrics(),
    timers,
    serve: (request, reply) => {
      if (request.verb === 'SLOW') waiting.push(reply);
      else reply(new Uint8Array(600)); // answered at once, held behind SLOW
    },
    protocolErrorReply: () => undefined,
  });
  conn.received(ascii('SLOW\nBIG\n'));
  assert.equal(core.heldMemoryBytes, 600, 'the reply waiting behind SLOW');
  waiting[0]!(new Uint8Array(10));
  assert.equal(core.heldMemoryBytes, 610, 'now buffered, and no longer held');
  assert.ok(peak() <= 610, `counted twice on its way: ${peak()}`);
  timers.turn();
  assert.equal(conn.closed, false);
});
