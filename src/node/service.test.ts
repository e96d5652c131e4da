// Goal: the service seam (issue 8 item 1). A service added by one definition runs on every node of
// a simulated cluster next to the registered ones: it gets its config section (defaults filled),
// registers the peer message types it declared and exchanges them, serves its admin route and
// shows its /status section. It reaches nothing it did not declare: an undeclared message type or
// Raft group fails the start, and a bad config field fails it naming `<service>.<field>`.
// A service that declares a client protocol listens on it through its context: a simulated client
// talks to it over a client link cut at every byte, the host shows the listener's counts, closes
// it on stop and on a failed start, and a crash resets the client.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import type { Env, ListenerBounds } from '../env/types.ts';
import { ConfigError } from '../lib/errors.ts';
import { memoryLogger } from '../env/log.ts';
import { realClock, realTimers } from '../env/real-time.ts';
import { noMutations } from '../lib/mutations.ts';
import { SeededRng } from '../lib/rng.ts';
import { TcpClientListeners } from '../net/tcp-listener.ts';
import { TcpTransport } from '../net/tcp-transport.ts';
import { MemoryMetrics, pollUntil } from '../net/testing.ts';
import { FileDisk } from '../storage/file-disk.ts';
import { MessageType } from '../lib/message-types.ts';
import { defaultRaftTiming } from '../raft/driver.ts';
import type { SimClientCloseReason, SimClientConnection } from '../sim/client-links.ts';
import { Simulation } from '../sim/simulation.ts';
import { serveTestProto, testProtocolName } from '../wire/test-proto/session.ts';
import { listenSchema } from './listen-bounds.ts';
import { registeredServices } from './registry.ts';
import type { AnyServiceDefinition, RunningService, ServiceDefinition } from './service.ts';
import { type ClientListenerStatus, NodeServices } from './services.ts';

const ids = ['n1', 'n2', 'n3'];

interface EchoRunning extends RunningService {
  readonly heard: Set<string>;
}

/** Pings every peer once a second with TestEcho; counts whom it heard from. */
function echoService(
  o: { messageTypes?: readonly number[]; group?: string } = {},
): ServiceDefinition<{ intervalMs: number }, EchoRunning> {
  return {
    name: 'echo',
    description: 'test service: pings peers over its own message type',
    configSchema: z.strictObject({ intervalMs: z.number().int().min(10).default(1_000) }),
    messageTypes: o.messageTypes ?? [MessageType.TestEcho],
    protocols: [],
    raftGroups: [],
    start(ctx) {
      const heard = new Set<string>();
      ctx.router.register([MessageType.TestEcho], (m) => heard.add(m.from));
      if (o.group !== undefined) ctx.raftGroup(o.group);
      const timer = ctx.env.timers.every(ctx.config.intervalMs, () => {
        for (const peer of ctx.peers) ctx.env.transport.send(peer, MessageType.TestEcho, new Uint8Array([1]));
      });
      return {
        heard,
        status: () => ({ heard: [...heard].sort(), incarnation: ctx.membership().incarnation }),
        adminRoutes: [
          {
            path: '/v1/echo',
            methods: ['GET'],
            handle: () => Promise.resolve({ status: 200, body: { heard: heard.size } }),
          },
        ],
        stop: () => timer.cancel(),
      };
    },
  };
}

function build(env: Env, services: readonly AnyServiceDefinition[], extra: Record<string, unknown> = {}) {
  return new NodeServices(
    env,
    { clusterId: 'sim', peers: ids.filter((p) => p !== env.nodeId), raft: { ...defaultRaftTiming }, ...extra },
    services,
  );
}

test('a service added to the list runs on every node: its messages, admin route and status section', async () => {
  const sim = new Simulation<NodeServices>({
    seed: 'seam-echo',
    nodes: ids,
    program: (env) => build(env, [...registeredServices, echoService()], { echo: { intervalMs: 200 } }),
  });
  const heardAll = () => ids.every((id) => sim.instance(id)?.service<EchoRunning>('echo').heard.size === 2);
  assert.ok(sim.runUntilCondition(heardAll, 5_000), 'every node heard every peer over the echo type');
  const n1 = sim.instance('n1')!;
  const status = n1.status();
  assert.deepEqual(Object.keys(status.services), ['membership', 'kv', 'coord', 'store', 'echo']);
  assert.deepEqual((status.services['echo'] as { heard: string[] }).heard, ['n2', 'n3']);
  const route = n1.adminRoutes().find((r) => r.path === '/v1/echo');
  assert.ok(route !== undefined);
  assert.deepEqual(await route.handle({ method: 'GET', body: undefined, client: { address: '' } }), {
    status: 200,
    body: { heard: 2 },
  });
  assert.deepEqual(
    n1.adminRoutes().map((r) => r.path),
    ['/v1/members', '/v1/kv', '/v1/echo'],
  );
});

test('a service reaches only what it declared, and a bad field of its section names it', () => {
  const failures: unknown[] = [];
  const sim = new Simulation<NodeServices>({
    seed: 'seam-refuse',
    nodes: ['n1'],
    program: (env) => {
      const attempts: Array<[readonly AnyServiceDefinition[], Record<string, unknown>]> = [
        [[...registeredServices, echoService({ messageTypes: [] })], {}],
        [[...registeredServices, echoService({ group: 'metadata' })], {}],
        [[...registeredServices, echoService()], { echo: { intervalMs: 1 } }],
      ];
      for (const [services, extra] of attempts) {
        try {
          build(env, services, extra).stop();
          failures.push(undefined);
        } catch (err) {
          failures.push(err);
        }
      }
      return build(env, registeredServices);
    },
  });
  sim.runFor(10);
  assert.equal(failures.length, 3);
  assert.match(String(failures[0]), /echo registers message type .* it declared/);
  assert.match(String(failures[1]), /echo uses Raft group metadata it declared/);
  assert.ok(failures[2] instanceof ConfigError);
  assert.equal(failures[2].fields['field'], 'echo.intervalMs');
});

const lineBounds: ListenerBounds = {
  connectionsMax: 4,
  connectionsPerAddressMax: 2,
  bufferedBytesMax: 64 * 1024,
  inflightRequestsMax: 8,
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none',
};

/** Serves the test protocol on its declared port; `alsoListen` asks for one more protocol. */
function lineService(o: { alsoListen?: string } = {}): ServiceDefinition<{ listen: Record<string, ListenerBounds> }> {
  return {
    name: 'line',
    description: 'test service: the test protocol on a client port',
    configSchema: z.strictObject({
      listen: listenSchema({ [testProtocolName]: lineBounds }),
    }),
    messageTypes: [],
    protocols: [{ name: testProtocolName }],
    raftGroups: [],
    start(ctx) {
      ctx.listen(testProtocolName, ctx.config.listen[testProtocolName]!, serveTestProto(ctx.env));
      if (o.alsoListen !== undefined) ctx.listen(o.alsoListen, lineBounds, serveTestProto(ctx.env));
      return { stop: () => undefined };
    },
  };
}

/** A client of `node`'s test-proto port that keeps every byte it gets and how it ended. */
function lineClient(sim: Simulation<NodeServices>, node: string) {
  const conn: SimClientConnection = sim.clients.connect(node, testProtocolName);
  const got = { text: '', chunks: 0, closed: undefined as SimClientCloseReason | undefined };
  conn.onData((chunk) => {
    got.chunks++;
    got.text += new TextDecoder().decode(chunk);
  });
  conn.onClose((reason) => {
    got.closed = reason;
  });
  return { conn, got };
}

test('a service listens on its declared protocol: echo over byte-chunked client links, counts, stop and crash', () => {
  const sim = new Simulation<NodeServices>({
    seed: 'seam-listen',
    nodes: ids,
    clientLinks: { chunking: 'bytes' },
    program: (env) => build(env, [...registeredServices, lineService()]),
  });
  sim.runFor(10);
  const { conn, got } = lineClient(sim, 'n1');
  const request = 'ECHO hello, seam\nUPPER abc\n';
  conn.write(new TextEncoder().encode(request));
  const answer = '+hello, seam\n+ABC\n';
  assert.ok(
    sim.runUntilCondition(() => got.text === answer, 1_000),
    `echo round trip, got ${JSON.stringify(got.text)}`,
  );
  assert.equal(got.chunks, answer.length, 'every reply byte arrived in a segment of its own');
  assert.equal(sim.metrics('n1').value('client_bytes_received_total', { protocol: testProtocolName }), request.length);

  const clients = sim.instance('n1')!.status().clients;
  assert.deepEqual(Object.keys(clients), ['zookeeper', 'resp', testProtocolName]);
  const line = clients[testProtocolName] as ClientListenerStatus;
  assert.deepEqual([line.service, line.open, line.accepted, line.evicted], ['line', 1, 1, 0]);

  // A client that closes is counted by reason.
  conn.close();
  const status = () => sim.instance('n1')!.status().clients[testProtocolName]!;
  assert.ok(sim.runUntilCondition(() => status().open === 0, 1_000));
  assert.deepEqual(status().closed, { remote: 1 });

  // A crash resets the client; the restarted node listens again.
  const second = lineClient(sim, 'n2');
  assert.ok(sim.runUntilCondition(() => second.conn.state === 'open', 1_000));
  sim.crash('n2');
  sim.runFor(10);
  assert.equal(second.got.closed, 'reset');
  sim.restart('n2');
  sim.runFor(10);
  const third = lineClient(sim, 'n2');
  third.conn.write(new TextEncoder().encode('ECHO again\n'));
  assert.ok(sim.runUntilCondition(() => third.got.text === '+again\n', 1_000));

  // Stopping the node closes its listener: the open client is reset, a new one refused.
  sim.instance('n3')!.stop();
  const late = lineClient(sim, 'n3');
  sim.runFor(10);
  assert.equal(late.got.closed, 'refused');
  third.conn.close();
});

test('a service listens only on what it declared; a failed start closes its listener; bounds fields are named', () => {
  const failures: unknown[] = [];
  const sim = new Simulation<NodeServices>({
    seed: 'seam-listen-refuse',
    nodes: ['n1'],
    program: (env) => {
      const attempts: Array<[AnyServiceDefinition, Record<string, unknown>]> = [
        [lineService({ alsoListen: 'other' }), {}],
        [lineService(), { line: { listen: { [testProtocolName]: { connectionsMax: 0 } } } }],
        [lineService(), { line: { listen: { [testProtocolName]: { idleTimeoutMs: 'never' } } } }],
      ];
      for (const [service, extra] of attempts) {
        try {
          build(env, [...registeredServices, service], extra).stop();
          failures.push(undefined);
        } catch (err) {
          failures.push(err);
        }
      }
      // The first attempt's test-proto listener was closed when its start failed: this one binds.
      return build(env, [...registeredServices, lineService()], {
        line: { listen: { [testProtocolName]: { connectionsMax: 1 } } },
      });
    },
  });
  sim.runFor(10);
  assert.equal(failures.length, 3);
  assert.match(String(failures[0]), /line listens on protocol other it declared/);
  assert.ok(failures[1] instanceof ConfigError);
  assert.equal(failures[1].fields['field'], `line.listen.${testProtocolName}.connectionsMax`);
  assert.ok(failures[2] instanceof ConfigError);
  assert.equal(failures[2].fields['field'], `line.listen.${testProtocolName}.idleTimeoutMs`);
  // The override applies: at connectionsMax 1 one of two clients is refused (whichever comes second).
  const a = lineClient(sim, 'n1');
  const b = lineClient(sim, 'n1');
  sim.runFor(10);
  assert.deepEqual([a.got.closed, b.got.closed].sort(), ['refused', undefined]);
  assert.equal(sim.metrics('n1').value('client_connections_refused_total', { reason: 'port_full' }), 1);
});

test('real process: the same service through NodeServices binds its port on TCP and closes it on stop', async () => {
  const root = mkdtempSync(join(tmpdir(), 'baristas-seam-listen-'));
  const metrics = new MemoryMetrics();
  const log = memoryLogger(10_000);
  const transport = new TcpTransport({
    self: 'n1',
    clusterId: 'seam',
    listen: { host: '127.0.0.1', port: 0 },
    peers: {},
    metrics,
    log,
    rng: new SeededRng('seam-real'),
  });
  await transport.start();
  const listeners = new TcpClientListeners({ host: '127.0.0.1', clock: realClock, timers: realTimers, metrics, log });
  const env: Env = {
    nodeId: 'n1',
    clock: realClock,
    timers: realTimers,
    rng: new SeededRng('seam-real-env'),
    transport,
    disk: new FileDisk({ root }),
    metrics,
    log,
    listen: (protocol, options, handler) => listeners.listen(protocol, options, handler),
    mutations: noMutations,
  };
  const node = new NodeServices(
    env,
    { clusterId: 'seam', peers: [], raft: { ...defaultRaftTiming }, ports: { [testProtocolName]: 0 } },
    [lineService()],
  );
  try {
    await listeners.ready();
    await pollUntil(() => node.status().clients[testProtocolName]!.port !== 0, 'the bound port in /status');
    const port = node.status().clients[testProtocolName]!.port;
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    let ended = '';
    socket.on('error', (err: NodeJS.ErrnoException) => {
      ended = err.code ?? 'error';
    });
    socket.on('close', () => {
      ended ||= 'closed';
    });
    socket.write('ECHO real\n');
    await pollUntil(() => text === '+real\n', 'echo over TCP');
    node.stop();
    await pollUntil(() => ended !== '', 'stop closes the open connection');
    assert.equal(ended, 'ECONNRESET', 'listener_closed resets the client');
    const refused = await new Promise<boolean>((resolve) => {
      const late = connect(port, '127.0.0.1');
      late.on('connect', () => resolve(false));
      late.on('error', () => resolve(true));
    });
    assert.ok(refused, 'nothing listens after stop');
  } finally {
    node.stop();
    await listeners.close();
    await transport.close();
    rmSync(root, { recursive: true, force: true });
  }
});
