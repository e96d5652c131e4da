// The coord group's state machine: the rsm's ReplicatedStateMachine hosting the znode namespace
// (src/coord/namespace.ts), plus two things the service needs of every applied entry:
//   - the entry's index in its result. zxid = log index, and a write's reply carries its zxid
//     and must wait until this replica applied it; a forwarded write's result reaches a follower
//     by the leader's answer, not by its own apply, so the index travels in the result.
//       CoordEntryResult = uvarint index | the rsm's Result (envelope.ts)
//     Deterministic: every replica computes the same bytes for the same entry.
//   - an apply hook (after the namespace's trigger observer ran), so the runtime releases the
//     waiters of this index after the watch events of the same entry went out; and a restore
//     hook: a snapshot jumps over entries whose triggers never fired, so the node's clients are
//     disconnected and re-register their watches (setWatches compares against the new tree).
// The tree is built with TTL enabled: whether clients may create TTL nodes is the service's
// config (coord.extendedTypesEnabled), checked before proposing, since a namespace is built
// before the service sees its config.

import { CoordNamespace, defaultCoordOptions } from '../../coord/namespace.ts';
import { type CoordCommand, type CoordResult, decodeResult, encodeCommand } from '../../coord/command.ts';
import { ByteReader, ByteWriter } from '../../lib/bytes.ts';
import { BaristaError } from '../../lib/errors.ts';
import type { Mutations } from '../../lib/mutations.ts';
import { NamespaceId } from '../../rsm/namespace.ts';
import { decodeRsmResult, encodeEnvelope } from '../../rsm/envelope.ts';
import { defaultSessionOptions } from '../../rsm/sessions.ts';
import { ReplicatedStateMachine } from '../../rsm/state-machine.ts';
import { coordTreeBytesMaxFor } from '../../coord/tree.ts';
import { limits } from '../../lib/limits.ts';

export class CoordStateMachine extends ReplicatedStateMachine {
  readonly znodes: CoordNamespace;
  /** Called after every applied entry, with its index. */
  afterApply: ((index: number) => void) | undefined;
  /** Called after a snapshot replaced the tree (no triggers fired for what it skipped). */
  afterRestore: ((index: number) => void) | undefined;

  constructor(
    mutations?: Mutations,
    hooks: { readonly onMalformed?: () => void } = {},
    options: { readonly snapshotSliceNodes?: number; readonly snapshotDataBytesMax?: number } = {},
  ) {
    super({
      // No client registers sessions in this group (ZooKeeper sessions live in the tree): its
      // table stays empty, bounded within the image's reserve beside coordTreeBytesMax.
      sessions: { ...defaultSessionOptions, bytesMax: 16 * 1024 },
      ...(hooks.onMalformed === undefined ? {} : { onMalformed: hooks.onMalformed }),
    });
    this.znodes = new CoordNamespace({
      ...defaultCoordOptions,
      ttlEnabled: true,
      bytesMax: mutations?.has('coord-tree-bytes-unbounded')
        ? Number.MAX_SAFE_INTEGER
        : coordTreeBytesMaxFor(options.snapshotDataBytesMax ?? limits.snapshotDataBytesMax),
      ...(options.snapshotSliceNodes === undefined ? {} : { snapshotSliceNodes: options.snapshotSliceNodes }),
      ...(mutations?.has('coord-skip-ephemeral-cleanup') === true ? { keepEphemeralsOnClose: true } : {}),
    });
    this.register(this.znodes);
  }

  /** Also restore(), which runs these slices in one go. */
  override restoreInSlices(index: number, image: Uint8Array): () => boolean {
    const step = super.restoreInSlices(index, image);
    return () => {
      if (!step()) return false;
      this.afterRestore?.(index);
      return true;
    };
  }

  override apply(index: number, data: Uint8Array): Uint8Array {
    const result = super.apply(index, data);
    this.afterApply?.(index);
    const w = new ByteWriter({ initialBytes: result.length + 10 });
    return w.uvarint(index).raw(result).finish();
  }
}

/** A znode command as the coord group's log entry (an rsm envelope; the leader stamps it). */
export function coordEntry(command: CoordCommand): Uint8Array {
  return encodeEnvelope({
    stampMs: 0,
    term: 0,
    namespace: NamespaceId.znodes,
    sessionId: 0,
    seq: 0,
    payload: encodeCommand(command),
  });
}

/** The index and the tree's result from a coord entry's result bytes, or the error it carries. */
export function decodeCoordEntryResult(bytes: Uint8Array): { index: number; result: CoordResult } | BaristaError {
  try {
    const r = new ByteReader(bytes);
    const index = r.uvarint();
    const rsm = decodeRsmResult(r.rest());
    if (rsm instanceof BaristaError) return rsm;
    if (rsm.status === 'refused')
      return new BaristaError(rsm.code, `the coord state machine refused the command: ${rsm.code}`);
    return { index, result: decodeResult(rsm.payload) };
  } catch (err) {
    if (err instanceof BaristaError) return err;
    throw err;
  }
}
