// Goal: what only the real listener has (the shared behaviour is in
// test/compliance/listener-suite.ts): binding errors are typed (a port in use is
// `listen_address_in_use`, retriable), ready() reports the bound port of port 0, a second listener
// for one protocol is a programmer error, close is idempotent and frees the port; and bounds are
// validated at listen time with errors that name the field.
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { test } from 'node:test';
import { hostOf, validateListenerBounds } from '../env/listener-core.ts';
import { memoryLogger } from '../env/log.ts';
import { realClock, realTimers } from '../env/real-time.ts';
import type { ListenerBounds } from '../env/types.ts';
import { BaristaError, ConfigError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import { bindServer, ListenerErrorCode, TcpClientListeners } from './tcp-listener.ts';
import { MemoryMetrics } from './testing.ts';

const bounds: ListenerBounds = {
  connectionsMax: 4,
  connectionsPerAddressMax: 4,
  bufferedBytesMax: 4096,
  inflightRequestsMax: 4,
  memoryBytesMax: 1024 * 1024 * 1024,
  idleTimeoutMs: 'none',
};

function listeners(): TcpClientListeners {
  return new TcpClientListeners({
    host: '127.0.0.1',
    clock: realClock,
    timers: realTimers,
    metrics: new MemoryMetrics(),
    log: memoryLogger(100),
  });
}

test('a port in use is a typed, retriable listen_address_in_use; ready() reports port 0 bound', async () => {
  const all = listeners();
  const first = all.listen('one', { port: 0, bounds }, () => undefined);
  const port = await first.ready();
  assert.ok(port > 0);
  const other = listeners();
  const second = other.listen('one', { port, bounds }, () => undefined);
  await assert.rejects(second.ready(), (err: unknown) => {
    assert.ok(err instanceof BaristaError);
    assert.equal(err.code, ListenerErrorCode.addressInUse);
    assert.equal(err.retriable, true);
    assert.deepEqual(err.fields, { host: '127.0.0.1', port });
    return true;
  });
  await second.close();
  await first.close();
  await first.close(); // idempotent
  // The port is free again.
  const server = createServer();
  assert.equal(await bindServer(server, '127.0.0.1', port, 'test'), port);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await all.close();
  await other.close();
});

test('one listener per protocol; bounds are checked against the ceilings, naming the field', async () => {
  const all = listeners();
  const l = all.listen('one', { port: 0, bounds }, () => undefined);
  assert.throws(() => all.listen('one', { port: 0, bounds }, () => undefined), /exists already/);
  await l.close();
  const bad: [Partial<ListenerBounds>, string][] = [
    [{ connectionsMax: 0 }, 'listen.p.connectionsMax'],
    [{ connectionsPerAddressMax: limits.clientHostConnectionsMax + 1 }, 'listen.p.connectionsPerAddressMax'],
    [{ bufferedBytesMax: 1.5 }, 'listen.p.bufferedBytesMax'],
    [{ inflightRequestsMax: limits.clientInflightRequestsMax + 1 }, 'listen.p.inflightRequestsMax'],
    [{ idleTimeoutMs: 0 }, 'listen.p.idleTimeoutMs'],
  ];
  for (const [change, field] of bad) {
    assert.throws(
      () => validateListenerBounds('p', { ...bounds, ...change }),
      (err: unknown) => err instanceof ConfigError && err.fields['field'] === field,
      field,
    );
  }
  assert.throws(() => validateListenerBounds('Bad Name', bounds), ConfigError);
  await all.close();
});

test('hostOf keys the per-address bound by host, IPv6 included', () => {
  assert.equal(hostOf('127.0.0.2:5000'), '127.0.0.2');
  assert.equal(hostOf('[::1]:5000'), '::1');
  assert.equal(hostOf('client-3:40001'), 'client-3');
});

test("a chunk's replies are held until the loop's check phase, then written: every socket's replies of an iteration go out back to back", async () => {
  const all = listeners();
  const heldAfterChunk: number[] = [];
  const listener = all.listen('echo', { port: 0, bounds }, (conn) => {
    conn.onData((chunk) => {
      conn.write(new Uint8Array(chunk)); // a synchronous reply, as an N = 1 command's
      // After the chunk's handling (its 'data' callback done): still held by the socket.
      process.nextTick(() => heldAfterChunk.push(conn.bufferedBytes));
    });
  });
  const port = await listener.ready();
  const client = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const got = new Promise<Buffer>((resolve) => client.once('data', (d: Buffer) => resolve(d)));
  client.write('ping');
  assert.equal((await got).toString(), 'ping', 'the reply arrives');
  // Written at the end of the chunk (before this change), nothing was left at the next tick.
  assert.deepEqual(heldAfterChunk, [4]);
  client.destroy();
  await all.close();
});
