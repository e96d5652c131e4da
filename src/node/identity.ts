// A node's durable identity and the start-up rule that keeps a node that lost its data from
// voting (issue 7 item 5). Runs over the Env's Disk, so the simulator runs the same rule.
//
// `identity.json` in the data directory holds {version, clusterId, nodeId, state, rejoinId},
// written atomically and durably (temp, fdatasync, rename, syncDir): at bootstrap right after the
// WAL was created, at a rejoin before (src/node/services.ts says why). On every start, BEFORE the WAL is opened (a refused start creates nothing),
// the node decides (decideStart) from the identity and whether its WAL directory exists:
//
//   identity  WAL      config / identity state       →
//   missing   exists   -                             adopt (a dir from before identities, or a
//                                                    crash between WAL creation and identity)
//   missing   none     rejoin                        rejoin: a new rejoin id, start as a non-member
//   missing   none     initialClusterState 'new'     bootstrap: voters from the config
//   missing   none     'existing'                    REFUSE (node_data_missing): the data is gone
//   foreign   -        -                             REFUSE (node_identity_mismatch)
//   ours      exists   -                             restart (still rejoining if it was)
//   ours      none     state rejoining, or rejoin    rejoin (a new rejoin id if it was a member)
//   ours      none     otherwise                     REFUSE (node_data_missing): the WAL was lost
//
// An existing WAL, even an empty one, means the node never lost its log: a node's first vote or
// acknowledgement is preceded by a durable term in that WAL. state is 'rejoining' from a rejoin
// until the node sees itself a voter in a committed configuration (then NodeServices rewrites it
// as 'member'); while rejoining, the node starts as a non-member, withholds its vote and asks the
// leader to re-add it (src/raft/driver.ts).
//
// Why refuse: a voter's hard state (term, vote) and its acknowledged entries are promises. A node
// that comes back empty and votes again may vote twice in one term (two leaders) or help elect a
// leader that lacks entries it had acknowledged (lost commits). Only the config says whether an
// empty directory is a brand-new cluster (etcd's initial-cluster-state); the safe repair is to
// rejoin as a learner under a new rejoin id, be re-added by the leader, catch up, be promoted.

import { readWholeFileStable, writeFileAtomic } from '../env/disk-io.ts';
import type { Disk } from '../env/types.ts';
import { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';

export const IDENTITY_FILE = 'identity.json';
/** The identity file is tiny; anything larger is not ours. */
const IDENTITY_BYTES_MAX = limits.identityFileBytesMax;

export interface NodeIdentity {
  readonly version: 1;
  readonly clusterId: string;
  readonly nodeId: string;
  /** 'rejoining' until a committed configuration makes this node a voter again. */
  readonly state: 'member' | 'rejoining';
  /** Unique per rejoin (a leader re-adds a given rejoin once); '' if it never rejoined. */
  readonly rejoinId: string;
}

export interface StartDecision {
  readonly kind: 'bootstrap' | 'restart' | 'adopt' | 'rejoin';
  readonly identity: NodeIdentity;
  /** The identity file must be (re)written once the WAL exists (writeIdentity). */
  readonly write: boolean;
}

export interface StartInput {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly initialClusterState: 'new' | 'existing';
  readonly rejoin: boolean;
  /** The node's WAL directory holds files (checked before the WAL is opened, which creates it). */
  readonly walExists: boolean;
  /** Where the data lives, for messages only. */
  readonly dataDir: string;
  /** A fresh random id for a new rejoin (from the Env's Rng). */
  newRejoinId(): string;
}

/** Refusal to start: one clear line, the CLI exits 2. Not retriable: an operator must act. */
export class NodeIdentityError extends BaristaError<
  'node_data_missing' | 'node_identity_mismatch' | 'node_layout_old'
> {
  override readonly name = 'NodeIdentityError';
  constructor(code: 'node_data_missing' | 'node_identity_mismatch' | 'node_layout_old', message: string) {
    super(code, message);
  }
}

export function readIdentity(disk: Disk, dataDir: string): NodeIdentity | undefined {
  if (!disk.exists(IDENTITY_FILE)) return undefined;
  // Read until two reads agree: a transient bit flip must not make a node refuse to start (the
  // swarm's read-bitflip class found it).
  const { bytes, agreed } = readWholeFileStable(disk, IDENTITY_FILE);
  const bad = (why: string): NodeIdentityError =>
    new NodeIdentityError(
      'node_identity_mismatch',
      `${dataDir}/${IDENTITY_FILE} is unreadable (${why}); this directory may not belong to this node`,
    );
  if (!agreed) throw bad('every read returned different bytes');
  if (bytes.length > IDENTITY_BYTES_MAX) throw bad(`${bytes.length} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad('not JSON');
  }
  const o = raw as Record<string, unknown>;
  if (
    typeof o !== 'object' ||
    o === null ||
    o['version'] !== 1 ||
    typeof o['clusterId'] !== 'string' ||
    typeof o['nodeId'] !== 'string' ||
    (o['state'] !== 'member' && o['state'] !== 'rejoining') ||
    typeof o['rejoinId'] !== 'string'
  ) {
    throw bad('unknown shape');
  }
  return {
    version: 1,
    clusterId: o['clusterId'],
    nodeId: o['nodeId'],
    state: o['state'],
    rejoinId: o['rejoinId'],
  };
}

export function writeIdentity(disk: Disk, identity: NodeIdentity): void {
  writeFileAtomic(disk, IDENTITY_FILE, [new TextEncoder().encode(`${JSON.stringify(identity)}\n`)]);
}

/** Applies the table in the header. Writes nothing: the caller writes the identity after the WAL. */
export function decideStart(disk: Disk, input: StartInput): StartDecision {
  const existing = readIdentity(disk, input.dataDir);
  const ours = (state: NodeIdentity['state']): NodeIdentity => ({
    version: 1,
    clusterId: input.clusterId,
    nodeId: input.nodeId,
    state,
    rejoinId: state === 'rejoining' ? input.newRejoinId() : '',
  });
  const missing = (why: string): NodeIdentityError =>
    new NodeIdentityError(
      'node_data_missing',
      `${why}: this node may have lost acknowledged data and must not vote; start it with \`barista node --rejoin\` to rejoin as a learner (README: "Replacing a node")`,
    );
  if (existing === undefined) {
    if (input.walExists) return { kind: 'adopt', identity: ours('member'), write: true };
    if (input.rejoin) return { kind: 'rejoin', identity: ours('rejoining'), write: true };
    if (input.initialClusterState === 'new') return { kind: 'bootstrap', identity: ours('member'), write: true };
    throw missing(`data directory ${input.dataDir} is empty, but initialClusterState is 'existing'`);
  }
  if (existing.clusterId !== input.clusterId || existing.nodeId !== input.nodeId) {
    throw new NodeIdentityError(
      'node_identity_mismatch',
      `data directory ${input.dataDir} belongs to node "${existing.nodeId}" of cluster "${existing.clusterId}", not node "${input.nodeId}" of cluster "${input.clusterId}"`,
    );
  }
  if (input.walExists) return { kind: 'restart', identity: existing, write: false };
  if (existing.state === 'rejoining') return { kind: 'rejoin', identity: existing, write: false };
  if (input.rejoin) return { kind: 'rejoin', identity: ours('rejoining'), write: true };
  throw missing(`data directory ${input.dataDir} has this node's identity but its Raft log is gone`);
}
