// The KV service as it runs on a node: its client API and its state machine, for the service's
// own simulator workload and for tests (nothing of the platform reaches into it).

import type { KvStateMachine } from '../../metadata/kv.ts';
import type { KvService } from '../../metadata/kv-service.ts';
import type { RaftGroupHandle, RunningService, ServiceHost } from '../../node/service.ts';

export interface KvRunning extends RunningService {
  /** The keyspace's client API (writes through the log, linearizable or serializable reads). */
  readonly client: KvService;
  readonly state: KvStateMachine;
  /** The Raft group the keyspace lives in. */
  readonly group: RaftGroupHandle;
}

export function kvOf(node: ServiceHost): KvRunning {
  return node.service<KvRunning>('kv');
}
