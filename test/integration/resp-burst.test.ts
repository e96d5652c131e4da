// Goal: a client that reads every reply is never evicted as a slow reader for a burst of large
// replies. A real node over TCP (a simulated connection has no socket buffer to fill): one SET of a
// 15 MiB value, then GETs of it pipelined, 75 MiB of replies, past clientBufferedBytesMax (64 MiB).
// Before 2026-12-07 (an audit) the answered replies went out in one write, which passed the bound
// and evicted the client with none answered; they now go in writes of clientWriteBatchBytesMax, the
// rest after the buffer drains (src/wire/pipeline.ts).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { limits } from '../../src/lib/limits.ts';
import { startStoreNode } from '../support/redis-servers.ts';
import { until } from './helpers.ts';

test('five pipelined GETs of a 15 MiB value (75 MiB of replies) all answer, the connection kept', async () => {
  const node = await startStoreNode({ sync: 'none' });
  try {
    const valueBytes = 15 * 1024 * 1024;
    const count = Math.ceil(limits.clientBufferedBytesMax / valueBytes) + 1;
    const socket = connect(node.port, node.host);
    let received = 0;
    let closed = false;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => undefined);
    const set = Buffer.concat([
      Buffer.from(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${valueBytes}\r\n`),
      Buffer.alloc(valueBytes, 0x76),
      Buffer.from('\r\n'),
    ]);
    socket.write(Buffer.concat([set, Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n'.repeat(count))]));
    const bulk = `$${valueBytes}\r\n`.length + valueBytes + 2;
    const expected = '+OK\r\n'.length + count * bulk;
    await until('every reply', 60_000, () => closed || received >= expected);
    assert.equal(closed, false, `not evicted (${received} of ${expected} bytes before the close)`);
    assert.equal(received, expected);
    socket.destroy();
  } finally {
    await node.stop();
  }
});
