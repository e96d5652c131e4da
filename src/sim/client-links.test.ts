// Goal: the simulator's client links model what a front end meets on TCP, deterministically: bytes
// cut at seeded boundaries (and at every byte), partitions between a client host and a node (bytes
// wait, connects are refused, healing resumes), resets (on demand and by probability), a crashed
// node's clients see resets and a restarted node listens again, a paused node reads nothing. The
// shared bounds are checked by test/compliance/listener-suite.ts; this file checks the pipe.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LINGER_MS } from '../env/listener-core.ts';
import type { Env } from '../env/types.ts';
import { encodeRequest, TestReplyDecoder, type TestReply } from '../wire/test-proto/codec.ts';
import { serveTestProto, testProtocolName } from '../wire/test-proto/session.ts';
import type { ClientLinkConfig, SimClientConnection } from './client-links.ts';
import { Simulation } from './simulation.ts';

const bounds = {
  connectionsMax: 100,
  connectionsPerAddressMax: 100,
  bufferedBytesMax: 1024 * 1024,
  inflightRequestsMax: 16,
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none' as const,
};

interface Node {
  readonly env: Env;
  /** Sizes of the chunks the server received, in order. */
  readonly chunks: number[];
}

function world(seed: string, clientLinks: Partial<ClientLinkConfig> = {}): Simulation<Node> {
  return new Simulation<Node>({
    seed,
    nodes: ['n1', 'n2'],
    clientLinks,
    program: (env) => {
      const chunks: number[] = [];
      const inner = serveTestProto(env);
      env.listen(testProtocolName, { port: 7000, bounds }, (conn) => {
        const onData = conn.onData.bind(conn);
        conn.onData = (handler) =>
          onData((chunk) => {
            chunks.push(chunk.length);
            handler(chunk);
          });
        inner(conn);
      });
      return { env, chunks };
    },
  });
}

function client(sim: Simulation<Node>, node = 'n1', host?: string): { c: SimClientConnection; replies: TestReply[] } {
  const c = sim.clients.connect(node, testProtocolName, host === undefined ? {} : { host });
  const replies: TestReply[] = [];
  const decoder = new TestReplyDecoder();
  c.onData((chunk) => {
    decoder.push(chunk);
    replies.push(...decoder.drain());
  });
  return { c, replies };
}

function run(seed: string, config: Partial<ClientLinkConfig>): { hash: string; chunks: number[]; replies: string[] } {
  const sim = world(seed, config);
  const { c, replies } = client(sim);
  for (let i = 0; i < 50; i++) c.write(encodeRequest('ECHO', `message number ${i}`));
  assert.ok(sim.runUntilCondition(() => replies.length === 50, 10_000));
  return { hash: sim.traceHash(), chunks: sim.instance('n1')!.chunks, replies: replies.map((r) => r.text) };
}

test('chunking is seeded: same seed, same cuts and trace; another seed, other cuts, same replies', () => {
  const a = run('cuts-1', { chunking: 'random', chunkBytesMax: 7 });
  const b = run('cuts-1', { chunking: 'random', chunkBytesMax: 7 });
  const c = run('cuts-2', { chunking: 'random', chunkBytesMax: 7 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.chunks, c.chunks);
  assert.deepEqual(a.replies, c.replies);
  assert.ok(a.chunks.length > 50, 'requests arrive cut into several chunks');
  assert.ok(Math.max(...a.chunks) <= 7);
  const bytes = run('cuts-3', { chunking: 'bytes' });
  assert.ok(
    bytes.chunks.every((n) => n === 1),
    'every byte boundary is a cut',
  );
  assert.deepEqual(bytes.replies, a.replies);
});

test('a partition between a client host and a node holds bytes and refuses connects; healing resumes', () => {
  const sim = world('partition');
  const { c, replies } = client(sim, 'n1', 'h1');
  c.write(encodeRequest('ECHO', 'before'));
  assert.ok(sim.runUntilCondition(() => replies.length === 1, 1_000));
  const cut = sim.clients.partition('h1', 'n1');
  c.write(encodeRequest('ECHO', 'during'));
  sim.runFor(2_000);
  assert.equal(replies.length, 1, 'nothing crosses the cut');
  assert.equal(c.state, 'open', 'a cut is not a reset');
  const refused = client(sim, 'n1', 'h1');
  const other = client(sim, 'n1', 'h2');
  other.c.write(encodeRequest('ECHO', 'other host'));
  assert.ok(sim.runUntilCondition(() => refused.c.state === 'closed' && other.replies.length === 1, 1_000));
  assert.equal(refused.c.closeReason, 'refused');
  cut.heal();
  assert.ok(sim.runUntilCondition(() => replies.length === 2, 1_000));
  assert.equal(replies[1]!.text, 'during');
});

test('resets: on demand both ends see it; by probability connections break and nothing throws', () => {
  const sim = world('reset');
  const { c, replies } = client(sim);
  c.write(encodeRequest('ECHO', 'x'));
  assert.ok(sim.runUntilCondition(() => replies.length === 1, 1_000));
  sim.clients.reset(c);
  assert.ok(sim.runUntilCondition(() => c.state === 'closed', 1_000));
  assert.equal(c.closeReason, 'reset');
  assert.ok(
    sim.runUntilCondition(
      () =>
        sim.metrics('n1').value('client_connections_closed_total', { protocol: testProtocolName, reason: 'reset' }) ===
        1,
      1_000,
    ),
  );
  const flaky = world('reset-p', { resetProbability: 0.02, chunking: 'random', chunkBytesMax: 4 });
  const clients = Array.from({ length: 10 }, () => client(flaky));
  for (const { c: x } of clients) for (let i = 0; i < 20; i++) x.write(encodeRequest('ECHO', `r${i}`));
  flaky.runFor(5_000);
  const reset = clients.filter((x) => x.c.closeReason === 'reset').length;
  assert.ok(reset > 0 && reset < 10, `${reset} of 10 reset`);
  for (const x of clients) if (x.c.state !== 'closed') assert.equal(x.replies.length, 20);
  assert.equal(flaky.clients.counters.resets, reset);
});

test('a reset reaches a server that closed its side and still has replies to send (they stop counting at once)', () => {
  // A client that sent QUIT behind a large reply and reads nothing: the server closes gracefully
  // and its unsent bytes linger (counted, holding the connection's slots) until sent or dropped
  // after LINGER_MS. A reset from the client must end that at once, as over TCP (a review: the
  // link did not tell a server that had closed its side).
  const sim = world('reset-lingering', { windowBytes: 16 * 1024 }); // most of 200 KB waits in the node
  const { c } = client(sim);
  c.pauseReading();
  for (let i = 0; i < 4; i++) c.write(encodeRequest('ECHO', 'x'.repeat(50_000)));
  c.write(encodeRequest('QUIT'));
  const held = (): number => sim.metrics('n1').value('client_memory_bytes', { protocol: testProtocolName });
  const open = (): number => sim.metrics('n1').value('client_connections_open', { protocol: testProtocolName });
  assert.ok(
    sim.runUntilCondition(() => open() === 0 && held() > 100_000, 1_000),
    'the server closed; the replies linger, counted',
  );
  const before = sim.nowMs;
  sim.clients.reset(c);
  assert.ok(
    sim.runUntilCondition(() => held() === 0, 1_000),
    'the reset frees it',
  );
  assert.ok(sim.nowMs - before < LINGER_MS, 'long before LINGER_MS');
});

test('a crashed node resets its clients and refuses connects; restarted, it listens again', () => {
  const sim = world('crash');
  const { c, replies } = client(sim);
  c.write(encodeRequest('SLOW', '500 pending'));
  sim.runFor(100);
  sim.crash('n1');
  assert.ok(sim.runUntilCondition(() => c.state === 'closed', 1_000));
  assert.equal(c.closeReason, 'reset');
  assert.equal(replies.length, 0);
  const refused = client(sim);
  assert.ok(sim.runUntilCondition(() => refused.c.state === 'closed', 1_000));
  assert.equal(refused.c.closeReason, 'refused');
  sim.restart('n1');
  const again = client(sim);
  again.c.write(encodeRequest('UPPER', 'back'));
  assert.ok(sim.runUntilCondition(() => again.replies.length === 1, 1_000));
  assert.equal(again.replies[0]!.text, 'BACK');
  const other = client(sim, 'n2');
  other.c.write(encodeRequest('ECHO', 'n2'));
  assert.ok(sim.runUntilCondition(() => other.replies.length === 1, 1_000));
});

test('a paused node reads nothing until it resumes', () => {
  const sim = world('pause');
  const { c, replies } = client(sim);
  c.write(encodeRequest('ECHO', 'a'));
  assert.ok(sim.runUntilCondition(() => replies.length === 1, 1_000));
  sim.pause('n1');
  c.write(encodeRequest('ECHO', 'b'));
  sim.runFor(1_000);
  assert.equal(replies.length, 1);
  sim.resume('n1');
  assert.ok(sim.runUntilCondition(() => replies.length === 2, 1_000));
});
