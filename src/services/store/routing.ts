// Which node runs a Redis command when every key has one owner (N = 1 over a ring of several
// nodes): the keys a command names (Redis' key specification: firstKey, lastKey, step, and the
// counted-keys commands), the part of each key that places it (Redis Cluster's hash tag: the bytes
// between the first `{` and the next `}` when that is not empty, so `{user1}:a` and `{user1}:b`
// live together; src/dynamo/slots.ts: the key's slot places it on the ring), and the verdict:
//   local      no key (PING, DBSIZE, SCAN: this node's own keyspace) or every key owned here;
//   forward    every key owned by one other node: it runs the whole command (forward.ts);
//   crossslot  keys owned by different nodes: Redis Cluster's CROSSSLOT error, nothing runs.
// Pure: the owner of a key comes in as a function (the ring's first replica of the key's slot).

import { hashTag } from '../../dynamo/slots.ts';
import type { NodeId } from '../../env/types.ts';

/** The part of a command's spec (src/redis/command.ts CommandSpec) that names its keys. */
export interface KeySpec {
  readonly name: string;
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
}

export type Route =
  | { readonly kind: 'local' }
  | { readonly kind: 'forward'; readonly to: NodeId }
  | { readonly kind: 'crossslot' };

/** Redis Cluster's answer when a command's keys live on different nodes. */
export const CROSSSLOT_MESSAGE = "CROSSSLOT Keys in request don't hash to the same slot";

/**
 * Commands whose keys are counted by an argument (Redis' "movablekeys"): the index of the count
 * and of the first key. Their firstKey/lastKey say nothing useful.
 */
const COUNTED_KEYS: ReadonlyMap<string, { readonly countAt: number; readonly firstAt: number }> = new Map([
  ['sintercard', { countAt: 1, firstAt: 2 }],
  ['zintercard', { countAt: 1, firstAt: 2 }],
  ['zunion', { countAt: 1, firstAt: 2 }],
  ['zinter', { countAt: 1, firstAt: 2 }],
  ['zdiff', { countAt: 1, firstAt: 2 }],
  ['lmpop', { countAt: 1, firstAt: 2 }],
  ['zmpop', { countAt: 1, firstAt: 2 }],
  ['blmpop', { countAt: 2, firstAt: 3 }],
  ['bzmpop', { countAt: 2, firstAt: 3 }],
]);

/** Destination first, then counted sources: ZUNIONSTORE dest numkeys key... */
const STORE_COUNTED_KEYS: ReadonlySet<string> = new Set(['zunionstore', 'zinterstore', 'zdiffstore']);

/** The keys `argv` names, per the command's key specification. */
export function commandKeys(spec: KeySpec, argv: readonly Uint8Array[]): Uint8Array[] {
  const counted = COUNTED_KEYS.get(spec.name);
  if (counted !== undefined) return countedKeys(argv, counted.countAt, counted.firstAt, []);
  if (STORE_COUNTED_KEYS.has(spec.name)) return countedKeys(argv, 2, 3, argv[1] === undefined ? [] : [argv[1]]);
  // A container command whose subcommands name a key second (COMMAND INFO shows no key positions).
  if (spec.name === 'object') return argv.length === 3 ? [argv[2]!] : [];
  if (spec.firstKey <= 0) return [];
  const last = spec.lastKey < 0 ? argv.length + spec.lastKey : spec.lastKey;
  const step = Math.max(1, spec.step);
  const keys: Uint8Array[] = [];
  for (let i = spec.firstKey; i <= last && i < argv.length; i += step) keys.push(argv[i]!);
  return keys;
}

/** Whether a command names keys at all (some arguments may name none: SINTERCARD 0 a). */
export function namesKeys(spec: KeySpec): boolean {
  return (
    COUNTED_KEYS.has(spec.name) || STORE_COUNTED_KEYS.has(spec.name) || spec.name === 'object' || spec.firstKey > 0
  );
}

function countedKeys(
  argv: readonly Uint8Array[],
  countAt: number,
  firstAt: number,
  before: Uint8Array[],
): Uint8Array[] {
  const raw = argv[countAt];
  // Only a plain decimal count: Redis' own code refuses " 2", "0x2" and "1e0" (and so names no key).
  const text = raw === undefined ? '' : new TextDecoder().decode(raw);
  const count = /^(0|[1-9][0-9]{0,9})$/.test(text) ? Number(text) : Number.NaN;
  // A bad count is the command's own error to give; route it by what is certainly a key.
  if (!Number.isSafeInteger(count) || count < 0) return before;
  return [...before, ...argv.slice(firstAt, firstAt + count)];
}

/** The bytes that place `key` on the ring: its hash tag if it has a non-empty one, else the key (slots.ts). */
export const placementKey = hashTag;

/** Where `argv` runs (see the header). `ownerOf` maps a key to its owner (by its slot, hash tags applied). */
export function routeCommand(
  spec: KeySpec,
  argv: readonly Uint8Array[],
  self: NodeId,
  ownerOf: (placement: Uint8Array) => NodeId,
): Route {
  let owner: NodeId | undefined;
  for (const key of commandKeys(spec, argv)) {
    const o = ownerOf(key);
    if (owner === undefined) owner = o;
    else if (o !== owner) return { kind: 'crossslot' };
  }
  if (owner === undefined || owner === self) return { kind: 'local' };
  return { kind: 'forward', to: owner };
}
