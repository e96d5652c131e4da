// The CLI mapping of the error catalogue (src/lib/error-codes.ts): what a command's exit status is
// when the cluster answers with an error code. `satisfies Record<ErrorCode, CliErrorExit>`, so a
// new code does not compile until it is decided here (like src/node/http-status.ts for HTTP).
// The rule, as redis-cli/etcdctl scripts expect (one meaning per status):
//   1 compare failed (a cas answered with another value)
//   2 rejected: the request will never succeed as is (definite and not retriable)
//   3 unavailable or indefinite: retrying may succeed, or it may already have happened
// Local failures (usage, config) exit 2 in src/cli/main.ts; 0 and 4 (found/not found) are answers.

import { type ErrorCode, isErrorCode } from '../lib/error-codes.ts';

export const CLI_EXIT = { compareFailed: 1, rejected: 2, unavailable: 3 } as const;
type CliErrorExit = (typeof CLI_EXIT)[keyof typeof CLI_EXIT];
const { compareFailed, rejected, unavailable } = CLI_EXIT;

export const cliExitByCode = {
  // request
  bad_request: rejected,
  wrong_type: rejected,
  request_too_large: rejected,
  key_too_large: rejected,
  value_too_large: rejected,
  precondition_failed: compareFailed,
  stale_sequence: rejected,
  session_expired: unavailable, // indefinite: an earlier attempt may have applied
  keyspace_full: rejected,
  too_many_sessions: unavailable,
  malformed_command: rejected,
  unknown_namespace: rejected,
  internal: unavailable,
  // availability
  not_leader: unavailable,
  no_leader: unavailable,
  proposal_dropped: unavailable,
  leadership_lost: unavailable,
  timeout: unavailable,
  outcome_unknown: unavailable,
  result_too_large: unavailable,
  stopped: unavailable,
  limit_exceeded: unavailable,
  replicas_unavailable: unavailable,
  connect_timeout: unavailable,
  listen_address_in_use: unavailable,
  listen_failed: rejected,
  hlc_clock_drift: unavailable,
  // membership
  change_pending: unavailable,
  already_member: rejected,
  incarnation_behind: unavailable,
  not_a_learner: rejected,
  last_voter: rejected,
  raft_conf_change_rejected: unavailable, // some reasons are transient (catch-up, a change pending)
  raft_transfer_rejected: rejected,
  ring_change_rejected: unavailable, // a move in progress is transient
  // protocol
  malformed: rejected,
  truncated: rejected,
  trailing_bytes: rejected,
  invalid_boolean: rejected,
  varint_overflow: rejected,
  invalid_length: rejected,
  invalid_utf8: rejected,
  invalid_uuid: rejected,
  invalid_hlc: rejected,
  invalid_lamport_time: rejected,
  invalid_vector_clock: rejected,
  prometheus_parse: rejected,
  frame_too_large: rejected,
  unknown_envelope_version: rejected,
  frame_truncated_envelope: rejected,
  bad_id_length: rejected,
  bad_id_encoding: rejected,
  frame_checksum_mismatch: rejected,
  raft_bad_version: rejected,
  raft_bad_type: rejected,
  raft_bad_node_id: rejected,
  raft_ctx_too_large: rejected,
  raft_bad_conf: rejected,
  raft_bad_append: rejected,
  raft_bad_entry_type: rejected,
  raft_bad_snapshot: rejected,
  raft_conf_too_large: rejected,
  raft_bad_conf_change: rejected,
  read_ctx_bad_id: rejected,
  raft_group_bad_version: rejected,
  raft_group_bad_id: rejected,
  raft_group_unknown: rejected,
  cluster_state_bad_snapshot: rejected,
  client_unknown_version: rejected,
  client_bad_error_code: rejected,
  client_error_message_too_large: rejected,
  member_request_too_large: rejected,
  member_unknown_version: rejected,
  member_malformed: rejected,
  membership_bad_length: rejected,
  membership_unknown_version: rejected,
  membership_bad_field: rejected,
  test_proto_line_too_long: rejected,
  test_proto_bad_byte: rejected,
  test_proto_bad_verb: rejected,
  test_proto_bad_reply: rejected,
  zk_packet_too_large: rejected,
  zk_bad_multi_op: rejected,
  zk_unexpected_xid: rejected,
  resp_invalid_multibulk_length: rejected,
  resp_invalid_bulk_length: rejected,
  resp_expected_bulk: rejected,
  resp_inline_too_big: rejected,
  resp_unbalanced_quotes: rejected,
  resp_mbulk_count_too_big: rejected,
  resp_bulk_count_too_big: rejected,
  resp_command_too_large: rejected,
  resp_reply_malformed: rejected,
  resp_reply_too_large: rejected,
  crdt_unknown_type: rejected,
  crdt_unknown_version: rejected,
  crdt_malformed: rejected,
  crdt_too_large: rejected,
  ring_bad_version: rejected,
  ring_malformed: rejected,
  dvv_bad_version: rejected,
  dvv_malformed: rejected,
  dynamo_bad_version: rejected,
  dynamo_bad_type: rejected,
  dynamo_malformed: rejected,
  zk_error: unavailable, // `barista zk` maps each zkErr itself (src/cli/zk.ts); this is the conservative default
  // storage: a failed write may have reached the disk (indefinite); the rest is final on that node
  disk_path_invalid: rejected,
  file_not_found: rejected,
  disk_io: unavailable,
  disk_no_space: unavailable,
  disk_file_closed: rejected,
  disk_handle_stale: rejected,
  data_corrupt: rejected,
  // startup and tooling
  config_invalid: rejected,
  node_data_missing: rejected,
  node_identity_mismatch: rejected,
  node_layout_old: rejected,
  sim_failure: rejected,
  history_malformed: rejected,
  history_unpaired: rejected,
} as const satisfies Record<ErrorCode, CliErrorExit>;

/** Exit status for an error code from a server's JSON answer; a code this build does not know is 3. */
export function cliExitFor(code: string | undefined): CliErrorExit {
  return code !== undefined && isErrorCode(code) ? cliExitByCode[code] : unavailable;
}
