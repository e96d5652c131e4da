// The Raft groups one node hosts: their storage (one WAL and snapshot directory per group,
// `raft/<group>/{wal,snap}`), their drivers (src/raft/driver.ts), the one RaftGroupRouter that
// owns Raft's peer message types, and the start-up rule that spans them. The node declares its
// groups up front (the metadata group first); a service opens the group it uses with its state
// machine (`open`) and gets the driver back; membership operations cover every group.
//
// Start-up (identity.ts decides from "does this node's Raft data exist"):
//   - The data exists when any group's WAL has files. A data directory from before groups
//     (`metadata/wal`) is refused (node_layout_old): its log mixes what now lives in two groups;
//     repair by wiping the node and starting it with --rejoin (it rejoins every group).
//   - Every group's storage is recovered before any driver starts (a corrupt WAL fails the start
//     before any timer runs); the identity is written after all WALs exist (bootstrap/adopt) or
//     before any (rejoin), for the reasons services.ts gives.
//   - restart: a group whose WAL is missing while others exist lost its data: refused
//     (node_data_missing) like a wiped node, since its votes in that group are gone — unless the
//     identity says 'rejoining' and the group has not rejoined yet: a rejoin writes the identity
//     before it creates the WALs, so a crash between two groups' WALs leaves exactly this, and
//     that group simply rejoins (it never voted here under this identity).
//   - adopt (WALs but no identity): a group without a WAL is allowed only if every WAL present is
//     untouched (term 0, no vote, no entries: no driver ever ran, the crash was at bootstrap);
//     otherwise identity and a group's log were both lost (a partial restore) and that group
//     would start empty as a voter: refused (node_data_missing, naming the groups).
//   - bootstrap: no group has a WAL; each bootstraps from the config.
//   - rejoin: every group rejoins as a learner (same rejoin id; each group's leader re-adds the
//     node on its own); each group that finishes is recorded in the identity (`rejoined`), so a
//     restart reopens only the others in rejoin mode; the identity becomes 'member' once the node
//     is a voter in every group.
//
// Membership operations (`barista member add|remove|promote|replace`) run group by group, the
// metadata group first, then the others in the order declared, each on that group's leader; the
// first failure stops the sequence and names its group (the groups before it are done; re-running
// the operation is how an operator finishes it, as for a timed-out one: each operation is
// idempotent per group, and `add` moves past a group where the node is already a voter, refusing
// with already_member only when it is a voter in every group).

import type { Env } from '../env/types.ts';
import { assert } from '../lib/assert.ts';
import type { BaristaError } from '../lib/errors.ts';
import { limits } from '../lib/limits.ts';
import type { MessageRouter } from '../lib/router.ts';
import { type defaultRaftTiming, labelledMetrics, RaftDriver, type RaftDriverOptions } from '../raft/driver.ts';
import { isValidGroupId, RaftGroupRouter } from '../raft/group-router.ts';
import type { MemberOpDone } from '../raft/member-changes.ts';
import type { MemberOp } from '../raft/member-codec.ts';
import { defaultRaftStorageOptions, WalRaftStorage } from '../storage/raft-storage.ts';
import {
  decideStart,
  IDENTITY_FILE,
  type NodeIdentity,
  NodeIdentityError,
  type StartDecision,
  writeIdentity,
} from './identity.ts';

/** The group that holds cluster-level state; always first. */
export const METADATA_GROUP = 'metadata';
/** Where the single group of the layout before groups kept its WAL. */
const PRE_GROUPS_WAL_DIR = 'metadata/wal';

export function groupDir(group: string): string {
  return `raft/${group}`;
}

/** The Raft driver's timing and bounds, as configured (same keys as defaultRaftTiming). */
export type RaftTiming = { -readonly [K in keyof typeof defaultRaftTiming]: number } & {
  readOnly?: 'safe' | 'lease';
};

export interface RaftGroupsConfig {
  /** Declared groups, METADATA_GROUP first. */
  readonly groups: readonly string[];
  readonly clusterId: string;
  readonly peers: readonly string[];
  readonly raft: RaftTiming;
  readonly initialClusterState: 'new' | 'existing';
  readonly rejoin: boolean;
  readonly dataDir: string;
  /** The WALs' preallocation step (absent: walDefaults.preallocateBytesMax). */
  readonly walPreallocateBytesMax?: number;
  /** Every group's snapshot data bound (absent: limits.snapshotDataBytesMax); see ServicesConfig. */
  readonly snapshotDataBytesMax?: number;
}

/** What a service chooses when it opens its group; the rest comes from the node. */
export interface OpenGroupOptions {
  readonly stateMachine: RaftDriverOptions['stateMachine'];
  readonly incarnation: number;
  readonly stampProposal?: RaftDriverOptions['stampProposal'];
}

type MembersView = ReturnType<RaftDriver['membersView']>;

export class RaftGroups {
  readonly router: RaftGroupRouter;
  readonly start: StartDecision;
  private readonly storages = new Map<string, WalRaftStorage>();
  private readonly drivers = new Map<string, RaftDriver>();
  /** all()'s answer, kept until a group opens (drivers are never removed). */
  private opened: readonly { readonly group: string; readonly driver: RaftDriver }[] | undefined;
  /** Groups still rejoining (identity 'rejoining' until this is empty). */
  private readonly rejoining = new Set<string>();
  /** The identity as last written (rejoined groups are added as they finish). */
  private identity: NodeIdentity;

  constructor(
    private readonly env: Env,
    messages: MessageRouter,
    private readonly config: RaftGroupsConfig,
  ) {
    const groups = config.groups;
    assert(groups[0] === METADATA_GROUP, 'the metadata group comes first');
    assert(groups.length <= limits.raftGroupsCountMax, 'more groups than raftGroupsCountMax');
    assert(new Set(groups).size === groups.length && groups.every(isValidGroupId), 'group ids are valid and unique');
    const walHas = (group: string): boolean => env.disk.list(`${groupDir(group)}/wal`).length > 0;
    const present = new Set(groups.filter(walHas));
    if (present.size === 0 && env.disk.list(PRE_GROUPS_WAL_DIR).length > 0) {
      throw new NodeIdentityError(
        'node_layout_old',
        `data directory ${config.dataDir} holds ${PRE_GROUPS_WAL_DIR}, the layout before Raft groups (now raft/<group>/wal); wipe it and start the node with \`barista node --rejoin\` to rejoin every group`,
      );
    }
    this.start = decideStart(env.disk, {
      clusterId: config.clusterId,
      nodeId: env.nodeId,
      initialClusterState: config.initialClusterState,
      rejoin: config.rejoin,
      walExists: present.size > 0,
      dataDir: config.dataDir,
      newRejoinId: () => Buffer.from(env.rng.fork('rejoin').bytes(16)).toString('hex'),
    });
    this.identity = this.start.identity;
    const rejoined = new Set(this.identity.state === 'rejoining' ? (this.identity.rejoined ?? []) : []);
    if (this.start.kind === 'restart') {
      // While rejoining, a group that has not rejoined yet may lack its WAL (see the header).
      const lost = groups.filter((g) => !present.has(g) && (this.identity.state !== 'rejoining' || rejoined.has(g)));
      if (lost.length > 0)
        throw new NodeIdentityError(
          'node_data_missing',
          `data directory ${config.dataDir}: the Raft log of group(s) ${lost.join(', ')} is gone while the others are intact; this node may have lost acknowledged data and must not vote: wipe it and start it with \`barista node --rejoin\``,
        );
    }
    const rejoinFirst = this.start.write && this.start.kind === 'rejoin';
    if (rejoinFirst) writeIdentity(env.disk, this.start.identity);
    try {
      for (const group of groups) {
        const defaults = defaultRaftStorageOptions(groupDir(group));
        const prealloc = config.walPreallocateBytesMax;
        const options = {
          ...defaults,
          wal: prealloc === undefined ? defaults.wal : { ...defaults.wal, preallocateBytesMax: prealloc },
          snapshots: {
            ...defaults.snapshots,
            dataBytesMax: config.snapshotDataBytesMax ?? defaults.snapshots.dataBytesMax,
          },
        };
        // An entry's WAL record carries the command plus a small header.
        assert(
          limits.raftEntryBytesMax + 64 <= options.wal.recordPayloadBytesMax,
          'a Raft entry must fit in a WAL record',
        );
        const storage = WalRaftStorage.open(
          {
            disk: env.disk,
            clock: env.clock,
            log: env.log.child({ group }),
            metrics: labelledMetrics(env.metrics, { group }),
            mutations: env.mutations,
          },
          options,
        );
        this.storages.set(group, storage);
      }
      if (this.start.kind === 'adopt') this.refusePartialAdopt(groups, present);
      if (this.start.write && !rejoinFirst) writeIdentity(env.disk, this.start.identity);
    } catch (err) {
      this.closeStorage();
      throw err;
    }
    if (this.identity.state === 'rejoining') for (const g of groups) if (!rejoined.has(g)) this.rejoining.add(g);
    this.router = new RaftGroupRouter(messages, env.transport);
  }

  /** Adopt with a group's WAL missing: only if no present WAL was ever used (see the header). */
  private refusePartialAdopt(groups: readonly string[], present: ReadonlySet<string>): void {
    const missing = groups.filter((g) => !present.has(g));
    if (missing.length === 0) return;
    const used = groups.filter((g) => {
      const s = present.has(g) ? this.storages.get(g) : undefined;
      if (s === undefined) return false;
      const hs = s.hardState();
      return hs.term !== 0 || hs.vote !== undefined || s.lastIndex() > 0 || s.snapshot().meta.index > 0;
    });
    if (used.length === 0) return;
    throw new NodeIdentityError(
      'node_data_missing',
      `data directory ${this.config.dataDir} has no ${IDENTITY_FILE} and no Raft log for group(s) ${missing.join(', ')}, while group(s) ${used.join(', ')} hold a used log: a partial restore or loss; starting would make this node an empty voter in ${missing.join(', ')}: wipe it and start it with \`barista node --rejoin\``,
    );
  }

  /** Starts the driver of a declared group over its recovered storage. */
  open(group: string, o: OpenGroupOptions): RaftDriver {
    const storage = this.storages.get(group);
    assert(storage !== undefined, `Raft group ${group} was not declared`);
    assert(!this.drivers.has(group), `Raft group ${group} opened twice`);
    const env = this.env;
    const identity = this.identity;
    const rejoining = this.rejoining.has(group);
    const driver = new RaftDriver(env, this.router, {
      group,
      // A rejoining node learns its configuration from the leader (RaftOptions.voters).
      voters: rejoining ? [] : [env.nodeId, ...this.config.peers].sort(),
      ...(rejoining
        ? {
            rejoin: {
              rejoinId: identity.rejoinId,
              peers: this.config.peers,
              onRejoined: () => {
                if (!this.rejoining.delete(group)) return;
                const { rejoined: _, ...rest } = this.identity;
                const done = this.config.groups.filter((g) => !this.rejoining.has(g));
                this.identity = this.rejoining.size === 0 ? { ...rest, state: 'member' } : { ...rest, rejoined: done };
                writeIdentity(env.disk, this.identity);
              },
            },
          }
        : {}),
      incarnation: o.incarnation,
      ...(o.stampProposal !== undefined ? { stampProposal: o.stampProposal } : {}),
      storage,
      stateMachine: o.stateMachine,
      ...this.config.raft,
    });
    this.drivers.set(group, driver);
    this.opened = undefined;
    return driver;
  }

  get(group: string): RaftDriver | undefined {
    return this.drivers.get(group);
  }

  /** Open groups in declaration order (metadata first). */
  all(): readonly { readonly group: string; readonly driver: RaftDriver }[] {
    // Kept until the next open: the simulator's invariants ask after every event.
    this.opened ??= this.config.groups.flatMap((group) => {
      const driver = this.drivers.get(group);
      return driver === undefined ? [] : [{ group, driver }];
    });
    return this.opened;
  }

  status(): Record<string, ReturnType<RaftDriver['status']>> {
    const out: Record<string, ReturnType<RaftDriver['status']>> = {};
    for (const { group, driver } of this.all()) out[group] = driver.status();
    return out;
  }

  /** One operator's membership operation applied to every group in turn (see the header). */
  memberOp(op: MemberOp, nodeId: string, done: MemberOpDone): void {
    const groups = this.all();
    /** Set while every group so far refused an `add` because the node is a voter there. */
    let alreadyEverywhere: BaristaError | undefined;
    const next = (i: number): void => {
      const g = groups[i];
      if (g === undefined) return done(alreadyEverywhere);
      g.driver.memberOp(op, nodeId, (error) => {
        if (error === undefined) {
          alreadyEverywhere = undefined;
          return next(i + 1);
        }
        // A voter already in this group: move on, so re-running an `add` that stopped half-way
        // completes it in the remaining groups; refused only if it is a voter in every group.
        if (op === 'add' && error.code === 'already_member') {
          if (i === 0 || alreadyEverywhere !== undefined) alreadyEverywhere = error;
          return next(i + 1);
        }
        // The message names the group; code, definite and retriable stay the group's own.
        error.message = `group ${g.group}: ${error.message}`;
        done(error);
      });
    };
    next(0);
  }

  /** The metadata group's view (the cluster's members) plus every group's own. */
  membersView(): MembersView & { groups: Record<string, MembersView> } {
    const groups: Record<string, MembersView> = {};
    for (const { group, driver } of this.all()) groups[group] = driver.membersView();
    const metadata = this.drivers.get(METADATA_GROUP);
    assert(metadata !== undefined, 'the metadata group is open');
    return { ...metadata.membersView(), groups };
  }

  /** Linearizable read barrier on every group in turn: the node serves when each has a leader. */
  read(done: (error: BaristaError | undefined) => void): void {
    const groups = this.all();
    const next = (i: number): void => {
      const g = groups[i];
      if (g === undefined) return done(undefined);
      g.driver.read((error) => (error === undefined ? next(i + 1) : done(error)));
    };
    next(0);
  }

  stop(): void {
    for (const { driver } of this.all()) driver.stop();
    this.closeStorage();
  }

  private closeStorage(): void {
    for (const s of this.storages.values()) s.close();
    this.storages.clear();
  }
}
