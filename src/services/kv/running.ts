// The KV service as it runs on a node: its client API and its state machine, for the service's
// own simulator workload and for tests (nothing of the platform reaches into it).

import type { KvStateMachine } from '../../metadata/kv.ts';
import type { KvService } from '../../metadata/kv-service.ts';
import type { RaftGroupHandle, RunningService, ServiceHost } from '../../node/service.ts';
import type { RaftDriver } from '../../raft/driver.ts';

/** The Raft group the keyspace lives in (its own, so a write storm does not stall the metadata group). */
export const KV_GROUP = 'kv';

export interface KvRunning extends RunningService {
  /** The keyspace's client API (writes through the log, linearizable or serializable reads). */
  readonly client: KvService;
  readonly state: KvStateMachine;
  /** The Raft group the keyspace lives in. */
  readonly group: RaftGroupHandle;
}

/** The KV group's driver on `node` (tests and hooks that drive the keyspace's Raft group). */
export function kvRaftOf(node: ServiceHost | undefined): RaftDriver | undefined {
  return node === undefined ? undefined : kvOf(node).group.driver;
}

export function kvOf(node: ServiceHost): KvRunning {
  return node.service<KvRunning>('kv');
}
