// The check that every node of the store's keyspace is configured alike: the settings that decide
// where keys live and how they are kept — N (`store.replication.replicas`) and, at N > 1, the
// layout of collections (`store.replication.collections`) — are recorded once on the token ring
// (src/dynamo/ring.ts, keyspace settings: the first ring's, from the node whose bootstrap
// committed) and compared with this node's at every ring it applies.
//
// States:
//   unchecked  no ring with settings yet (the metadata group has not committed one, or a ring an
//              older build wrote is being given settings: ring-keeper.ts). At N > 1 the replica
//              stays closed (driver.ts `closed`): it neither acknowledges a peer's write nor
//              coordinates one. At N = 1 commands run as before the check existed (routing by a
//              ring not yet known answers -CLUSTERDOWN anyway).
//   matched    the ring's settings equal this node's: the replica opens, and records the settings
//              it checked in its store (replica.ts KEYSPACE_SETTINGS_META) so that its next start
//              opens at once (the ring's settings never change) — or refuses at once, naming the
//              field, when the config has changed since (service.ts).
//              A node whose layout is tentative (it named none and its store keeps none) takes
//              the ring's layout when only that differs (`adopt`): its replica, still closed, has
//              written nothing in either (replica.ts layoutDeferred).
//   differs    the ring's settings are not this node's: the node serves no data, for good (until
//              it restarts with a config that matches). Its replica stops (a whole-layout replica
//              would misread a rows-layout peer's writes, a node at another N would answer for
//              keys it does not hold); every data command and forwarded command answers
//              -CLUSTERDOWN naming both settings; logged once, `store_settings_mismatch` is 1.
// A ring's settings never change (the ring namespace refuses it), so a state past `unchecked`
// never moves again.

import type { Gauge, Logger } from '../../env/types.ts';
import { describeSettings, type KeyspaceSettings, type Ring, settingsEqual } from '../../dynamo/ring.ts';

export type SettingsState = 'unchecked' | 'matched' | 'differs';

type Layout = KeyspaceSettings['collections'];

/**
 * The layout of collections a node at N > 1 runs with: the one configured, else the one its store
 * keeps, else the one its store checked against the ring (that record is written just before the
 * layout's own, in one sync: a crash between them must not leave a node that named no layout
 * refused at start), else rows, `tentative` (a default only: it defers to configured nodes and
 * takes the keyspace's; ring-keeper.ts, SettingsCheck adopt). A configured layout the store does
 * not keep is the caller's to refuse.
 */
export function runningLayout(
  configured: Layout | undefined,
  stored: Layout | undefined,
  checked: KeyspaceSettings | undefined,
): { readonly collections: Layout; readonly tentative: boolean } {
  const collections = configured ?? stored ?? checked?.collections;
  return { collections: collections ?? 'rows', tentative: collections === undefined };
}

export interface SettingsCheckHooks {
  readonly log: Logger;
  /** 1 while this node refuses for settings that differ from the keyspace's. */
  readonly mismatch: Gauge;
  /** The ring's settings equal this node's (called once). */
  onMatch(): void;
  /** The ring's settings differ (called once): stop serving. */
  onDiffer(message: string): void;
  /** The planted bug `store-settings-unchecked`: every ring's settings are taken as matching. */
  readonly unchecked?: boolean;
  /**
   * This node's layout is only a default (it named none, its store keeps none): told to take the
   * ring's instead (before onMatch) when that is all that differs. Absent: never.
   */
  adopt?(collections: 'whole' | 'rows'): void;
}

export class SettingsCheck {
  private state_: SettingsState = 'unchecked';
  private refusal_: string | undefined;
  private ringSettings: KeyspaceSettings | undefined;

  private mine_: KeyspaceSettings;

  constructor(
    mine: KeyspaceSettings,
    private readonly hooks: SettingsCheckHooks,
  ) {
    this.mine_ = mine;
    hooks.mismatch.set(0);
  }

  /** This node's settings (its layout the keyspace's once adopted). */
  get mine(): KeyspaceSettings {
    return this.mine_;
  }

  get state(): SettingsState {
    return this.state_;
  }

  /** The -CLUSTERDOWN message (without the code) data commands answer while settings differ. */
  get refusal(): string | undefined {
    return this.refusal_;
  }

  /** For /status: this node's settings, the keyspace's once known, and the state. */
  status(): { state: SettingsState; mine: string; keyspace: string | null } {
    return {
      state: this.state_,
      mine: describeSettings(this.mine_),
      keyspace: this.ringSettings === undefined ? null : describeSettings(this.ringSettings),
    };
  }

  /** Each ring this node applies (and the one it holds at start). */
  observe(ring: Ring): void {
    const theirs = ring.settings;
    if (this.state_ !== 'unchecked' || theirs === undefined) return;
    this.ringSettings = theirs;
    const adopt = this.hooks.adopt;
    if (adopt !== undefined && theirs.replicas === this.mine_.replicas && !settingsEqual(theirs, this.mine_)) {
      adopt(theirs.collections);
      this.mine_ = { ...this.mine_, collections: theirs.collections };
    }
    if (settingsEqual(theirs, this.mine_) || this.hooks.unchecked === true) {
      this.state_ = 'matched';
      this.hooks.onMatch();
      return;
    }
    this.state_ = 'differs';
    this.refusal_ =
      `this node's keyspace settings (${describeSettings(this.mine_)}) differ from the cluster's ` +
      `(${describeSettings(theirs)}): it serves no data until its store.replication config matches (see its log)`;
    this.hooks.mismatch.set(1);
    this.hooks.log.error(
      { mine: this.mine_, keyspace: theirs, ringVersion: ring.version },
      "store: this node's store.replication settings differ from the keyspace's, recorded on the ring when the cluster was made; it serves no data and holds no replica until it is restarted with the keyspace's settings",
    );
    this.hooks.onDiffer(this.refusal_);
  }
}
