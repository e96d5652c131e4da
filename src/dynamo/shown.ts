// Whether a key's sibling holds something a read shows. Redis deletes a list, set, sorted set or
// hash when its last element goes; at N > 1 an emptied one stays a CRDT sibling (its causal context
// carries the removes' dots, so a concurrent add is told apart from a removed one) and reads as no
// key: EXISTS and TYPE say so, and any command may make the key anew with another type. A
// collection kept in rows (replica-rows.ts) shows by its marker's count: the elements its write left.

import { CollectionMarker, ORMap, ORSet, decodeCrdt } from '../crdt/crdt.ts';
import type { Sibling } from './versions.ts';

/** Not a tombstone, and not an emptied collection (see the header). */
export function showsValue(s: Sibling | undefined): boolean {
  if (s === undefined || s.value === null) return false;
  if (s.crdt !== true) return true;
  const c = decodeCrdt(s.value);
  if (c instanceof CollectionMarker) return c.count > 0;
  return !((c instanceof ORSet || c instanceof ORMap) && c.size === 0);
}
