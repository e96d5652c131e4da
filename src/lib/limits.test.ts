// Goal: the named bounds hold their stated relations, every relation is checked at start-up, and
// a broken one fails with a message naming every limit it involves (so whoever changed one of
// them sees which other module's bound it now contradicts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssertionError } from './assert.ts';
import { type LimitName, type Limits, limitRelations, limits, validateLimits } from './limits.ts';

test('the shipped limits are consistent', () => {
  validateLimits();
});

const MiB = 1024 * 1024;

/** One change per relation that breaks it (and only needs the shipped values of the others). */
const breaking: Record<string, Partial<Limits>> = {
  'a RESP bulk argument must hold the largest value': { respBulkBytesMax: limits.kvValueBytesMax - 1 },
  'a RESP request must hold a key and a full-size bulk argument': { respCommandBytesMax: limits.respBulkBytesMax },
  'a RESP reply must hold a full-size bulk string': { respReplyBytesMax: limits.respBulkBytesMax },
  'the largest ring (every node with the most tokens) must fit in one Raft entry': { ringNodeTokensCountMax: 16384 },
  'a preference list cannot be longer than a cluster': { ringReplicasCountMax: limits.clusterNodesMax + 1 },
  'a replica message must fit in one peer frame': { dynamoMessageBytesMax: limits.peerFrameBytesMax },
  "a SERIAL register must hold one key's full-size value with the key's name and the map's framing": {
    paxosValueBytesMax: limits.kvValueBytesMax,
  },
  'a Paxos message (a key, a CAS expectation and a value) and an acceptor state must fit a replica message and an LSM value':
    { paxosValueBytesMax: limits.dynamoMessageBytesMax },
  'a hint of a full-size state (the largest replica message) must fit in a replica message': {
    dynamoStateBytesMax: limits.dynamoMessageBytesMax,
  },
  'a ring move page (its target plus one full-size entry past it) must fit in a replica message': {
    dynamoMovePageBytesMax: limits.dynamoMessageBytesMax,
  },
  "a page of rows (its target plus one row past it: an element and a hash value) and the key's state must fit in a replica message":
    { dynamoRowsPageBytesMax: limits.dynamoMessageBytesMax },
  'a ring move fetch naming every range it may must fit in a replica message': {
    dynamoMoveRangesCountMax: limits.dynamoMessageBytesMax / 16,
  },
  'a key state must hold a full-size value, and the merge of two full states must fit an LSM value': {
    dynamoStateBytesMax: limits.lsmValueBytesMax,
  },
  "a collection change's message (each member about twice, 64 bytes per element, 1 MiB of key, state and clear) must fit a replica message":
    { storeChangeBytesMax: limits.dynamoMessageBytesMax / 2 },
  "a write's identities must leave most of a Raft entry to its op": { coordIdentityBytesMax: limits.raftEntryBytesMax },
  "one Redis command's batch must fit the commit log's pending buffer": {
    redisCommandBatchBytesMax: limits.lsmCommitLogPendingBytesMax,
  },
  "a Redis string must fit one engine value and one command's batch": {
    redisStringBytesMax: limits.lsmValueBytesMax + 1,
  },
  'a client host may not hold more connections than a port accepts': {
    clientHostConnectionsMax: limits.clientPortConnectionsMax + 1,
  },
  "a subscriber's soft output limit must lie below its hard one": {
    storePubsubSoftOutputBytesMax: limits.storePubsubHardOutputBytesMax + 1,
  },
  'a full-size frame must fit in a peer send queue': { peerSendQueueBytesMax: limits.peerFrameBytesMax - 1 },
  'a full-size partial frame must fit in the inbound held-bytes bound': {
    peerInboundHeldBytesMax: limits.peerFrameBytesMax - 1,
  },
  'ids are length-prefixed with one byte (at most 255)': { nodeIdBytesMax: 256 },
  'a Raft group id length is a one-byte uvarint and the group envelope fits beside a forwarded frame': {
    raftGroupIdBytesMax: 128,
  },
  'a first frame with the longest ids (envelope and hello) must fit the identify bound': {
    peerIdentifyFrameBytesMax: 128,
  },
  'every peer must be able to connect': { peerInboundConnectionsMax: limits.clusterNodesMax - 1 },
  "the router's rejection series must fit in the metric registry": { metricSeriesMax: 100 },
  'the largest Append (a batch, or one full-size entry alone) plus its envelope must fit in a peer frame': {
    raftEntryBytesMax: limits.peerFrameBytesMax,
  },
  'a snapshot chunk plus its message header must fit in a peer frame': {
    raftSnapshotChunkBytesMax: limits.peerFrameBytesMax,
  },
  'a heartbeat with a full-size read context must fit in a peer frame': {
    raftReadCtxBytesMax: limits.peerFrameBytesMax,
  },
  'a configuration must be able to name every node of a cluster': { raftConfMembersMax: limits.clusterNodesMax - 1 },
  "the coordination tree's bytes plus the image around them must fit in a snapshot": {
    coordTreeBytesMax: limits.snapshotDataBytesMax,
  },
  "the keyspace's bytes and its sessions' plus the image around them must fit in a snapshot": {
    kvDataBytesMax: limits.snapshotDataBytesMax - limits.rsmSessionsBytesMax,
  },
  'a session caching the largest result must leave room for many more in the sessions bound': {
    rsmSessionsBytesMax: 4 * limits.kvValueBytesMax,
  },
  "a merged state must hold a coordinator's, and travel alone in a replica message": {
    dynamoMergedStateBytesMax: limits.dynamoMessageBytesMax,
  },
  'a follower must accept the largest snapshot a leader stores': {
    raftSnapshotBytesMax: limits.snapshotDataBytesMax - 1,
  },
  // Issue 7 item 11: the forwarding codec capped frames at 2 MiB while a Raft entry may be 4 MiB.
  'a forwarded request frame must hold raftEntryBytesMax plus its header': { forwardedFrameBytesMax: 2 * MiB },
  'a forwarded error answer (code and longest message) must fit in a forwarded frame': {
    forwardedErrorMessageBytesMax: limits.forwardedFrameBytesMax,
  },
  'a forwarded frame must fit in a peer frame': { forwardedFrameBytesMax: limits.peerFrameBytesMax },
  'a membership request with the longest node id and rejoin id must fit its bound': { memberRequestBytesMax: 100 },
  'a forwarded membership request must fit in a peer frame': { memberRequestBytesMax: limits.peerFrameBytesMax },
  'a WAL record must hold a full-size Raft entry plus its entry header': {
    walRecordPayloadBytesMax: limits.raftEntryBytesMax,
  },
  'a WAL segment must hold one full-size record': { walSegmentBytesMax: limits.walRecordPayloadBytesMax },
  'one full-size WAL record must be appendable before a sync': { walPendingBytesMax: limits.walRecordPayloadBytesMax },
  'a kv command must hold a cas with a full-size key, expected and new value': {
    kvCommandBytesMax: limits.kvValueBytesMax + 4096,
  },
  'a Register command must hold the longest client address': { kvClientAddressBytesMax: limits.kvCommandBytesMax },
  'every kv command must fit in a Raft entry': { kvCommandBytesMax: limits.raftEntryBytesMax + 1 },
  'a forwarded answer must hold the largest kv result (a full-size value)': {
    kvValueBytesMax: limits.forwardedFrameBytesMax,
  },
  "one client's sessions must be a part of all sessions": { kvSessionsPerClientMax: limits.kvSessionsMax + 1 },
  // ZooKeeper client
  'a full-size ZooKeeper request must fit in the client queue': { zkClientQueuedBytesMax: limits.zkPacketBytesMax },
  'a setWatches2 frame must be a frame the server accepts': { zkClientSetWatchesBytesMax: limits.zkPacketBytesMax },
  // Issue 7 item 11 again: a 1 MiB value could not pass a 1 MiB HTTP body.
  'an HTTP kv body must hold a full-size key, expected and new value plus the JSON around them': {
    adminRequestBytesMax: MiB,
  },
  // The CLI used to read at most 4 MiB: a get of a 1 MiB value of control characters is 6 MiB of JSON.
  'the CLI must read a get of the largest value with every byte JSON-escaped (6 bytes each)': {
    cliResponseBytesMax: 4 * MiB,
  },
  '`barista dev` may not start more nodes than a cluster holds': { devNodesMax: limits.clusterNodesMax + 1 },
  "a simulated file must hold a real node's largest file (a WAL segment, a snapshot)": {
    simFileBytesMax: limits.snapshotDataBytesMax - 1,
  },
  'a drift rate of 1 or more would stop or reverse monotonic time': { simClockDriftRateMax: 1 },
};

test('every relation has a breaking case here (a new relation needs one)', () => {
  assert.deepEqual(Object.keys(breaking).sort(), limitRelations.map((r) => r.rule).sort());
});

test('breaking each relation fails validation with a message naming every limit it involves', () => {
  for (const r of limitRelations) {
    const change = breaking[r.rule]!;
    const broken = { ...limits, ...change };
    assert.equal(r.holds(broken), false, `the case for "${r.rule}" does not break it`);
    assert.throws(() => validateLimits(broken), AssertionError, r.rule);
    // The case may break an earlier relation too: read this relation's own message.
    let message = '';
    try {
      validateLimits(broken, [r]);
    } catch (err) {
      message = (err as Error).message;
    }
    assert.match(message, new RegExp(r.rule.replace(/[.*+?^${}()|[\]\\`]/g, '\\$&')));
    for (const name of r.limits) assert.ok(message.includes(`${name} = ${broken[name]}`), `${message} names ${name}`);
  }
});

test('every relation names limits that exist, and most name two or more', () => {
  const names = new Set(Object.keys(limits));
  for (const r of limitRelations) for (const n of r.limits) assert.ok(names.has(n), `${r.rule}: ${n}`);
  const single = limitRelations.filter((r) => r.limits.length < 2).map((r) => r.rule);
  assert.deepEqual(single, ['a drift rate of 1 or more would stop or reverse monotonic time']);
});

test('every limit is a positive finite number, and the names end in a unit and Max', () => {
  const unit =
    /(Bytes|Frames|Ms|Connections|Nodes|Entries|Slabs|Parts|Series|Members|Requests|Count|Lines|Faults|Bits|Keys|Sessions|Ops|Remembered|Appends|Attempts|Chars|Intervals|Rate|Pending|PerClient|PerFile|Writes)Max$/;
  for (const [name, value] of Object.entries(limits) as Array<[LimitName, number]>) {
    assert.ok(Number.isFinite(value) && value > 0, name);
    assert.match(name, unit, `${name}: <thing><Unit>Max`);
  }
  assert.throws(() => validateLimits({ ...limits, kvKeysMax: Number.POSITIVE_INFINITY }), /kvKeysMax/);
  assert.throws(() => validateLimits({ ...limits, kvKeysMax: 0 }), /kvKeysMax/);
});
