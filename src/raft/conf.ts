// Membership: how one change (one server at a time, Raft dissertation §4.1) turns a ConfState into
// the next, and how a ConfChange entry is encoded.
//
// Design choice (documented in README-level terms in raft.ts): a configuration takes effect on a
// node as soon as its entry is APPENDED to that node's log, committed or not (dissertation §4.1),
// and reverts if the entry is truncated. Only one change may be uncommitted at a time, and a leader
// accepts a change only after it has committed an entry of its own term (the fix for the
// single-server change bug, dissertation §4.1 / raft-dev 2015). Voter sets of consecutive configs
// differ by at most one server, so any two majorities of consecutive configs overlap.
//
// The entry's data holds the change AND the resulting ConfState, so a node rebuilds its config from
// its log alone (latest ConfChange entry, else the snapshot's ConfState, else the bootstrap config).

import { ByteReader, ByteWriter } from '../lib/bytes.ts';
import { ProtocolError } from '../lib/errors.ts';
import { ConfChangeRejectedError } from './errors.ts';
import type { ConfChange, ConfState, NodeId } from './types.ts';
import { limits } from '../lib/limits.ts';

/** Members (voters + learners) in one config; the codec rejects more. */
export const CONF_MEMBERS_MAX = limits.raftConfMembersMax;

const CHANGE_TAG = { addLearner: 1, addVoter: 2, remove: 3 } as const;

export function normalizeConf(voters: readonly NodeId[], learners: readonly NodeId[]): ConfState {
  return { voters: [...new Set(voters)].sort(), learners: [...new Set(learners)].sort() };
}

export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id);
}

export function isLearner(conf: ConfState, id: NodeId): boolean {
  return conf.learners.includes(id);
}

export function members(conf: ConfState): NodeId[] {
  return [...conf.voters, ...conf.learners];
}

/**
 * The config after `change`, or the reason it is invalid on its own terms. (Leader-side
 * preconditions — one pending change, learner caught up — are checked by the core.)
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState | ConfChangeRejectedError {
  const id = change.nodeId;
  const voter = isVoter(conf, id);
  const learner = isLearner(conf, id);
  switch (change.type) {
    case 'addLearner':
      if (voter || learner) return new ConfChangeRejectedError('already_member', id);
      return normalizeConf(conf.voters, [...conf.learners, id]);
    case 'addVoter':
      if (voter) return new ConfChangeRejectedError('already_member', id);
      if (!learner) return new ConfChangeRejectedError('not_a_learner', id);
      return normalizeConf(
        [...conf.voters, id],
        conf.learners.filter((l) => l !== id),
      );
    case 'remove':
      if (!voter && !learner) return new ConfChangeRejectedError('not_a_member', id);
      if (voter && conf.voters.length === 1) return new ConfChangeRejectedError('last_voter', id);
      return normalizeConf(
        conf.voters.filter((v) => v !== id),
        conf.learners.filter((l) => l !== id),
      );
  }
}

export function writeConfState(w: ByteWriter, conf: ConfState): void {
  w.uvarint(conf.voters.length);
  for (const v of conf.voters) w.stringUvarint(v);
  w.uvarint(conf.learners.length);
  for (const l of conf.learners) w.stringUvarint(l);
}

export function readConfState(r: ByteReader): ConfState {
  const voters = readIds(r, 'voters');
  const learners = readIds(r, 'learners');
  return { voters, learners };
}

function readIds(r: ByteReader, what: string): NodeId[] {
  const n = r.uvarint();
  if (n > CONF_MEMBERS_MAX) throw new ProtocolError('raft_conf_too_large', `${n} ${what} > ${CONF_MEMBERS_MAX}`);
  const ids: NodeId[] = [];
  for (let i = 0; i < n; i++) ids.push(r.stringUvarint());
  return ids;
}

/** ConfChange entry data: u8 change tag, change node id, resulting ConfState. */
export function encodeConfChangeEntry(change: ConfChange, result: ConfState): Uint8Array {
  const w = new ByteWriter();
  w.u8(CHANGE_TAG[change.type]);
  w.stringUvarint(change.nodeId);
  writeConfState(w, result);
  return w.finish();
}

export function decodeConfChangeEntry(data: Uint8Array): { change: ConfChange; conf: ConfState } {
  const r = new ByteReader(data);
  const tag = r.u8();
  const nodeId = r.stringUvarint();
  const conf = readConfState(r);
  r.expectEnd('conf change entry');
  switch (tag) {
    case CHANGE_TAG.addLearner:
      return { change: { type: 'addLearner', nodeId }, conf };
    case CHANGE_TAG.addVoter:
      return { change: { type: 'addVoter', nodeId }, conf };
    case CHANGE_TAG.remove:
      return { change: { type: 'remove', nodeId }, conf };
    default:
      throw new ProtocolError('raft_bad_conf_change', `unknown conf change tag ${tag}`);
  }
}
