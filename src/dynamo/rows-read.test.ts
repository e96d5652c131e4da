// Goal: reads of a list's head in the rows layout (replica.ts settleFront) settle in whatever order
// the replicas answer. A head read parks a replica after a page that may reach past the rows it
// needs; once R replicas have answered or are parked, the parked ones count as answered if the
// rows before the smallest place they stopped hold enough live rows. Checked at ALL with one
// replica parked (it holds 100 rows: more than one head page) and the other finished (it holds
// none: its answer is whole), the finished one answering LAST: the read must settle then, not wait
// for its timeout. Negative control (2026-12-06): without the settle on a finished answer
// (onReadReply), the read is still open after every message is delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from './messages.ts';
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

for (const last of ['finished', 'parked'] as const) {
  test(`a head read at ALL settles when the ${last} replica answers last`, () => {
    const c = new DynamoCluster({ ids: IDS, seed: `head-all-${last}`, config: { collections: 'rows' } });
    c.checkInvariants = false;
    // b holds the 100-element list, c none of it (cut off while it was written).
    c.partition([['a', 'b'], ['c']]);
    const w = c.typed('a', 'l', { type: 'list', members: listOf(100) }, 'QUORUM');
    c.deliverAll();
    assert.ok(c.result(w)?.ok);
    c.heal();
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
