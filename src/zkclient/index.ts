// Baristas' ZooKeeper client and recipes: the public API (see client.ts for the session rules).
//   new ZkClient({ connectString, sessionTimeoutMs, io })  any world: io = { clock, timers, connect }
//   connectZk({ connectString, sessionTimeoutMs })         real processes (TCP, process timers; src/net/zk-tcp.ts,
//                                                          not exported here: it imports node:net)
//   simZkIo(sim)                                           the simulator's connections and time
// Ops: client.getData(...) etc. (promises), or client.callWith(zkCalls.getData(...), done).
// Recipes: ZkLock, ZkElection, ZkBarrier, ZkDoubleBarrier, ZkServiceRegistry, ZkFlags.

export {
  type CreateOptions,
  openAclUnsafe,
  parseConnectString,
  type ZkByteStream,
  type ZkCall,
  zkCalls,
  ZkClient,
  type ZkClientIo,
  type ZkClientLimits,
  type ZkClientOptions,
  type ZkClientState,
  type ZkData,
  type ZkDone,
  type ZkOp,
  type ZkOpResult,
  type ZkReadOp,
  type ZkStat,
  type ZkStateEvent,
  type ZkWatchEvent,
  type ZkWatcher,
} from './client.ts';
export { isZkError, ZkError, zkErrName } from './errors.ts';
export { ZkBarrier, ZkDoubleBarrier } from './recipes/barrier.ts';
export { ZkElection, type ZkLeadership } from './recipes/election.ts';
export {
  booleanFlag,
  type FlagFallbackReason,
  type FlagSpec,
  type FlagValue,
  jsonFlag,
  ZkFlags,
} from './recipes/flags.ts';
export { type QueueEntry, ZkLock, type ZkLockHandle } from './recipes/lock.ts';
export { ZkServiceRegistry, type ZkServiceMember } from './recipes/registry.ts';
export { type SimZkIoOptions, simZkIo, type ZkSimHost } from './sim-io.ts';
export { type WatchKind, watchKinds } from './watches.ts';
