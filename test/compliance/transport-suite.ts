// Transport compliance suite: one set of cases, run against every Transport implementation (the
// js-libp2p model). test/compliance/real.test.ts runs it against TcpTransport over loopback;
// test/compliance/sim.test.ts runs it against the simulator's network. A behaviour the protocols
// above rely on belongs here, so that code proven in the simulator runs unchanged over TCP.
//
// What is checked (the contract of `Transport` in src/env/types.ts, no faults injected):
//   - point-to-point delivery keeps type, from and payload intact;
//   - per-link FIFO order for a burst;
//   - all-to-all among 3 nodes;
//   - payloads of 0 B, 100 B and 1 MiB;
//   - the sender mutating its buffer after send() does not change what is delivered (copiesPayload);
//   - send() to an unknown peer returns false (and does not throw);
//   - after close() resolves, the closed transport's handler is never invoked again.
//
// Harness contract. `setup(ids)` builds one transport per id, all members of one cluster and each
// knowing the others as peers, and returns a world:
//   - `until(pred, what, boundMs)` resolves once `pred()` is true; it rejects (naming `what`) when
//     `boundMs` of the world's time pass first. The simulator advances virtual time while it waits;
//     a real harness polls on real time. This is the only way the suite waits for something.
//   - `idle(ms)` lets `ms` of the world's time pass with nothing to wait for. The suite uses it only
//     to give a message that must NOT arrive the chance to arrive (negative checks).
//   - `teardown()` closes every transport (close() must tolerate being called twice) and frees
//     what the harness made (ports, temp dirs, event loops).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeId, PeerMessage, Transport } from '../../src/env/types.ts';
import { MessageType } from '../../src/lib/message-types.ts';

export interface TransportWorld {
  readonly transports: ReadonlyMap<NodeId, Transport>;
  until(pred: () => boolean, what: string, boundMs?: number): Promise<void>;
  idle(ms: number): Promise<void>;
  teardown(): Promise<void>;
}

export interface TransportHarness {
  setup(ids: readonly NodeId[]): Promise<TransportWorld>;
}

/** Default bound for one `until`; generous for a loaded CI machine, instant in virtual time. */
const untilBoundMs = 10_000;
const oneMiB = 1024 * 1024;

interface Inbox {
  readonly messages: PeerMessage[];
  from(id: NodeId): PeerMessage[];
}

/** Installs a recording handler on each transport. Payloads are copied, in case the transport reuses buffers. */
function record(world: TransportWorld): Map<NodeId, Inbox> {
  const inboxes = new Map<NodeId, Inbox>();
  for (const [id, transport] of world.transports) {
    const messages: PeerMessage[] = [];
    transport.onMessage((m) => {
      messages.push({ from: m.from, type: m.type, payload: Uint8Array.from(m.payload) });
    });
    inboxes.set(id, { messages, from: (peer) => messages.filter((m) => m.from === peer) });
  }
  return inboxes;
}

function get<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  assert.ok(value !== undefined, `harness did not provide ${String(key)}`);
  return value;
}

/** A payload whose bytes depend on (seed, index), so any corruption or mix-up is visible. */
function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function readU32(payload: Uint8Array): number {
  assert.ok(payload.byteLength >= 4, 'payload too short for a sequence number');
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
}

async function withWorld(
  harness: TransportHarness,
  ids: readonly NodeId[],
  body: (world: TransportWorld) => Promise<void>,
): Promise<void> {
  const world = await harness.setup(ids);
  try {
    await body(world);
  } finally {
    await world.teardown();
  }
}

export function transportCompliance(name: string, harness: TransportHarness): void {
  describe(`Transport compliance: ${name}`, () => {
    test('point-to-point delivery keeps type, from and payload', async () => {
      await withWorld(harness, ['a', 'b'], async (world) => {
        const inbox = record(world);
        const payload = pattern(100, 1);
        assert.equal(get(world.transports, 'a').send('b', MessageType.TestEcho, payload), true);
        await world.until(() => get(inbox, 'b').messages.length >= 1, 'b receives one message', untilBoundMs);
        const [m] = get(inbox, 'b').messages;
        assert.ok(m);
        assert.equal(m.from, 'a');
        assert.equal(m.type, MessageType.TestEcho);
        assert.deepEqual(m.payload, pattern(100, 1));
        assert.equal(get(inbox, 'a').messages.length, 0, 'nothing echoes back to the sender');
      });
    });

    test('a burst on one link arrives in FIFO order', async () => {
      await withWorld(harness, ['a', 'b'], async (world) => {
        const inbox = record(world);
        const burstCount = 500;
        const a = get(world.transports, 'a');
        for (let i = 0; i < burstCount; i++) assert.equal(a.send('b', MessageType.TestEcho, u32(i)), true);
        await world.until(() => get(inbox, 'b').messages.length >= burstCount, 'b receives the burst', untilBoundMs);
        const seqs = get(inbox, 'b').messages.map((m) => readU32(m.payload));
        assert.deepEqual(
          seqs,
          Array.from({ length: burstCount }, (_, i) => i),
        );
      });
    });

    test('all-to-all among 3 nodes', async () => {
      const ids = ['n1', 'n2', 'n3'];
      await withWorld(harness, ids, async (world) => {
        const inbox = record(world);
        const perLinkCount = 20;
        for (let i = 0; i < perLinkCount; i++) {
          for (const from of ids) {
            for (const to of ids) {
              if (from === to) continue;
              const tag = new TextEncoder().encode(`${from}>${to}#${i}`);
              assert.equal(get(world.transports, from).send(to, MessageType.TestEcho, tag), true);
            }
          }
        }
        const expectedPerNode = perLinkCount * (ids.length - 1);
        await world.until(
          () => ids.every((id) => get(inbox, id).messages.length >= expectedPerNode),
          'every node receives from every other',
          untilBoundMs,
        );
        for (const to of ids) {
          for (const from of ids) {
            if (from === to) continue;
            const tags = get(inbox, to)
              .from(from)
              .map((m) => new TextDecoder().decode(m.payload));
            assert.deepEqual(
              tags,
              Array.from({ length: perLinkCount }, (_, i) => `${from}>${to}#${i}`),
              `link ${from}->${to}`,
            );
          }
          assert.equal(get(inbox, to).messages.length, expectedPerNode, `no extra messages at ${to}`);
        }
      });
    });

    for (const bytes of [0, 100, oneMiB]) {
      test(`a ${bytes}-byte payload arrives intact`, async () => {
        await withWorld(harness, ['a', 'b'], async (world) => {
          const inbox = record(world);
          assert.equal(get(world.transports, 'a').send('b', MessageType.TestBulk, pattern(bytes, bytes + 7)), true);
          await world.until(() => get(inbox, 'b').messages.length >= 1, `b receives ${bytes} bytes`, untilBoundMs);
          const [m] = get(inbox, 'b').messages;
          assert.ok(m);
          assert.equal(m.type, MessageType.TestBulk);
          assert.equal(m.payload.byteLength, bytes);
          assert.deepEqual(m.payload, pattern(bytes, bytes + 7));
        });
      });
    }

    test('mutating the buffer after send does not change what is delivered', async () => {
      await withWorld(harness, ['a', 'b'], async (world) => {
        const inbox = record(world);
        const a = get(world.transports, 'a');
        const buffer = pattern(64, 3);
        assert.equal(a.send('b', MessageType.TestEcho, buffer), true);
        // Declared too: a sender may then reuse one buffer for every message (the Dynamo driver does).
        assert.equal(a.copiesPayload, true, 'the transport declares copiesPayload');
        buffer.fill(0xee); // the bytes were copied before send returned
        const big = pattern(256 * 1024, 4);
        assert.equal(a.send('b', MessageType.TestBulk, big), true);
        big.fill(0x11);
        await world.until(() => get(inbox, 'b').messages.length >= 2, 'b receives both messages', untilBoundMs);
        assert.deepEqual(get(inbox, 'b').messages[0]?.payload, pattern(64, 3));
        assert.deepEqual(get(inbox, 'b').messages[1]?.payload, pattern(256 * 1024, 4));
      });
    });

    test('send to an unknown peer returns false and does not throw', async () => {
      await withWorld(harness, ['a', 'b'], async (world) => {
        const inbox = record(world);
        const a = get(world.transports, 'a');
        assert.equal(a.send('nobody', MessageType.TestEcho, pattern(10, 5)), false);
        assert.equal(a.send('', MessageType.TestEcho, pattern(10, 5)), false);
        // The transport still works after the rejected sends.
        assert.equal(a.send('b', MessageType.TestEcho, pattern(10, 6)), true);
        await world.until(() => get(inbox, 'b').messages.length >= 1, 'b still receives', untilBoundMs);
        assert.deepEqual(get(inbox, 'b').messages[0]?.payload, pattern(10, 6));
      });
    });

    test('after close() resolves, the closed transport delivers nothing', async () => {
      await withWorld(harness, ['a', 'b', 'c'], async (world) => {
        const inbox = record(world);
        const a = get(world.transports, 'a');
        // Establish the links first, so the check is about close(), not about never connecting.
        assert.equal(a.send('b', MessageType.TestEcho, u32(1)), true);
        await world.until(() => get(inbox, 'b').messages.length >= 1, 'b receives before close', untilBoundMs);

        await get(world.transports, 'b').close();
        const receivedAtClose = get(inbox, 'b').messages.length;
        for (let i = 0; i < 10; i++) a.send('b', MessageType.TestEcho, u32(100 + i)); // may be true or false
        // A message to a live peer proves a is still sending; then give b's messages time to (not) arrive.
        assert.equal(a.send('c', MessageType.TestEcho, u32(2)), true);
        await world.until(() => get(inbox, 'c').messages.length >= 1, 'c receives after b closed', untilBoundMs);
        await world.idle(200);
        assert.equal(get(inbox, 'b').messages.length, receivedAtClose, 'b received after close');
        await get(world.transports, 'b').close(); // idempotent
      });
    });
  });
}
