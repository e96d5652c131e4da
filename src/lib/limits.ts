// Every bound in one place (TigerBeetle's "put a limit on everything"), and every relation between
// bounds of different modules checked at node start-up (src/node/main.ts) and in a test.
//
// HOW TO ADD A LIMIT:
//   1. Add it to `limits` below, in its module's section, named `<thing><Unit>Max` with the unit
//      last (`fooBytesMax`, `fooConnectionsMax`, `fooEntriesMax`, `fooMsMax`), with a doc comment.
//      A module keeps no literal bound of its own: it reads `limits.fooBytesMax` (an options object
//      may still take an override, defaulting to the limit).
//   2. If it must fit in (or hold) another module's bound, add a `relation` to `limitRelations`
//      naming every limit it involves; src/lib/limits.test.ts then requires a case that breaks it
//      and checks the failure names both limits.
// Fixed sizes of wire formats (varint widths, header bytes) are not limits: they live with their
// codec, and the header sizes the relations need are exported here.
// Left in their modules on purpose: the offline checker's report and search bounds (src/check/**,
// src/cli/check.ts: tool output sizes, not a node's memory) and format constants (src/lib/bytes.ts,
// src/lib/clocks/hlc.ts, src/metrics/histogram.ts, src/storage/wal/record.ts).

import { assert } from './assert.ts';

export const limits = {
  // --- peer transport (src/net) ----------------------------------------------------------------
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
  /** The first frame of an inbound connection (a TransportHello with the longest ids). */
  peerIdentifyFrameBytesMax: 4096,
  /** Largest send slab (frames up to a quarter of it are coalesced). */
  peerSendSlabBytesMax: 64 * 1024 * 1024,
  /** Written slabs kept for reuse, shared by all peers of a transport. */
  peerSlabPoolSlabsMax: 16,
  /** One flush hands at most this many bytes to the socket before yielding to backpressure checks. */
  peerWriteBatchBytesMax: 1024 * 1024,
  /** Chunks a frame decoder holds for one partial frame before it copies them into one buffer. */
  frameHeldPartsMax: 64,
  /** Distinct (message type, code) series the router counts rejections under. */
  routerRejectSeriesMax: 256,
  /** Length of a node id and a cluster id in bytes. */
  nodeIdBytesMax: 64,
  clusterIdBytesMax: 64,
  /** Nodes in a cluster. */
  clusterNodesMax: 64,

  // --- Raft (src/raft, src/raft/driver.ts) --------------------------------------------
  /** Write-stage timing marks (src/raft/write-stages.ts) one node keeps per tracked stage. */
  raftStageMarksCountMax: 1024,
  /** One Raft log entry's command bytes (a client command); larger ones are refused at the door. */
  raftEntryBytesMax: 4 * 1024 * 1024,
  /** A Raft group id (src/raft/group-router.ts): a short name, also a directory and a metric label. */
  raftGroupIdBytesMax: 32,
  /** Raft groups one node hosts (each has its own WAL, timers and pending-request maps). */
  raftGroupsCountMax: 64,
  /** Entry bytes in one Append (a single larger entry still goes alone). RaftOptions.appendBatchBytesMax. */
  raftAppendBatchBytesMax: 1024 * 1024,
  /** Appends in flight to one follower. RaftOptions.inflightCountMax. */
  raftInflightAppendsMax: 256,
  /** Snapshot bytes in one InstallSnapshot message. RaftOptions.snapshotChunkBytes. */
  raftSnapshotChunkBytesMax: 1024 * 1024,
  /** Largest snapshot a follower accepts. RaftOptions.snapshotBytesMax. */
  raftSnapshotBytesMax: 1024 * 1024 * 1024,
  /** A ReadIndex context carried in heartbeats. */
  raftReadCtxBytesMax: 64 * 1024,
  /** Voters plus learners in one configuration. */
  raftConfMembersMax: 64,
  /** Client requests (proposals, reads, forwarded ones) waiting in one driver. */
  raftPendingRequestsMax: 10_000,
  /**
   * Command bytes a leader has appended in its term and not yet committed (etcd's
   * MaxUncommittedEntriesSize): past it a proposal is refused (a single one past it alone is
   * taken). What bounds the bytes of the proposals raftPendingRequestsMax counts.
   */
  raftUncommittedBytesMax: 64 * 1024 * 1024,
  /** Entries kept in memory by the Raft storage before compaction is forced. */
  raftLogEntriesMax: 1_000_000,
  /**
   * A forwarded client request or response frame (follower <-> leader): one Raft entry's command
   * plus the frame header (version, sender incarnation, request id, error fields).
   */
  forwardedFrameBytesMax: 4 * 1024 * 1024 + 4096,
  /** The message of a forwarded error answer. */
  forwardedErrorMessageBytesMax: 4 * 1024,
  /** A forwarded membership request (op, node id, rejoin id). */
  memberRequestBytesMax: 1024,
  /** A rejoin id (a UUID as text, with room). */
  rejoinIdBytesMax: 64,
  /** Membership operations running at once on the leader. */
  memberOpsMax: 16,
  /** Finished rejoin operations remembered (so a retried rejoin gets its answer). */
  memberRejoinsRememberedMax: 64,

  // --- storage (src/storage, src/env) ------------------------------------------------------------
  /** A WAL segment is rotated when the next record would take it past this size. */
  walSegmentBytesMax: 64 * 1024 * 1024,
  /** Largest payload of one WAL record (an entry's data plus its WAL entry header). */
  walRecordPayloadBytesMax: 16 * 1024 * 1024,
  /** WAL bytes appended but not yet synced. */
  walPendingBytesMax: 64 * 1024 * 1024,
  /**
   * The open WAL segment grows ahead of its writes by up to this much at a time (zeros), so most
   * fdatasyncs have no file size to journal (src/storage/log/log.ts, "Preallocation").
   */
  walPreallocateBytesMax: 4 * 1024 * 1024,
  /** Snapshots kept on disk (the configured count may not exceed this). */
  snapshotRetainCountMax: 16,
  /** One snapshot's state-machine data. */
  snapshotDataBytesMax: 1024 * 1024 * 1024,
  /** One snapshot's membership configuration. */
  snapshotConfigBytesMax: 1024 * 1024,
  /** The node identity file. */
  identityFileBytesMax: 4096,
  /** A relative data path (UTF-16 code units; far below PATH_MAX). */
  diskPathCharsMax: 1024,
  /** Re-reads of a file whose two reads disagree (a transient bit flip) before giving up. */
  diskReadAttemptsMax: 16,

  // --- metadata keyspace (src/metadata) ----------------------------------------------------------
  /** One key, one value, and one command (a cas carries expected + value). */
  kvKeyBytesMax: 1024,
  kvValueBytesMax: 1024 * 1024,
  kvCommandBytesMax: 2 * 1024 * 1024 + 8192,
  /** A Register's client address (an IP address as text). */
  kvClientAddressBytesMax: 256,
  /** Open client sessions, in all and per client address. */
  kvSessionsMax: 10_000,
  kvSessionsPerClientMax: 256,
  /** Keys in the keyspace. */
  kvKeysMax: 1_000_000,
  /**
   * The keyspace's bytes as its snapshot section holds them at most (src/metadata/kv.ts: each
   * key's and value's bytes plus 16); a put or cas past it answers keyspace_full (HTTP 507).
   * Bounded in count only, 1,024 values of 1 MiB made a snapshot past snapshotDataBytesMax and
   * every node stopped at its next snapshot (2026-12-07).
   */
  kvDataBytesMax: 959 * 1024 * 1024,
  /**
   * A replicated state machine's client sessions, in bytes (src/rsm/sessions.ts: each one's cached
   * result, client address and record); past it the least recently used are evicted. Unbounded,
   * 10,000 sessions caching a 1 MiB result each held 10 GiB, in memory and in every snapshot.
   */
  rsmSessionsBytesMax: 64 * 1024 * 1024,

  // --- ZooKeeper wire protocol (src/wire/zookeeper) ---------------------------------------------
  /**
   * Largest ZooKeeper client frame (length prefix excluded): ZooKeeper's jute.maxbuffer default,
   * 0xfffff. Its server closes a connection whose frame length is above it (NIOServerCnxn.readLength).
   */
  zkPacketBytesMax: 0xfffff,

  // --- Redis protocol (src/wire/resp) -------------------------------------------------------------
  /**
   * An inline command line, and the `*N` / `$N` header lines of a multibulk request: Redis 7.0's
   * PROTO_INLINE_MAX_SIZE (64 KiB). More bytes without the line's terminator end the connection with
   * "too big inline request" / "too big mbulk count string" / "too big bulk count string".
   */
  respInlineBytesMax: 64 * 1024,
  /**
   * One bulk argument of a request. Redis' proto-max-bulk-len defaults to 512 MiB; ours is smaller
   * (a value is at most kvValueBytesMax anyway) and a decoder option. Past it: "invalid bulk length".
   */
  respBulkBytesMax: 16 * 1024 * 1024,
  /**
   * Arguments in one multibulk request. Redis accepts up to INT_MAX; each argument costs us an
   * object, so ours stops at 1 Mi. Past it: "invalid multibulk length" (Redis' text past INT_MAX).
   */
  respMultibulkCountMax: 1024 * 1024,
  /**
   * The argument bytes of one request. Redis closes a connection whose query buffer passes
   * client-query-buffer-limit (1 GiB) without a reply; ours does the same at this bound.
   */
  respCommandBytesMax: 64 * 1024 * 1024,
  /** One reply on the wire, as our client-side reply decoder holds it. */
  respReplyBytesMax: 256 * 1024 * 1024,
  /** Nesting of aggregates (array, map, set, push) in one reply. */
  respReplyNestingCountMax: 64,

  // --- coordination data model (src/coord) --------------------------------------------------------
  /** A znode's data: ZooKeeper's jute.maxbuffer default (0xfffff); larger data is refused as malformed. */
  coordZnodeDataBytesMax: 0xfffff,
  /**
   * Znodes one slice of a snapshot may encode before the node's event loop runs again (applies
   * wait meanwhile; src/coord/snapshot-slices.ts): the largest `coord.snapshotSliceNodes` a config
   * may set. The default is COORD_SNAPSHOT_SLICE_NODES_DEFAULT (src/coord/namespace.ts), 256.
   */
  coordSnapshotSliceNodesMax: 2_000,
  /** Znodes in one tree (ZooKeeper has no bound; a full tree answers quotaExceeded). */
  coordZnodeCountMax: 10_000_000,
  /**
   * The tree's bytes as its snapshot section holds them at most (src/coord/tree.ts ZnodeTree.bytes:
   * znodes, ACL lists, sessions); a write past it answers QUOTAEXCEEDED, as a count past
   * coordZnodeCountMax does. Bounded in count only, 1,024 znodes of 1 MiB made a snapshot past
   * snapshotDataBytesMax and every node stopped at its next snapshot (2026-12-07).
   */
  coordTreeBytesMax: 1023 * 1024 * 1024,
  /** Live ZooKeeper sessions held in the tree's namespace. */
  coordSessionsMax: 100_000,
  /** Ops in one multi / multiRead. */
  coordMultiOpsMax: 10_000,
  /**
   * Entries in one ACL list (also once an `auth` entry is expanded into the caller's identities:
   * past it the create or setACL answers InvalidACL; the snapshot loader refuses more) and
   * identities a caller presents.
   */
  coordAclEntriesMax: 1024,
  coordIdentityEntriesMax: 64,
  /**
   * UTF-8 bytes of one identity's id (a digest id is `user:` and 28 characters of hash): every
   * write's Raft command carries the caller's identities, so an addauth past it answers AuthFailed
   * (unbounded, two 1 MiB user names made every later write of the session pass raftEntryBytesMax:
   * an audit, 2026-12-07).
   */
  coordIdentityBytesMax: 4096,
  /** A znode path, in UTF-16 code units (a jute ustring inside a packet of at most jute.maxbuffer). */
  coordPathCharsMax: 0xfffff,

  // --- our ZooKeeper client (src/zkclient) --------------------------------------------------------
  /** Requests sent and not yet answered on one connection; more wait in the client's queue. */
  zkClientInflightRequestsMax: 1024,
  /** Requests waiting to be sent (disconnected, or the in-flight window full); more are refused. */
  zkClientQueuedRequestsMax: 4096,
  /** Encoded bytes of the requests waiting to be sent. */
  zkClientQueuedBytesMax: 16 * 1024 * 1024,
  /** Watcher registrations (one per path, kind and watcher function) a client holds. */
  zkClientWatchesCountMax: 100_000,
  /** Servers in a connect string. */
  zkClientEndpointsCountMax: 64,
  /** Credentials added with addAuth (re-sent on every reconnect). */
  zkClientAuthEntriesMax: 16,
  /** Paths per setWatches2 frame after a reconnect (ZooKeeper's client splits at 128 KiB too). */
  zkClientSetWatchesBytesMax: 128 * 1024,

  // --- admin HTTP and CLI (src/node, src/cli) ----------------------------------------------------
  /**
   * Admin HTTP request body. POST /v1/kv carries a cas's expected and new value as JSON text: two
   * values of kvValueBytesMax plain-text bytes plus the key and field names must fit (a value that
   * needs JSON escapes counts its escaped length).
   */
  adminRequestBytesMax: 2 * 1024 * 1024 + 64 * 1024,
  /** Concurrent admin HTTP connections (the /v1/kv client API shares the admin port). */
  adminConnectionsMax: 1024,
  /**
   * Admin HTTP requests being handled at once, over every connection (Node hands a keep-alive
   * socket's pipelined requests to the handler without waiting: an audit, 2026-12-07, had 3,000
   * POSTs of 100 KB on one socket in hand at once); past it a request is answered 429
   * (limit_exceeded) and its connection closed.
   */
  adminInflightRequestsMax: 256,
  /**
   * An HTTP answer the CLI reads: a get of the largest value, every byte JSON-escaped (\u0001 is
   * six bytes), plus the fields around it.
   */
  cliResponseBytesMax: 6 * 1024 * 1024 + 64 * 1024,
  /** Nodes `barista dev` starts. */
  devNodesMax: 9,

  // --- client listeners (src/env/listener-core.ts, ListenerBounds in src/env/types.ts) -----------
  // Ceilings every protocol's bounds must stay within, checked when a listener starts. A protocol
  // picks its own values below them (the test protocol small ones, RESP its idle timeout 'none').
  /** Connections open at once on one client port. */
  clientPortConnectionsMax: 10_000,
  /** Connections open at once from one client host on one port. */
  clientHostConnectionsMax: 1_000,
  /** Reply bytes one connection may leave unread before it is evicted as a slow reader. */
  clientBufferedBytesMax: 64 * 1024 * 1024,
  /**
   * Answered replies one write of a request pipeline joins (src/wire/pipeline.ts; a larger reply
   * goes alone); after a write that leaves the buffer at half its bound the rest wait for its drain.
   */
  clientWriteBatchBytesMax: 1024 * 1024,
  /**
   * The memory of the requests one connection has in flight (taken and not yet answered: a command
   * running, or held behind one), as the protocol prices it (RESP: each argument's bytes and 64 for
   * its object); past it no more requests are taken until replies free some (the listener stops
   * reading, as at inflightRequestsMax), so one connection holds at most this plus one request. An
   * audit, 2026-12-07: a BLPOP, then 1,023 requests of 64 MiB held behind it.
   */
  clientInflightRequestBytesMax: 64 * 1024 * 1024,
  /** Requests taken from one connection and not yet answered (reading stops at the bound). */
  clientInflightRequestsMax: 4096,
  /**
   * Ceiling of a listener's memoryBytesMax: the memory all connections of one client port hold
   * together (ListenerBounds.memoryBytesMax; past a listener's own bound the largest is evicted).
   */
  clientPortMemoryBytesMax: 16 * 1024 * 1024 * 1024,
  /** Longest idle timeout a protocol may choose (a day); 'none' is said explicitly. */
  clientIdleTimeoutMsMax: 86_400_000,
  /**
   * Received bytes one client port handles per event-loop turn before its connections wait for the
   * next turn (src/net/port-turns.ts): a flooded port then delays another port's client by at most
   * about this much request handling.
   */
  clientPortTurnBytesMax: 16 * 1024,

  // --- membership failure detector (src/membership) ----------------------------------------------
  /** Heartbeat intervals kept per peer for the phi estimate. */
  membershipPhiWindowIntervalsMax: 100,

  // --- coordination service (src/coord/watches.ts, session-tracker.ts, src/services/coord) ------
  /**
   * Container/TTL deletions the coord leader has proposed and not yet seen answered; a cleanup pass
   * proposes at most this many (ZooKeeper's ContainerManager rate-limits with maxPerMinute too).
   */
  coordCleanupInflightCountMax: 1_000,
  /** Watches (table, path) one client connection holds; more are refused. */
  coordConnectionWatchesCountMax: 100_000,
  /** Watches one node holds over all its connections. */
  coordNodeWatchesCountMax: 4_000_000,
  /**
   * The UTF-16 code units of the paths one connection's watches hold, and all of a node's: a watch
   * of a path up to jute.maxbuffer long is allowed (an exists watch of an absent node too), so the
   * counts alone let one connection hold 100,000 paths of a million characters (an audit,
   * 2026-12-07); past them the watch is refused as past the counts.
   */
  coordConnectionWatchPathsCharsMax: 16 * 1024 * 1024,
  coordNodeWatchPathsCharsMax: 256 * 1024 * 1024,
  /** Session ids in one follower-to-leader touch batch (the rest wait for the next batch). */
  coordTouchBatchSessionsMax: 65_536,
  /** Watch notifications queued on one connection behind an unanswered request; beyond it the connection closes. */
  coordQueuedNotificationsCountMax: 100_000,
  /**
   * Their bytes (an event names its path, up to jute.maxbuffer long); beyond it the connection
   * closes, as beyond the count. An audit, 2026-12-07: 100,000 events of 1 MiB paths.
   */
  coordQueuedNotificationsBytesMax: 16 * 1024 * 1024,

  // --- metrics and logs --------------------------------------------------------------------------
  /** Distinct metric series in one registry. */
  metricSeriesMax: 10_000,
  /** Distinct keys a rate-limited logger tracks. */
  logLimitKeysMax: 256,

  // --- LSM storage engine (src/storage/lsm) ----------------------------------------------------
  /** Largest key (u16 length in the entry format; Redis keys beyond it are refused). */
  lsmKeyBytesMax: 65_535,
  /** Largest caller metadata header of one entry (version vector, HLC timestamp, type tag). */
  lsmMetaBytesMax: 4096,
  /** Largest value of one entry (Redis allows 512 MB; collections store one element per entry). */
  lsmValueBytesMax: 16 * 1024 * 1024,
  /** Default memtable size at which it is flushed to a run. */
  lsmMemtableBytesMax: 64 * 1024 * 1024,
  /** Commit log bytes appended and not yet synced (periodic/none sync when the next write would pass it). */
  lsmCommitLogPendingBytesMax: 40 * 1024 * 1024,
  /** Commit log segment size (a full-size entry must fit in half of it). */
  lsmCommitLogSegmentBytesMax: 64 * 1024 * 1024,
  /** Verified run data blocks cached in memory for reads (the default and the ceiling of blockCacheBytes). */
  lsmBlockCacheBytesMax: 64 * 1024 * 1024,
  /** Live runs; past it a compaction is forced even when no size tier is full. */
  lsmRunsCountMax: 64,
  /** Runs merged by one compaction at most. */
  lsmCompactionRunsCountMax: 32,
  /** Entries one scan call examines (live or not) before it returns with a cursor. */
  lsmScanEntriesMax: 10_000,
  // --- Redis data model (src/redis) -----------------------------------------------------------------
  /**
   * Bytes one command stages for its single engine batch (entries plus 64 bytes each). Past it the
   * command is refused whole (e.g. RENAME of a large collection; a DEL of a large collection at
   * N = 1 stages at most 1,024 elements and a quarter of this, and leaves the rest to the sweep;
   * FLUSHALL is the engine's truncate, no batch: keyspace.ts); Redis has none.
   */
  redisCommandBatchBytesMax: 32 * 1024 * 1024,
  /** Longest string value (APPEND, SETRANGE): Redis' proto-max-bulk-len is 512 MB, ours the entry bound. */
  redisStringBytesMax: 16 * 1024 * 1024,
  /** Engine entries one SCAN page examines (it ends at the next token boundary after it). */
  redisScanEntriesMax: 10_000,
  /**
   * Slots of the LRU / LFU access sketch (src/redis/eviction.ts; 4 bytes each, allocated only under
   * an LRU or LFU maxmemory-policy). Keys sharing a slot share their access history.
   */
  redisAccessSketchSlotsCountMax: 1 << 20,
  /** Keys one eviction call deletes at most before the command runs anyway (Redis' time limit). */
  redisEvictPerCallKeysMax: 64,
  /** Eviction deletes in flight at N > 1 (replicated-memory.ts): past it eviction waits for them. */
  storeEvictInFlightKeysMax: 256,
  /** Engine entries one eviction sample examines at most (volatile-* looking for keys with a TTL). */
  redisEvictSampleEntriesMax: 2048,
  /**
   * Keys past which DBSIZE and INFO keyspace answer the dataset account's count instead of walking
   * the keyspace (src/redis/keyspace.ts header): a walk of this many heads takes ~15 ms.
   */
  redisCountWalkKeysMax: 10_000,
  /** Stored values one step of the key census walks at N > 1 (census.ts: a step every 100 ms while wanted, 3-5 % of a core). */
  storeCensusStepEntriesMax: 512,
  /** Engine entries one tick of the store's sweep (active expiry, dataset recount) walks at most. */
  redisSweepEntriesMax: 4096,
  /**
   * Keys whose elements a DEL, an expiry or a SET over a collection left for the sweep's cleanup
   * (keyspace.ts cleanupStep); a key past it is found by the expiry walk instead.
   */
  redisLeftoverKeysCountMax: 10_000,
  /** Keys one KEYS reply holds; past it KEYS answers an error naming SCAN (Redis has none). */
  redisKeysCountMax: 1024 * 1024,
  // --- Redis collections (src/redis hash, set, list, zset) ------------------------------------------
  /**
   * Items a negative-count SRANDMEMBER / HRANDFIELD returns at most (repeats allowed, so Redis
   * answers any count it can buffer); past it our error names this bound.
   */
  redisRandomCountMax: 1024 * 1024,
  // --- simulator (src/sim) -----------------------------------------------------------------------
  /** Pending events before a run is declared runaway. */
  simEventsPendingMax: 5_000_000,
  /** Log lines retained in memory by a sim node's log sink. */
  simLogLinesMax: 10_000,
  /** One simulated file (a real node's largest file must fit). */
  simFileBytesMax: 1024 * 1024 * 1024,
  /** Unsynced writes remembered per simulated file (what a crash may tear). */
  simUnsyncedWritesPerFileMax: 4096,
  /** Faults one nemesis schedule may hold. */
  simNemesisFaultsMax: 100_000,
  /** Bits a corrupting link flips in one message. */
  simCorruptBitsMax: 3,
  /** Largest injected network delay. */
  simNetworkDelayMsMax: 3_600_000,
  /** Largest simulated clock drift rate (|rate| < 1 keeps monotonic time increasing). */
  simClockDriftRateMax: 0.5,

  // --- CRDT values (src/crdt) --------------------------------------------------------------------
  /** One encoded CRDT value (travels whole in read repair and anti-entropy, so well under a peer frame). */
  crdtValueBytesMax: 8 * 1024 * 1024,
  /** Set elements, map keys, register entries, counter entries and context replicas in one value. */
  crdtElementsCountMax: 1_000_000,
  /** Dots in one value: in its stores and in its causal context's dot cloud. */
  crdtDotsCountMax: 1_000_000,
  /** OR-Map levels in one value (nesting depth: a top-level OR-Map of sets is 1). */
  crdtMapLevelsCountMax: 8,

  // --- Dynamo ring and versions (src/dynamo/ring.ts, versions.ts) ------------------------------
  /** Virtual nodes (tokens) one node holds on the ring (Cassandra's num_tokens; 256 was its default). */
  ringNodeTokensCountMax: 1024,
  /** Replicas per key (N), the longest preference list. */
  ringReplicasCountMax: 16,
  /** Concurrent siblings one key keeps; a write that would make more is refused (Riak's max_siblings). */
  dvvSiblingsCountMax: 64,
  /** Entries of one version vector: the replicas that coordinated writes of one key. */
  dvvEntriesCountMax: 256,

  // --- Dynamo replica protocol (src/dynamo/replica.ts, messages.ts) -----------------------------
  /** Hints (owner, key) one node stores for replicas that were down; more are refused and counted. */
  dynamoHintsCountMax: 100_000,
  /** Hint replays one node has in flight at once (the rest wait for a later pass). */
  dynamoHintReplaysCountMax: 256,
  /** Client requests (and forwarded ones) one coordinator has in flight; more are refused. */
  dynamoCoordinatorOpsMax: 10_000,
  /**
   * Forwarded requests a replica remembers per sending node, so a copy of the frame (a network
   * that duplicates, a transport that sends again) is not coordinated twice: an INCR would count
   * twice. A copy delayed past this many later forwards from its sender would run again.
   */
  dynamoForwardsSeenCountMax: 16_384,
  /**
   * Writes one coordinator keeps after answering them, until every replica it sent them to acked
   * or their deadline passed (then the silent ones get a hint): past it, or past
   * dynamoUnackedStateBytesMax of their states, a write is not kept (anti-entropy repairs it).
   */
  dynamoUnackedWritesCountMax: 10_000,
  /** The states of the writes dynamoUnackedWritesCountMax keeps, in bytes (their encodings). */
  dynamoUnackedStateBytesMax: 64 * 1024 * 1024,
  /** One replica peer message's payload, sent or received (src/services/store/replication/driver.ts). */
  dynamoMessageBytesMax: 8 * 1024 * 1024,
  /**
   * The bytes of the members one collection change carries at N > 1 (set members, hash fields and
   * values, sorted-set members, list values: a TypedOp's members together). Its change message
   * holds each about twice, plus ~50 bytes per element: past this a command is refused with
   * nothing written (typed.ts typedOpTooLarge), where its message would have been dropped as
   * oversized and the write timed out (a review, 2026-12-07).
   */
  storeChangeBytesMax: 3 * 1024 * 1024,
  /** A key's encoded state a client put may bring it to (the driver refuses the put past it). */
  dynamoStateBytesMax: 4 * 1024 * 1024,
  /**
   * A key's state a replica keeps after merging concurrent states (read repair, hints, anti-entropy,
   * moves): past it the merge is refused and counted, so every state a replica holds travels in a
   * replica message (concurrent sides each within dynamoStateBytesMax can merge past it:
   * docs/COMPAT-REDIS.md "A key's state size"; a ring move's page ends before a state that would
   * take it past the message, so such a state travels alone: kept in a page, a 7.8 MiB merge
   * stalled a ring move for good: audits, 2026-12-07).
   */
  dynamoMergedStateBytesMax: 8 * 1024 * 1024 - 128 * 1024,
  /**
   * Collections kept in rows (replica-rows.ts) whose handle (header in memory, joins in progress)
   * one replica keeps open; past it the least recently used without a join in progress closes.
   */
  dynamoOpenCollectionsCountMax: 4096,
  /**
   * What the every-row views one replica keeps decoded (collections read whole, while unchanged:
   * replica-rows.ts Collections.whole; a ZRANGE of a 10,000-member sorted set decodes every row
   * otherwise) may stand for: each view's rows and header as maxmemory prices them, plus 512 per
   * view; least recently read dropped past it, a collection of more not kept. Decoded, a view takes
   * a few times its priced bytes in the heap.
   */
  dynamoWholeViewsCachedBytesMax: 16 * 1024 * 1024,
  /** A page of a collection's rows (a row read of every row, anti-entropy, a move) stops growing once its rows reach this (one row may pass it alone). */
  dynamoRowsPageBytesMax: 1024 * 1024,
  /** Rows in one such page. */
  dynamoRowsPageCountMax: 4096,
  /**
   * Elements a collection remembers as changed last (DecomposedCollection.recent), and a tail read
   * names of the coordinator's: the peer answers its rows of those and of its own, so replicas
   * that differ only there (writes in flight) need no read of every row.
   */
  dynamoRecentRowsCountMax: 64,
  /**
   * Row changes a collection records, each with the row before, while a read of it is in flight
   * (DecomposedCollection.track): what the read's coordinator changed meanwhile is undone from
   * them to compare with the peers' answers; past it the oldest half goes (those reads read every row).
   */
  dynamoRowJournalCountMax: 4096,
  /** The rows before in that journal, as stored (and the elements): past it too the oldest half goes. */
  dynamoRowJournalBytesMax: 4 * 1024 * 1024,
  /** Pulls of a peer's collection rows (anti-entropy offers them) one replica runs at once; more wait for the next round. */
  dynamoRowPullsCountMax: 64,
  /**
   * Ring-move pages one receiver keeps waiting for their rows (src/dynamo/move.ts RowsWait: one per
   * page in flight, a pushed page's kept past its move's end); a pushed page past it is not taken
   * (no ack: its sender sends it again).
   */
  dynamoMovePageWaitsCountMax: 256,
  /**
   * Joins of a peer's rows in progress on one collection (a read of every row or of a list's head
   * joins each peer's pages through one: src/crdt/decomposed.ts RowJoin). Concurrent reads of one
   * hot key each hold one per peer asked; past it a read's page is refused (that peer does not
   * count toward the read's R).
   */
  dynamoCollectionJoinsCountMax: 1024,

  // --- Dynamo Paxos and Merkle trees (src/dynamo/paxos.ts, merkle.ts) --------------------------
  /**
   * A Paxos register's value (src/dynamo/paxos-messages.ts): a SERIAL register holds the map of its
   * keys (src/services/store/tag-state.ts), so one key's value of kvValueBytesMax must fit with its
   * name and the map's framing (format, count, lengths, deadline, type: under 32 bytes).
   */
  paxosValueBytesMax: 1024 * 1024 + 1024 + 64,
  /** Ballots one Paxos operation tries (prepare rounds, retries after rejections included) before giving up. */
  paxosRoundsCountMax: 64,
  /** Origins of earlier changes a Paxos version carries (how far back a retry can tell its own write was applied). */
  paxosRecentOriginsCountMax: 16,
  /**
   * How far ahead of its own clock a Paxos acceptor that lost its data (the operator's wipe) takes
   * the ballot it learns each key's state at (src/dynamo/paxos.ts PaxosRecovery): promises it made
   * before the wipe, lost with it, are below that ballot as long as their proposers' clocks were
   * less than this much ahead of its own.
   */
  paxosRecoveryBallotAheadMsMax: 60_000,
  /** Depth (levels below the root) of an anti-entropy Merkle tree: 2^depth leaves of 16 bytes (+ a count) per tree (Cassandra caps at 20). */
  merkleTreeLevelsCountMax: 16,
  /** The per-key state hash a Merkle leaf chains (a digest of the stored state). */
  merkleStateHashBytesMax: 32,
  /** Token ranges one stream request of an anti-entropy exchange names (differing leaves, coalesced). */
  merkleStreamRangesCountMax: 4096,
  /** Members one SADD / SREM names at N > 1 (one replica operation: src/dynamo/typed.ts). */
  storeSetMembersCountMax: 1024,
  /**
   * Rows SPOP, SRANDMEMBER and HRANDFIELD at N > 1 walk on the coordinator to draw a sample
   * (ReplicaNode.sampleRows, one pass on the event loop); a collection of more is read whole.
   */
  storeSampleRowsCountMax: 20_000,
  /** SERIAL operations waiting on one register on one node for the one running (replicated.ts inRegister); more: -BUSY. */
  storeSerialQueuedCountMax: 10_000,
  /**
   * Items of one list or sorted-set change at N > 1 (two per element: its key and the change), so
   * one command adds, moves or removes at most half this many elements (replicated-collections.ts).
   */
  storeCollectionChangesCountMax: 8192,
  /**
   * Elements the keys of one hash tag hold together at SERIAL (tag-state.ts: one per string, one per
   * collection item). Every command on the tag decodes the whole state and loads the keys it names
   * into a scratch keyspace (warm, ~6-26 us an element: a 1,000-element sorted set ~25 ms), so this
   * bounds one command's work.
   */
  tagStateItemsCountMax: 1_000,
  /** Keys one list, set, sorted-set or hash command names at N > 1 (each read in turn: replicated.ts). */
  storeCollectionKeysCountMax: 64,
  /** Anti-entropy jobs (tree builds and range streams, for itself or a peer) one replica runs at once; a peer's request past it is answered busy. */
  dynamoAntiEntropyJobsCountMax: 4,
  /** The longest one anti-entropy walk rests after a page (antiEntropyLoopShare), however long the page took (a GC pause, a stop). */
  dynamoAntiEntropyRestMsMax: 5_000,
  /** Stored values one anti-entropy job reads per tick (the event loop's share per job). */
  dynamoAntiEntropyScanEntriesMax: 1024,
  /** Token ranges one ring move's fetch names (a joining node's ranges from one source, coalesced). */
  dynamoMoveRangesCountMax: 16_384,
  /**
   * A page of stored values a background walk reads stops growing once its states reach this (one
   * entry may pass it alone): ring moves, anti-entropy, garbage collection, cleanup. Bounded in
   * count only (dynamoAntiEntropyScanEntriesMax), a page of 1,024 states of 4 MiB held 4 GiB at
   * once (an audit, 2026-12-07).
   */
  dynamoMovePageBytesMax: 1024 * 1024,

  // --- Store front end (src/services/store) -------------------------------------------------------
  /** Redis commands one node has forwarded to key owners and awaits answers for; more answer -BUSY. */
  storeForwardPendingCountMax: 10_000,
  /** A RESP endpoint's host as a node announces it to its peers (store.announceHost; DNS names are at most 253). */
  storeAnnounceHostBytesMax: 255,
  /** Keys one connection WATCHes at once; WATCH past it is refused (Redis has no bound). */
  storeWatchedKeysCountMax: 10_000,
  /**
   * Bytes of the keys one connection WATCHes (N = 1; a key longer than the engine stores is not
   * kept: no write can touch it); past it WATCH is refused. An audit, 2026-12-07: the count alone
   * let a connection hold 10,000 keys of 16 MiB.
   */
  storeWatchedKeysBytesMax: 4 * 1024 * 1024,
  /**
   * At N > 1 (SERIAL): the bytes of the keys one connection WATCHes and of their values as seen then
   * (EXEC compares them); past it WATCH is refused. An audit, 2026-12-07: 10,000 keys of 1 MiB values.
   */
  storeWatchedValuesBytesMax: 16 * 1024 * 1024,
  /** A connection's name and library strings (CLIENT SETNAME, SETINFO, HELLO SETNAME), each; longer is refused. */
  storeClientNameBytesMax: 4096,
  /** Commands one MULTI queues before EXEC; past it the transaction is flagged (EXECABORT). */
  storeMultiQueuedCountMax: 100_000,
  /** Argument bytes one MULTI queues before EXEC; past it the transaction is flagged (EXECABORT). */
  storeMultiQueuedBytesMax: 64 * 1024 * 1024,
  /** Distinct error reply kinds (first word) counted apart in /status and metrics; the rest: `other`. */
  storeErrorKindsCountMax: 64,
  /** Redis' client-output-buffer-limit pubsub hard limit: a subscriber with more output pending is closed. */
  storePubsubHardOutputBytesMax: 32 * 1024 * 1024,
  /** Redis' pubsub soft limit: a subscriber over it for storePubsubSoftOverMsMax is closed. */
  storePubsubSoftOutputBytesMax: 8 * 1024 * 1024,
  /** How long a subscriber may stay over the soft limit (Redis' pubsub soft seconds, 60). */
  storePubsubSoftOverMsMax: 60_000,
  /** Channels plus patterns one connection subscribes to; more are refused (Redis has no bound). */
  storePubsubSubscriptionsCountMax: 10_000,
  /** Distinct channels plus patterns with subscribers on one node; more are refused. */
  storePubsubNodeSubscriptionsCountMax: 1_000_000,
  /**
   * Bytes of the channel and pattern names one connection subscribes to, and of the distinct names
   * subscribed on one node; more are refused. An audit, 2026-12-07: the counts alone let 10,000
   * names of 16 MiB through on one connection.
   */
  storePubsubSubscriptionsBytesMax: 4 * 1024 * 1024,
  storePubsubNodeSubscriptionsBytesMax: 256 * 1024 * 1024,
  /** Connections blocked in BLPOP and friends on one node; more are refused (Redis has no bound). */
  storeBlockedClientsCountMax: 10_000,
  /**
   * Keys the blocked connections of one node (N = 1) wait on, counted once per connection and key
   * (~500 bytes each); a blocking pop past it is refused. An audit, 2026-12-07: one BLPOP may name
   * a million keys. At N > 1 one command names at most storeCollectionKeysCountMax.
   */
  storeBlockedKeysCountMax: 1_000_000,
} as const;

export type Limits = { readonly [K in keyof typeof limits]: number };
export type LimitName = keyof Limits;

/**
 * An encoded ring's fixed fields (src/dynamo/ring.ts): format byte, version and node count as
 * uvarints, and the keyspace settings after the nodes (replicas as a uvarint, the layout byte).
 */
export const RING_HEADER_BYTES_MAX = 1 + 10 + 10 + 10 + 1;
/** One node's fixed fields in an encoded ring: id length, state byte, token count. */
export const RING_NODE_HEADER_BYTES_MAX = 10 + 1 + 10;
/** Forwarded request/response header: version, incarnation, request id, ok flag, error code and flags. */
export const FORWARDED_HEADER_BYTES_MAX = 1 + 10 + 10 + 1 + 5;
/** A forwarded error's code: a length prefix and at most 64 bytes (client-codec's pattern). */
export const FORWARDED_ERROR_CODE_BYTES_MAX = 1 + 64;
/**
 * A kv command's fixed fields: the state machine's envelope (format, stamp, term, namespace,
 * session, seq: src/rsm/envelope.ts ENVELOPE_HEADER_BYTES_MAX) and the op byte plus three length
 * prefixes.
 */
export const KV_COMMAND_HEADER_BYTES_MAX = 1 + 8 + 8 + 5 + 10 + 10 + 1 + 3 * 5;
/**
 * A kv result's fixed fields: the state machine's result status (src/rsm/envelope.ts), then the
 * kv result's status, code (longest kv code with prefix), value flag, value length, session id.
 */
export const KV_RESULT_HEADER_BYTES_MAX = 1 + 1 + 1 + 64 + 1 + 5 + 10;
/** JSON around a kv body's key and values: field names, quotes, op, session, seq, consistency. */
export const KV_HTTP_OVERHEAD_BYTES_MAX = 4096;
/** A Raft message's fields besides entries or a snapshot chunk (terms, indexes, a configuration, ids). */
export const RAFT_MESSAGE_OVERHEAD_BYTES_MAX = 64 * 1024;
/**
 * A state machine's snapshot image beside its namespace's bounded state (src/rsm/state-machine.ts:
 * the format byte, the index, the section names and lengths, an empty "sessions" section, a
 * namespace section's header): what a group's snapshot bound keeps for them.
 */
export const SNAPSHOT_IMAGE_RESERVE_BYTES = 64 * 1024;
/** A Raft entry's fields besides its data, in a message or a WAL record (index, term, type, length). */
export const RAFT_ENTRY_HEADER_BYTES_MAX = 32;
/** A WAL record's framing besides its payload (length, type, checksum). */
export const WAL_RECORD_HEADER_BYTES_MAX = 32;
/**
 * A peer frame's bytes besides its payload: the 4-byte length (peerFrameBytesMax counts it),
 * version, type, id lengths, the longest ids, checksum (src/net/frame.ts FrameEncoder.frameBytes).
 * The length was left out until 2026-12-07 (an audit), so a payload within 4 bytes of the bound
 * passed a sender's check and the transport dropped it.
 */
export const peerEnvelopeBytesMax = (l: Limits): number =>
  4 + 1 + 2 + 1 + 1 + l.clusterIdBytesMax + l.nodeIdBytesMax + 4;
/** A membership request: version, request id, op, id length, node id, rejoin id length, rejoin id. */
export const memberRequestBytesNeeded = (l: Limits): number =>
  1 + 10 + 1 + 1 + l.nodeIdBytesMax + 1 + l.rejoinIdBytesMax;

export interface LimitRelation {
  /** The limits involved; a failure message names all of them with their values. */
  readonly limits: readonly LimitName[];
  /** Why it must hold, stated as the requirement. */
  readonly rule: string;
  readonly holds: (l: Limits) => boolean;
}

/** Every relation between bounds, in particular across modules (issue 7 item 11). */
export const limitRelations: readonly LimitRelation[] = [
  // store pub/sub
  {
    limits: ['storePubsubSoftOutputBytesMax', 'storePubsubHardOutputBytesMax'],
    rule: "a subscriber's soft output limit must lie below its hard one",
    holds: (l) => l.storePubsubSoftOutputBytesMax <= l.storePubsubHardOutputBytesMax,
  },
  // peer transport
  {
    limits: ['peerSendQueueBytesMax', 'peerFrameBytesMax'],
    rule: 'a full-size frame must fit in a peer send queue',
    holds: (l) => l.peerSendQueueBytesMax >= l.peerFrameBytesMax,
  },
  {
    limits: ['peerInboundHeldBytesMax', 'peerFrameBytesMax'],
    rule: 'a full-size partial frame must fit in the inbound held-bytes bound',
    holds: (l) => l.peerInboundHeldBytesMax >= l.peerFrameBytesMax,
  },
  {
    limits: ['nodeIdBytesMax', 'clusterIdBytesMax'],
    rule: 'ids are length-prefixed with one byte (at most 255)',
    holds: (l) => l.nodeIdBytesMax <= 255 && l.clusterIdBytesMax <= 255,
  },
  {
    limits: ['peerIdentifyFrameBytesMax', 'clusterIdBytesMax', 'nodeIdBytesMax'],
    rule: 'a first frame with the longest ids (envelope and hello) must fit the identify bound',
    holds: (l) => l.peerIdentifyFrameBytesMax >= peerEnvelopeBytesMax(l) + l.clusterIdBytesMax + l.nodeIdBytesMax + 64,
  },
  {
    limits: ['clusterNodesMax', 'peerInboundConnectionsMax'],
    rule: 'every peer must be able to connect',
    holds: (l) => l.clusterNodesMax <= l.peerInboundConnectionsMax,
  },
  {
    limits: ['routerRejectSeriesMax', 'metricSeriesMax'],
    rule: "the router's rejection series must fit in the metric registry",
    holds: (l) => l.routerRejectSeriesMax <= l.metricSeriesMax,
  },
  // client listeners
  {
    limits: ['clientHostConnectionsMax', 'clientPortConnectionsMax'],
    rule: 'a client host may not hold more connections than a port accepts',
    holds: (l) => l.clientHostConnectionsMax <= l.clientPortConnectionsMax,
  },
  {
    limits: ['storeChangeBytesMax', 'storeCollectionChangesCountMax', 'dynamoMessageBytesMax'],
    rule: "a collection change's message (each member about twice, 64 bytes per element, 1 MiB of key, state and clear) must fit a replica message",
    holds: (l) =>
      2 * l.storeChangeBytesMax + (l.storeCollectionChangesCountMax / 2) * 64 + 1024 * 1024 <= l.dynamoMessageBytesMax,
  },
  {
    limits: ['coordIdentityEntriesMax', 'coordIdentityBytesMax', 'raftEntryBytesMax'],
    rule: "a write's identities must leave most of a Raft entry to its op",
    holds: (l) => l.coordIdentityEntriesMax * (l.coordIdentityBytesMax + 16) <= l.raftEntryBytesMax / 8,
  },
  // Raft messages in peer frames
  {
    limits: ['peerFrameBytesMax', 'raftEntryBytesMax', 'raftAppendBatchBytesMax'],
    rule: 'the largest Append (a batch, or one full-size entry alone) plus its envelope must fit in a peer frame',
    holds: (l) =>
      Math.max(l.raftAppendBatchBytesMax, l.raftEntryBytesMax + RAFT_ENTRY_HEADER_BYTES_MAX) +
        RAFT_MESSAGE_OVERHEAD_BYTES_MAX +
        peerEnvelopeBytesMax(l) <=
      l.peerFrameBytesMax,
  },
  {
    limits: ['peerFrameBytesMax', 'raftSnapshotChunkBytesMax'],
    rule: 'a snapshot chunk plus its message header must fit in a peer frame',
    holds: (l) =>
      l.raftSnapshotChunkBytesMax + RAFT_MESSAGE_OVERHEAD_BYTES_MAX + peerEnvelopeBytesMax(l) <= l.peerFrameBytesMax,
  },
  {
    limits: ['peerFrameBytesMax', 'raftReadCtxBytesMax'],
    rule: 'a heartbeat with a full-size read context must fit in a peer frame',
    holds: (l) =>
      l.raftReadCtxBytesMax + RAFT_MESSAGE_OVERHEAD_BYTES_MAX + peerEnvelopeBytesMax(l) <= l.peerFrameBytesMax,
  },
  {
    limits: ['raftConfMembersMax', 'clusterNodesMax'],
    rule: 'a configuration must be able to name every node of a cluster',
    holds: (l) => l.raftConfMembersMax >= l.clusterNodesMax,
  },
  {
    limits: ['kvDataBytesMax', 'rsmSessionsBytesMax', 'snapshotDataBytesMax'],
    rule: "the keyspace's bytes and its sessions' plus the image around them must fit in a snapshot",
    holds: (l) => l.kvDataBytesMax + l.rsmSessionsBytesMax + SNAPSHOT_IMAGE_RESERVE_BYTES <= l.snapshotDataBytesMax,
  },
  {
    limits: ['rsmSessionsBytesMax', 'kvValueBytesMax', 'kvClientAddressBytesMax'],
    rule: 'a session caching the largest result must leave room for many more in the sessions bound',
    holds: (l) =>
      16 * (l.kvValueBytesMax + KV_RESULT_HEADER_BYTES_MAX + l.kvClientAddressBytesMax + 64) <= l.rsmSessionsBytesMax,
  },
  {
    limits: ['dynamoMergedStateBytesMax', 'dynamoStateBytesMax', 'dynamoMessageBytesMax'],
    rule: "a merged state must hold a coordinator's, and travel alone in a replica message",
    holds: (l) =>
      l.dynamoMergedStateBytesMax >= l.dynamoStateBytesMax &&
      l.dynamoMergedStateBytesMax + l.kvKeyBytesMax + l.nodeIdBytesMax + 65_536 <= l.dynamoMessageBytesMax,
  },
  {
    limits: ['coordTreeBytesMax', 'snapshotDataBytesMax'],
    rule: "the coordination tree's bytes plus the image around them must fit in a snapshot",
    holds: (l) => l.coordTreeBytesMax + SNAPSHOT_IMAGE_RESERVE_BYTES <= l.snapshotDataBytesMax,
  },
  {
    limits: ['raftSnapshotBytesMax', 'snapshotDataBytesMax'],
    rule: 'a follower must accept the largest snapshot a leader stores',
    holds: (l) => l.raftSnapshotBytesMax >= l.snapshotDataBytesMax,
  },
  // forwarding (follower -> leader)
  {
    limits: ['forwardedFrameBytesMax', 'raftEntryBytesMax'],
    rule: 'a forwarded request frame must hold raftEntryBytesMax plus its header',
    holds: (l) => l.raftEntryBytesMax + FORWARDED_HEADER_BYTES_MAX <= l.forwardedFrameBytesMax,
  },
  {
    limits: ['forwardedFrameBytesMax', 'forwardedErrorMessageBytesMax'],
    rule: 'a forwarded error answer (code and longest message) must fit in a forwarded frame',
    holds: (l) =>
      FORWARDED_HEADER_BYTES_MAX + FORWARDED_ERROR_CODE_BYTES_MAX + 5 + l.forwardedErrorMessageBytesMax <=
      l.forwardedFrameBytesMax,
  },
  {
    limits: ['raftGroupIdBytesMax', 'peerFrameBytesMax', 'forwardedFrameBytesMax'],
    rule: 'a Raft group id length is a one-byte uvarint and the group envelope fits beside a forwarded frame',
    holds: (l) =>
      l.raftGroupIdBytesMax < 128 &&
      l.forwardedFrameBytesMax + peerEnvelopeBytesMax(l) + 2 + l.raftGroupIdBytesMax <= l.peerFrameBytesMax,
  },
  {
    limits: ['peerFrameBytesMax', 'forwardedFrameBytesMax'],
    rule: 'a forwarded frame must fit in a peer frame',
    holds: (l) => l.forwardedFrameBytesMax + peerEnvelopeBytesMax(l) <= l.peerFrameBytesMax,
  },
  {
    limits: ['memberRequestBytesMax', 'nodeIdBytesMax', 'rejoinIdBytesMax'],
    rule: 'a membership request with the longest node id and rejoin id must fit its bound',
    holds: (l) => memberRequestBytesNeeded(l) <= l.memberRequestBytesMax,
  },
  {
    limits: ['peerFrameBytesMax', 'memberRequestBytesMax'],
    rule: 'a forwarded membership request must fit in a peer frame',
    holds: (l) => l.memberRequestBytesMax + peerEnvelopeBytesMax(l) <= l.peerFrameBytesMax,
  },
  // the WAL holds every entry
  {
    limits: ['walRecordPayloadBytesMax', 'raftEntryBytesMax'],
    rule: 'a WAL record must hold a full-size Raft entry plus its entry header',
    holds: (l) => l.raftEntryBytesMax + RAFT_ENTRY_HEADER_BYTES_MAX <= l.walRecordPayloadBytesMax,
  },
  {
    limits: ['walSegmentBytesMax', 'walRecordPayloadBytesMax'],
    rule: 'a WAL segment must hold one full-size record',
    holds: (l) => l.walRecordPayloadBytesMax + WAL_RECORD_HEADER_BYTES_MAX <= l.walSegmentBytesMax,
  },
  {
    limits: ['walPendingBytesMax', 'walRecordPayloadBytesMax'],
    rule: 'one full-size WAL record must be appendable before a sync',
    holds: (l) => l.walRecordPayloadBytesMax + WAL_RECORD_HEADER_BYTES_MAX <= l.walPendingBytesMax,
  },
  // the keyspace
  {
    limits: ['kvCommandBytesMax', 'kvKeyBytesMax', 'kvValueBytesMax'],
    rule: 'a kv command must hold a cas with a full-size key, expected and new value',
    holds: (l) => l.kvKeyBytesMax + 2 * l.kvValueBytesMax + KV_COMMAND_HEADER_BYTES_MAX <= l.kvCommandBytesMax,
  },
  {
    limits: ['kvCommandBytesMax', 'kvClientAddressBytesMax'],
    rule: 'a Register command must hold the longest client address',
    holds: (l) => l.kvClientAddressBytesMax + KV_COMMAND_HEADER_BYTES_MAX <= l.kvCommandBytesMax,
  },
  {
    limits: ['raftEntryBytesMax', 'kvCommandBytesMax'],
    rule: 'every kv command must fit in a Raft entry',
    holds: (l) => l.kvCommandBytesMax <= l.raftEntryBytesMax,
  },
  {
    limits: ['forwardedFrameBytesMax', 'kvValueBytesMax'],
    rule: 'a forwarded answer must hold the largest kv result (a full-size value)',
    holds: (l) =>
      FORWARDED_HEADER_BYTES_MAX + 5 + KV_RESULT_HEADER_BYTES_MAX + l.kvValueBytesMax <= l.forwardedFrameBytesMax,
  },
  {
    limits: ['kvSessionsPerClientMax', 'kvSessionsMax'],
    rule: "one client's sessions must be a part of all sessions",
    holds: (l) => l.kvSessionsPerClientMax <= l.kvSessionsMax,
  },
  // ZooKeeper client
  {
    limits: ['zkClientQueuedBytesMax', 'zkPacketBytesMax'],
    rule: 'a full-size ZooKeeper request must fit in the client queue',
    holds: (l) => l.zkClientQueuedBytesMax >= l.zkPacketBytesMax + 4,
  },
  {
    limits: ['zkClientSetWatchesBytesMax', 'zkPacketBytesMax'],
    rule: 'a setWatches2 frame must be a frame the server accepts',
    holds: (l) => l.zkClientSetWatchesBytesMax < l.zkPacketBytesMax,
  },
  // Redis protocol
  {
    limits: ['respBulkBytesMax', 'kvValueBytesMax'],
    rule: 'a RESP bulk argument must hold the largest value',
    holds: (l) => l.respBulkBytesMax >= l.kvValueBytesMax,
  },
  {
    limits: ['respCommandBytesMax', 'respBulkBytesMax'],
    rule: 'a RESP request must hold a key and a full-size bulk argument',
    holds: (l) => l.respCommandBytesMax >= 2 * l.respBulkBytesMax,
  },
  {
    limits: ['respReplyBytesMax', 'respBulkBytesMax'],
    rule: 'a RESP reply must hold a full-size bulk string',
    holds: (l) => l.respReplyBytesMax >= l.respBulkBytesMax + 64,
  },
  // HTTP
  {
    limits: ['adminRequestBytesMax', 'kvKeyBytesMax', 'kvValueBytesMax'],
    rule: 'an HTTP kv body must hold a full-size key, expected and new value plus the JSON around them',
    holds: (l) => l.kvKeyBytesMax + 2 * l.kvValueBytesMax + KV_HTTP_OVERHEAD_BYTES_MAX <= l.adminRequestBytesMax,
  },
  {
    limits: ['cliResponseBytesMax', 'kvValueBytesMax'],
    rule: 'the CLI must read a get of the largest value with every byte JSON-escaped (6 bytes each)',
    holds: (l) => 6 * l.kvValueBytesMax + KV_HTTP_OVERHEAD_BYTES_MAX <= l.cliResponseBytesMax,
  },
  {
    limits: ['devNodesMax', 'clusterNodesMax'],
    rule: '`barista dev` may not start more nodes than a cluster holds',
    holds: (l) => l.devNodesMax <= l.clusterNodesMax,
  },
  // the simulator must be able to run what a real node does
  {
    limits: ['simFileBytesMax', 'walSegmentBytesMax', 'snapshotDataBytesMax'],
    rule: "a simulated file must hold a real node's largest file (a WAL segment, a snapshot)",
    holds: (l) => l.simFileBytesMax >= l.walSegmentBytesMax && l.simFileBytesMax >= l.snapshotDataBytesMax,
  },
  {
    limits: ['simClockDriftRateMax'],
    rule: 'a drift rate of 1 or more would stop or reverse monotonic time',
    holds: (l) => l.simClockDriftRateMax < 1,
  },
  // Dynamo ring (src/dynamo/ring.ts): the metadata group stores the ring in one Raft entry.
  {
    limits: ['clusterNodesMax', 'ringNodeTokensCountMax', 'nodeIdBytesMax', 'raftEntryBytesMax'],
    rule: 'the largest ring (every node with the most tokens) must fit in one Raft entry',
    holds: (l) =>
      RING_HEADER_BYTES_MAX +
        l.clusterNodesMax * (RING_NODE_HEADER_BYTES_MAX + l.nodeIdBytesMax + 8 * l.ringNodeTokensCountMax) <=
      l.raftEntryBytesMax,
  },
  {
    limits: ['redisCommandBatchBytesMax', 'lsmCommitLogPendingBytesMax'],
    rule: "one Redis command's batch must fit the commit log's pending buffer",
    holds: (l) => l.redisCommandBatchBytesMax + 64 * 1024 <= l.lsmCommitLogPendingBytesMax,
  },
  {
    limits: ['redisStringBytesMax', 'lsmValueBytesMax', 'redisCommandBatchBytesMax'],
    rule: "a Redis string must fit one engine value and one command's batch",
    holds: (l) =>
      l.redisStringBytesMax <= l.lsmValueBytesMax && l.redisStringBytesMax + 128 * 1024 <= l.redisCommandBatchBytesMax,
  },
  {
    limits: ['ringReplicasCountMax', 'clusterNodesMax'],
    rule: 'a preference list cannot be longer than a cluster',
    holds: (l) => l.ringReplicasCountMax <= l.clusterNodesMax,
  },
  // Dynamo replication driver (src/services/store/replication/driver.ts).
  {
    limits: ['dynamoMessageBytesMax', 'peerFrameBytesMax', 'clusterIdBytesMax', 'nodeIdBytesMax'],
    rule: 'a replica message must fit in one peer frame',
    holds: (l) => l.dynamoMessageBytesMax + peerEnvelopeBytesMax(l) <= l.peerFrameBytesMax,
  },
  {
    limits: ['dynamoStateBytesMax', 'dynamoMessageBytesMax', 'kvKeyBytesMax', 'nodeIdBytesMax'],
    rule: 'a hint of a full-size state (the largest replica message) must fit in a replica message',
    holds: (l) => l.dynamoStateBytesMax + l.kvKeyBytesMax + l.nodeIdBytesMax + 64 <= l.dynamoMessageBytesMax,
  },
  {
    limits: ['dynamoStateBytesMax', 'kvValueBytesMax', 'lsmValueBytesMax'],
    rule: 'a key state must hold a full-size value, and the merge of two full states must fit an LSM value',
    holds: (l) => l.kvValueBytesMax <= l.dynamoStateBytesMax && 2 * l.dynamoStateBytesMax <= l.lsmValueBytesMax,
  },
  {
    limits: ['paxosValueBytesMax', 'kvValueBytesMax', 'kvKeyBytesMax'],
    rule: "a SERIAL register must hold one key's full-size value with the key's name and the map's framing",
    holds: (l) => l.kvValueBytesMax + l.kvKeyBytesMax + 32 <= l.paxosValueBytesMax,
  },
  {
    limits: ['paxosValueBytesMax', 'kvKeyBytesMax', 'dynamoMessageBytesMax', 'lsmValueBytesMax'],
    rule: 'a Paxos message (a key, a CAS expectation and a value) and an acceptor state must fit a replica message and an LSM value',
    holds: (l) =>
      3 * l.paxosValueBytesMax + l.kvKeyBytesMax + 4096 <= l.dynamoMessageBytesMax &&
      3 * l.paxosValueBytesMax + 4096 <= l.lsmValueBytesMax,
  },
  {
    limits: ['dynamoMovePageBytesMax', 'dynamoStateBytesMax', 'kvKeyBytesMax', 'dynamoMessageBytesMax'],
    rule: 'a ring move page (its target plus one full-size entry past it) must fit in a replica message',
    holds: (l) => l.dynamoMovePageBytesMax + l.dynamoStateBytesMax + l.kvKeyBytesMax + 64 <= l.dynamoMessageBytesMax,
  },
  {
    limits: [
      'dynamoRowsPageBytesMax',
      'kvValueBytesMax',
      'dynamoStateBytesMax',
      'kvKeyBytesMax',
      'dynamoMessageBytesMax',
    ],
    rule: "a page of rows (its target plus one row past it: an element and a hash value) and the key's state must fit in a replica message",
    holds: (l) =>
      l.dynamoRowsPageBytesMax + 2 * l.kvValueBytesMax + l.dynamoStateBytesMax + l.kvKeyBytesMax + 65_536 <=
      l.dynamoMessageBytesMax,
  },
  {
    limits: ['dynamoMoveRangesCountMax', 'dynamoMessageBytesMax'],
    rule: 'a ring move fetch naming every range it may must fit in a replica message',
    holds: (l) => 16 * l.dynamoMoveRangesCountMax + 1024 <= l.dynamoMessageBytesMax,
  },
];

/** Throws (an assertion: the limits are compiled in) naming every limit of the first broken relation. */
export function validateLimits(l: Limits = limits, relations: readonly LimitRelation[] = limitRelations): void {
  for (const [name, value] of Object.entries(l)) {
    assert(Number.isFinite(value) && value > 0, `limits.${name} must be a positive finite number, got ${value}`);
  }
  for (const r of relations) {
    if (r.holds(l)) continue;
    const values = r.limits.map((n) => `${n} = ${l[n]}`).join(', ');
    assert(false, `limits: ${r.rule} (${values})`);
  }
}
