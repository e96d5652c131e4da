// Goal: on one connection, reads wait for every earlier request, and a watch event reaches the
// byte stream after the replies computed before it and before every reply computed after it;
// held events are bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyOrder } from './reply-order.ts';

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

/** A stand-in for the pipeline: replies written in request order, as RequestPipeline does. */
function harness(heldMax = 10, heldBytesMax?: number) {
  const stream: string[] = [];
  const slots: { text: string | null }[] = [];
  let overflowed = 0;
  const flush = () => {
    while (slots.length > 0 && slots[0]!.text !== null) stream.push(slots.shift()!.text!);
  };
  const order = new ReplyOrder(
    (b) => stream.push(text(b)),
    heldMax,
    () => overflowed++,
    heldBytesMax,
  );
  const begin = () => {
    const slot: { text: string | null } = { text: null };
    slots.push(slot);
    return order.begin((b) => {
      slot.text = text(b);
      flush();
    });
  };
  return { order, stream, begin, overflowed: () => overflowed };
}

test('a read runs only after every earlier request is answered', () => {
  const h = harness();
  const w = h.begin();
  const r = h.begin();
  let ran = false;
  h.order.afterEarlier(r, () => {
    ran = true;
    h.order.answer(r, bytes('R'));
  });
  assert.equal(ran, false);
  h.order.answer(w, bytes('W'));
  assert.equal(ran, true);
  assert.deepEqual(h.stream, ['W', 'R']);
  assert.equal(h.order.pending, 0);
});

test('an event goes out at once with nothing unanswered, else just ahead of the first unanswered reply', () => {
  const h = harness();
  h.order.notify(bytes('e0'));
  const w = h.begin();
  h.order.notify(bytes('e1'));
  h.order.answer(w, bytes('W'));
  assert.deepEqual(h.stream, ['e0', 'e1W']);
  // An answered reply behind an unanswered one was computed before the event: the event goes
  // ahead of the unanswered one, so the stream shows it before both.
  const w1 = h.begin();
  const w2 = h.begin();
  h.order.answer(w2, bytes('W2'));
  h.order.notify(bytes('e2'));
  h.order.answer(w1, bytes('W1'));
  assert.deepEqual(h.stream, ['e0', 'e1W', 'e2W1', 'W2']);
});

test('held events are bounded: the connection is given up, not buffered', () => {
  const h = harness(2);
  h.begin();
  h.order.notify(bytes('a'));
  h.order.notify(bytes('b'));
  assert.equal(h.overflowed(), 0);
  h.order.notify(bytes('c'));
  assert.equal(h.overflowed(), 1);
});

test("held events are bounded in bytes too, and an answer gives its events' bytes back (an audit, 2026-12-07: 100,000 events of 1 MiB paths)", () => {
  const h = harness(1000, 10);
  const w = h.begin();
  h.order.notify(bytes('aaaa'));
  h.order.notify(bytes('bbbbbb'));
  assert.equal(h.overflowed(), 0, 'ten bytes held: at the bound');
  h.order.notify(bytes('c'));
  assert.equal(h.overflowed(), 1, 'one byte more');
  h.order.answer(w, bytes('W'));
  assert.deepEqual(h.stream, ['aaaabbbbbbW']);
  const w2 = h.begin();
  h.order.notify(bytes('dddddddddd'));
  assert.equal(h.overflowed(), 1, 'the answer gave the ten bytes back');
  h.order.answer(w2, bytes('X'));
});
