// Goal: the safety checks of invariants.ts are not vacuous — each of the paper's properties
// (Figure 3: Election Safety, Leader Append-Only, Log Matching, Leader Completeness, State Machine
// Safety) fires on a fabricated cluster history that violates it, and stays quiet on a legal one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvariantViolation, type NodeObservation, RaftInvariants } from './invariants.ts';
import { type Entry, EntryType, type Role } from './types.ts';

const enc = new TextEncoder();
function obs(id: string, role: Role, term: number, commit: number, log: Array<[number, string]>): NodeObservation {
  const entries: Entry[] = log.map(([t, d], i) => ({
    index: i + 1,
    term: t,
    type: EntryType.Normal,
    data: enc.encode(d),
  }));
  return {
    id,
    role,
    term,
    commit,
    log: {
      firstIndex: 1,
      lastIndex: entries.length,
      term: (i) => (i === 0 ? 0 : entries[i - 1]?.term),
      entry: (i) => entries[i - 1],
    },
  };
}

function violates(property: string, fn: () => void): void {
  assert.throws(fn, (e: unknown) => e instanceof InvariantViolation && e.property === property);
}

test('a legal history passes', () => {
  const inv = new RaftInvariants();
  inv.observe([obs('a', 'leader', 1, 1, [[1, 'x']]), obs('b', 'follower', 1, 1, [[1, 'x']])]);
  inv.observe([
    obs('a', 'follower', 2, 1, [[1, 'x']]),
    obs('b', 'leader', 2, 2, [
      [1, 'x'],
      [2, 'y'],
    ]),
  ]);
  inv.recordApplied('a', { index: 1, term: 1, type: EntryType.Normal, data: enc.encode('x') });
  inv.recordApplied('b', { index: 1, term: 1, type: EntryType.Normal, data: enc.encode('x') });
});

test('Election Safety: two leaders in one term', () => {
  const inv = new RaftInvariants();
  inv.observe([obs('a', 'leader', 3, 0, [])]);
  violates('Election Safety', () => inv.observe([obs('b', 'leader', 3, 0, [])]));
});

test('Leader Append-Only: a leader rewrites its own entry', () => {
  const inv = new RaftInvariants();
  inv.observe([obs('a', 'leader', 2, 0, [[2, 'x']])]);
  violates('Leader Append-Only', () => inv.observe([obs('a', 'leader', 2, 0, [[1, 'x']])]));
});

test('Log Matching: same index and term at 2 but different entries at 1', () => {
  const inv = new RaftInvariants();
  violates('Log Matching', () =>
    inv.observe([
      obs('a', 'follower', 2, 0, [
        [1, 'x'],
        [2, 'y'],
      ]),
      obs('b', 'follower', 2, 0, [
        [1, 'DIFFERENT'],
        [2, 'y'],
      ]),
    ]),
  );
});

test('Leader Completeness: a later leader lacks a committed entry', () => {
  const inv = new RaftInvariants();
  inv.observe([
    obs('a', 'leader', 1, 2, [
      [1, 'x'],
      [1, 'y'],
    ]),
  ]);
  violates('Leader Completeness', () => inv.observe([obs('b', 'leader', 2, 1, [[1, 'x']])]));
});

test('State Machine Safety: committed entry changes, or two nodes apply different entries', () => {
  const inv = new RaftInvariants();
  inv.observe([obs('a', 'follower', 1, 1, [[1, 'x']])]);
  violates('State Machine Safety', () => inv.observe([obs('b', 'follower', 1, 1, [[1, 'z']])]));
  const inv2 = new RaftInvariants();
  inv2.recordApplied('a', { index: 1, term: 1, type: EntryType.Normal, data: enc.encode('x') });
  violates('State Machine Safety', () =>
    inv2.recordApplied('b', { index: 1, term: 1, type: EntryType.Normal, data: enc.encode('y') }),
  );
  violates('apply order', () =>
    inv2.recordApplied('a', { index: 3, term: 1, type: EntryType.Normal, data: enc.encode('x') }),
  );
});
