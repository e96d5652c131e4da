// The metadata group's state machine: cluster-level state shared by every service on the node.
//
// What it holds today: nothing beyond what Raft itself keeps in this group (the configuration:
// which nodes are voters and learners, changed by `barista member ...` first in this group). The
// KV keyspace moved to a group of its own ('kv'), and its exactly-once sessions went with it: a
// session's dedup record must commit atomically with the command it guards, so it lives in the
// same log as the keyspace (the namespaced state machine keeps one session table per group).
// Cluster-wide state arrives here as services need it (the ring, the log controller, a registry
// of groups for sharding). Until then every command is refused with a typed result, so a misrouted
// proposal is visible instead of silently applied.
//
// Snapshot image: u8 version(1) — nothing else yet; a later version adds sections.

import { ProtocolError } from '../lib/errors.ts';
import type { StateMachine } from '../raft/state-machine.ts';

const SNAPSHOT_VERSION = 1;
/** Result of every command: u8 status(1 = unknown command). */
const UNKNOWN_COMMAND = new Uint8Array([1]);

export class ClusterStateMachine implements StateMachine {
  private applied = 0;

  get appliedIndex(): number {
    return this.applied;
  }

  apply(index: number, _data: Uint8Array): Uint8Array {
    this.applied = index;
    return UNKNOWN_COMMAND;
  }

  snapshot(): Uint8Array {
    return new Uint8Array([SNAPSHOT_VERSION]);
  }

  restore(index: number, image: Uint8Array): void {
    // A snapshot comes from our own group's leader; a bad one is corruption the snapshot CRC missed.
    if (image.length !== 1 || image[0] !== SNAPSHOT_VERSION)
      throw new ProtocolError(
        'cluster_state_bad_snapshot',
        `metadata snapshot of ${image.length} bytes, version ${image[0]}`,
      );
    this.applied = index;
  }
}
