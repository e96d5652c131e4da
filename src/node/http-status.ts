// The HTTP mapping of the error catalogue (src/lib/error-codes.ts): one status per ErrorCode for
// every JSON answer on the admin port (/v1/kv, /v1/members, body errors). The table is
// `satisfies Record<ErrorCode, number>`, so a new code does not compile until it has a status here.
// Later protocols add their own table the same way next to their front end (ZooKeeper error codes,
// RESP error prefixes, Kafka error codes, gRPC status): one entry per code, decided, never a default.
//
// The rule: a request the system will never accept as is is 4xx (do not retry unchanged); overload
// is 429; a timeout is 504 (the node gave up waiting on the cluster); every other "cannot answer
// now" is 503; the body's `definite` says whether the request may have been applied.
// Codes that never reach an HTTP answer (start-up refusals, tooling) are 500: if one ever does,
// it is a bug surfaced as such.

import type { ErrorCode } from '../lib/error-codes.ts';
import type { BaristaError } from '../lib/errors.ts';

export const httpStatusByCode = {
  // request
  bad_request: 400,
  wrong_type: 409,
  request_too_large: 413,
  key_too_large: 413,
  value_too_large: 413,
  // A failed compare is an answer, not a failure of the request: 200 with ok: false and the value.
  precondition_failed: 200,
  stale_sequence: 409,
  session_expired: 410,
  keyspace_full: 507,
  too_many_sessions: 429,
  malformed_command: 400,
  // The node does not host what it was sent: a server-side mismatch the client cannot fix.
  unknown_namespace: 500,
  internal: 500,
  // availability
  not_leader: 503,
  no_leader: 503,
  proposal_dropped: 503,
  leadership_lost: 503,
  timeout: 504,
  outcome_unknown: 503,
  result_too_large: 503,
  stopped: 503,
  limit_exceeded: 429,
  replicas_unavailable: 503,
  connect_timeout: 503,
  listen_address_in_use: 500,
  listen_failed: 500,
  hlc_clock_drift: 503,
  // membership: refused by the current configuration
  change_pending: 409,
  already_member: 409,
  incarnation_behind: 409,
  not_a_learner: 409,
  last_voter: 409,
  raft_conf_change_rejected: 409,
  raft_transfer_rejected: 409,
  ring_change_rejected: 409,
  // protocol: bad bytes from the client
  malformed: 400,
  truncated: 400,
  trailing_bytes: 400,
  invalid_boolean: 400,
  varint_overflow: 400,
  invalid_length: 400,
  invalid_utf8: 400,
  invalid_uuid: 400,
  invalid_hlc: 400,
  invalid_lamport_time: 400,
  invalid_vector_clock: 400,
  prometheus_parse: 400,
  frame_too_large: 400,
  unknown_envelope_version: 400,
  frame_truncated_envelope: 400,
  bad_id_length: 400,
  bad_id_encoding: 400,
  frame_checksum_mismatch: 400,
  raft_bad_version: 400,
  raft_bad_type: 400,
  raft_bad_node_id: 400,
  raft_ctx_too_large: 400,
  raft_bad_conf: 400,
  raft_bad_append: 400,
  raft_bad_entry_type: 400,
  raft_bad_snapshot: 400,
  raft_conf_too_large: 400,
  raft_bad_conf_change: 400,
  read_ctx_bad_id: 400,
  raft_group_bad_version: 400,
  raft_group_bad_id: 400,
  raft_group_unknown: 400,
  cluster_state_bad_snapshot: 400,
  client_unknown_version: 400,
  client_bad_error_code: 400,
  client_error_message_too_large: 400,
  member_request_too_large: 400,
  member_unknown_version: 400,
  member_malformed: 400,
  membership_bad_length: 400,
  membership_unknown_version: 400,
  membership_bad_field: 400,
  test_proto_line_too_long: 400,
  test_proto_bad_byte: 400,
  test_proto_bad_verb: 400,
  test_proto_bad_reply: 400,
  zk_packet_too_large: 400,
  zk_bad_multi_op: 400,
  zk_unexpected_xid: 400,
  resp_invalid_multibulk_length: 400,
  resp_invalid_bulk_length: 400,
  resp_expected_bulk: 400,
  resp_inline_too_big: 400,
  resp_unbalanced_quotes: 400,
  resp_mbulk_count_too_big: 400,
  resp_bulk_count_too_big: 400,
  resp_command_too_large: 400,
  resp_reply_malformed: 400,
  resp_reply_too_large: 400,
  crdt_unknown_type: 400,
  crdt_unknown_version: 400,
  crdt_malformed: 400,
  crdt_too_large: 400,
  ring_bad_version: 400,
  ring_malformed: 400,
  dvv_bad_version: 400,
  dvv_malformed: 400,
  dynamo_bad_version: 400,
  dynamo_bad_type: 400,
  dynamo_malformed: 400,
  zk_error: 502, // a ZooKeeper server's answer relayed by a client of ours
  // storage
  disk_path_invalid: 500,
  file_not_found: 500,
  disk_io: 500,
  disk_no_space: 507,
  disk_file_closed: 500,
  disk_handle_stale: 500,
  data_corrupt: 500,
  // startup and tooling: never an HTTP answer
  config_invalid: 500,
  node_data_missing: 500,
  node_identity_mismatch: 500,
  node_layout_old: 500,
  sim_failure: 500,
  history_malformed: 500,
  history_unpaired: 500,
} as const satisfies Record<ErrorCode, number>;

export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** The JSON error answer every admin-port route uses: {ok: false, code, message, definite, retriable, ...extra}. */
export function httpErrorAnswer(error: BaristaError, extra: Record<string, unknown> = {}): HttpAnswer {
  return {
    status: httpStatusByCode[error.code],
    body: {
      ok: false,
      code: error.code,
      message: error.message,
      definite: error.definite,
      retriable: error.retriable,
      ...extra,
    },
  };
}
