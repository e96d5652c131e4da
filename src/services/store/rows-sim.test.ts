// Goal: the rows layout (store.replication.collections rows: src/dynamo/replica-rows.ts) loses no
// acknowledged add (SADD, HSET of a new field, RPUSH, ZADD) under faults, checked by our own checker (src/check: Jepsen's set checker,
// checkLostWrites) on the history of a random workload through RESP on 3 simulated nodes, N = 3.
//   - Workload (seeded): adds of unique elements to two sets, a hash, a list and a sorted set, at ONE or
//     QUORUM, from random live nodes; in the first two thirds, now and then a churn of a key (DEL,
//     or DEL, a write of another type, DEL: the key's type changes and back, so headers are
//     dropped and made again; the last third's adds are all checked); a nemesis that isolates one node and
//     heals, and crashes and restarts nodes (at most one down). Under store.sync periodic (the
//     default) and always; and under always with the simulator's random nemesis (partitions,
//     crashes also inside disk I/O, pauses, clock drift and steps, clogging, loss; 8 seeds pass
//     by hand). ROWS_SIM_SEEDS=a,b,... runs other seeds (c-n pass every check by hand since the
//     lists joined, 2026-12-06; a volume guard can miss on one: seed l's random nemesis leaves 13
//     acknowledged adds, seed e's 12 QUORUM pushes in the lists' final read; since the bulk adds,
//     2026-12-07, seed k under always shows known gap (2) of docs/COMPAT-REDIS.md's rows layout:
//     removals at ONE on two nodes that together emptied h0, neither emptying it, leave EXISTS 1,
//     TYPE hash, HLEN 0 on every node; nothing lost); ROWS_SIM_LOG=1
//     prints the workload's events. Now and then an EXPIRE (years ahead) or a PERSIST of a key.
//     Removals (SREM, HDEL, LREM, ZREM) of an element added before, which makes its add
//     indeterminate. A lagging variant replays no hint and runs no anti-entropy until the end, with
//     removals as often as adds: a node cut off stays behind, keys stay small, and a coordinator
//     lacking rows often removes all it holds.
//   - Then: every node up and connected, anti-entropy passes (BARISTA REPAIR) until quiet, and a
//     final SMEMBERS / HKEYS / LRANGE / ZRANGE of every key at ALL, and EXISTS of each on every
//     node: a key exists iff it holds elements (a marker counting 0 for a collection holding
//     elements read as absent: the lagging variant finds it on seed a with the mutation
//     'store-rows-lacking-ignored', as before 5f8ea63).
//   - Lists (since 2026-12-06): adds are LPUSH or RPUSH at random, and half of a list's removals
//     are an LPOP or RPOP (the element answered is removed; no definite answer makes every add
//     of the key indeterminate). A LISTS variant pushes and pops two lists, seldom churned, so
//     many acknowledged QUORUM pushes stay for the order check.
//   - Bulk adds (since 2026-12-07): now and then one SADD or ZADD names many new members, up to
//     what one command may change at N > 1 (1,024 members, 4,096 sorted-set members). Found on
//     their first run: a peer refused a change of more than 1,024 elements as malformed (the
//     simulator's tripwire on peer_messages_rejected_total), so such a ZADD or RPUSH timed out at
//     QUORUM and reached the peers only by a hint's pull (src/dynamo/messages.ts DELTAS_COUNT_MAX).
//     A third of them have members of 1,000 bytes: up to ~4 MB in one command, refused past
//     storeChangeBytesMax with nothing written (recorded indeterminate), never a change message
//     over dynamoMessageBytesMax (the tripwire on dynamo_messages_oversize_total).
//   - Checked: every add acknowledged after its key's last churn began is in the final read; no
//     element whose adds all failed is; no element nobody added is; no element an acknowledged
//     removal or pop took is (each element has one dot, and a removal takes the dots it saw);
//     under store.sync always, acknowledged QUORUM pushes onto one list with no churn between
//     keep their real-time order (an LPUSH lands before, an RPUSH after, every element pushed
//     before it: the push's read of R replicas meets the W that acknowledged the other).
//   - Found when pops joined (2026-12-06): a list emptied by pops on nodes that never saw an
//     element pushed at ONE on a node cut off read as absent on every node once all held the
//     element (EXISTS 0 with LRANGE answering it; seeds b and d of the lagging variant): an
//     emptied marker now says what its coordinator had seen (replica.ts shownWithRows). Adds before a churn (which may
//     remove them), adds without an answer, and under store.sync periodic an add acknowledged at
//     ONE by a node that crashed within the sync interval (a cut-off node's write lives only there:
//     periodic sync may lose it, as documented; seed e shows one) are recorded as indeterminate.
//   - Found on its first runs (2026-12-06): under periodic sync a header's replica id outlived a
//     crash, and the next life went on counting from what the crash had kept, reusing dots the
//     previous life had shipped (acknowledged SADDs lost, seed a): ids are per life now.
// Negative controls: the mutation 'dynamo-collection-actor-bare' (a collection's dots under the
// bare actor id, as before 2026-12-06: a header made again counts from 1) lost acknowledged SADDs
// here alone until 2026-12-05, when a type change started keeping the old collection's context
// (a review found removals coming back without it); now it takes 'dynamo-collection-drop-context'
// too (the header made again over another type's, empty) for the last test to find lost SADDs.
// Keeping a former life's id (the check of collectionActorPrefix removed) fails seed a under periodic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLostWrites } from '../../check/consistency/index.ts';
import { limits } from '../../lib/limits.ts';
import { HistoryRecorder } from '../../check/recorder.ts';
import { mutationsFrom } from '../../lib/mutations.ts';
import { SeededRng } from '../../lib/rng.ts';
import { randomNemesis } from '../../sim/nemesis.ts';
import { replicatedCluster } from '../../../test/support/replicated-cluster.ts';
import { storeOf } from './service.ts';
import { runCommands } from './sim-client.ts';

const NODES = ['n1', 'n2', 'n3'];
/**
 * Sets (SADD, SMEMBERS), a hash (HSET of a new field, HKEYS), a list (RPUSH, LRANGE) and a sorted
 * set (ZADD, ZRANGE): each add names a new element.
 */
const KEYS = ['s0', 's1', 'h0', 'l0', 'l1', 'z0'];
/** An add of a new element (a list's at its head when `head`, else at its tail). */
const ADD: Record<string, (key: string, element: string, head: boolean) => string[]> = {
  s: (key, e) => ['SADD', key, e],
  h: (key, e) => ['HSET', key, e, 'v'],
  l: (key, e, head) => [head ? 'LPUSH' : 'RPUSH', key, e],
  z: (key, e) => ['ZADD', key, '1', e],
};
/**
 * Adds of many new elements in one command (SADD and ZADD: not a list's, whose order check takes one
 * element per push), up to what one command may change at N > 1: storeSetMembersCountMax set members,
 * storeCollectionChangesCountMax / 2 sorted-set members (a delta per element to each peer: a peer
 * refused the ZADDs and RPUSHes of more than 1,024 as malformed until 2026-12-07).
 */
const BULK: Record<string, { countMax: number; command: (key: string, members: readonly string[]) => string[] }> = {
  s: { countMax: limits.storeSetMembersCountMax, command: (key, ms) => ['SADD', key, ...ms] },
  z: {
    countMax: limits.storeCollectionChangesCountMax / 2,
    command: (key, ms) => ['ZADD', key, ...ms.flatMap((m) => ['1', m])],
  },
};
/** The chance an add of a set or a sorted set is a bulk one. */
const BULK_ROLL = 0.08;
/**
 * The chance a bulk add's members are long (BULK_LONG_BYTES each): up to ~4 MB in one command,
 * past storeChangeBytesMax (refused, nothing written) or near it, whose change message must still
 * fit dynamoMessageBytesMax (the tripwire on dynamo_messages_oversize_total).
 */
const BULK_LONG_ROLL = 0.3;
const BULK_LONG_BYTES = 1_000;

/** `count` new members of step `step`'s bulk add, padded to BULK_LONG_BYTES when `long`. */
function bulkMembers(step: number, count: number, long: boolean): string[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `m${step}.${i}`;
    return long ? name.padEnd(BULK_LONG_BYTES, '~') : name;
  });
}
const READ: Record<string, (key: string) => string[]> = {
  s: (key) => ['SMEMBERS', key],
  h: (key) => ['HKEYS', key],
  l: (key) => ['LRANGE', key, '0', '-1'],
  z: (key) => ['ZRANGE', key, '0', '-1'],
};
/** A removal of one element, named (each element is added once, so it removes that add's). */
const REMOVE: Record<string, (key: string, element: string) => string[]> = {
  s: (key, e) => ['SREM', key, e],
  h: (key, e) => ['HDEL', key, e],
  l: (key, e) => ['LREM', key, '0', e],
  z: (key, e) => ['ZREM', key, e],
};
/** A write of each other type, to change a key's type and back in a churn. */
const OTHER: Record<string, (key: string) => string[][]> = {
  s: (key) => [
    ['HSET', key, 'f', 'v'],
    ['LPUSH', key, 'x'],
    ['SET', key, 'str'],
  ],
  h: (key) => [
    ['SADD', key, 'x'],
    ['LPUSH', key, 'x'],
    ['SET', key, 'str'],
  ],
  l: (key) => [
    ['SADD', key, 'x'],
    ['HSET', key, 'f', 'v'],
    ['SET', key, 'str'],
  ],
  z: (key) => [
    ['SADD', key, 'x'],
    ['LPUSH', key, 'x'],
    ['SET', key, 'str'],
  ],
};
const STEPS = 160;
/** store.syncIntervalMs's default, with the margin of one step's time. */
const SYNC_INTERVAL_MS = 1_000 + 100;
/** store.sync: periodic (the default) may lose a life's unsynced writes in a crash; always never does. */
type Sync = 'periodic' | 'always';

interface Add {
  readonly key: string;
  readonly member: string;
  /** Its reply: ':1' ok, an error (WRONGTYPE, UNAVAILABLE: did not happen; TIMEOUT: may have), or undefined (no answer). */
  readonly reply: string | undefined;
  /** A churn of its key began after it, or a removal of its element (it may be removed). */
  churned: boolean;
  /** Acknowledged at ONE by a node that crashed within the periodic sync's interval after (it may be lost). */
  unsynced: boolean;
  readonly node: string;
  readonly level: string;
  readonly atMs: number;
  /** Its command (SADD, LPUSH, RPUSH, ...). */
  readonly command: string;
  /** The churns of its key begun before it. */
  readonly epoch: number;
}

/** An acknowledged removal of one element: an SREM, HDEL, LREM or ZREM answering 1, or a pop answering the element. */
interface Removal {
  readonly key: string;
  readonly member: string;
  readonly command: string;
  readonly node: string;
  readonly level: string;
  readonly atMs: number;
  /** At ONE by a node that crashed within the periodic sync's interval after (it may be lost). */
  unsynced: boolean;
}

/** The workload's adds and the final reads (null: the key's read failed, e.g. it is not a set). */
/**
 * The workload's variants: `lagging` replays no hint and runs no anti-entropy until the end, so a
 * node cut off stays behind on what it missed, and removals come as often as adds (`removeRoll`:
 * the rolls below it, past the nemesis' and churn's, remove), so keys stay small and a coordinator
 * that lacks rows often removes all it holds (replica.ts mayLackRows).
 */
interface Variant {
  readonly removeRoll: number;
  readonly lagging: boolean;
  /** The keys written (KEYS unless said). */
  readonly keys?: readonly string[];
  /** The rolls below it, past the nemesis', churn a key (in the first two thirds). */
  readonly churnRoll?: number;
  readonly steps?: number;
  /** No bulk adds (a negative control's pinned seed, found before they joined). */
  readonly noBulk?: true;
}
const PLAIN: Variant = { removeRoll: 0.36, lagging: false };
const LAGGING: Variant = { removeRoll: 0.5, lagging: true };
/** Two lists, pushed at either end, seldom churned or popped: many acknowledged QUORUM pushes stay for the order check. */
const LISTS: Variant = { keys: ['l0', 'l1'], churnRoll: 0.15, removeRoll: 0.2, lagging: false, steps: 240 };

function run(
  seed: string,
  sync: Sync,
  mutation?: string | readonly string[],
  nemesis: 'simple' | 'random' = 'simple',
  variant: Variant = PLAIN,
): { adds: Add[]; removals: Removal[]; finals: Map<string, string[] | null>; shown: string[]; faults: number } {
  const sim = replicatedCluster(
    `rows-sim-${seed}`,
    NODES,
    3,
    {
      consistency: 'QUORUM',
      sync,
      replication: {
        collections: 'rows',
        ...(variant.lagging ? { hintReplayIntervalMs: 3_600_000, antiEntropyIntervalMs: 0 } : {}),
      },
    },
    mutation === undefined ? undefined : mutationsFrom(typeof mutation === 'string' ? [mutation] : mutation),
  );
  const rng = new SeededRng(`rows-sim-ops-${seed}`);
  // Its own stream: the bulk adds leave the rest of the workload's choices as they were.
  const bulkRng = new SeededRng(`rows-sim-bulk-${seed}`);
  if (nemesis === 'random')
    sim.schedule(
      randomNemesis(sim.forkRng('nemesis'), NODES, {
        kinds: ['partition', 'crash', 'crash-in-io', 'pause', 'clock', 'clock-step', 'clog', 'loss'],
        startMs: sim.nowMs,
        endMs: sim.nowMs + 30_000,
        downMax: 1,
        clockStepMsMax: 60_000,
      }),
    );
  const adds: Add[] = [];
  const removals: Removal[] = [];
  const epochs = new Map<string, number>();
  const down = new Set<string>();
  let cut: { heal(): void } | undefined;
  const live = () => NODES.filter((n) => !down.has(n) && sim.state(n) === 'up');
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const send = (node: string, cmds: string[][]): (string | undefined)[] => {
    try {
      return runCommands(sim, node, cmds, 5_000);
    } catch {
      return cmds.map(() => undefined); // no answer in time: indeterminate
    }
  };
  const log = (x: string) => {
    if (process.env['ROWS_SIM_LOG'] !== undefined) console.log(`t=${sim.nowMs} ${x}`);
  };
  const steps = variant.steps ?? STEPS;
  for (let step = 0; step < steps; step++) {
    // Each step: every live node's rows pulls hold their slots, within dynamoRowPullsCountMax.
    for (const n of live()) assert.equal(storeOf(sim.instance(n)!).replica!.replica.pullsProblem(), null, n);
    const roll = rng.float();
    if (nemesis === 'random') {
      // The scheduled faults run on their own (the steps spread over their 30 s); a node they took
      // down is skipped.
      sim.runFor(150);
      if (live().length === 0) {
        sim.runFor(500);
        continue;
      }
    } else if (roll < 0.08) {
      // Nemesis: isolate one node, or heal.
      if (cut === undefined) {
        const node = pick(NODES);
        cut = sim.network.partition([NODES.filter((n) => n !== node), [node]]);
      } else {
        cut.heal();
        cut = undefined;
      }
      sim.runFor(2_000);
      continue;
    }
    if (nemesis === 'simple' && roll < 0.13) {
      // Crash a node (at most one down), or restart the one down.
      if (down.size === 0) {
        const n = pick(NODES);
        log(`crash ${n}`);
        sim.crash(n);
        // store.sync periodic: what n acknowledged alone in the last interval may be lost with it
        // (Redis' appendfsync everysec, Cassandra's periodic commit log).
        if (sync === 'periodic')
          for (const a of [...adds, ...removals])
            if (a.node === n && a.level === 'ONE' && sim.nowMs - a.atMs <= SYNC_INTERVAL_MS) a.unsynced = true;
        down.add(n);
      } else {
        const [n] = down;
        log(`restart ${n}`);
        sim.restart(n!);
        down.delete(n!);
      }
      sim.runFor(2_000);
      continue;
    }
    const key = pick(variant.keys ?? KEYS);
    const at = pick(live());
    const level = rng.float() < 0.5 ? 'ONE' : 'QUORUM';
    if (roll < (variant.churnRoll ?? 0.25) && step < (steps * 2) / 3) {
      const churn = rng.float() < 0.3 ? [['DEL', key]] : [['DEL', key], pick(OTHER[key[0]!]!(key)), ['DEL', key]];
      for (const a of adds) if (a.key === key) a.churned = true;
      epochs.set(key, (epochs.get(key) ?? 0) + 1);
      log(
        `churn ${key} at ${at} ${level} ${JSON.stringify(churn)} -> ${JSON.stringify(send(at, [['BARISTA', 'CONSISTENCY', level], ...churn]))}`,
      );
      continue;
    }
    if (roll < variant.removeRoll && key[0] === 'l' && rng.float() < 0.5) {
      // Pop a list's head or tail: the element answered is removed (its add becomes
      // indeterminate); without a definite answer any element may be, so every add of the key is.
      const command = rng.float() < 0.5 ? 'LPOP' : 'RPOP';
      const [, reply] = send(at, [
        ['BARISTA', 'CONSISTENCY', level],
        [command, key],
      ]);
      log(`${command} ${key} at ${at} ${level} -> ${reply}`);
      if (reply?.startsWith('$') === true) {
        const member = reply.slice(1);
        for (const a of adds) if (a.key === key && a.member === member) a.churned = true;
        removals.push({ key, member, command, node: at, level, atMs: sim.nowMs, unsynced: false });
      } else if (reply !== '_' && !/^-(WRONGTYPE|UNAVAILABLE) /.test(reply ?? ''))
        for (const a of adds) if (a.key === key) a.churned = true;
      continue;
    }
    if (roll < variant.removeRoll) {
      // Remove an element added before (its add becomes indeterminate): a coordinator that lacks
      // rows and removes what it holds must not count the key emptied (replica.ts mayLackRows).
      const added = adds.filter((a) => a.key === key && !a.churned);
      if (added.length > 0) {
        const a = pick(added);
        a.churned = true;
        const cmd = REMOVE[key[0]!]!(key, a.member);
        const [, reply] = send(at, [['BARISTA', 'CONSISTENCY', level], cmd]);
        log(`remove ${key} ${a.member} at ${at} ${level} -> ${reply}`);
        if (reply === ':1')
          removals.push({ key, member: a.member, command: cmd[0]!, node: at, level, atMs: sim.nowMs, unsynced: false });
        continue;
      }
    }
    if (roll < variant.removeRoll + 0.05) {
      // A deadline far past the run's end on every node's clock, or none: EXPIRE and PERSIST
      // rewrite the key's marker (typed.ts expireTyped) and change no element. (The simulator's
      // wall clocks differ by up to ~12 days here: a 100,000 s deadline had passed on one node,
      // whose next write cleared the expired list everywhere, as a deadline means.)
      const cmd = rng.float() < 0.5 ? ['EXPIRE', key, '100000000'] : ['PERSIST', key];
      log(`${cmd[0]} ${key} at ${at} ${level} -> ${send(at, [['BARISTA', 'CONSISTENCY', level], cmd])[1]}`);
      continue;
    }
    const bulk = BULK[key[0]!];
    // Now and then one command adds many (up to the bound of one command at N > 1: one delta per
    // element to each peer, and a peer's decoder must take as many as a command may make).
    const members =
      bulk !== undefined && variant.noBulk !== true && bulkRng.float() < BULK_ROLL
        ? bulkMembers(step, 2 + bulkRng.int(bulk.countMax - 1), bulkRng.float() < BULK_LONG_ROLL)
        : [`m${step}`];
    const cmd = members.length === 1 ? ADD[key[0]!]!(key, members[0]!, rng.float() < 0.5) : bulk!.command(key, members);
    const [, reply] = send(at, [['BARISTA', 'CONSISTENCY', level], cmd]);
    for (const member of members)
      adds.push({
        key,
        member,
        reply,
        churned: false,
        unsynced: false,
        node: at,
        level,
        atMs: sim.nowMs,
        command: cmd[0]!,
        epoch: epochs.get(key) ?? 0,
      });
    log(
      `add ${key} ${members.length === 1 ? members[0] : `${members.length} members`} ${cmd[0]} at ${at} ${level} -> ${reply}`,
    );
  }
  // Every node up and connected, then anti-entropy until quiet, then the final reads at ALL.
  cut?.heal();
  for (const n of down) sim.restart(n);
  sim.healAll();
  sim.runFor(5_000);
  for (let round = 0; round < 3; round++) {
    for (const id of NODES) runCommands(sim, id, [['BARISTA', 'REPAIR']]);
    sim.runUntilCondition(() => NODES.every((id) => !storeOf(sim.instance(id)!).replica!.antiEntropyBusy), 30_000);
    sim.runFor(2_000);
  }
  const finals = new Map<string, string[] | null>();
  for (const key of variant.keys ?? KEYS) {
    const [, members] = runCommands(sim, 'n1', [['BARISTA', 'CONSISTENCY', 'ALL'], READ[key[0]!]!(key)]);
    finals.set(key, members?.startsWith('*') ? parseMembers(members) : null);
  }
  // What every node shows of each key read (EXISTS at ALL): a key holds elements iff it exists.
  const shown: string[] = [];
  for (const [key, members] of finals) {
    if (members === null) continue;
    for (const id of NODES) {
      const [, exists] = runCommands(sim, id, [
        ['BARISTA', 'CONSISTENCY', 'ALL'],
        ['EXISTS', key],
      ]);
      if (exists !== (members.length > 0 ? ':1' : ':0'))
        shown.push(`${key} at ${id}: EXISTS ${exists} with ${members.length} elements`);
    }
  }
  return { adds, removals, finals, shown, faults: sim.stats().faultsInjected };
}

/** Elements an acknowledged removal or pop took that the final read still holds (a removal takes the dots it saw, and each element has one). */
function resurrected(removals: readonly Removal[], finals: ReadonlyMap<string, string[] | null>): string[] {
  const out: string[] = [];
  for (const r of removals) {
    if (r.unsynced) continue;
    if (finals.get(r.key)?.includes(r.member) === true)
      out.push(`${r.member} of ${r.key}, taken by ${r.command} at ${r.node} ${r.level} (t=${r.atMs})`);
  }
  return out;
}

/**
 * Pairs of acknowledged QUORUM pushes onto one list, the second sent after the first was
 * acknowledged (the workload is sequential) with no churn of the list between, both in the final
 * read, that it holds out of order: an LPUSH lands before every element a QUORUM push put there
 * before it, an RPUSH after (its read of R replicas meets the W that acknowledged the first, and
 * each answers its low- or high-water element: replica.ts). Under store.sync always only: under
 * periodic a replica that acknowledged the first may lose it in a crash.
 */
function misordered(adds: readonly Add[], finals: ReadonlyMap<string, string[] | null>): string[] {
  const out: string[] = [];
  const pushes = adds.filter(
    (a) => a.key.startsWith('l') && a.level === 'QUORUM' && /^:[1-9]/.test(a.reply ?? '') && !a.unsynced,
  );
  for (let j = 0; j < pushes.length; j++) {
    const b = pushes[j]!;
    const list = finals.get(b.key);
    const at = list?.indexOf(b.member) ?? -1;
    if (list === undefined || list === null || at < 0) continue;
    for (let i = 0; i < j; i++) {
      const a = pushes[i]!;
      if (a.key !== b.key || a.epoch !== b.epoch) continue;
      const before = list.indexOf(a.member);
      if (before < 0) continue;
      if (b.command === 'LPUSH' ? at > before : at < before)
        out.push(
          `${b.key}: ${b.command} ${b.member} (t=${b.atMs}) at ${at}, ${a.command} ${a.member} (t=${a.atMs}) at ${before}`,
        );
    }
  }
  return out;
}

/** `*[$a,$b]` (sim-client's show) as its members. */
function parseMembers(shown: string): string[] {
  const inner = shown.slice(2, -1);
  return inner === '' ? [] : inner.split(',').map((m) => m.slice(1));
}

/** The history the checker reads: every add (after its key's last churn with its outcome, before it indeterminate), then the final reads. */
function historyOf(adds: readonly Add[], finals: ReadonlyMap<string, string[] | null>): HistoryRecorder {
  const h = new HistoryRecorder();
  let p = 0;
  for (const a of adds) {
    const process = p++;
    h.invoke(process, 'add', a.member, { key: a.key });
    if (a.churned || a.unsynced || a.reply === undefined) h.info(process, a.member, { key: a.key });
    else if (/^:[1-9]/.test(a.reply)) h.ok(process, a.member, { key: a.key });
    // Definite failures only (nothing written); a timeout may have been applied.
    else if (/^-(WRONGTYPE|UNAVAILABLE) /.test(a.reply)) h.fail(process, a.member, { key: a.key, error: a.reply });
    else h.info(process, a.member, { key: a.key, error: a.reply });
  }
  for (const [key, members] of finals) {
    if (members === null) continue;
    const process = p++;
    h.invoke(process, 'final-read', null, { key });
    h.ok(process, members, { key });
  }
  return h;
}

function check(
  seed: string,
  sync: Sync,
  mutation?: string | readonly string[],
  nemesis: 'simple' | 'random' = 'simple',
  variant: Variant = PLAIN,
): {
  verdict: string;
  lost: number;
  checked: number;
  acked: number;
  shown: string[];
  faults: number;
  back: string[];
  disorder: string[];
  pushes: number;
  taken: number;
} {
  const { adds, removals, finals, shown, faults } = run(seed, sync, mutation, nemesis, variant);
  const result = checkLostWrites(historyOf(adds, finals).history(), { finalReadFs: ['final-read'] });
  const acked = adds.filter((a) => !a.churned && !a.unsynced && /^:[1-9]/.test(a.reply ?? '')).length;
  const checked = [...finals.values()].filter((m) => m !== null).length;
  const lost = result.anomalies.filter((x) => x.kind === 'lost-write').length;
  if (result.verdict !== 'valid' && mutation === undefined)
    assert.fail(`seed ${seed} (${sync}): ${JSON.stringify(result.anomalies.slice(0, 5))}`);
  if (shown.length > 0 && mutation === undefined) assert.fail(`seed ${seed} (${sync}): ${shown.join('; ')}`);
  const back = resurrected(removals, finals);
  if (back.length > 0 && mutation === undefined) assert.fail(`seed ${seed} (${sync}): came back: ${back.join('; ')}`);
  const disorder = sync === 'always' ? misordered(adds, finals) : [];
  if (disorder.length > 0 && mutation === undefined)
    assert.fail(`seed ${seed} (${sync}): out of order: ${disorder.slice(0, 5).join('; ')}`);
  // Acknowledged QUORUM pushes in the final read (the order check's pairs come from these).
  const pushes = adds.filter(
    (a) =>
      a.key.startsWith('l') &&
      a.level === 'QUORUM' &&
      /^:[1-9]/.test(a.reply ?? '') &&
      finals.get(a.key)?.includes(a.member),
  ).length;
  return {
    verdict: result.verdict,
    lost,
    checked,
    acked,
    shown,
    faults,
    back,
    disorder,
    pushes,
    taken: removals.length,
  };
}

const SEEDS = (process.env['ROWS_SIM_SEEDS'] ?? 'a,b').split(',');

for (const sync of ['periodic', 'always'] as const) {
  test(`rows layout (store.sync ${sync}) under partitions, crashes and type churn: no acknowledged SADD lost (checkLostWrites)`, () => {
    for (const seed of SEEDS) {
      const r = check(seed, sync);
      assert.equal(r.verdict, 'valid');
      assert.ok(r.checked >= 2, `seed ${seed}: ${r.checked} keys read at the end`);
      assert.ok(r.acked >= 20, `seed ${seed}: ${r.acked} SADDs acknowledged and checked`);
    }
  });
}

test('rows layout (store.sync always) under a random nemesis (partitions, crashes also inside disk I/O, pauses, clock steps, clogging, loss): no acknowledged add lost', () => {
  for (const seed of SEEDS) {
    const r = check(`random-${seed}`, 'always', undefined, 'random');
    assert.equal(r.verdict, 'valid');
    assert.ok(r.faults >= 5, `seed ${seed}: ${r.faults} faults`);
    assert.ok(r.checked >= 2, `seed ${seed}: ${r.checked} keys read at the end`);
    assert.ok(r.acked >= 15, `seed ${seed}: ${r.acked} adds acknowledged and checked`);
  }
});

test("negative control: with dots under the bare actor id and a type change forgetting the old context ('dynamo-collection-actor-bare', 'dynamo-collection-drop-context') the checker finds lost SADDs", () => {
  const found = ['a', 'b', 'c', 'd'].map((seed) =>
    check(seed, 'always', ['dynamo-collection-actor-bare', 'dynamo-collection-drop-context']),
  );
  assert.ok(
    found.some((r) => r.lost > 0),
    JSON.stringify(found),
  );
});

test('rows layout with lagging replicas (no hint replayed, no anti-entropy until the end) and removals as often as adds: no acknowledged add lost, and every key exists on every node iff it holds elements (negative control: store-emptied-unseen)', () => {
  for (const seed of SEEDS) {
    const r = check(seed, 'always', undefined, 'simple', LAGGING);
    assert.equal(r.verdict, 'valid');
    assert.deepEqual(r.shown, []);
    assert.ok(r.checked >= 2, `seed ${seed}: ${r.checked} keys read at the end`);
  }
  // An emptied marker that does not say what its coordinator had seen: a list whose element was
  // pushed at ONE on a node cut off, while pops elsewhere emptied the list as they saw it, reads
  // as absent on every node once all hold the element (seeds b and d of a-h: l0; as every build
  // before 2026-12-06 did, the day pops and LPUSH joined this workload and found it). The
  // mutation 'store-rows-lacking-ignored' (a removal by a coordinator lacking rows not read again
  // with every row), which seed a showed here before, no longer shows once the replicas converge:
  // the rows it did not count have dots its marker had not seen (replicated-rows.test.ts checks
  // it before they converge).
  // Without the bulk adds (2026-12-07), whose members and timing move the run the seed was found on.
  const bug = run('b', 'always', 'store-emptied-unseen', 'simple', { ...LAGGING, noBulk: true });
  assert.ok(bug.shown.length > 0, 'the mutation went unseen');
});

test('two lists pushed at either end and popped, with lagging replicas (no hint replayed, no anti-entropy until the end) and under a random nemesis: QUORUM pushes keep their real-time order, no popped or removed element comes back, no acknowledged push lost', () => {
  for (const seed of SEEDS) {
    for (const [variant, nemesis] of [
      [{ ...LISTS, lagging: true }, 'simple'],
      [LISTS, 'random'],
    ] as const) {
      const r = check(`lists-${seed}`, 'always', undefined, nemesis, variant);
      assert.equal(r.verdict, 'valid');
      assert.deepEqual([r.back, r.disorder], [[], []]);
      assert.ok(r.pushes >= 15, `seed ${seed} (${nemesis}): ${r.pushes} acknowledged QUORUM pushes in the final read`);
      assert.ok(r.taken >= 3, `seed ${seed} (${nemesis}): ${r.taken} elements popped or removed`);
    }
  }
});

test("negative controls: a push's edge from the coordinator's replica alone ('store-push-edge-own') puts QUORUM pushes out of order; a collection made over another type with an empty context ('dynamo-collection-drop-context') brings removed elements back", () => {
  const disorder = ['a', 'b', 'c'].map(
    (seed) =>
      check(`lists-${seed}`, 'always', 'store-push-edge-own', 'simple', { ...LISTS, lagging: true }).disorder.length,
  );
  assert.ok(
    disorder.some((n) => n > 0),
    JSON.stringify(disorder),
  );
  const back = ['b', 'd'].map(
    (seed) => check(seed, 'always', 'dynamo-collection-drop-context', 'simple', LAGGING).back.length,
  );
  assert.ok(
    back.some((n) => n > 0),
    JSON.stringify(back),
  );
});
