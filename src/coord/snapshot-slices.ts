// The znodes snapshot section, written in slices: a million znodes take seconds to encode, and a
// node that encodes them in one go answers no ping, heartbeat or read meanwhile (issue 9: "with a
// million znodes, pings must still be answered in time"). The walk reads the tree's frozen view
// (store.ts: copy on write), started when the stepper is made, so commands go on being applied
// between slices (the Raft driver does not hold them) and the section is the tree at that moment;
// the view ends with the last slice. `nodesPerSlice` znodes per call.
//
// Order: depth first from "/", each node's children by name (the same compare as a sort of
// paths), so a parent precedes its children and the image is canonical (equal trees give equal
// bytes on every replica). No global sort: the one sort per parent covers that parent's children.
// ACL lists are numbered in first-use order as the walk meets them, so the node records go to
// their own writer and the ACL table is written in front of them at the end.
//
// Section v3 = v2's grammar (namespace.ts: sessions with their owner) with the nodes in this
// depth-first order instead of strictly increasing paths; the reader checks "no duplicate, parent
// already seen" for v3.

import { assert } from '../lib/assert.ts';
import { ByteWriter } from '../lib/bytes.ts';
import type { Acl } from './acl.ts';
import { SlicedSort, SORTED_RUN_LENGTH } from './sliced-sort.ts';
import type { FrozenChildren } from './store.ts';
import { binaryToBytes, type ZnodeTree } from './tree.ts';

export const SECTION_VERSION_DFS = 3;

/** Children of one node a walk step lists from the frozen view (a step ~3 ms idle at 16,384, 3-5x that on a loaded node: 2,048 since 2026-12-05). */
export const CHILDREN_LISTED_PER_STEP = 2_048;

/**
 * Returns a stepper: each call encodes up to `nodesPerSlice` znodes; the section once done, in
 * parts (the header, then each slice's node records as its own exact-size array: no buffer grows
 * to the section's size by doubling — at a million znodes the last doubling copied ~128 MiB in
 * one slice, ~0.4 s — and no part is copied into one image here). `live`:
 * the walk reads the live tree, for a caller that runs every step before any change (a snapshot
 * in one go, which must not end a frozen view a walk in slices holds meanwhile).
 */
export function znodesSnapshotSlices(
  tree: ZnodeTree,
  nodesPerSlice: number,
  live = false,
  childrenPerStep = CHILDREN_LISTED_PER_STEP,
): () => readonly Uint8Array[] | undefined {
  assert(Number.isSafeInteger(childrenPerStep) && childrenPerStep >= 1, `childrenPerStep ${childrenPerStep}`);
  const sessions = (live ? tree.sessionList() : tree.freeze()).sort((a, b) => a.id - b.id);
  const aclIndex = new Map<number, number>();
  const aclLists: (readonly Acl[])[] = [];
  const parts: Uint8Array[] = [];
  let nodeCount = 0;
  // The walk: a stack of sorted child path lists with the next position in each; a list longer
  // than SORTED_RUN_LENGTH is sorted in steps first (sliced-sort.ts), a step a slice, so a parent
  // with a million children is not one ~0.2 s slice (in one go, `live`, it is sorted at once).
  // A frozen node's children are listed first, `childrenPerStep` a step and a full step a slice
  // (listing a million children in one go was one ~170 ms slice), then sorted; a path the listing
  // gave twice (store.ts FrozenChildren) is skipped the second time it comes up in sorted order.
  const stack: {
    paths: string[];
    next: number;
    listing?: { list: FrozenChildren; listed: string[] } | undefined;
    sorting?: SlicedSort | undefined;
  }[] = [{ paths: ['/'], next: 0 }];
  return () => {
    let budget = nodesPerSlice;
    const nodes = new ByteWriter({ bytesMax: 2 ** 31 - 1 });
    while (budget > 0 && stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.listing !== undefined) {
        const { paths, done } = top.listing.list(childrenPerStep);
        for (const p of paths) top.listing.listed.push(p);
        if (!done) break; // the slice ends with a listing step
        const listed = top.listing.listed;
        top.listing = undefined;
        if (listed.length > SORTED_RUN_LENGTH) top.sorting = new SlicedSort(listed);
        else top.paths = listed.sort();
        continue;
      }
      if (top.sorting !== undefined) {
        top.sorting.step();
        if (!top.sorting.done) break; // the slice ends with a sorting step
        top.paths = top.sorting.result;
        top.sorting = undefined;
      }
      if (top.next >= top.paths.length) {
        stack.pop();
        continue;
      }
      const path = top.paths[top.next++]!;
      if (top.next > 1 && top.paths[top.next - 2] === path) continue; // listed twice
      const { record: r, children } = live ? tree.liveNode(path) : tree.snapshotNode(path);
      let acl = aclIndex.get(r.acl);
      if (acl === undefined) {
        acl = aclLists.length;
        aclIndex.set(r.acl, acl);
        aclLists.push(tree.acls.get(r.acl));
      }
      nodes.stringUvarint(path).bytesUvarint(binaryToBytes(r.data)).uvarint(acl);
      nodes.uvarint(r.czxid).uvarint(r.mzxid).uvarint(r.pzxid).f64(r.ctimeMs).f64(r.mtimeMs);
      nodes.varint(r.version).varint(r.cversion).varint(r.aversion).f64(r.owner);
      nodeCount++;
      budget--;
      if (typeof children === 'function') stack.push({ paths: [], next: 0, listing: { list: children, listed: [] } });
      else if (children !== undefined && children.length > 0) stack.push({ paths: children.sort(), next: 0 });
    }
    // Each slice's records as an exact-size copy (its writer's buffer may be twice as large); one go
    // (live) has one part, copied again by its caller anyway.
    if (nodes.length > 0) parts.push(live ? nodes.finish() : nodes.finish().slice());
    if (stack.length > 0) return undefined;
    if (!live) tree.thaw();
    const w = new ByteWriter({ bytesMax: 2 ** 31 - 1 });
    w.u8(SECTION_VERSION_DFS).uvarint(aclLists.length);
    for (const list of aclLists) {
      w.uvarint(list.length);
      for (const a of list)
        w.u32(a.perms >>> 0)
          .stringUvarint(a.scheme)
          .stringUvarint(a.id);
    }
    w.uvarint(sessions.length);
    for (const s of sessions) w.uvarint(s.id).uvarint(s.timeoutMs).bytesUvarint(s.passwd).uvarint(s.owner);
    w.uvarint(nodeCount);
    return [w.finish(), ...parts];
  };
}
