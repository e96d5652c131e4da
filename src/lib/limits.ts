// Every bound in one place (TigerBeetle's "put a limit on everything"). Each constant's name ends
// in its unit and `Max`. `validateLimits` checks how they relate and runs at node start-up and in
// a test, so an edit that breaks a relation fails loudly.

import { assert } from './assert.ts';

export const limits = {
  /** Largest internal peer frame, envelope included. */
  peerFrameBytesMax: 16 * 1024 * 1024,
  /** Frames queued for one peer while its connection is down or slow. */
  peerSendQueueFramesMax: 4096,
  /** Bytes queued for one peer; whichever of the two bounds is hit first rejects. */
  peerSendQueueBytesMax: 64 * 1024 * 1024,
  /** Reconnect backoff ceiling for the TCP transport. */
  peerReconnectBackoffMsMax: 5_000,
  /** Inbound peer connections accepted at once (foreign connections included). */
  peerInboundConnectionsMax: 256,
  /** Memory held for partial frames across all inbound peer connections. */
  peerInboundHeldBytesMax: 64 * 1024 * 1024,
  /** Length of a node id and a cluster id in bytes. */
  nodeIdBytesMax: 64,
  clusterIdBytesMax: 64,
  /** Nodes in a cluster. */
  clusterNodesMax: 64,
  /** Simulator: pending events before a run is declared runaway. */
  simEventsPendingMax: 5_000_000,
  /** Log lines retained in memory by a sim node's log sink. */
  simLogLinesMax: 10_000,
  /** Distinct metric series in one registry. */
  metricSeriesMax: 10_000,
  /** One Raft log entry's command bytes (a client command); larger ones are refused at the door. */
  raftEntryBytesMax: 4 * 1024 * 1024,
  /** Admin HTTP request body. */
  adminRequestBytesMax: 1024 * 1024,
  /** Concurrent admin HTTP connections (the /v1/kv client API shares the admin port). */
  adminConnectionsMax: 1024,
} as const;

export type Limits = typeof limits;

export function validateLimits(l: Limits = limits): void {
  assert(l.peerSendQueueBytesMax >= l.peerFrameBytesMax, 'a full-size frame must fit in a peer send queue');
  assert(l.peerSendQueueFramesMax > 0, 'peerSendQueueFramesMax must be positive');
  assert(l.peerInboundHeldBytesMax >= l.peerFrameBytesMax, 'a full-size frame must fit in the inbound bound');
  assert(l.nodeIdBytesMax <= 255 && l.clusterIdBytesMax <= 255, 'ids are length-prefixed with one byte');
  assert(l.clusterNodesMax <= l.peerInboundConnectionsMax, 'every peer must be able to connect');
  // A forwarded command and an Append carrying one entry must fit in a peer frame.
  assert(l.raftEntryBytesMax + 64 * 1024 <= l.peerFrameBytesMax, 'a Raft entry must fit in a peer frame');
}
