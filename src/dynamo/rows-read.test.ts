// Goal: reads of a list's head in the rows layout (replica.ts settleFront) settle in whatever order
// the replicas answer. A head read parks a replica after a page that may reach past the rows it
// needs; once R replicas have answered or are parked, the parked ones count as answered if the
// rows before the smallest place they stopped hold enough live rows. Checked at ALL with one
// replica parked (it holds 100 rows: more than one head page) and the other finished (it holds
// none: its answer is whole), the finished one answering LAST: the read must settle then, not wait
// for its timeout. Negative control (2026-12-06): without the settle on a finished answer
// (onReadReply), the read is still open after every message is delivered.
// Also: a replica whose page the coordinator refuses (out of order) does not count toward R: a
// read at ALL then fails rather than answer without that replica's rows (it answered, before).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage } from './messages.ts';
import { DynamoCluster } from './testing.ts';

const IDS = ['a', 'b', 'c'];
const enc = new TextEncoder();

function listOf(n: number): Uint8Array[] {
  const members: Uint8Array[] = [];
  for (let i = 0; i < n; i++) members.push(enc.encode(`k${String(i).padStart(4, '0')}`), enc.encode(`\u0001v${i}`));
  return members;
}

/** Delivers the first queued message `pick` accepts; false when none does. */
function deliverFirst(c: DynamoCluster, pick: (m: { from: string; to: string; type: string }) => boolean): boolean {
  const at = c.queue.findIndex((m) => pick({ from: m.from, to: m.to, type: decodeMessage(m.bytes).type }));
  if (at < 0) return false;
  c.deliver(at);
  return true;
}

/** A rows-layout cluster where a and b hold list l of `n` elements and c, cut off while it was written, none. */
function listMissedByC(seed: string, n: number): DynamoCluster {
  const c = new DynamoCluster({ ids: IDS, seed, config: { collections: 'rows' } });
  c.checkInvariants = false;
  c.partition([['a', 'b'], ['c']]);
  const w = c.typed('a', 'l', { type: 'list', members: listOf(n) }, 'QUORUM');
  c.deliverAll();
  assert.ok(c.result(w)?.ok);
  c.heal();
  return c;
}

for (const last of ['finished', 'parked'] as const) {
  test(`a head read at ALL settles when the ${last} replica answers last`, () => {
    // b holds the 100-element list, c none of it (cut off while it was written).
    const c = listMissedByC(`head-all-${last}`, 100);
    const r = c.rows('a', 'l', 'ALL', null, 1);
    const fast = last === 'finished' ? 'b' : 'c';
    // Everything to and from the fast replica first (b parks after its first page; c is whole at once).
    while (deliverFirst(c, (m) => m.to === fast || m.from === fast)) {}
    assert.equal(c.result(r), undefined, 'not settled before the last replica answers');
    c.deliverAll();
    const result = c.result(r);
    assert.ok(result?.ok, `settled once every replica answered: ${JSON.stringify(result)}`);
    assert.ok(result.collection!.count >= 100, `count ${result.collection!.count}`);
  });
}

test('a read of every row does not count a replica whose page it refused (its rows are not joined): at ALL it fails, never answers without them', () => {
  // c misses the list; a and b hold it.
  const c = listMissedByC('refused-page', 10);
  c.settle();
  // A read at ALL through c: b's page is forged to start elsewhere, so c refuses it.
  const r = c.rows('c', 'l', 'ALL', null);
  let forged = false;
  for (let i = 0; i < 1_000 && c.result(r) === undefined; i++) {
    const at = c.queue.findIndex(
      (m) => m.from === 'b' && m.to === 'c' && decodeMessage(m.bytes).type === 'rowReadReply',
    );
    if (at >= 0 && !forged) {
      const msg = decodeMessage(c.queue[at]!.bytes);
      assert.ok(msg.type === 'rowReadReply' && msg.rows?.rows.kind === 'page');
      const page = { ...msg.rows.rows.page, from: '\u0000' };
      c.queue[at] = {
        ...c.queue[at]!,
        bytes: encodeMessage({ ...msg, rows: { ...msg.rows, rows: { kind: 'page', page } } }),
      };
      forged = true;
    }
    if (c.queue.length > 0) c.deliver(0);
    else c.tick();
  }
  assert.ok(forged, 'b answered');
  const result = c.result(r);
  assert.ok(result !== undefined && !result.ok, `answered without b's rows: ${JSON.stringify(result)}`);
});
