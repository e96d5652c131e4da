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
  /**
   * A forwarded client request or response frame (follower <-> leader): one Raft entry's command
   * plus the frame header (version, sender incarnation, request id, error fields).
   */
  forwardedFrameBytesMax: 4 * 1024 * 1024 + 4096,
  /** Metadata keyspace: one key, one value, and one command (a cas carries expected + value). */
  kvKeyBytesMax: 1024,
  kvValueBytesMax: 1024 * 1024,
  kvCommandBytesMax: 2 * 1024 * 1024 + 8192,
  /**
   * Admin HTTP request body. POST /v1/kv carries a cas's expected and new value as JSON text: two
   * values of kvValueBytesMax plain-text bytes plus the key and field names must fit (a value that
   * needs JSON escapes counts its escaped length).
   */
  adminRequestBytesMax: 2 * 1024 * 1024 + 64 * 1024,
  /** Concurrent admin HTTP connections (the /v1/kv client API shares the admin port). */
  adminConnectionsMax: 1024,
  // Client listeners (src/env/types.ts ListenerBounds): ceilings every protocol's bounds must stay
  // within, checked when a listener starts (src/env/listener-core.ts). A protocol picks its own
  // values below them (a test protocol small ones, RESP its own idle timeout 'none').
  /** Connections open at once on one client port. */
  clientConnectionsPerPortMax: 10_000,
  /** Connections open at once from one client host on one port. */
  clientConnectionsPerAddressMax: 1_000,
  /** Reply bytes one connection may leave unread before it is evicted as a slow reader. */
  clientBufferedBytesMax: 64 * 1024 * 1024,
  /** Requests taken from one connection and not yet answered (reading stops at the bound). */
  clientInflightRequestsMax: 4096,
  /** Longest idle timeout a protocol may choose (a day); 'none' is said explicitly. */
  clientIdleTimeoutMsMax: 86_400_000,
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
  // Cross-module relations (issue 7 item 11: a follower once refused 3 MiB commands the leader
  // would have accepted, because the forwarding codec had its own smaller cap).
  assert(
    l.raftEntryBytesMax + FORWARDED_HEADER_BYTES_MAX <= l.forwardedFrameBytesMax,
    'a forwarded frame must hold raftEntryBytesMax plus its header',
  );
  assert(l.forwardedFrameBytesMax + 64 * 1024 <= l.peerFrameBytesMax, 'a forwarded frame must fit in a peer frame');
  assert(
    l.kvKeyBytesMax + 2 * l.kvValueBytesMax + KV_COMMAND_HEADER_BYTES_MAX <= l.kvCommandBytesMax,
    'a cas with a full-size key, expected and new value must fit in a kv command',
  );
  assert(
    l.clientConnectionsPerAddressMax <= l.clientConnectionsPerPortMax,
    'a client host may not hold more connections than a port accepts',
  );
  assert(l.kvCommandBytesMax <= l.raftEntryBytesMax, 'every kv command must fit in a Raft entry');
  assert(
    l.kvKeyBytesMax + 2 * l.kvValueBytesMax + KV_HTTP_OVERHEAD_BYTES_MAX <= l.adminRequestBytesMax,
    'an HTTP kv body must hold a full-size key, expected and new value plus the JSON around them',
  );
}

/** Forwarded request/response header: version, incarnation, request id, ok flag, error code and flags. */
export const FORWARDED_HEADER_BYTES_MAX = 1 + 10 + 10 + 1 + 5;
/** A kv command's fixed fields: version, kind, proposedAtMs, session, seq, op, three length prefixes. */
export const KV_COMMAND_HEADER_BYTES_MAX = 1 + 1 + 8 + 10 + 10 + 1 + 1 + 3 * 5;
/** JSON around a kv body's key and values: field names, quotes, op, session, seq, consistency. */
export const KV_HTTP_OVERHEAD_BYTES_MAX = 4096;
