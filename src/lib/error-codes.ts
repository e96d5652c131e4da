// The one catalogue of operating-error codes. Every `code` a BaristaError can carry is a key here,
// with the two flags every caller needs and one line saying what it means:
//   retriable: the same request may succeed if tried again (after backoff, possibly elsewhere).
//   definite:  true = the operation certainly did not take effect; false = it may or may not have
//              (Jepsen's :fail vs :info).
// A flag is `'depends'` only where the same code honestly has both values (a read that timed out
// is definite, a write that timed out is not); then every call site must pass it, and everywhere
// else a call site cannot pass it (the types refuse), so a code means one thing across the code base.
//
// HOW TO ADD A CODE (other modules and later protocols):
//   1. Add `my_code: { family, retriable, definite, doc }` below, in its family's section. Codes are
//      lower_snake_case, stable once shipped (they are on the wire, in metrics labels and in JSON
//      answers), and never a synonym of an existing one: reuse `not_leader`, `timeout`,
//      `limit_exceeded`, ... before minting `myproto_not_leader`.
//   2. `npx tsc --noEmit -p .` then lists every mapping table that must decide what the new code
//      means for its protocol (HTTP status in src/node/http-status.ts, CLI exit in
//      src/cli/exit-codes.ts, ...): they are `Record<ErrorCode, ...>`, so a missing entry does not
//      compile.
// HOW TO ADD A PROTOCOL MAPPING (ZooKeeper error codes, RESP error prefixes, Kafka error codes,
// gRPC status for etcd): write `export const fooCodeByError = { ... } as const satisfies
// Record<ErrorCode, FooCode>` next to the protocol's front end (src/wire/<protocol>/errors.ts),
// like src/node/http-status.ts; add it to the totality test in src/lib/error-codes.test.ts.
//
// Families: `protocol` codes are malformed/foreign bytes (ProtocolError takes only those); decode
// reasons stay separate flat codes rather than a `reason` field because they are already metric
// labels (peer_frames_rejected_total{code}) and each is one stable decoder outcome. WAL corruption
// is one code, `data_corrupt`, with the detail in the message and fields: no caller acts on which
// check failed (recovery truncates or refuses either way).

export type ErrorFlag = boolean | 'depends';

export type ErrorFamily =
  | 'request' // the client's request is wrong or refused as is
  | 'availability' // the cluster cannot answer now (leader, overload, timeouts)
  | 'membership' // a membership change refused by the configuration
  | 'protocol' // malformed or foreign bytes
  | 'storage' // the disk or the data on it
  | 'startup' // the node refuses to start (an operator must act)
  | 'tooling'; // offline tools (simulator, checker)

export interface ErrorSpec {
  readonly family: ErrorFamily;
  readonly retriable: ErrorFlag;
  readonly definite: ErrorFlag;
  readonly doc: string;
}

const request = (doc: string, retriable = false) => ({ family: 'request', retriable, definite: true, doc }) as const;
const protocol = (doc: string) => ({ family: 'protocol', retriable: false, definite: true, doc }) as const;

export const errorCatalogue = {
  // --- request: definite (nothing happened), not retriable as is unless noted -------------------
  bad_request: request('the request is malformed (missing field, wrong type)'),
  wrong_type: request("an operation against a key holding another kind of value (Redis' WRONGTYPE)"),
  request_too_large: request('the request body is over its byte bound'),
  key_too_large: request('a key is over kvKeyBytesMax'),
  value_too_large: request('a value is over kvValueBytesMax'),
  precondition_failed: request('a compare-and-set found another value (the answer carries it)'),
  stale_sequence: request('a session request with a sequence number older than the last applied'),
  session_expired: {
    family: 'request',
    retriable: false,
    // The session's dedup record is gone: an earlier attempt of this request may have applied.
    definite: false,
    doc: 'the client session expired; open a new one (an earlier attempt may have applied)',
  },
  keyspace_full: request('the keyspace holds kvKeysMax keys or kvDataBytesMax bytes'),
  too_many_sessions: request('the session table is full (or full for this client address)', true),
  malformed_command: request('a state-machine command failed to decode'),
  unknown_namespace: request('a state-machine command for a namespace its Raft group does not host (src/rsm)'),
  internal: {
    family: 'request',
    retriable: false,
    definite: false,
    doc: 'a bug surfaced to a client (HTTP 500); what happened is unknown',
  },

  // --- availability ------------------------------------------------------------------------------
  not_leader: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'this node is not the leader; fields.leaderHint names the one it last heard from (merged raft_not_leader)',
  },
  no_leader: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'no leader is known right now (an election is running); wait, unlike not_leader which says go elsewhere',
  },
  proposal_dropped: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'the leader refused or a new term overwrote the proposal; it will not apply (merged raft_proposal_dropped)',
  },
  leadership_lost: {
    family: 'availability',
    retriable: true,
    definite: false,
    doc: 'leadership changed while the request was in flight; it may or may not apply',
  },
  timeout: {
    family: 'availability',
    retriable: true,
    definite: 'depends',
    doc: 'gave up waiting; a read that timed out is definite, a write is not',
  },
  outcome_unknown: {
    family: 'availability',
    retriable: true,
    definite: false,
    doc: 'the outcome was not observed (a snapshot replaced the entry); look before retrying',
  },
  result_too_large: {
    family: 'availability',
    retriable: false,
    definite: false,
    doc: 'the command applied but its result does not fit in a forwarded answer',
  },
  replicas_unavailable: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'fewer live replicas of the key than the consistency level needs; nothing was written (Cassandra Unavailable)',
  },
  stopped: { family: 'availability', retriable: true, definite: true, doc: 'the node is stopping' },
  limit_exceeded: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'a named bound in src/lib/limits.ts was hit (fields.limit); backpressure',
  },
  connect_timeout: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'a peer connection did not complete in time',
  },
  listen_address_in_use: {
    family: 'startup',
    retriable: true,
    definite: true,
    doc: 'the listen address is taken (EADDRINUSE); another process may release it',
  },
  listen_failed: { family: 'startup', retriable: false, definite: true, doc: 'the listen address cannot be bound' },
  hlc_clock_drift: {
    family: 'availability',
    retriable: true,
    definite: true,
    doc: 'a remote hybrid logical clock is further ahead than the drift bound',
  },

  // --- membership --------------------------------------------------------------------------------
  change_pending: {
    family: 'membership',
    retriable: true,
    definite: true,
    doc: 'a membership operation on that node is in progress',
  },
  already_member: { family: 'membership', retriable: false, definite: true, doc: 'the node is already a voter' },
  incarnation_behind: {
    family: 'membership',
    retriable: true,
    definite: true,
    doc: 'a peer knows this node at a higher incarnation (wiped data, clock stepped back): the process exits and starts above it',
  },
  not_a_learner: {
    family: 'membership',
    retriable: false,
    definite: true,
    doc: 'promote of a node that is not a learner',
  },
  last_voter: { family: 'membership', retriable: false, definite: true, doc: 'removing the only voter' },
  raft_conf_change_rejected: {
    family: 'membership',
    retriable: 'depends',
    definite: true,
    doc: 'the Raft core refused a configuration change (fields.reason; transient reasons are retriable)',
  },
  ring_change_rejected: {
    family: 'membership',
    retriable: 'depends',
    definite: true,
    doc: 'a ring change refused (fields.reason; a move in progress is retriable, an unknown node is not)',
  },
  raft_transfer_rejected: {
    family: 'membership',
    retriable: false,
    definite: true,
    doc: 'leadership cannot move to that node (not a voter, unknown)',
  },

  // --- protocol: malformed or foreign bytes (definite, not retriable) ----------------------------
  // Generic byte reader (src/lib/bytes.ts) and ids/clocks.
  malformed: protocol('bytes that do not decode (generic)'),
  truncated: protocol('input ends before a field'),
  trailing_bytes: protocol('bytes after the end of a message'),
  invalid_boolean: protocol('a boolean byte other than 0 or 1'),
  varint_overflow: protocol('a varint longer or larger than its type'),
  invalid_length: protocol('a length prefix out of range'),
  invalid_utf8: protocol('text that is not valid UTF-8 (or a lone UTF-16 surrogate)'),
  invalid_uuid: protocol('not a UUID'),
  invalid_hlc: protocol('a malformed hybrid logical clock value'),
  invalid_lamport_time: protocol('a Lamport time out of range'),
  invalid_vector_clock: protocol('a malformed vector clock'),
  prometheus_parse: protocol('a Prometheus text exposition line that does not parse'),
  // Peer frames (src/net/frame.ts).
  frame_too_large: protocol('a frame over peerFrameBytesMax'),
  unknown_envelope_version: protocol('a frame envelope version this build does not know'),
  frame_truncated_envelope: protocol('a frame shorter than its envelope'),
  bad_id_length: protocol('a cluster or node id length out of range'),
  bad_id_encoding: protocol('a cluster or node id that is not UTF-8'),
  frame_checksum_mismatch: protocol('a frame corrupted in transit'),
  // Raft messages (src/raft/codec.ts, conf.ts).
  raft_bad_version: protocol('unknown Raft codec version'),
  raft_bad_type: protocol('unknown Raft message type'),
  raft_bad_node_id: protocol('a node id out of bounds in a Raft message'),
  raft_ctx_too_large: protocol('a Raft message context over its bound'),
  raft_bad_conf: protocol('an invalid configuration in a Raft message'),
  raft_bad_append: protocol('an inconsistent Append message'),
  raft_bad_entry_type: protocol('unknown Raft entry type'),
  raft_bad_snapshot: protocol('an invalid snapshot in a Raft message'),
  raft_conf_too_large: protocol('a configuration with more members than allowed'),
  raft_bad_conf_change: protocol('unknown configuration change tag'),
  read_ctx_bad_id: protocol('a read-index context with an invalid id'),
  // Raft group envelope (src/raft/group-router.ts).
  raft_group_bad_version: protocol('a Raft group envelope of an unknown version (or a payload from before groups)'),
  raft_group_bad_id: protocol('a Raft group id that is empty, too long or not [a-z0-9-]'),
  raft_group_unknown: protocol('a Raft message for a group this node does not host'),
  cluster_state_bad_snapshot: protocol('a metadata group snapshot image this build cannot read'),
  // Forwarded client requests and membership requests (src/metadata).
  client_unknown_version: protocol('forwarded request/response of an unknown version'),
  client_bad_error_code: protocol('a forwarded error code that is not lower_snake_case'),
  client_error_message_too_large: protocol('a forwarded error message over its bound'),
  member_request_too_large: protocol('a forwarded membership request over its bound'),
  member_unknown_version: protocol('a forwarded membership request of an unknown version'),
  member_malformed: protocol('a forwarded membership request that does not decode'),
  // Failure detector (src/membership/codec.ts).
  membership_bad_length: protocol('a membership message of the wrong length'),
  membership_unknown_version: protocol('a membership message of an unknown version'),
  membership_bad_field: protocol('a membership message field out of range'),
  // The listener's test protocol (src/wire/test-proto/codec.ts).
  test_proto_line_too_long: protocol('a test-protocol line over its bound'),
  test_proto_bad_byte: protocol('a test-protocol byte that is neither printable ASCII nor LF'),
  test_proto_bad_verb: protocol('a test-protocol verb that is not upper-case letters'),
  test_proto_bad_reply: protocol('a test-protocol reply that starts with neither + nor -'),
  // CRDT values (src/crdt/codec.ts).
  crdt_unknown_type: protocol('a CRDT value whose type tag is unknown or not the type expected'),
  crdt_unknown_version: protocol('a CRDT value of an encoding version this build does not read'),
  crdt_malformed: protocol('a CRDT value that breaks its grammar or canonical form'),
  crdt_too_large: protocol('a CRDT value over an element, dot, nesting or size bound'),

  // ZooKeeper client protocol (src/wire/zookeeper)
  zk_packet_too_large: protocol(
    'a ZooKeeper frame length over zkPacketBytesMax (jute.maxbuffer): the connection closes',
  ),
  zk_bad_multi_op: protocol('a ZooKeeper multi op or result of a type a multi cannot hold'),
  zk_unexpected_xid: protocol('a ZooKeeper reply whose xid answers no pending request'),
  // Redis protocol (src/wire/resp): one code per Redis protocol error text (errors.ts has the texts)
  resp_invalid_multibulk_length: protocol(
    "a RESP request's *N count that is not an integer or is over respMultibulkCountMax",
  ),
  resp_invalid_bulk_length: protocol(
    "a RESP request's $N length that is not an integer, negative or over respBulkBytesMax",
  ),
  resp_expected_bulk: protocol("a RESP request argument that does not start with '$'"),
  resp_inline_too_big: protocol('a RESP inline command line over respInlineBytesMax'),
  resp_unbalanced_quotes: protocol(
    'a RESP inline command with an unterminated quote (or a closing quote not followed by a space)',
  ),
  resp_mbulk_count_too_big: protocol('a RESP *N line over respInlineBytesMax'),
  resp_bulk_count_too_big: protocol('a RESP $N line over respInlineBytesMax'),
  resp_command_too_large: protocol('a RESP request whose arguments pass respCommandBytesMax (closed without a reply)'),
  resp_reply_malformed: protocol('a RESP reply that does not parse (unknown type byte, bad number, missing CRLF)'),
  resp_reply_too_large: protocol('a RESP reply over respReplyBytesMax or nested deeper than respReplyNestingCountMax'),
  // Dynamo ring and versioned values (src/dynamo/ring.ts, versions.ts).
  ring_bad_version: protocol('an encoded ring of a format version this build does not know'),
  ring_malformed: protocol('an encoded ring that breaks its rules (order, bounds, states)'),
  dvv_bad_version: protocol('an encoded versioned value of a format version this build does not know'),
  dvv_malformed: protocol('an encoded versioned value that breaks its rules (order, bounds, dots)'),
  // Dynamo replica peer messages (src/dynamo/messages.ts).
  dynamo_bad_version: protocol('a Dynamo replica message of a format version this build does not know'),
  dynamo_bad_type: protocol('a Dynamo replica message of an unknown type'),
  dynamo_malformed: protocol('a Dynamo replica message that breaks its grammar or bounds'),
  // Our ZooKeeper client (src/zkclient): the server's (or the client's own) KeeperException code is
  // the `zkErr` field; whether it is retriable or definite depends on that code and on whether the
  // request had been sent (a connection loss after sending a write is indefinite).
  zk_error: {
    family: 'request',
    retriable: 'depends',
    definite: 'depends',
    doc: 'a ZooKeeper error code (field zkErr) answered to a request of our ZooKeeper client',
  },

  // --- storage -----------------------------------------------------------------------------------
  disk_path_invalid: {
    family: 'storage',
    retriable: false,
    definite: true,
    doc: 'a data path breaks the Disk path rules',
  },
  file_not_found: { family: 'storage', retriable: false, definite: true, doc: 'no such file' },
  disk_io: {
    family: 'storage',
    retriable: false,
    definite: false,
    doc: 'an I/O failure (fields.errno); a failed write or sync may have reached the disk in part',
  },
  disk_no_space: {
    family: 'storage',
    retriable: false,
    definite: false,
    doc: 'the file system is full (ENOSPC, EDQUOT); data written before is intact',
  },
  disk_file_closed: { family: 'storage', retriable: false, definite: true, doc: 'a closed file handle was used' },
  disk_handle_stale: {
    family: 'storage',
    retriable: false,
    definite: true,
    doc: 'simulator: a handle from before a crash was used',
  },
  data_corrupt: {
    family: 'storage',
    retriable: false,
    definite: true,
    doc: 'stored data fails validation where truncation is not safe (detail in message and fields)',
  },

  // --- startup -----------------------------------------------------------------------------------
  config_invalid: {
    family: 'startup',
    retriable: false,
    definite: true,
    doc: 'a configuration field is wrong (fields.field)',
  },
  node_data_missing: {
    family: 'startup',
    retriable: false,
    definite: true,
    doc: 'the data directory lacks the identity a restart needs',
  },
  node_identity_mismatch: {
    family: 'startup',
    retriable: false,
    definite: true,
    doc: 'the data directory belongs to another node or cluster',
  },
  node_layout_old: {
    family: 'startup',
    retriable: false,
    definite: true,
    doc: 'the data directory has the layout from before Raft groups (metadata/wal)',
  },

  // --- tooling -----------------------------------------------------------------------------------
  sim_failure: { family: 'tooling', retriable: false, definite: true, doc: 'a simulation broke an invariant' },
  history_malformed: { family: 'tooling', retriable: false, definite: true, doc: 'a history file does not parse' },
  history_unpaired: {
    family: 'tooling',
    retriable: false,
    definite: true,
    doc: 'a history has a completion without its invocation',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCatalogue = typeof errorCatalogue;
export type ErrorCode = keyof ErrorCatalogue;

/** The codes of one family, e.g. `CodeOf<'protocol'>` (what ProtocolError accepts). */
export type CodeOf<F extends ErrorFamily> = {
  [C in ErrorCode]: ErrorCatalogue[C]['family'] extends F ? C : never;
}[ErrorCode];
export type ProtocolErrorCode = CodeOf<'protocol'>;

export const errorCodes: readonly ErrorCode[] = Object.keys(errorCatalogue) as ErrorCode[];

const codeSet: ReadonlySet<string> = new Set(errorCodes);

/** For codes read from untrusted places (a peer's answer, a JSON body). */
export function isErrorCode(s: string): s is ErrorCode {
  return codeSet.has(s);
}
