// Goal: the admin HTTP port cannot be held by slow or endless clients and counts what it refuses
// (issue 7 item 15). On a real listening AdminServer with raw sockets: a client dripping its
// headers (slow-loris) and one sending an endless chunked body are closed within their timeout
// plus the checking interval, not Node's default 30 s; a body over the byte bound is answered 413
// and its connection closed at once; connections over the bound are refused and counted. Every
// wait is a bounded poll, never a sleep.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { MemoryMetrics, pollUntil } from '../net/testing.ts';
import { BaristaError } from '../lib/errors.ts';
import { AdminServer, type AdminServerOptions } from './admin.ts';
import type { AdminRoute } from './service.ts';

const host = '127.0.0.1';
const servers: AdminServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(
  options: Partial<AdminServerOptions>,
  handle: AdminRoute['handle'] = async (req) => ({ status: 200, body: { ok: true, echo: req.body } }),
): Promise<{ server: AdminServer; metrics: MemoryMetrics }> {
  const metrics = new MemoryMetrics();
  const server = new AdminServer(
    { status: () => ({}), metricsText: () => '', routes: [{ path: '/v1/kv', methods: ['POST'], handle }] },
    metrics,
    options,
  );
  await server.listen(host, 0);
  servers.push(server);
  return { server, metrics };
}

interface Client {
  socket: Socket;
  closed(): boolean;
  received(): string;
  closedAtMs(): number;
}

async function open(port: number): Promise<Client> {
  const socket = connect({ host, port });
  let closedAt = -1;
  let text = '';
  socket.on('data', (b) => {
    text += b.toString('latin1');
  });
  socket.on('close', () => {
    closedAt = performance.now();
  });
  socket.on('error', () => {}); // resets are expected
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, closed: () => closedAt >= 0, received: () => text, closedAtMs: () => closedAt };
}

/** Writes `next()` every `everyMs` until the socket closes (a client that never finishes). */
function drip(client: Client, everyMs: number, next: () => string): () => void {
  const timer = setInterval(() => {
    if (client.closed()) return clearInterval(timer);
    client.socket.write(next());
  }, everyMs);
  return () => clearInterval(timer);
}

const timeouts = { headersTimeoutMs: 300, requestTimeoutMs: 600, checkingIntervalMs: 100 };

test('a client dripping its headers (slow-loris) is closed within headersTimeout + the checking interval', async () => {
  const { server, metrics } = await start(timeouts);
  const client = await open(server.address().port);
  const startedMs = performance.now();
  client.socket.write('GET /health HTTP/1.1\r\n');
  let n = 0;
  const stop = drip(client, 20, () => `x-drip-${n++}: y\r\n`);
  await pollUntil(client.closed, 'the server closes the slow-loris connection', 5_000);
  stop();
  const livedMs = client.closedAtMs() - startedMs;
  // Bound: the headers timeout plus one check, plus scheduling slack.
  assert.ok(livedMs < timeouts.headersTimeoutMs + timeouts.checkingIntervalMs + 1_000, `lived ${livedMs} ms`);
  assert.match(client.received(), /^HTTP\/1\.1 408/);
  assert.equal(metrics.value('admin_http_client_errors_total', { kind: 'timeout' }), 1);
});

test('an endless chunked body is closed within requestTimeout + the checking interval', async () => {
  const { server, metrics } = await start(timeouts);
  const client = await open(server.address().port);
  const startedMs = performance.now();
  client.socket.write('POST /v1/kv HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
  const stop = drip(client, 20, () => '1\r\n \r\n'); // one byte per chunk, never the last chunk
  await pollUntil(client.closed, 'the server closes the endless body', 5_000);
  stop();
  const livedMs = client.closedAtMs() - startedMs;
  assert.ok(livedMs < timeouts.requestTimeoutMs + timeouts.checkingIntervalMs + 1_000, `lived ${livedMs} ms`);
  assert.equal(metrics.value('admin_http_client_errors_total', { kind: 'timeout' }), 1);
});

test('a body over the byte bound is answered 413 and its connection closed at once, not read to its end', async () => {
  // Long timeouts: what closes the connection here must be the byte bound.
  const { server, metrics } = await start({
    requestBytesMax: 1024,
    requestTimeoutMs: 60_000,
    headersTimeoutMs: 60_000,
  });
  const client = await open(server.address().port);
  client.socket.write('POST /v1/kv HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
  const chunk = `400\r\n${'a'.repeat(1024)}\r\n`;
  const stop = drip(client, 5, () => chunk); // 1 KiB every 5 ms, forever
  await pollUntil(client.closed, 'the server closes the connection after the bound', 5_000);
  stop();
  assert.match(client.received(), /^HTTP\/1\.1 413/);
  assert.match(client.received(), /request_too_large/);
  assert.equal(metrics.value('admin_http_bodies_too_large_total'), 1);
});

test('connections over the bound are refused and counted', async () => {
  const { server, metrics } = await start({ connectionsMax: 2 });
  const port = server.address().port;
  const kept = [await open(port), await open(port)];
  await pollUntil(() => metrics.value('admin_http_connections_total', { result: 'accepted' }) === 2, 'two accepted');
  const third = await open(port);
  await pollUntil(third.closed, 'the third connection is refused');
  assert.equal(metrics.value('admin_http_connections_total', { result: 'refused_at_bound' }), 1);
  // The accepted ones still work.
  kept[0]!.socket.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
  await pollUntil(() => kept[0]!.received().includes('ok'), 'an accepted connection is served');
  for (const c of kept) c.socket.destroy();
});

test('a taken admin port is refused with a typed error naming ports.admin, not a raw EADDRINUSE', async () => {
  const { server } = await start({});
  const { port } = server.address();
  const second = new AdminServer({ status: () => ({}), metricsText: () => '', routes: [] }, new MemoryMetrics());
  await assert.rejects(second.listen(host, port), (err: unknown) => {
    assert.ok(err instanceof BaristaError, `a BaristaError, not ${String(err)}`);
    assert.equal(err.code, 'listen_address_in_use');
    assert.match(err.message, new RegExp(`^ports\\.admin: 127\\.0\\.0\\.1:${port} is already in use`));
    return true;
  });
});

test('requests in hand past inflightRequestsMax are answered 429 and counted; those in hand are answered after', async () => {
  // An audit, 2026-12-07: Node hands a socket's pipelined requests to the handler without waiting,
  // so one client could have thousands of 2 MiB bodies in hand at once.
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const { server, metrics } = await start({ inflightRequestsMax: 2 }, async () =>
    gate.then(() => ({ status: 200, body: { ok: true } })),
  );
  const port = server.address().port;
  const post = 'POST /v1/kv HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}';
  const held = [await open(port), await open(port)];
  for (const c of held) c.socket.write(post);
  await pollUntil(() => metrics.value('admin_http_requests_total', { path: '/v1/kv' }) === 2, 'two in hand');
  const third = await open(port);
  third.socket.write(post);
  await pollUntil(third.closed, 'the third is answered and closed');
  assert.match(third.received(), /^HTTP\/1\.1 429/);
  assert.equal(metrics.value('admin_http_requests_refused_total'), 1);
  release();
  for (const c of held) await pollUntil(() => /^HTTP\/1\.1 200/.test(c.received()), 'one in hand is answered');
  // The bound is free again.
  const fourth = await open(port);
  fourth.socket.write(post);
  await pollUntil(() => /^HTTP\/1\.1 200/.test(fourth.received()), 'a later request is served');
  for (const c of [...held, fourth]) c.socket.destroy();
});
