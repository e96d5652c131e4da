// Goal: `barista member list` shows every Raft group a node runs (the README promises metadata
// first, then the others), each with its own leader, term and members, not only the metadata group's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMembers, type MembersView } from './member.ts';

const view = (leader: string, term: number, progress?: MembersView['progress']): MembersView => ({
  nodeId: 'n1',
  leader,
  term,
  role: leader === 'n1' ? 'leader' : 'follower',
  voters: ['n3', 'n1', 'n2'],
  learners: [],
  rejoining: false,
  ...(progress === undefined ? {} : { progress }),
});

test('member list: every group, metadata first, each with its own leader, term and members', () => {
  const metadata = view('n1', 4, { n2: { match: 9, next: 10, state: 'replicate' } });
  const text = formatMembers({
    ...metadata,
    groups: { kv: view('n2', 7), coord: view('n3', 2), metadata },
  });
  const heads = text.split('\n').filter((l) => /^\w+: leader/.test(l));
  assert.deepEqual(heads, [
    'metadata: leader n1  term 4  (as seen by n1)',
    'coord: leader n3  term 2  (as seen by n1)',
    'kv: leader n2  term 7  (as seen by n1)',
  ]);
  assert.match(
    text,
    /metadata: [^\n]*\n {2}n1 +voter +leader\n {2}n2 +voter +match 9 \(replicate\)\n {2}n3 +voter *\n/,
  );
  assert.equal(text.split('\n').filter((l) => /^ {2}n\d/.test(l)).length, 9, 'three members in each of three groups');
});

test('member list: a view without groups (an older node) is shown as one block, as before', () => {
  assert.equal(
    formatMembers(view('n2', 3)),
    'leader n2  term 3  (as seen by n1)\n  n1           voter   \n  n2           voter     leader\n  n3           voter   \n',
  );
});
