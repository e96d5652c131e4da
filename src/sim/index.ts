// Public surface of the deterministic simulator. Raft, membership and the CLI import from here.
export { clockDriftRateMax, type ClockSettings, SimClock } from './clock.ts';
export { CrashPoint, NodeCrashedInIo } from './crash-point.ts';
export {
  type DiskCrashReport,
  type DiskFaults,
  defaultDiskFaults,
  readWholeFile,
  SimDisk,
  SimDiskStore,
  simFileBytesMax,
  unsyncedWritesPerFileMax,
} from './disk.ts';
export {
  type HeartbeatNode,
  type HeartbeatOptions,
  heartbeatConverged,
  heartbeatProgram,
  localTimes,
} from './echo-program.ts';
export { describeReplay, type ReplaySpec, SimulationFailure, type SimulationFailureFields } from './failure.ts';
export {
  applyFault,
  describeFault,
  type Fault,
  type NemesisKind,
  type RandomNemesisOptions,
  randomNemesis,
  type ScheduledFault,
} from './nemesis.ts';
export {
  type DropReason,
  defaultNetworkConfig,
  type LinkCut,
  type MessageFilter,
  type NetworkConfig,
  type NetworkCounters,
  SimNetwork,
} from './network.ts';
export { type LogRecord, type MetricSnapshot, SimLogSink, SimMetrics } from './observe.ts';
export {
  type InvariantCheck,
  type NodeState,
  Simulation,
  type SimulationOptions,
  type SimulationStats,
} from './simulation.ts';
export {
  drawSwarmMix,
  type FaultClass,
  faultClasses,
  faultClassNames,
  type InjectionCounts,
  injectedByClass,
  type SwarmKnobs,
  type SwarmMix,
  SwarmTally,
} from './swarm.ts';
