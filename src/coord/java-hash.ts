// Java's hashing, as ZooKeeper's HashSets and HashMaps use it to order what they hold. A client
// sees that order in places (whoAmI's identities, a closing session's ephemerals and so their
// watch events), and Baristas answers in the same order.

/** Java's String.hashCode. */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** HashMap.hash: the high half spread into the low bits; a table of n slots takes `& (n - 1)`. */
export function javaSpread(h: number): number {
  return h ^ (h >>> 16);
}

/** The table of a HashMap that `n` insertions grew: 16 at first, doubled once past 0.75 full. */
export function javaTableSize(n: number): number {
  let table = 16;
  while (n > table * 0.75) table *= 2;
  return table;
}

/** The table of a copy of `n` entries (HashMap.clone, putMapEntries: tableSizeFor(n / 0.75 + 1)). */
export function javaCopyTableSize(n: number): number {
  let table = 1;
  while (table < Math.floor(n / 0.75 + 1)) table *= 2;
  return table;
}
