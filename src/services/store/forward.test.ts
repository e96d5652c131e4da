// Goal: a command forwarded to the key's owner comes back with the owner's reply (also to a RESP2
// client, through encodeReply's downgrades), only after the owner says the reply may leave; a lost
// answer is an indefinite -TIMEOUT, an unreachable owner a definite -CLUSTERDOWN, a full table a
// definite -BUSY; a late or misdirected reply is ignored; and garbage from a peer is counted and
// dropped, never thrown. Timing is a manual clock (no real timers).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { PeerMessage, Timer } from '../../env/types.ts';
import { MessageType } from '../../lib/message-types.ts';
import { SeededRng } from '../../lib/rng.ts';
import { SimLogSink, SimMetrics } from '../../sim/observe.ts';
import { encodeReply, type RespValue, reply } from '../../wire/resp/index.ts';
import { CommandForwarder, decodeForward, decodeForwardReply, encodeForward, encodeForwardReply } from './forward.ts';

const text = (s: string) => new TextEncoder().encode(s);
/** forward() as a Promise (this file's rig awaits microtasks between its steps). */
const call = (f: CommandForwarder, to: string, argv: Uint8Array[], protocol: 2 | 3 = 3) =>
  new Promise<RespValue>((resolve) => f.forward(to, argv, protocol, resolve));

class Rig {
  nowMs = 0;
  readonly timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  readonly wire: Array<{ from: string; to: string; message: PeerMessage }> = [];
  readonly nodes = new Map<string, CommandForwarder>();
  readonly metrics = new SimMetrics();
  unreachable = new Set<string>();
  /** Each node's executor: by default echoes argv[1] after `executeDelayMs` of virtual time. */
  executeDelayMs = 0;

  constructor(ids: string[]) {
    const logs = new SimLogSink(() => this.nowMs, 100);
    for (const id of ids) {
      this.nodes.set(
        id,
        new CommandForwarder(
          {
            self: id,
            send: (to, type, payload) => {
              if (this.unreachable.has(to)) return false;
              this.wire.push({ from: id, to, message: { from: id, type, payload } });
              return true;
            },
            timers: {
              after: (ms, fn) => this.timer(ms, fn),
              every: () => assert.fail('not used'),
            },
            rng: new SeededRng(`fwd/${id}`),
            log: logs.logger(id),
            metrics: this.metrics,
            execute: (argv, done) => {
              // ZRANGE ... WITHSCORES' shape: pairs in RESP3, one flat array in RESP2.
              const pairs: RespValue = {
                type: 'array',
                flatInResp2: true,
                items: [reply.array([reply.bulk('m'), reply.bulk('1')])],
              };
              this.timer(this.executeDelayMs, () =>
                done(
                  argv.length > 1
                    ? reply.bulk(argv[1]!)
                    : new TextDecoder().decode(argv[0]) === 'zrange'
                      ? pairs
                      : { type: 'map', entries: [[reply.bulk('k'), { type: 'double', value: 1.5 }]] },
                ),
              );
            },
          },
          { timeoutMs: 1_000, pendingMax: 2 },
        ),
      );
    }
  }

  timer(ms: number, fn: () => void): Timer {
    const t = { at: this.nowMs + ms, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  /** Delivers every queued message and fires due timers until quiet, up to `untilMs`. */
  async run(untilMs: number, deliver = true): Promise<void> {
    for (let guard = 0; guard < 1_000; guard++) {
      await Promise.resolve();
      if (deliver && this.wire.length > 0) {
        const m = this.wire.shift()!;
        this.nodes.get(m.to)!.receive(m.message);
        continue;
      }
      const due = this.timers.filter((t) => !t.cancelled && t.at <= untilMs).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) {
        this.nowMs = Math.max(this.nowMs, untilMs);
        await Promise.resolve();
        return;
      }
      due.cancelled = true;
      this.nowMs = Math.max(this.nowMs, due.at);
      due.fn();
    }
    assert.fail('the rig did not go quiet');
  }

  outcome(name: string): number {
    return this.metrics.value('store_forwarded_total', { outcome: name });
  }
}

test('the owner runs the command and its reply comes back, encoded for the client protocol', async () => {
  const rig = new Rig(['n1', 'n2']);
  rig.executeDelayMs = 5; // the owner's group commit
  const got = call(rig.nodes.get('n1')!, 'n2', [text('get'), text('v')]);
  const map = call(rig.nodes.get('n1')!, 'n2', [text('hgetall')]);
  await rig.run(10);
  assert.deepEqual(await got, reply.bulk(text('v')));
  const value = await map;
  assert.equal(new TextDecoder().decode(encodeReply(value, 2)), '*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n');
  assert.equal(rig.outcome('answered'), 2);
  // The owner encodes for the client's protocol: a shape RESP3 bytes cannot tell (pairs that RESP2
  // flattens) comes back right for both (all RESP3 before 2026-12-06: nested pairs for RESP2 too).
  const two = call(rig.nodes.get('n1')!, 'n2', [text('zrange')], 2);
  const three = call(rig.nodes.get('n1')!, 'n2', [text('zrange')], 3);
  await rig.run(20);
  assert.equal(new TextDecoder().decode(encodeReply(await two, 2)), '*2\r\n$1\r\nm\r\n$1\r\n1\r\n');
  assert.equal(new TextDecoder().decode(encodeReply(await three, 3)), '*1\r\n*2\r\n$1\r\nm\r\n$1\r\n1\r\n');
  assert.equal(rig.nodes.get('n1')!.pendingCount, 0);
});

test('no answer in time is an indefinite TIMEOUT; the late answer is then ignored', async () => {
  const rig = new Rig(['n1', 'n2']);
  rig.executeDelayMs = 5_000;
  const p = call(rig.nodes.get('n1')!, 'n2', [text('incr'), text('x')]);
  await rig.run(1_001);
  const v = await p;
  assert.equal(v.type, 'error');
  assert.match(String(v.type === 'error' && v.message), /^TIMEOUT .*may have run/);
  await rig.run(6_000);
  assert.equal(rig.outcome('stale_reply'), 1);
});

test('an unreachable owner is CLUSTERDOWN and a full table BUSY, both before anything is sent', async () => {
  const rig = new Rig(['n1', 'n2']);
  rig.unreachable.add('n2');
  const down = await call(rig.nodes.get('n1')!, 'n2', [text('get'), text('k')]);
  assert.match(String(down.type === 'error' && down.message), /^CLUSTERDOWN /);
  rig.unreachable.clear();
  rig.executeDelayMs = 100;
  const a = call(rig.nodes.get('n1')!, 'n2', [text('get'), text('a')]);
  const b = call(rig.nodes.get('n1')!, 'n2', [text('get'), text('b')]);
  const busy = await call(rig.nodes.get('n1')!, 'n2', [text('get'), text('c')]);
  assert.match(String(busy.type === 'error' && busy.message), /^BUSY /);
  await rig.run(200);
  assert.deepEqual([await a, await b], [reply.bulk(text('a')), reply.bulk(text('b'))]);
});

test('a reply from another node than the one asked is ignored', async () => {
  const rig = new Rig(['n1', 'n2', 'n3']);
  const n1 = rig.nodes.get('n1')!;
  const p = call(n1, 'n2', [text('get'), text('k')]);
  const sent = rig.wire.shift()!;
  const f = decodeForward(sent.message.payload);
  assert.ok(!(f instanceof Error));
  n1.receive({
    from: 'n3',
    type: MessageType.StoreForwardReply,
    payload: encodeForwardReply(f.opId, reply.simple('OK')),
  });
  assert.equal(n1.pendingCount, 1);
  assert.equal(rig.outcome('stale_reply'), 1);
  n1.receive({
    from: 'n2',
    type: MessageType.StoreForwardReply,
    payload: encodeForwardReply(f.opId, reply.simple('OK')),
  });
  assert.deepEqual(await p, reply.simple('OK'));
});

test('messages round-trip, and any bytes from a peer are dropped and counted, never thrown', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 1, maxLength: 5 }),
      (id, argv) => {
        assert.deepEqual(decodeForward(encodeForward(id, argv)), { opId: id, argv, protocol: 3 });
        assert.deepEqual(decodeForward(encodeForward(id, argv, 2)), { opId: id, argv, protocol: 2 });
        assert.equal(encodeForward(id, argv)[0], 1, 'a RESP3 client: the version builds before 2026-12-06 read');
        const r = decodeForwardReply(encodeForwardReply(id, reply.bulk(argv[0]!)));
        assert.deepEqual(r, { opId: id, value: reply.bulk(argv[0]!) });
      },
    ),
  );
  const rig = new Rig(['n1', 'n2']);
  const n1 = rig.nodes.get('n1')!;
  let dropped = 0;
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 48 }),
      fc.constantFrom(MessageType.StoreForward, MessageType.StoreForwardReply),
      (payload, type) => {
        const before = rig.outcome('malformed') + rig.outcome('stale_reply') + rig.outcome('served');
        n1.receive({ from: 'n2', type, payload });
        dropped += rig.outcome('malformed') + rig.outcome('stale_reply') + rig.outcome('served') - before;
      },
    ),
  );
  assert.ok(rig.outcome('malformed') > 0 && dropped > 0);
});

test('a duplicated forward runs once at the owner (an INCR must not count twice)', async () => {
  const rig = new Rig(['n1', 'n2']);
  let executed = 0;
  const n2 = rig.nodes.get('n2')!;
  const p = call(rig.nodes.get('n1')!, 'n2', [text('incr'), text('x')]);
  const sent = rig.wire.shift()!;
  // Deliver the same frame twice (the simulator's duplication).
  const original = (
    n2 as unknown as { deps: { execute: (a: readonly Uint8Array[], d: (v: RespValue) => void) => void } }
  ).deps;
  const execute = original.execute;
  original.execute = (argv, done) => {
    executed++;
    execute(argv, done);
  };
  n2.receive(sent.message);
  n2.receive(sent.message);
  await rig.run(10);
  assert.equal(executed, 1);
  assert.equal(rig.outcome('duplicate'), 1);
  assert.deepEqual(await p, reply.bulk(text('x')));
});
