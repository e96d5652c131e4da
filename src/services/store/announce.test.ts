// Goal: a node's RESP endpoint announcement round-trips, every truncation or corruption of it is a
// ProtocolError (never a throw), and the Announcer learns peers' endpoints, answers only when
// asked, ignores senders outside its seed list, and re-asks peers it has not heard from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../lib/errors.ts';
import { MessageType } from '../../lib/message-types.ts';
import { Announcer, decodeAnnounce, encodeAnnounce } from './announce.ts';

test('announce round-trips; truncated or random bytes are ProtocolErrors', () => {
  const bytes = encodeAnnounce({ host: 'redis-1.example', port: 7001 }, true);
  assert.deepEqual(decodeAnnounce(bytes), { endpoint: { host: 'redis-1.example', port: 7001 }, answer: true });
  for (let n = 0; n < bytes.length; n++)
    assert.ok(decodeAnnounce(bytes.subarray(0, n)) instanceof ProtocolError, `${n}`);
  assert.ok(decodeAnnounce(new Uint8Array([...bytes, 0])) instanceof ProtocolError, 'trailing byte');
  assert.ok(decodeAnnounce(encodeAnnounce({ host: 'h', port: 0 }, false)) instanceof ProtocolError, 'port 0');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      const r = decodeAnnounce(b);
      assert.ok(r instanceof ProtocolError || (r.endpoint.port > 0 && r.endpoint.host.length > 0));
    }),
  );
});

test('the Announcer learns peers, answers when asked, ignores strangers, re-asks the silent', () => {
  const sent: Array<{ to: string; answer: boolean }> = [];
  let tick: (() => void) | undefined;
  const a = new Announcer({
    self: 'n1',
    peers: ['n2', 'n3'],
    endpoint: { host: '127.0.0.1', port: 7001 },
    send: (to, type, payload) => {
      assert.equal(type, MessageType.StoreAnnounce);
      const d = decodeAnnounce(payload);
      assert.ok(!(d instanceof ProtocolError));
      sent.push({ to, answer: d.answer });
      return true;
    },
    timers: {
      after: () => ({ cancel() {} }),
      every: (_ms, fn) => {
        tick = fn;
        return { cancel() {} };
      },
    },
    log: {
      warn() {},
      info() {},
      debug() {},
      error() {},
      trace() {},
      child() {
        return this;
      },
    } as never,
    metrics: { counter: () => ({ inc() {} }) },
    intervalMs: 1000,
  });
  a.start();
  assert.deepEqual(sent.splice(0), [
    { to: 'n2', answer: true },
    { to: 'n3', answer: true },
  ]);
  assert.deepEqual(a.endpoint('n1'), { host: '127.0.0.1', port: 7001 });
  const msg = (from: string, port: number, answer: boolean) => ({
    from,
    type: MessageType.StoreAnnounce,
    payload: encodeAnnounce({ host: '127.0.0.1', port }, answer),
  });
  a.receive(msg('n2', 7002, true));
  assert.deepEqual(a.endpoint('n2'), { host: '127.0.0.1', port: 7002 });
  assert.deepEqual(sent.splice(0), [{ to: 'n2', answer: false }], 'answered the one that asked');
  a.receive(msg('n2', 7012, false)); // a restarted peer with a new port
  assert.deepEqual(a.endpoint('n2'), { host: '127.0.0.1', port: 7012 });
  assert.deepEqual(sent.splice(0), [], 'no answer when not asked');
  a.receive(msg('n9', 7009, true));
  assert.equal(a.endpoint('n9'), undefined, 'not in the seed list');
  assert.deepEqual(sent.splice(0), []);
  tick!();
  assert.deepEqual(sent.splice(0), [{ to: 'n3', answer: true }], 'only the silent peer is asked again');
});
