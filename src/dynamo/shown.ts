// Whether a key's sibling holds something a read shows. Redis deletes a list, set, sorted set or
// hash when its last element goes; at N > 1 an emptied one stays a CRDT sibling (its causal context
// carries the removes' dots, so a concurrent add is told apart from a removed one) and reads as no
// key: EXISTS and TYPE say so, and any command may make the key anew with another type. A
// collection kept in rows (replica-rows.ts) shows by its marker's count: the elements its write left.

import { schemaEqual } from '../crdt/causal.ts';
import { CollectionMarker, ORMap, ORSet, decodeCrdt } from '../crdt/crdt.ts';
import { compareChosen, type Sibling, type Versioned } from './versions.ts';

/** Not a tombstone, and not an emptied collection (see the header). */
export function showsValue(s: Sibling | undefined): boolean {
  if (s === undefined || s.value === null) return false;
  if (s.crdt !== true) return true;
  const c = decodeCrdt(s.value);
  if (c instanceof CollectionMarker) return c.count > 0;
  return !((c instanceof ORSet || c instanceof ORMap) && c.size === 0);
}

/**
 * The sibling a key shows (EXISTS, TYPE, TTL, the deadline its next write keeps): the chosen one,
 * unless that is an emptied collection (a marker counting 0 in the rows layout, an empty OR-Set or
 * OR-Map in the whole one: its write's coordinator saw the collection emptied) while a concurrent
 * sibling of the same type holds elements: an add concurrent with a removal of everything survives
 * it (OR-Set and OR-Map: add wins), so the key holds that element, and the newest such sibling
 * shows. Before 2026-12-06 (session 31) the key read as absent (EXISTS 0, TYPE none) while
 * SMEMBERS answered the element, and its next write dropped the deadline.
 */
export function shownSibling(state: Versioned): Sibling | undefined {
  const top = state.chosen();
  if (top === undefined || top.value === null || top.crdt !== true || state.siblings.length < 2) return top;
  const emptied = decodeCrdt(top.value);
  if (collectionSize(emptied) !== 0) return top;
  let shown: Sibling | undefined;
  for (const s of state.siblings) {
    if (s === top || s.value === null || s.crdt !== true) continue;
    const c = decodeCrdt(s.value);
    if (!((collectionSize(c) ?? 0) > 0 && sameCollectionType(c, emptied))) continue;
    if (shown === undefined || compareChosen(s, shown) > 0) shown = s;
  }
  return shown ?? top;
}

/** A collection's element count (a marker's), or undefined for another CRDT. */
function collectionSize(c: ReturnType<typeof decodeCrdt>): number | undefined {
  if (c instanceof CollectionMarker) return c.count;
  if (c instanceof ORSet || c instanceof ORMap) return c.size;
  return undefined;
}

function sameCollectionType(a: ReturnType<typeof decodeCrdt>, b: ReturnType<typeof decodeCrdt>): boolean {
  if (a instanceof CollectionMarker) return b instanceof CollectionMarker && schemaEqual(a.schema, b.schema);
  if (a instanceof ORSet) return b instanceof ORSet;
  return a instanceof ORMap && b instanceof ORMap && schemaEqual(a.schema, b.schema);
}
