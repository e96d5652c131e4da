// Client-listener compliance suite: one set of cases, run against every implementation of the
// Env's `listen` (the js-libp2p model, as transport-suite.ts does for peers).
// test/compliance/real.test.ts runs it over TCP on loopback (src/net/tcp-listener.ts);
// test/compliance/sim.test.ts over the simulator's client links (src/sim/client-links.ts), with
// segments cut at random boundaries and at every byte. The protocol is the test protocol
// (src/wire/test-proto), served through the shared request pipeline, so what is checked is what a
// RESP or ZooKeeper front end will rely on (the contract of ClientConnection in src/env/types.ts):
//   - connect, request/reply, the client's address as the server sees it;
//   - pipelined requests answered in order; a request written one byte per write;
//   - connections per client address and per port: refused beyond, each refusal counted by reason;
//   - the in-flight bound stops reading: a client pipelining past it gets every reply, no error,
//     only later (waves of inflightRequestsMax);
//   - buffered reply bytes: a large reply that heeds write()'s backpressure reaches a reading
//     client whatever the bound; a client that does not read unsolicited output is evicted
//     (slow_reader);
//   - the listener's memory bound (memoryBytesMax): past it the connection holding the most is
//     evicted (client_memory), the others served on;
//   - idle timeout closes a silent connection, not a busy one nor one with a request in flight;
//     'none' never closes;
//   - close by the server (QUIT), by the client, by the listener; a malformed stream answered with
//     an error reply, counted, then closed.
//
// Harness contract. `setup()` returns a world with one node (Env pieces `listen`, `timers`,
// `metrics`), clients that can come from distinct hosts (real: 127.0.0.N; simulated: named hosts),
// `until` (poll real time / advance virtual time, bounded), `idle(ms)`, `nowMs()`, `metric()` (the
// node's counter or gauge value) and `teardown()`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hostOf } from '../../src/env/listener-core.ts';
import type { ClientConnection, Env, Labels, Listener, ListenerBounds } from '../../src/env/types.ts';
import { ascii, encodeRequest, TestReplyDecoder, type TestReply } from '../../src/wire/test-proto/codec.ts';
import { serveTestProto } from '../../src/wire/test-proto/session.ts';

export interface RawClient {
  write(bytes: Uint8Array): void;
  /** Called with every chunk received, in order. */
  onData(handler: (chunk: Uint8Array) => void): void;
  readonly closed: boolean;
  pauseReading(): void;
  resumeReading(): void;
  close(): void;
}

export interface ListenerWorld {
  readonly node: Pick<Env, 'listen' | 'timers' | 'metrics'>;
  /**
   * A client of the node's `protocol` listener bound to `port` (what `ready()` returned), from
   * client host number `host` (1, 2, 3...).
   */
  connect(protocol: string, port: number, host: number): RawClient;
  /** The host part of a client's address as the server sees it, for host number `host`. */
  hostName(host: number): string;
  metric(name: string, labels: Labels): number;
  nowMs(): number;
  until(pred: () => boolean, what: string, boundMs?: number): Promise<void>;
  idle(ms: number): Promise<void>;
  teardown(): Promise<void>;
}

export interface ListenerHarness {
  setup(): Promise<ListenerWorld>;
}

const protocol = 'test-proto';

const roomy: ListenerBounds = {
  connectionsMax: 64,
  connectionsPerAddressMax: 64,
  bufferedBytesMax: 1024 * 1024,
  inflightRequestsMax: 64,
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none',
};

/** A test-protocol client over a raw one: replies decoded as they come. */
class Client {
  readonly replies: TestReply[] = [];
  bytes = 0;
  private readonly decoder = new TestReplyDecoder();
  constructor(readonly raw: RawClient) {
    raw.onData((chunk) => {
      this.bytes += chunk.length;
      this.decoder.push(chunk);
      this.replies.push(...this.decoder.drain());
    });
  }
  send(verb: string, argument?: string): void {
    this.raw.write(encodeRequest(verb, argument));
  }
}

interface Served {
  readonly listener: Listener;
  readonly port: number;
  readonly connections: ClientConnection[];
  /** Largest inflightRequests seen on any connection when a chunk arrived or a reply left. */
  inflightSeenMax: number;
}

/** Listens for the test protocol with `bounds`; records each server-side connection. */
async function serve(world: ListenerWorld, bounds: ListenerBounds): Promise<Served> {
  const inner = serveTestProto({ timers: world.node.timers, metrics: world.node.metrics });
  const served = {
    listener: undefined as unknown as Listener,
    port: 0,
    connections: [] as ClientConnection[],
    inflightSeenMax: 0,
  };
  const listener = world.node.listen(protocol, { port: 0, bounds }, (conn) => {
    served.connections.push(conn);
    const requestStarted = conn.requestStarted.bind(conn);
    conn.requestStarted = () => {
      requestStarted();
      served.inflightSeenMax = Math.max(served.inflightSeenMax, conn.inflightRequests);
    };
    inner(conn);
  });
  served.port = await listener.ready();
  served.listener = listener;
  return served;
}

async function withWorld(harness: ListenerHarness, body: (world: ListenerWorld) => Promise<void>): Promise<void> {
  const world = await harness.setup();
  try {
    await body(world);
  } finally {
    await world.teardown();
  }
}

const m = { protocol };

export function listenerCompliance(name: string, harness: ListenerHarness): void {
  describe(`Listener compliance: ${name}`, () => {
    test('request and reply; the server sees the client address; pipelined replies in order', async () => {
      await withWorld(harness, async (world) => {
        const { port, connections } = await serve(world, roomy);
        const c = new Client(world.connect(protocol, port, 1));
        c.send('ECHO', 'hello world');
        c.send('UPPER', 'shout');
        for (let i = 0; i < 20; i++) c.send('ECHO', String(i));
        await world.until(() => c.replies.length === 22, 'all 22 replies');
        assert.deepEqual(c.replies.slice(0, 2), [
          { ok: true, text: 'hello world' },
          { ok: true, text: 'SHOUT' },
        ]);
        assert.deepEqual(
          c.replies.slice(2).map((r) => r.text),
          Array.from({ length: 20 }, (_, i) => String(i)),
        );
        assert.equal(connections.length, 1);
        assert.equal(hostOf(connections[0]!.remoteAddress), world.hostName(1));
        assert.equal(connections[0]!.protocol, protocol);
        assert.equal(world.metric('client_connections_open', m), 1);
        assert.equal(world.metric('client_connections_accepted_total', m), 1);
        assert.ok(world.metric('client_bytes_received_total', m) > 0);
        assert.equal(world.metric('client_bytes_sent_total', m), c.bytes);
      });
    });

    test('a request written one byte per write is answered like a whole one', async () => {
      await withWorld(harness, async (world) => {
        const { port } = await serve(world, roomy);
        const c = new Client(world.connect(protocol, port, 1));
        const bytes = ascii('UPPER byte by byte\nECHO two\n');
        for (let i = 0; i < bytes.length; i++) c.raw.write(bytes.subarray(i, i + 1));
        await world.until(() => c.replies.length === 2, 'two replies');
        assert.deepEqual(c.replies, [
          { ok: true, text: 'BYTE BY BYTE' },
          { ok: true, text: 'two' },
        ]);
      });
    });

    test('connections per client address and per port are bounded; refusals are counted', async () => {
      await withWorld(harness, async (world) => {
        const { listener, port } = await serve(world, { ...roomy, connectionsMax: 3, connectionsPerAddressMax: 2 });
        const a1 = new Client(world.connect(protocol, port, 1));
        const a2 = new Client(world.connect(protocol, port, 1));
        for (const c of [a1, a2]) c.send('ECHO', 'in');
        await world.until(() => a1.replies.length === 1 && a2.replies.length === 1, 'two from host 1 served');
        const a3 = new Client(world.connect(protocol, port, 1));
        a3.send('ECHO', 'refused');
        await world.until(() => a3.raw.closed, 'third from host 1 closed');
        assert.equal(a3.replies.length, 0);
        assert.equal(world.metric('client_connections_refused_total', { ...m, reason: 'address_full' }), 1);
        const b1 = new Client(world.connect(protocol, port, 2));
        b1.send('ECHO', 'in');
        await world.until(() => b1.replies.length === 1, 'one from host 2 served');
        const c1 = new Client(world.connect(protocol, port, 3));
        c1.send('ECHO', 'refused');
        await world.until(() => c1.raw.closed, 'host 3 refused: port full');
        assert.equal(c1.replies.length, 0);
        assert.equal(world.metric('client_connections_refused_total', { ...m, reason: 'port_full' }), 1);
        assert.equal(world.metric('client_connections_open', m), 3);
        assert.equal(listener.connections, 3);
        // A slot freed is a slot available again.
        a1.raw.close();
        await world.until(() => listener.connections === 2, 'the closed connection released its slot');
        const a4 = new Client(world.connect(protocol, port, 1));
        a4.send('ECHO', 'again');
        await world.until(() => a4.replies.length === 1, 'host 1 may connect again');
      });
    });

    test('the in-flight bound stops reading: a pipelining client waits, sees no error', async () => {
      await withWorld(harness, async (world) => {
        const inflightRequestsMax = 2;
        const served = await serve(world, { ...roomy, inflightRequestsMax });
        const c = new Client(world.connect(protocol, served.port, 1));
        const slowMs = 400;
        const started = world.nowMs();
        c.send('SLOW', `${slowMs} r0`);
        c.send('SLOW', `${slowMs} r1`);
        await world.until(() => served.inflightSeenMax === 2, 'the first two requests are in flight');
        const receivedAtBound = world.metric('client_bytes_received_total', m);
        for (let i = 2; i < 6; i++) c.send('SLOW', `${slowMs} r${i}`);
        await world.idle(slowMs / 4);
        assert.equal(
          world.metric('client_bytes_received_total', m),
          receivedAtBound,
          'at the bound nothing more is read: the requests wait in TCP',
        );
        await world.until(() => c.replies.length === 6, 'six replies');
        const tookMs = world.nowMs() - started;
        assert.deepEqual(
          c.replies,
          Array.from({ length: 6 }, (_, i) => ({ ok: true, text: `r${i}` })),
        );
        assert.equal(served.inflightSeenMax, inflightRequestsMax);
        // Three waves of two: at least three SLOW delays, never all six at once.
        assert.ok(tookMs >= 3 * slowMs - 1, `six SLOW ${slowMs} with 2 in flight took ${tookMs} ms`);
        assert.ok(world.metric('client_read_pauses_total', { ...m, reason: 'inflight' }) >= 1);
        assert.equal(world.metric('client_connections_open', m), 1, 'not closed');
      });
    });

    test('backpressure paces a large reply to a reader; a client that does not read pushes is evicted', async () => {
      await withWorld(harness, async (world) => {
        const { listener, port } = await serve(world, { ...roomy, bufferedBytesMax: 64 * 1024 });
        const reader = new Client(world.connect(protocol, port, 1));
        reader.send('FLOOD', '12 8192'); // 96 KiB, 1.5 times the bound
        await world.until(() => reader.replies.at(-1)?.text === 'flooded', 'the reader gets the whole flood');
        assert.equal(reader.replies.length, 13);
        assert.equal(world.metric('client_connections_closed_total', { ...m, reason: 'slow_reader' }), 0);
        const stuck = new Client(world.connect(protocol, port, 2));
        stuck.raw.pauseReading();
        stuck.send('PUSH', '8192 8192'); // 64 MiB regardless of backpressure: past any kernel buffers
        await world.until(
          () => world.metric('client_connections_closed_total', { ...m, reason: 'slow_reader' }) === 1,
          'the non-reader is evicted',
        );
        assert.equal(listener.connections, 1, 'the reader stays');
        // A client learns of the reset when it reads again (TCP delivers it behind buffered data).
        stuck.raw.resumeReading();
        await world.until(() => stuck.raw.closed, 'the evicted client sees its connection end');
        reader.send('ECHO', 'still here');
        await world.until(() => reader.replies.at(-1)?.text === 'still here', 'the reader is still served');
      });
    });

    test("the listener's memory bound evicts the connection holding the most, and only it", async () => {
      await withWorld(harness, async (world) => {
        const bound = 64 * 1024;
        const { listener, port } = await serve(world, { ...roomy, memoryBytesMax: bound });
        const memory = () => world.metric('client_memory_bytes', m);
        const partial = (bytes: number) => ascii(`ECHO ${'x'.repeat(bytes - 5)}`); // no LF yet
        // The largest is not the oldest connection: the choice is by the bytes held.
        const other = new Client(world.connect(protocol, port, 3));
        const small = new Client(world.connect(protocol, port, 2));
        const big = new Client(world.connect(protocol, port, 1));
        other.send('ECHO', 'before');
        await world.until(() => other.replies.length === 1, 'a third client is served');
        big.raw.write(partial(40_000)); // a request being read: the decoder holds it
        await world.until(() => memory() >= 40_000, 'the partial request is counted');
        assert.equal(world.metric('client_connections_closed_total', { ...m, reason: 'client_memory' }), 0);
        small.raw.write(partial(30_000)); // 70,000 bytes together: past the bound
        await world.until(
          () => world.metric('client_connections_closed_total', { ...m, reason: 'client_memory' }) === 1,
          'one connection is evicted for memory',
        );
        await world.until(() => big.raw.closed, 'the largest is the one evicted');
        assert.ok(memory() <= bound, `${memory()} bytes held after the eviction`);
        small.raw.write(ascii('\n'));
        await world.until(() => small.replies.length === 1, 'the smaller request completes');
        assert.equal(small.replies[0]!.text.length, 30_000 - 5);
        other.send('ECHO', 'after');
        await world.until(() => other.replies.length === 2, 'the third client is still served');
        assert.equal(listener.connections, 2);
        assert.equal(world.metric('client_connections_closed_total', { ...m, reason: 'client_memory' }), 1);
        await world.until(() => memory() === 0, 'nothing is held once every request is answered');
      });
    });

    test('idle timeout: a silent connection closes; a busy one and one in flight do not', async () => {
      await withWorld(harness, async (world) => {
        const idleMs = 600; // generous: a process stalled for idleMs on a loaded machine would close the busy one
        const { port } = await serve(world, { ...roomy, idleTimeoutMs: idleMs });
        const silent = new Client(world.connect(protocol, port, 1));
        const busy = new Client(world.connect(protocol, port, 2));
        const waiting = new Client(world.connect(protocol, port, 3));
        waiting.send('SLOW', `${2 * idleMs} done`);
        const started = world.nowMs();
        let sent = 0;
        const pacer = world.node.timers.every(idleMs / 6, () => busy.send('ECHO', String(sent++)));
        try {
          await world.until(() => silent.raw.closed, 'the silent connection closes');
          assert.ok(world.nowMs() - started >= idleMs - 1, 'not before the idle timeout');
          await world.until(() => waiting.replies.length === 1, 'the in-flight request is answered');
          assert.equal(waiting.replies[0]!.text, 'done');
          assert.equal(waiting.raw.closed, false, 'a request in flight is not idleness');
          assert.ok(busy.replies.length >= 4, `the busy client was served (${busy.replies.length} replies)`);
          assert.equal(busy.raw.closed, false, 'a busy connection is not idle');
        } finally {
          pacer.cancel();
        }
        assert.equal(world.metric('client_connections_closed_total', { ...m, reason: 'idle_timeout' }), 1);
      });
    });

    test("idle timeout 'none' keeps a silent connection open", async () => {
      await withWorld(harness, async (world) => {
        const { port } = await serve(world, { ...roomy, idleTimeoutMs: 'none' });
        const c = new Client(world.connect(protocol, port, 1));
        c.send('ECHO', 'x');
        await world.until(() => c.replies.length === 1, 'reply');
        await world.idle(1_000);
        assert.equal(c.raw.closed, false);
        c.send('ECHO', 'later');
        await world.until(() => c.replies.length === 2, 'served after a long silence');
      });
    });

    test('close by the server, by the client and by the listener; malformed input is answered and closed', async () => {
      await withWorld(harness, async (world) => {
        const { listener, port } = await serve(world, roomy);
        const quitter = new Client(world.connect(protocol, port, 1));
        quitter.send('ECHO', 'a');
        quitter.send('QUIT');
        quitter.send('ECHO', 'never');
        await world.until(() => quitter.raw.closed, 'QUIT closes');
        assert.deepEqual(quitter.replies, [
          { ok: true, text: 'a' },
          { ok: true, text: 'bye' },
        ]);
        assert.equal(world.metric('client_connections_closed_total', { ...m, reason: 'local' }), 1);

        const leaver = new Client(world.connect(protocol, port, 1));
        leaver.send('ECHO', 'b');
        await world.until(() => leaver.replies.length === 1, 'served');
        leaver.raw.close();
        await world.until(
          () => world.metric('client_connections_closed_total', { ...m, reason: 'remote' }) === 1,
          'the server sees the client close',
        );

        const garbler = new Client(world.connect(protocol, port, 2));
        garbler.send('ECHO', 'ok');
        garbler.raw.write(Uint8Array.from([0x45, 0x01, 0x0a]));
        await world.until(() => garbler.raw.closed, 'a malformed stream is closed');
        assert.deepEqual(garbler.replies, [
          { ok: true, text: 'ok' },
          { ok: false, text: 'test_proto_bad_byte' },
        ]);
        assert.equal(world.metric('client_protocol_errors_total', { ...m, code: 'test_proto_bad_byte' }), 1);

        const last = new Client(world.connect(protocol, port, 3));
        last.send('ECHO', 'c');
        await world.until(() => last.replies.length === 1, 'served');
        await listener.close();
        await world.until(() => last.raw.closed, 'closing the listener closes its connections');
        assert.equal(world.metric('client_connections_closed_total', { ...m, reason: 'listener_closed' }), 1);
        assert.equal(world.metric('client_connections_open', m), 0);
      });
    });
  });
}
