// Redis commands over N > 1 replicas (store.replication.replicas > 1): the Dynamo replica
// (replication/driver.ts) instead of the local keyspace, with the consistency level chosen per
// connection (`BARISTA CONSISTENCY ONE|QUORUM|ALL|ANY`, default store.consistency), so the CAP
// choice is a per-request one a user can watch: at ONE a write on either side of a partition is
// accepted; at QUORUM the minority side answers -UNAVAILABLE (definite: nothing written).
//
// What is offered at N > 1 (the rest answers an error naming this limit; docs/COMPAT-REDIS.md):
//   GET key            the chosen sibling (highest HLC timestamp, deterministic; versions.ts shownOf), nil if none or a
//                      tombstone;
//   SET key value      reads the key's causal context at the same level, then writes with it: the
//                      write supersedes every sibling its coordinator read (options: an error);
//                      with store.conflicts last-write-wins (SET, SETEX, PSETEX, MSET) one write
//                      without the read, superseding what its coordinating replica holds;
//   DEL key [key ...]  the same, as tombstones; counts the keys that held a value when read
//                      (UNLINK is DEL: nothing is freed in the background here);
//   EXISTS key [...]   counts keys whose chosen sibling holds a value;
//   STRLEN, GETSET, GETDEL, APPEND, GETEX, SETRANGE, GETRANGE, SUBSTR, INCRBYFLOAT   Redis' own
//                      code on the value read, then one write if it changed (stringByRedis: two
//                      operations; at SERIAL the first four are one CAS);
//   RENAME src dst / RENAMENX src dst   a string (a counter as its decimal text) with its deadline:
//                      reads src and dst, writes dst over what was read, then deletes src (per-key
//                      operations, not atomic); a collection likewise, dst turned into src's
//                      content by CRDT operations (renameCollection; in the rows layout both
//                      are read with every row);
//   MGET key [key ...] / MSET key value [key value ...]   GET / SET of each key in turn, each its
//                      own operation (the issue's rule for multi-key commands at N > 1: per-key,
//                      not atomic; an MSET that fails after its first key says which were written);
//   SCAN / KEYS / DBSIZE / RANDOMKEY   the keys of the slots this node leads, from its own copy
//                      (see "keyless commands" below);
//   BARISTA SIBLINGS key   every concurrent value (nil for a tombstone), in the replica's order;
//   BARISTA WHERE key      the key's preference list (N node ids), then pending replicas;
//   BARISTA CONSISTENCY [level]   sets or shows the connection's level.
// At SERIAL (Cassandra's lightweight transactions: per-key Paxos among the key's replicas,
// serial.ts) every data command is linearizable per register (tag-state.ts): the keys of one hash
// tag share the register "{t}", an untagged key k has the register k to itself. A command over
// one register's keys, and MULTI/EXEC over them (session.ts), is one CAS of it: a serial read of
// its state, Redis' own code on the keys named (src/redis/scratch.ts), a CAS from the state read
// to the state after, retried while it moves (-BUSY after 8 attempts, definite); a command that
// changes nothing is the read alone. A plain SET of an untagged key is one Paxos write (it
// replaces all its register holds). WATCH is a serial read. MGET, MSET, DEL, UNLINK, EXISTS and
// TOUCH over keys of several registers run key by key (not atomic across them); any other command
// whose keys do not share a register answers CROSSSLOT at SERIAL.
//   BARISTA CAS key expected new   update-if-equal: [1, new] applied, [0, current] not applied
//                      (expected "" with NX semantics is not special: use SET NX).
// The Paxos state is apart from the Dynamo state: SERIAL and non-SERIAL commands on one key do
// not see each other's writes (docs/COMPAT-REDIS.md).
// Errors: replicas_unavailable -> -UNAVAILABLE (definite); timeout -> -TIMEOUT (a write: may have
// been applied); limit_exceeded -> -BUSY; anything else -> -ERR <code>: <message>.
// Callbacks throughout (the simulator's single loop; see forward.ts).

import { showsValue } from '../../dynamo/shown.ts';
import type { Level } from '../../dynamo/messages.ts';
import { reply, type RespValue } from '../../wire/resp/index.ts';
import { latin1 } from './command-entry.ts';
import type { StoreConfig } from './config.ts';
import type { KeyState, ReplicaNode, ReplicaOutcome, ReplicaRequest } from './replication/driver.ts';
import type { VectorClock } from '../../lib/clocks/vector.ts';
import {
  expireOutcome,
  flushArgsError,
  keysMatcher,
  parseExpireArgs,
  parseScanArgs,
  scanReply,
  tooManyKeysReply,
  ttlReply,
} from '../../redis/generic.ts';
import { keySlot } from '../../dynamo/slots.ts';
import { expireDeadline, Opt, parseStringOptions } from '../../redis/strings.ts';
import { redisErrorReply, wrongArityError } from '../../redis/errors.ts';
import { formatRing, type RingChangeOutcome, type RingMover } from './ring-mover.ts';
import { byteStringOf } from '../../crdt/codec.ts';
import { PNCounter } from '../../crdt/counters.ts';
import { CollectionMarker, decodeCrdt } from '../../crdt/crdt.ts';
import {
  hashEntries,
  hashField,
  hashOf,
  setMembers,
  setOf,
  shownDeadline,
  type TypedOp,
  WRONGTYPE,
} from '../../dynamo/typed.ts';
import { type Sibling, Versioned } from '../../dynamo/versions.ts';
import { bytesEqual, readU32BE } from '../../lib/bytes.ts';
import { BaristaError } from '../../lib/errors.ts';
import { limits } from '../../lib/limits.ts';
import { counterValue, NOT_INTEGER } from '../../dynamo/counter.ts';
import { parseInt64 } from '../../redis/args.ts';
import type { Rng, Timers } from '../../env/types.ts';
import { KeyCensus } from './census.ts';
import { type Held, type Materialized, runOnValues, runQueue } from '../../redis/scratch.ts';
import {
  decodeRegister,
  describeRegister,
  encodeTagState,
  keyRegister,
  serialRegister,
  type TagState,
  tagOf,
  tagStateItems,
} from './tag-state.ts';
import { lookupCommand } from '../../redis/table.ts';
import { CROSSSLOT_MESSAGE, commandKeys, namesKeys } from './routing.ts';
import { inTurn, trampoline } from '../../lib/loop.ts';
import {
  collectionCommandNames,
  diffOps,
  materialize,
  type ReadValue,
  type RowsRead,
  rowsCommandNames,
  rowsRead,
  shownType,
  crdtShownType,
  zsetRankWindow,
  answerWhole,
} from './replicated-collections.ts';
import { holdsMarker, ROW_ELEMENT_BYTES_MAX } from '../../dynamo/replica-rows.ts';

/** The commands that answer a collection's count, by the type they count (collection()). */
const COUNT_COMMANDS: ReadonlyMap<string, string> = new Map([
  ['llen', 'list'],
  ['scard', 'set'],
  ['hlen', 'hash'],
  ['zcard', 'zset'],
]);

export type ConsistencyLevel = 'ONE' | 'QUORUM' | 'ALL' | 'ANY' | 'SERIAL';
export const CONSISTENCY_LEVELS: readonly ConsistencyLevel[] = ['ONE', 'QUORUM', 'ALL', 'ANY', 'SERIAL'];
/** A SERIAL command's CAS attempts (each a Paxos operation) before it answers -BUSY (definite). */
const SERIAL_CAS_ATTEMPTS_MAX = 8;
/** Stored values FLUSHALL reads a page at N > 1 before deleting that page's keys. */
const FLUSH_PAGE_COUNT = 256;
/** Stored values RANDOMKEY reads a page at N > 1 (it stops at the first live key of a led slot). */
const RANDOM_KEY_PAGE_COUNT = 64;

type Done = (value: RespValue) => void;
/** A failed operation: its error, and whether it was a write (a timeout then may have applied). */
type Failed = (error: BaristaError, write: boolean) => void;

/** Whether a collection operation removes an element (a list's [0], a sorted set's empty score, SREM, HDEL). */
function removes(op: TypedOp): boolean {
  switch (op.type) {
    case 'srem':
    case 'hdel':
      return op.members.length > 0;
    case 'zset':
      for (let i = 1; i < op.members.length; i += 2) if (op.members[i]!.length === 0) return true;
      return false;
    case 'list':
      for (let i = 1; i < op.members.length; i += 2) if (op.members[i]![0] === 0) return true;
      return false;
    default:
      return false;
  }
}

/** `note` replaces the outcome's own note (a multi-key DEL that deleted earlier keys says so). */
export function errorReply(error: BaristaError, write: boolean, note?: string): RespValue {
  const v = errorText(error, write, note);
  // Worth the same command again (the error's own flag), having written nothing: no note of
  // earlier keys' writes, and a read, or a write that certainly did not take effect.
  const none = note === undefined && error.retriable && (!write || error.definite);
  return none ? retriable(v) : v;
}

/** `v`, an error reply, marked as one the same command may be tried again after (RespValue's `retriable`). */
function retriable(v: RespValue): RespValue {
  return v.type === 'error' ? { ...v, retriable: true } : v;
}

function errorText(error: BaristaError, write: boolean, note?: string): RespValue {
  const noted = note === undefined ? '' : ` (${note})`;
  switch (error.code) {
    case 'replicas_unavailable':
      return reply.error(`UNAVAILABLE ${error.message} (${note ?? 'nothing was written'})`);
    case 'timeout':
      return reply.error(
        `TIMEOUT ${error.message}${note !== undefined ? noted : write ? (error.definite ? ' (not written)' : ' (the write may have been applied)') : ''}`,
      );
    case 'limit_exceeded':
      return reply.error(`BUSY ${error.message}${noted}`);
    case 'wrong_type':
      return reply.error(`WRONGTYPE ${error.message}${noted}`);
    case 'outcome_unknown':
      return reply.error(`TIMEOUT ${error.message} (${note ?? 'the write may have been applied'})`);
    default:
      return reply.error(`ERR ${error.code}: ${error.message}${noted}`);
  }
}

const holdsValue = (s: KeyState): boolean => showsValue(s.chosen);

/** INCR, DECR, INCRBY n, DECRBY n: the amount added, or Redis' error for the argument. */
function incrementOf(name: string, argv: readonly Uint8Array[]): bigint | RespValue {
  if (name === 'incr' || name === 'decr') return name === 'decr' ? -1n : 1n;
  const n = parseInt64(argv[2]!);
  if (n === undefined) return reply.error(`ERR ${NOT_INTEGER}`);
  if (name === 'decrby' && n === -(2n ** 63n)) return reply.error('ERR decrement would overflow');
  return name === 'decrby' ? -n : n;
}

/**
 * The level a read runs at: ANY counts hints, which only a write can leave, so Cassandra refuses
 * reads at ANY; here a read at ANY (GET, or the read before a SET, APPEND, DEL ...) runs at ONE,
 * so a connection set to ANY still works.
 */
function readAt(level: Level): Level {
  return level === 'ANY' ? 'ONE' : level;
}

/** Whether a string command left its key as it was (value and deadline). */
function sameString(a: Materialized | null, b: Materialized | null): boolean {
  if (a === null || b === null) return a === b;
  return a.type === 'string' && b.type === 'string' && bytesEqual(a.value, b.value) && a.expiresAtMs === b.expiresAtMs;
}

/**
 * MSET's arity and every pair's sizes, checked before any pair is written, so a pair over a bound
 * refuses the whole MSET unwritten.
 */
function msetRefusal(argv: readonly Uint8Array[]): RespValue | undefined {
  if ((argv.length - 1) % 2 !== 0) return wrongArityError('mset');
  for (let at = 1; at < argv.length; at += 2) {
    if (argv[at]!.length > limits.kvKeyBytesMax)
      return reply.error(`ERR key_too_large: key of ${argv[at]!.length} bytes (nothing was written)`);
    if (argv[at + 1]!.length > limits.kvValueBytesMax)
      return reply.error(`ERR value_too_large: value of ${argv[at + 1]!.length} bytes (nothing was written)`);
  }
  return undefined;
}

/** String commands offered at N > 1 (SETNX answers an error below SERIAL, where every command runs). */
const SERIAL_STRING_COMMANDS: ReadonlySet<string> = new Set([
  'incr',
  'decr',
  'incrby',
  'decrby',
  'append',
  'getset',
  'getdel',
  'setnx',
  'strlen',
  'type',
]);

/** Failures answered as they are (errorReply), `note` in each. */
const answerFailure =
  (done: Done, note?: string): Failed =>
  (error, write) =>
    done(errorReply(error, write, note));

/** At SERIAL, keys of different registers (two tags, tagged and untagged, two untagged keys) in one command or transaction. */
export const TAGS_CROSSSLOT = `${CROSSSLOT_MESSAGE} (at SERIAL, keys run together only when they share a hash tag: {tag}a {tag}b)`;

/** Commands that run key by key at SERIAL when their keys do not share one register (serialPerKey). */
const PER_KEY_COMMANDS: ReadonlySet<string> = new Set(['mget', 'mset', 'del', 'unlink', 'exists', 'touch']);

const SET = new Uint8Array([0x73, 0x65, 0x74]);

/**
 * What earlier keys of a per-key command did (serialPerKey), for an error's parentheses; given
 * the Paxos error when there is one (a timeout may have written this key too).
 */
type Note = (error: BaristaError | undefined) => string;

/** Whether an error leaves a write's outcome unknown. */
function indefinite(error: BaristaError): boolean {
  return error.code === 'timeout' || error.code === 'outcome_unknown';
}

/**
 * SPOP, SRANDMEMBER and HRANDFIELD in the rows layout read a uniform sample of the coordinator's
 * rows (ReplicaNode.sampleRows), named, instead of every row, and run Redis' own code on the
 * sample's live elements: `sample` rows are drawn and at least `live` of them must be live after
 * the read (SPOP: one more than it pops, so it never empties the key from a sample; SRANDMEMBER
 * and HRANDFIELD: the count, negative or not), else every row is read. Undefined: not such a
 * command, a count that is not a plain integer, a negative count past 64, or one over what a
 * named read takes (storeSetMembersCountMax).
 */
function randomNeed(argv: readonly Uint8Array[]): { sample: number; live: number } | undefined {
  const name = latin1(argv[0]!).toLowerCase();
  if (name !== 'spop' && name !== 'srandmember' && name !== 'hrandfield') return undefined;
  const pops = name === 'spop' ? 1 : 0;
  if (argv.length === 2) return { sample: 4, live: 1 + pops };
  if (argv.length !== 3 && !(name === 'hrandfield' && argv.length === 4)) return undefined;
  const text = latin1(argv[2]!);
  if (!/^-?[1-9][0-9]{0,5}$/.test(text)) return undefined;
  const count = Number(text);
  // A negative count (SRANDMEMBER, HRANDFIELD: with repetition) draws from as many distinct live
  // elements as it asks for, up to 64; past that, every row (Redis draws each pick from all).
  if (count < 0 && (pops === 1 || -count > 64)) return undefined;
  const n = Math.abs(count);
  const sample = 2 * n + 4;
  if (sample > limits.storeSetMembersCountMax) return undefined;
  return { sample, live: n + pops };
}

/** A sampled read's value with the sampled elements alone (materialize's placeholder dropped). */
function sampleOnly(read: ReadValue, sampled: readonly Uint8Array[]): ReadValue {
  const v = read.value;
  if (v === null || (v.type !== 'set' && v.type !== 'hash')) return read;
  const names = new Set(sampled.map(latin1));
  if (v.type === 'set')
    return { ...read, value: { type: 'set', members: v.members.filter((m) => names.has(latin1(m))) } };
  return { ...read, value: { type: 'hash', entries: v.entries.filter(([f]) => names.has(latin1(f))) } };
}

/** Elements a read value holds (a set's members, a hash's fields). */
function liveItems(value: Materialized | null): number {
  if (value === null) return 0;
  return value.type === 'set' ? value.members.length : value.type === 'hash' ? value.entries.length : 0;
}

/** A register's state over the Paxos value bound (definite: not written). */
function overBytes(register: Uint8Array, bytes: number, note?: Note): RespValue {
  return reply.error(
    `ERR ${describeRegister(register)} would hold ${bytes} bytes at SERIAL, over the ${limits.paxosValueBytesMax} one register may hold (paxosValueBytesMax; not written${note === undefined ? '' : `; ${note(undefined)}`})`,
  );
}

/** A key's entry as readers see it at `nowMs`: null when absent or past its deadline. */
function liveEntry(state: TagState, key: string, nowMs: number): Held | null {
  const held = state.get(key);
  if (held === undefined || (held.expiresAtMs !== undefined && held.expiresAtMs <= nowMs)) return null;
  return held;
}

function heldBytes(key: string, held: Held | null): Uint8Array | null {
  return held === null ? null : encodeTagState(new Map([[key, held]]));
}

/**
 * The SERIAL register every key of `argv` shares (tag-state.ts serialRegister: a hash tag's, or
 * one untagged key's), 'crossslot' when the keys do not share one, undefined without keys.
 */
export function commandRegister(argv: readonly Uint8Array[]): Uint8Array | 'crossslot' | undefined {
  const spec = lookupCommand(argv[0]!);
  return spec === undefined ? undefined : serialRegister(commandKeys(spec, argv));
}

export class ReplicatedCommands {
  constructor(
    private readonly node: ReplicaNode,
    private readonly mover: RingMover,
    /** SPOP, SRANDMEMBER, ... and list element keys' tags (replicated-collections.ts); RANDOMKEY. */
    private readonly rng: Rng,
    /** Per slot, 1 when this node leads it (cluster-topology.ts LedSlots): SCAN's keys. */
    private readonly ledSlots: () => Uint8Array,
    /** store.conflicts: whether SET, SETEX, PSETEX and MSET write without reading first (`setValue`). */
    private readonly conflicts: StoreConfig['conflicts'],
    /** The census' timer (census.ts); without it DBSIZE and INFO keyspace always walk. */
    timers?: Timers,
  ) {
    if (timers !== undefined) {
      this.census = new KeyCensus(
        (from, countMax, visit, stored) =>
          this.walk(
            from,
            countMax,
            (key, _type, state) => visit(keySlot(key), state.keptDeadline() !== undefined),
            () => true,
            stored,
          ),
        timers,
        () => this.node.monotonicMs(),
      );
    }
  }

  /** Register (latin1) -> SERIAL operations waiting for its turn on this node (inRegister). */
  private readonly registerQueues = new Map<string, Array<(release: () => void) => void>>();
  /** SERIAL operations that may wait on one register on this node (inRegister; tests lower it). */
  serialQueuedCountMax: number = limits.storeSerialQueuedCountMax;

  /** The background key count (census.ts), when started. */
  readonly census: KeyCensus | undefined;

  stop(): void {
    this.census?.stop();
  }

  /** BARISTA RING [JOIN node | LEAVE node | ABORT] (ring-mover.ts). */
  ring(sub: string | undefined, node: string | undefined, done: Done): void {
    const answer = (o: RingChangeOutcome) =>
      done(o.ok ? reply.simple(`OK ring version ${o.ring.version}`) : reply.error(`ERR ${o.message}`));
    if (sub === undefined)
      return done({
        type: 'verbatim',
        format: 'txt',
        text: new TextEncoder().encode(formatRing(this.mover.ring, this.mover.progress())),
      });
    if (sub === 'join' && node !== undefined) return this.mover.join(node, answer);
    if (sub === 'leave' && node !== undefined) return this.mover.leave(node, answer);
    if (sub === 'abort' && node === undefined) return this.mover.abort(answer);
    done(reply.error('ERR BARISTA RING takes no argument, JOIN node, LEAVE node or ABORT'));
  }

  /** Whether `name` (lower case) runs here at N > 1. */
  static offers(name: string): boolean {
    if (collectionCommandNames.has(name) || SERIAL_STRING_COMMANDS.has(name)) return true;
    return [
      'flushall',
      'flushdb',
      'getex',
      'setrange',
      'getrange',
      'substr',
      'incrbyfloat',
      'touch',
      'scan',
      'keys',
      'dbsize',
      'randomkey',
      'type',
      'get',
      'set',
      'del',
      'unlink',
      'exists',
      'mget',
      'mset',
      'rename',
      'renamenx',
      'incr',
      'decr',
      'incrby',
      'decrby',
      'sadd',
      'srem',
      'smembers',
      'sismember',
      'scard',
      'hset',
      'hdel',
      'hget',
      'hgetall',
      'hlen',
      'hexists',
      'setex',
      'psetex',
      'expire',
      'pexpire',
      'expireat',
      'pexpireat',
      'persist',
      'ttl',
      'pttl',
      'expiretime',
      'pexpiretime',
    ].includes(name);
  }

  /** Runs an offered data command at `level`; `done` gets the reply once. */
  run(name: string, argv: readonly Uint8Array[], level: Level | 'SERIAL', done: Done): void {
    switch (name) {
      case 'scan':
        return done(this.scan(argv));
      case 'keys':
        return done(this.keys(argv[1]!));
      case 'dbsize':
        return done(this.dbsize());
      case 'randomkey':
        return done(this.randomKey());
      case 'flushall':
      case 'flushdb':
        if (level !== 'SERIAL') return this.flush(argv, level, done);
    }
    if (level === 'SERIAL') return this.runSerial(name, argv, done);
    // Sets and hashes kept in rows: every command by Redis' own code on the rows it names.
    if (this.node.collections === 'rows' && rowsCommandNames.has(name)) return this.collection(argv, level, done);
    switch (name) {
      case 'get':
        return this.read(argv[1]!, level, done, (s) => {
          const read = materialize(s.versioned);
          if (read instanceof BaristaError) return errorReply(read, false);
          if (read.value !== null && read.value.type !== 'string') return reply.error(`WRONGTYPE ${WRONGTYPE}`);
          return read.value === null ? reply.null : reply.bulk(read.value.value);
        });
      case 'type':
        return this.read(argv[1]!, level, done, (s) => {
          const read = materialize(s.versioned);
          if (read instanceof BaristaError && read.code !== 'wrong_type') return errorReply(read, false);
          return reply.simple(shownType(s.versioned) ?? 'none');
        });
      case 'sadd':
      case 'srem':
        return this.setWrite(name, argv, level, done);
      case 'hset':
      case 'hdel':
        return this.hashWrite(name, argv, level, done);
      case 'hget':
      case 'hgetall':
      case 'hlen':
      case 'hexists':
        return this.read(argv[1]!, level, done, (s) => {
          const hash = hashOf(s.versioned);
          if (hash instanceof BaristaError) return reply.error(`WRONGTYPE ${hash.message}`);
          if (name === 'hget') {
            const v = hashField(hash, argv[2]!);
            return v === undefined ? reply.null : reply.bulk(v);
          }
          if (name === 'hexists') return reply.integer(hashField(hash, argv[2]!) === undefined ? 0n : 1n);
          const entries = hashEntries(hash);
          if (name === 'hlen') return reply.integer(BigInt(entries.length));
          return { type: 'map', entries: entries.map(([f, v]) => [reply.bulk(f), reply.bulk(v)] as const) };
        });
      case 'smembers':
      case 'sismember':
      case 'scard':
        return this.read(argv[1]!, level, done, (s) => {
          const set = setOf(s.versioned);
          if (set instanceof BaristaError) return reply.error(`WRONGTYPE ${set.message}`);
          if (name === 'scard') return reply.integer(BigInt(set.value().length));
          if (name === 'sismember') return reply.integer(set.has(byteStringOf(argv[2]!)) ? 1n : 0n);
          return { type: 'set', items: setMembers(set).map((m) => reply.bulk(m)) };
        });
      case 'incr':
      case 'decr':
      case 'incrby':
      case 'decrby':
        return this.increment(name, argv, level, done);
      case 'strlen':
      case 'getset':
      case 'getdel':
      case 'append':
      case 'getex':
      case 'setrange':
      case 'getrange':
      case 'substr':
      case 'incrbyfloat':
        return this.stringByRedis(argv, level, done);

      case 'set': {
        if (argv.length === 3)
          return this.setValue(argv[1]!, argv[2]!, level, () => done(reply.ok), answerFailure(done));
        const o = parseStringOptions(argv, true);
        if (o === undefined) return done(redisErrorReply.syntax);
        if ((o.flags & ~(Opt.ex | Opt.px | Opt.exat | Opt.pxat)) !== 0 || o.expire === undefined) {
          return done(
            reply.error(
              'ERR SET NX, XX, GET and KEEPTTL need BARISTA CONSISTENCY SERIAL with store.replication.replicas > 1',
            ),
          );
        }
        const d = expireDeadline(o.expire, o.flags, this.node.wallMs(), 'set');
        if ('error' in d) return done(d.error);
        return this.setValue(argv[1]!, argv[2]!, level, () => done(reply.ok), answerFailure(done), d.deadlineMs);
      }
      case 'setex':
      case 'psetex': {
        const d = expireDeadline(argv[2]!, name === 'setex' ? Opt.ex : Opt.px, this.node.wallMs(), name);
        if ('error' in d) return done(d.error);
        return this.setValue(argv[1]!, argv[3]!, level, () => done(reply.ok), answerFailure(done), d.deadlineMs);
      }
      case 'expire':
      case 'pexpire':
      case 'expireat':
      case 'pexpireat':
        return this.expire(name, argv, level, done);
      case 'persist':
        return this.plainRead(argv[1]!, level, done, (s, value, expiresAtMs, crdt) => {
          if (value === null || expiresAtMs === 0) return done(reply.integer(0n));
          if (crdt) return this.expireTyped(argv[1]!, 0, level, done);
          this.writeWith(
            argv[1]!,
            value,
            level,
            s.context,
            undefined,
            () => done(reply.integer(1n)),
            answerFailure(done),
          );
        });
      case 'ttl':
      case 'pttl':
      case 'expiretime':
      case 'pexpiretime':
        return this.plainRead(argv[1]!, level, done, (_, value, expiresAtMs) =>
          done(
            ttlReply(
              value === null ? undefined : expiresAtMs,
              this.node.wallMs(),
              name === 'pttl' || name === 'pexpiretime',
              name.endsWith('time'),
            ),
          ),
        );
      case 'del':
      case 'unlink':
      case 'exists':
      case 'touch': // no access times at N > 1: EXISTS
        return this.eachKey(name === 'exists' || name === 'touch' ? 'exists' : 'del', argv.slice(1), level, done);
      case 'rename':
      case 'renamenx':
        return this.rename(name === 'renamenx', argv[1]!, argv[2]!, level, done);
      case 'mget':
        return this.mget(argv, done, (key, next) =>
          this.node.submit({ kind: 'get', key, level: readAt(level) }, (o) => {
            if (!o.ok) return done(errorReply(o.error, false));
            const read = materialize(o.state.versioned);
            // Redis' MGET: nil for a key that holds no string (no error for another type).
            next(read instanceof BaristaError || read.value?.type !== 'string' ? null : read.value.value);
          }),
        );
      case 'mset':
        return this.mset(argv, done, (key, value, next, failed) => this.setValue(key, value, level, next, failed));
      default:
        if (collectionCommandNames.has(name)) return this.collection(argv, level, done);
        if (name === 'setnx')
          return done(
            reply.error(`ERR '${name}' needs BARISTA CONSISTENCY SERIAL with store.replication.replicas > 1`),
          );
        return done(reply.error(`ERR '${name}' is not available with store.replication.replicas > 1 yet`));
    }
  }

  // --- keyless commands: this node's copy of the slots it leads --------------------------------
  // SCAN, KEYS, DBSIZE and RANDOMKEY answer the keys of the slots this node leads (CLUSTER SLOTS'
  // masters), as a Redis Cluster master answers its own: a client scanning every master sees each
  // key once. They read this node's stored copy at any level (no quorum, no repair), so a key
  // written while this node was down shows once hinted handoff, read repair or anti-entropy
  // brought it here. The cursor is a token (store.ts: values in token order), as at N = 1.

  /**
   * Visits this node's live keys of the slots it leads (of the slots `slotOf` accepts, led or not,
   * when given) in one page from token `from`; the next page's token, null at the end.
   */
  private walk(
    from: bigint,
    countMax: number,
    visit: (key: Uint8Array, type: string, state: Versioned) => void,
    slotOf?: (slot: number) => boolean,
    stored?: (bytes: number) => void,
  ): bigint | null {
    const led = this.ledSlots();
    const wanted = slotOf ?? ((slot: number) => led[slot] === 1);
    const page = this.node.localPage(from, countMax);
    const nowMs = this.node.wallMs();
    for (const e of page.entries) {
      stored?.(e.key.length + e.state.length);
      // The slot first: a value of a slot not asked for is not decoded.
      if (!wanted(keySlot(e.key))) continue;
      const state = this.node.shownHere(e.key, Versioned.decode(e.state).expiredAsTombstones(nowMs));
      const type = shownType(state);
      if (type !== null) visit(e.key.slice(), type, state);
    }
    return page.next;
  }

  /** SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]: COUNT stored values a call. */
  private scan(argv: readonly Uint8Array[]): RespValue {
    const args = parseScanArgs(argv);
    if (!('cursor' in args)) return args;
    const type = args.type?.toLowerCase();
    const keys: Uint8Array[] = [];
    const next = this.walk(args.cursor, args.count, (key, t) => {
      if ((type === undefined || type === t) && (args.match?.(key) ?? true)) keys.push(key);
    });
    return scanReply(next ?? 0n, keys);
  }

  /** KEYS pattern: a walk of every page; past redisKeysCountMax keys, N = 1's error. */
  private keys(pattern: Uint8Array): RespValue {
    const match = keysMatcher(pattern);
    const keys: Uint8Array[] = [];
    let over = false;
    for (let from: bigint | null = 0n; from !== null && !over; ) {
      from = this.walk(from, limits.redisScanEntriesMax, (key) => {
        if (!match(key)) return;
        if (keys.length >= limits.redisKeysCountMax) over = true;
        else keys.push(key);
      });
    }
    return over ? tooManyKeysReply() : reply.array(keys.map((k) => reply.bulk(k)));
  }

  /** DBSIZE: the live keys of this node's slots (a walk, as at N = 1). */
  private dbsize(): RespValue {
    return reply.integer(this.keyspaceCounts().keys);
  }

  /**
   * FLUSHALL / FLUSHDB [SYNC|ASYNC]: deletes the keys of the slots this node leads, as a Redis
   * Cluster master flushes its own (a client flushing every master empties the cluster): a page
   * of keys at a time, each a DEL at the level (a read for its context, then a tombstone), the
   * next page after them. Per-key operations: a failure answers its error saying how many keys
   * were deleted before it; keys written meanwhile may stay.
   */
  private flush(argv: readonly Uint8Array[], level: Level, done: Done): void {
    const bad = flushArgsError(argv);
    if (bad !== undefined) return done(bad);
    let deleted = 0;
    let keys: Uint8Array[] = [];
    let at = 0;
    let from: bigint | null = 0n;
    /** Whether a key is left, reading the next page when this one is done. */
    const more = (): boolean => {
      while (at >= keys.length) {
        if (from === null) return false;
        keys = [];
        at = 0;
        from = this.walk(from, FLUSH_PAGE_COUNT, (key) => keys.push(key));
      }
      return true;
    };
    // One loop over every key (inTurn: no stack growth when a delete answers within the call).
    inTurn(
      Number.MAX_SAFE_INTEGER,
      (_i, next) => {
        if (!more()) return done(reply.ok);
        const note = deleted > 0 ? `the ${deleted} keys before it were deleted` : undefined;
        this.write(
          keys[at++]!,
          null,
          level,
          () => {
            deleted++;
            next();
          },
          answerFailure(done, note),
        );
      },
      () => done(reply.ok),
    );
  }

  /**
   * The live keys of the slots this node leads, and how many of them carry a deadline: DBSIZE and
   * INFO keyspace's db0 line at N > 1 (a walk of every stored value, as DBSIZE at N = 1).
   */
  keyspaceCounts(): { keys: number; expires: number } {
    const led = this.ledSlots();
    const counted = this.census?.counts((slot) => led[slot] === 1);
    if (counted !== undefined) return counted;
    let keys = 0;
    let expires = 0;
    for (let from: bigint | null = 0n; from !== null; ) {
      from = this.walk(from, limits.redisScanEntriesMax, (_key, _type, state) => {
        keys++;
        if (state.keptDeadline() !== undefined) expires++;
      });
    }
    return { keys, expires };
  }

  /**
   * The live keys of `slot` this node stores (as any replica, led or not, and copies a ring move
   * left before BARISTA CLEANUP): how many, and the first `keep` (CLUSTER COUNTKEYSINSLOT /
   * GETKEYSINSLOT: a Redis Cluster replica answers them for the keys it holds too). A walk of
   * every stored value, as at N = 1; only the slot's values are decoded.
   */
  findKeys(slot: number, keep: number): { count: number; keys: Uint8Array[] } {
    const keys: Uint8Array[] = [];
    let count = 0;
    const visit = (key: Uint8Array): void => {
      count++;
      if (keys.length < keep) keys.push(key);
    };
    const inSlot = (s: number): boolean => s === slot;
    for (let from: bigint | null = 0n; from !== null; )
      from = this.walk(from, limits.redisScanEntriesMax, visit, inSlot);
    return { count, keys };
  }

  /** RANDOMKEY: the first live key of this node's slots at or after a random token, wrapping once. */
  private randomKey(): RespValue {
    const b = this.rng.bytes(8);
    const start = (BigInt(readU32BE(b, 0)) << 32n) | BigInt(readU32BE(b, 4));
    let found: Uint8Array | undefined;
    const take = (key: Uint8Array): void => {
      found ??= key;
    };
    // Small pages: the first live key of a led slot ends the walk.
    for (let from: bigint | null = start; from !== null && found === undefined; ) {
      from = this.walk(from, RANDOM_KEY_PAGE_COUNT, take);
    }
    // From the first token up to where the walk began (a page may pass `start`: any key found is live).
    for (let from: bigint | null = 0n; from !== null && from < start && found === undefined; ) {
      from = this.walk(from, RANDOM_KEY_PAGE_COUNT, take);
    }
    return found === undefined ? reply.null : reply.bulk(found);
  }

  /**
   * A list, set, sorted-set or hash command by Redis' own implementation on the value read at the
   * level (replicated-collections.ts); its changes, if any, as CRDT operations at a replica.
   */
  private collection(
    argv: readonly Uint8Array[],
    level: Level,
    done: Done,
    /**
     * counted: LLEN's tail read found the replicas unlike (read every row, no second tail read);
     * noSample: SPOP's sample could not serve (read every row); everyRow: every key's every row
     * (a removal by a coordinator that may lack rows), and no read again after it.
     */
    how: { readonly counted?: boolean; readonly noSample?: boolean; readonly everyRow?: boolean } = {},
  ): void {
    const { counted = false, everyRow = false } = how;
    const stores = STORE_DESTINATION_FIRST.has(latin1(argv[0]!).toLowerCase());
    const type = COUNT_COMMANDS.get(latin1(argv[0]!).toLowerCase());
    if (type !== undefined && !counted && argv.length === 2 && this.node.collections === 'rows') {
      // LLEN, SCARD, HLEN, ZCARD: a tail read (no row) answers when every replica read holds the
      // coordinator's rows (context, count and digest alike: CollectionView.exact); otherwise
      // every row is read and joined, as any command does (replica.ts sameRows).
      this.node.submit({ kind: 'rows', key: argv[1]!, level: readAt(level), elements: null, back: true }, (read) => {
        if (!read.ok) return done(errorReply(read.error, false));
        const c = read.state.collection;
        const shown = shownType(read.state.versioned);
        if (c?.exact === true && shown === type) return done(reply.integer(c.count));
        // No replica read holds a collection or a value (an absent key, an emptied queue): what
        // a read of every row would answer too, without a second round.
        if (shown === null && !holdsMarker(read.state.versioned)) return done(reply.integer(0));
        this.collection(argv, level, done, { counted: true });
      });
      return;
    }
    const spec = lookupCommand(argv[0]!)!;
    const keys = [...new Map(commandKeys(spec, argv).map((k) => [latin1(k), k])).values()];
    if (keys.length > limits.storeCollectionKeysCountMax) {
      return done(
        reply.error(`ERR ${keys.length} keys in one command, max ${limits.storeCollectionKeysCountMax} at N > 1`),
      );
    }
    // Each key read at the level in turn (each its own operation, as N > 1 makes multi-key
    // commands); a set, hash or list command in the rows layout reads the rows it names, or a
    // list's head, or every row (rowsRead).
    const reads: ReadValue[] = [];
    // SPOP, SRANDMEMBER, HRANDFIELD: a sample of this node's rows, named (randomNeed).
    const random =
      how.noSample !== true && !everyRow && this.node.collections === 'rows' ? randomNeed(argv) : undefined;
    const sampled =
      random === undefined
        ? undefined
        : this.node.sampleRows(argv[1]!, random.sample, limits.storeSampleRowsCountMax, this.rng);
    if (sampled !== undefined && sampled.length < random!.live) {
      // Too few rows here (the reply may be the whole collection, or SPOP empty it): every row.
      return this.collection(argv, level, done, { counted, noSample: true });
    }
    const rows =
      sampled !== undefined
        ? new Map<string, RowsRead>([[latin1(argv[1]!), sampled]])
        : this.node.collections === 'rows' && rowsCommandNames.has(latin1(argv[0]!).toLowerCase())
          ? everyRow
            ? new Map<string, RowsRead>()
            : rowsRead(argv)
          : undefined;
    /**
     * The elements a key's read names (undefined: a list head or every row). An element longer
     * than ROW_ELEMENT_BYTES_MAX is in no row (a write of it is refused), so it is not asked for:
     * absent, as a peer's decoder would refuse a name over kvValueBytesMax (SISMEMBER of a 2 MiB
     * member timed out: a review, 2026-12-07); when no name is left, every row is read.
     */
    const namedOf = (key: Uint8Array): readonly Uint8Array[] | undefined => {
      const read = rows?.get(latin1(key));
      if (!Array.isArray(read) || read.length > limits.storeSetMembersCountMax) return undefined;
      const named = read.filter((e) => e.length <= ROW_ELEMENT_BYTES_MAX);
      return named.length > 0 ? named : undefined;
    };
    const request = (key: Uint8Array): ReplicaRequest => {
      if (rows === undefined) return { kind: 'get', key, level: readAt(level) };
      const read = rows.get(latin1(key));
      if (read !== undefined && 'front' in read)
        return { kind: 'rows', key, level: readAt(level), elements: null, front: read.front };
      if (read !== undefined && 'back' in read)
        return { kind: 'rows', key, level: readAt(level), elements: null, back: true };
      if (read !== undefined && 'fore' in read)
        return { kind: 'rows', key, level: readAt(level), elements: null, fore: true };
      if (read !== undefined && 'last' in read)
        return { kind: 'rows', key, level: readAt(level), elements: null, last: read.last };
      return { kind: 'rows', key, level: readAt(level), elements: namedOf(key) ?? null };
    };
    /**
     * A read of every row asks first for the tail (no row) with `wholeIfSame`: when every replica
     * read holds the coordinating replica's rows (context, count and digest alike), that replica's
     * rows are the read's view, none shipped; otherwise every row is read and joined (a second
     * round). A sorted set's ZRANGE, an LSET in a list's middle, SMEMBERS: O(n) in this node's
     * memory, not n rows from R replicas over the network. Not a list's head or tail read (LPOP,
     * LRANGE 0 99: their rows alone, and a head's change is diffed from the head), and not after
     * LLEN's own tail read found the replicas unlike (`counted`).
     */
    const submitRead = (key: Uint8Array, then: (read: ReplicaOutcome) => void): void => {
      const req = request(key);
      const everyRow =
        req.kind === 'rows' &&
        req.elements === null &&
        req.front === undefined &&
        req.back === undefined &&
        req.fore === undefined &&
        req.last === undefined;
      if (!everyRow || counted) return this.node.submit(req, then);
      const tailRead = { kind: 'rows', key, level: req.level, elements: null, back: true, wholeIfSame: true } as const;
      this.node.submit(tailRead, (tail) => {
        // No replica read holds a collection's marker (an absent key, a string): what a read of
        // every row would answer too, without a second round.
        if (!tail.ok || tail.state.collection?.whole === true || !holdsMarker(tail.state.versioned)) return then(tail);
        this.node.submit(req, then);
      });
    };
    inTurn(
      keys.length,
      (i, next) =>
        submitRead(keys[i]!, (read) => {
          if (!read.ok) return done(errorReply(read.error, false));
          const head = rows?.get(latin1(keys[i]!));
          const partial = head !== undefined && !Array.isArray(head);
          const edgeRead = head !== undefined && !Array.isArray(head) && ('fore' in head || 'back' in head);
          const materialized = materialize(
            read.state.versioned,
            read.state.collection,
            namedOf(keys[i]!),
            partial,
            edgeRead,
          );
          // A key that reads as absent (a list past its deadline keeps its rows until the next
          // write) counts none: LPUSH's and RPUSH's length is then the elements pushed alone.
          const count =
            materialized instanceof BaristaError || materialized.value === null
              ? 0
              : (read.state.collection?.count ?? 0);
          const before =
            head === undefined || Array.isArray(head) || materialized instanceof BaristaError
              ? materialized
              : 'front' in head || 'fore' in head
                ? { ...materialized, head: true, count }
                : 'last' in head
                  ? { ...materialized, tail: true, count }
                  : { ...materialized, count };
          if (before instanceof BaristaError) return done(errorReply(before, false));
          reads.push({
            ...before,
            ...(read.state.collection?.lacking === true ? { lacking: true as const } : {}),
            // A STORE's destination only (its first key): no decode on every collection read.
            ...(i === 0 && stores && shownDeadline(read.state.versioned) !== undefined
              ? { deadline: true as const }
              : {}),
          });
          next();
        }),
      () => {
        if (sampled !== undefined) {
          // Redis' code runs on the sample's live elements alone (no placeholder: SPOP never
          // takes all of them, so the key is not emptied). A sample whose rows the read found
          // removed elsewhere may leave too few: every row.
          const only = sampleOnly(reads[0]!, sampled);
          if (liveItems(only.value) < random!.live)
            return this.collection(argv, level, done, { counted, noSample: true });
          reads[0] = only;
        }
        // ZRANK, LINDEX past the head on a value read whole (every row: no rows named, no head,
        // tail or sample read of the key): the reply without Redis' code on every element.
        const whole =
          reads.length === 1 &&
          rows?.get(latin1(keys[0]!)) === undefined &&
          reads[0]!.head !== true &&
          reads[0]!.tail !== true
            ? reads[0]!
            : undefined;
        const direct = whole === undefined ? undefined : answerWhole(argv, whole.value);
        if (direct !== undefined) return done(direct);
        const window = zsetRankWindow(argv);
        const zset = reads.length === 1 ? reads[0]!.value : undefined;
        if (window !== undefined && zset?.type === 'zset') {
          // ZRANGE 0 9 on a sorted set of 10,000: Redis' code on the 10 entries it answers from.
          reads[0] = { ...reads[0]!, value: { type: 'zset', entries: window(zset.entries) } };
        }
        // A removal by a coordinator that may lack rows (CollectionView.lacking) reads every row
        // first: its marker then counts what the replicas read hold, not 0 for what it alone held.
        const reread = everyRow ? undefined : () => this.collection(argv, level, done, { counted, everyRow: true });
        this.collectionRun(argv, keys, reads, level, done, rows !== undefined, reread);
      },
    );
  }

  /** Runs the command on the values read, then writes each key's change in turn; the reply after the last. */
  private collectionRun(
    argv: readonly Uint8Array[],
    keys: readonly Uint8Array[],
    reads: readonly ReadValue[],
    level: Level,
    done: Done,
    partial = false,
    reread?: () => void,
  ): void {
    const outcome = runOnValues(
      keys.map((k, i) => [k, reads[i]!.value] as const),
      argv,
      this.node.wallMs(),
      this.rng,
    );
    const writes: Array<{ key: Uint8Array; op: TypedOp }> = [];
    for (const [i, key] of keys.entries()) {
      const ops = diffOps(reads[i]!, outcome.after[i]!, this.rng);
      if (ops instanceof BaristaError) return done(reply.error(`ERR ${ops.message}`));
      if (reread !== undefined && reads[i]!.lacking === true && ops.some(removes)) return reread();
      for (const op of ops) writes.push({ key, op });
    }
    // A STORE replaces its destination (the first key), deadline included (Redis' setKey): the
    // values read carry no deadline, so one is removed after the change (a review found
    // ZUNIONSTORE and SUNIONSTORE keeping the destination's TTL at N > 1). One more write, when
    // the destination showed a deadline as read.
    if (outcome.after[0] != null && reads[0]!.deadline === true)
      writes.push({ key: keys[0]!, op: { type: 'expire', expiresAtMs: 0 } });
    let written: Versioned | undefined;
    inTurn(
      writes.length,
      (i, next) => {
        const w = writes[i]!;
        this.node.submit({ kind: 'typed', key: w.key, op: w.op, level }, (o) => {
          if (o.ok) {
            written = o.state.versioned;
            return next();
          }
          const note = i > 0 && writes[i - 1]!.key !== w.key ? 'the keys before it were written' : undefined;
          if (o.error.code === 'wrong_type') return done(errorReply(o.error, false, note));
          done(errorReply(o.error, true, note));
        });
      },
      () => {
        // LPUSH on a list's head, RPUSH on its tail: Redis' code counted what was read only. The
        // length: what the read found plus the elements pushed, or the coordinator's count after
        // the push (its marker's) if more (a write that came in between).
        const name = latin1(argv[0]!).toLowerCase();
        const pushes = name === 'lpush' || name === 'lpushx' || name === 'rpush' || name === 'rpushx';
        const pushed = partial && pushes ? markerCount(written) : undefined;
        const count = pushed === undefined ? undefined : Math.max(pushed, (reads[0]!.count ?? 0) + argv.length - 2);
        done(count === undefined || outcome.reply.type !== 'integer' ? outcome.reply : reply.integer(BigInt(count)));
      },
    );
  }

  /** SADD / SREM: the OR-Set operation after a read (collectionWrite); counts members added / removed. */
  private setWrite(name: 'sadd' | 'srem', argv: readonly Uint8Array[], level: Level, done: Done): void {
    const members = [...new Map(argv.slice(2).map((m) => [latin1(m), m])).values()];
    this.collectionWrite(argv[1]!, { type: name, members }, level, done, (s) => {
      const before = setOf(s);
      if (before instanceof BaristaError) return before;
      return members.filter((m) => before.has(byteStringOf(m)) === (name === 'srem')).length;
    });
  }

  /** HSET key f v [f v ...] / HDEL key f [f ...]: the OR-Map operation after a read; counts fields added / removed. */
  private hashWrite(name: 'hset' | 'hdel', argv: readonly Uint8Array[], level: Level, done: Done): void {
    const rest = argv.slice(2);
    if (name === 'hset' && rest.length % 2 !== 0)
      return done(reply.error("ERR wrong number of arguments for 'hset' command"));
    const fields = name === 'hset' ? rest.filter((_, i) => i % 2 === 0) : rest;
    const distinct = [...new Map(fields.map((f) => [latin1(f), f])).values()];
    this.collectionWrite(argv[1]!, { type: name, members: rest }, level, done, (s) => {
      const before = hashOf(s);
      if (before instanceof BaristaError) return before;
      return distinct.filter((f) => (hashField(before, f) !== undefined) === (name === 'hdel')).length;
    });
  }

  /**
   * A set or hash operation: a read at the level first (it merges what it saw into this
   * coordinator's local state, so a remove observes every add the read did), then the CRDT
   * operation at a replica. `count` gives the reply from the state read (or the wrong-type error);
   * it counts in the coordinator's view after its read.
   */
  private collectionWrite(
    key: Uint8Array,
    op: Extract<TypedOp, { members: readonly Uint8Array[] }>,
    level: Level,
    done: Done,
    count: (read: Versioned) => number | BaristaError,
  ): void {
    if (op.members.length > limits.storeSetMembersCountMax) {
      return done(
        reply.error(
          `ERR ${op.members.length} arguments in one ${op.type.toUpperCase()}, max ${limits.storeSetMembersCountMax} at N > 1`,
        ),
      );
    }
    this.node.submit({ kind: 'get', key, level: readAt(level) }, (read) => {
      if (!read.ok) return done(errorReply(read.error, false));
      const n = count(read.state.versioned);
      if (n instanceof BaristaError) return done(errorReply(n, false));
      this.node.submit({ kind: 'typed', key, op, level }, (o) =>
        done(o.ok ? reply.integer(BigInt(n)) : errorReply(o.error, true)),
      );
    });
  }

  /** INCR / DECR / INCRBY / DECRBY: the key's PN-Counter (src/dynamo/counter.ts) at the level. */
  private increment(name: string, argv: readonly Uint8Array[], level: Level, done: Done): void {
    const by = incrementOf(name, argv);
    if (typeof by !== 'bigint') return done(by);
    this.node.submit({ kind: 'typed', key: argv[1]!, op: { type: 'incr', by }, level }, (o) => {
      if (!o.ok) {
        if (o.error.code === 'bad_request') return done(reply.error(`ERR ${o.error.message}`));
        return done(errorReply(o.error, true));
      }
      const v = counterValue(o.state.versioned);
      done(typeof v === 'bigint' ? reply.integer(v) : reply.error(`ERR ${NOT_INTEGER}`));
    });
  }

  /** BARISTA REPAIR [node]: an anti-entropy round from this node now (with `peer`, or the next one). */
  repair(peer: string | undefined): RespValue {
    return this.node.repairNow(peer)
      ? reply.simple('OK')
      : reply.error('BUSY an anti-entropy round is running here already, or no peer is up (try again later)');
  }

  /**
   * BARISTA CLEANUP: starts deleting the keys this node no longer replicates (after a ring move);
   * BARISTA CLEANUP STATUS: [running 0|1, keys scanned, keys dropped, passes completed].
   */
  cleanup(status: boolean): RespValue {
    if (status) {
      const p = this.node.cleanupProgress();
      const s = this.node.replica.stats;
      return reply.array([
        reply.integer(p === undefined ? 0n : 1n),
        reply.integer(BigInt(p?.scanned ?? 0)),
        reply.integer(BigInt(p?.dropped ?? 0)),
        reply.integer(BigInt(s.cleanupPasses)),
      ]);
    }
    const refused = this.node.cleanupNow();
    return refused === undefined ? reply.ok : reply.error(`ERR cleanup refused: ${refused}`);
  }

  /** BARISTA CAS key expected new: [1, new] when applied, [0, current] when the value differed. */
  cas(key: Uint8Array, expected: Uint8Array, value: Uint8Array, done: Done): void {
    // Update-if-equal in the key's register (tag-state.ts): its tag's, or its own when untagged.
    this.tagUpdate(keyRegister(key), [key], undefined, done, (held) => {
      const h = held[0]![1]; // null when absent or expired
      if (h !== null && h.value.type !== 'string') return { answer: redisErrorReply.wrongType, after: [h] };
      const current = h === null || h.value.type !== 'string' ? null : h.value.value;
      if (!bytesEqual(current, expected))
        return {
          answer: reply.array([reply.integer(0n), current === null ? reply.null : reply.bulk(current)]),
          after: [h],
        };
      return {
        answer: reply.array([reply.integer(1n), reply.bulk(value)]),
        after: [{ value: { type: 'string', value } }],
      };
    });
  }

  /** BARISTA SIBLINGS key. */
  siblings(key: Uint8Array, level: Level | 'SERIAL', done: Done): void {
    if (level === 'SERIAL') {
      // One value at SERIAL: the key's string as a GET in its register sees it.
      return this.transaction(keyRegister(key), [[new Uint8Array([0x67, 0x65, 0x74]), key]], undefined, (r) => {
        const v = Array.isArray(r) ? r[0]! : r;
        done(v.type === 'bulk' ? reply.array([v]) : v.type === 'null' ? reply.array([]) : v);
      });
    }
    this.read(key, level, done, (s) => {
      // As GET: a key whose newest sibling is a collection (kept whole, or a rows header) is WRONGTYPE.
      const read = materialize(s.versioned);
      if (read instanceof BaristaError) return errorReply(read, false);
      if (read.value !== null && read.value.type !== 'string') return reply.error(`WRONGTYPE ${WRONGTYPE}`);
      return reply.array(s.siblings.map(siblingReply));
    });
  }

  private runSerial(name: string, argv: readonly Uint8Array[], done: Done): void {
    const register = commandRegister(argv);
    if (register instanceof Uint8Array) return this.serialOne(name, argv, register, done);
    if (register === 'crossslot') {
      // MGET, MSET, DEL, ...: per key, each key its own register's operation (not atomic across them).
      if (PER_KEY_COMMANDS.has(name)) return this.serialPerKey(name, argv, done);
      return done(reply.error(TAGS_CROSSSLOT));
    }
    // A command that names keys but whose arguments name none here (SINTERCARD 0 a): Redis' own
    // code on no key gives its own error; nothing is read or written.
    const spec = lookupCommand(argv[0]!);
    if (spec !== undefined && namesKeys(spec))
      return done(runQueue([], [argv], this.node.wallMs(), this.rng).replies[0]!);
    if (ReplicatedCommands.offers(name))
      return done(reply.error(`ERR '${name}' is not offered at SERIAL (it runs at ONE, QUORUM, ALL and ANY at N > 1)`));
    return done(reply.error(`ERR '${name}' is not available with store.replication.replicas > 1 yet`));
  }

  /**
   * One command over the keys of one register at SERIAL: a CAS of the register (transaction()),
   * except a plain SET of an untagged key, which replaces everything its register holds and so is
   * one Paxos write without a read (as before collections ran at SERIAL). `note` (serialPerKey)
   * says what earlier keys' operations did, in an error's parentheses.
   */
  private serialOne(name: string, argv: readonly Uint8Array[], register: Uint8Array, done: Done, note?: Note): void {
    if (name === 'set' && argv.length === 3 && tagOf(register) === undefined) {
      const key = argv[1]!;
      if (key.length > limits.kvKeyBytesMax)
        return done(reply.error(`ERR key_too_large: key of ${key.length} bytes, max ${limits.kvKeyBytesMax}`));
      const value = encodeTagState(new Map([[latin1(key), { value: { type: 'string', value: argv[2]! } }]]))!;
      if (value.length > limits.paxosValueBytesMax) return done(overBytes(register, value.length, note));
      return this.inRegister(register, done, (release) =>
        this.node.serial(register, { kind: 'write', value }, (o) => {
          release();
          done(o.ok ? reply.ok : errorReply(o.error, true, note?.(o.error)));
        }),
      );
    }
    this.transaction(register, [argv], undefined, (r) => done(Array.isArray(r) ? r[0]! : r), note);
  }

  /**
   * MGET, MSET, DEL, UNLINK, EXISTS and TOUCH over keys of several registers at SERIAL: each key
   * (each pair for MSET) its own serialOne in turn. A failure after a write answers its error
   * saying how many keys were written or deleted before it (they stay: per-key operations).
   */
  private serialPerKey(name: string, argv: readonly Uint8Array[], done: Done): void {
    const step = name === 'mset' ? 2 : 1;
    if (name === 'mset') {
      const refused = msetRefusal(argv);
      if (refused !== undefined) return done(refused);
    }
    const each = name === 'unlink' ? 'del' : name === 'touch' ? 'exists' : name;
    const values: RespValue[] = [];
    let sum = 0n;
    inTurn(
      (argv.length - 1) / step,
      (i, next) => {
        const key = argv[1 + i * step]!;
        const one = name === 'mset' ? [SET, key, argv[2 + i * step]!] : [argv[0]!, key];
        // What the keys before this one did, when they wrote: MSET's pairs, DEL's deletions.
        const wrote = name === 'mset' ? i : each === 'del' ? Number(sum) : 0;
        const note: Note | undefined =
          wrote === 0
            ? undefined
            : (error) =>
                `the ${wrote} keys before it were ${name === 'mset' ? 'written' : 'deleted'}${error !== undefined && indefinite(error) ? '; this one may have been' : ''}`;
        this.serialOne(
          name === 'mset' ? 'set' : each,
          one,
          keyRegister(key),
          (r) => {
            if (r.type === 'error') return done(r);
            if (name === 'mget') values.push(r.type === 'array' ? r.items[0]! : r);
            else if (r.type === 'integer') sum += r.value;
            next();
          },
          note,
        );
      },
      () => done(name === 'mget' ? reply.array(values) : name === 'mset' ? reply.ok : reply.integer(sum)),
    );
  }

  /**
   * A command, or an EXEC's queue, over the keys of one register at SERIAL (tag-state.ts: a hash
   * tag's keys, or one untagged key): a serial read of the register, `watched` compared (WATCH: any differing key answers the null array,
   * nothing written), Redis' own code on the keys named (runQueue), then a CAS from the state read
   * to the state after if it changed, retried on the state as it moved (-BUSY after
   * SERIAL_CAS_ATTEMPTS_MAX, not written). `done` gets every command's reply.
   */
  transaction(
    register: Uint8Array,
    commands: ReadonlyArray<readonly Uint8Array[]>,
    watched: ReadonlyMap<string, Uint8Array | null> | undefined,
    done: (replies: RespValue[] | RespValue) => void,
    note?: Note,
  ): void {
    const named = new Map<string, Uint8Array>();
    for (const argv of commands) {
      const spec = lookupCommand(argv[0]!);
      if (spec !== undefined) for (const k of commandKeys(spec, argv)) named.set(latin1(k), k);
    }
    this.tagUpdate(
      register,
      [...named.values()],
      watched,
      done,
      (held, nowMs) => {
        const out = runQueue(held, commands, nowMs, this.rng);
        return { answer: out.replies, after: out.after };
      },
      note,
    );
  }

  /**
   * The read-modify-write under transaction() and BARISTA CAS: `step` gets each of `keys` (all of
   * `register`) as read (null: absent, or past its deadline at the read's time) and gives the
   * answer and each key after. A step that changes nothing writes nothing (an expired entry a read
   * sees as absent stays until a write to the register drops it). A key over kvKeyBytesMax, or a state past
   * tagStateItemsCountMax elements or kvValueBytesMax bytes, is refused (definite).
   */
  private tagUpdate<A extends RespValue[] | RespValue>(
    register: Uint8Array,
    keys: readonly Uint8Array[],
    watched: ReadonlyMap<string, Uint8Array | null> | undefined,
    answer: (answer: A | RespValue) => void,
    step: (
      held: ReadonlyArray<readonly [Uint8Array, Held | null]>,
      nowMs: number,
    ) => { answer: A; after: ReadonlyArray<Held | null> },
    note?: Note,
  ): void {
    const notWritten = note === undefined ? 'not written' : `not written; ${note(undefined)}`;
    const long = keys.find((k) => k.length > limits.kvKeyBytesMax);
    if (long !== undefined)
      return answer(reply.error(`ERR key_too_large: key of ${long.length} bytes, max ${limits.kvKeyBytesMax}`));
    this.inRegister(register, answer, (release) => {
      const done = (a: A | RespValue): void => {
        release();
        answer(a);
      };
      this.tagUpdateSlot(register, keys, watched, done, step, note, notWritten);
    });
  }

  /** tagUpdate's read-modify-write, once the register's turn on this node has come (inRegister). */
  private tagUpdateSlot<A extends RespValue[] | RespValue>(
    register: Uint8Array,
    keys: readonly Uint8Array[],
    watched: ReadonlyMap<string, Uint8Array | null> | undefined,
    done: (answer: A | RespValue) => void,
    step: (
      held: ReadonlyArray<readonly [Uint8Array, Held | null]>,
      nowMs: number,
    ) => { answer: A; after: ReadonlyArray<Held | null> },
    note: Note | undefined,
    notWritten: string,
  ): void {
    const attempt = (left: number): void => {
      this.tagRead(register, done, note, (state, current) => {
        const nowMs = this.node.wallMs();
        const live = (key: string): Held | null => liveEntry(state, key, nowMs);
        if (watched !== undefined) {
          for (const [k, seen] of watched) if (!bytesEqual(seen, heldBytes(k, live(k)))) return done(reply.nullArray);
        }
        const out = step(
          keys.map((k) => [k, live(latin1(k))] as const),
          nowMs,
        );
        let changed = false;
        keys.forEach((k, i) => {
          const key = latin1(k);
          const after = out.after[i]!;
          if (bytesEqual(heldBytes(key, live(key)), heldBytes(key, after))) return;
          changed = true;
          if (after === null) state.delete(key);
          else state.set(key, after);
        });
        if (!changed) return done(out.answer);
        // Written anyway: entries past their deadline go (no reader sees them).
        for (const key of [...state.keys()]) if (live(key) === null) state.delete(key);
        const items = tagStateItems(state);
        if (items > limits.tagStateItemsCountMax) {
          return done(
            reply.error(
              `ERR ${describeRegister(register)} would hold ${items} elements at SERIAL, over the ${limits.tagStateItemsCountMax} one register may hold (tagStateItemsCountMax; ${notWritten})`,
            ),
          );
        }
        const value = encodeTagState(state);
        if (value !== null && value.length > limits.paxosValueBytesMax)
          return done(overBytes(register, value.length, note));
        const blind = this.node.mutations.has('serial-tag-blind-write');
        this.node.serial(
          register,
          blind ? { kind: 'write', value } : { kind: 'cas', expected: current, value },
          (o) => {
            if (!o.ok) return done(errorReply(o.error, true, note?.(o.error)));
            if (o.applied) return done(out.answer);
            if (left <= 1) {
              const busy = reply.error(`BUSY ${describeRegister(register)} kept changing at SERIAL (${notWritten})`);
              return done(note === undefined ? retriable(busy) : busy);
            }
            attempt(left - 1);
          },
        );
      });
    };
    attempt(SERIAL_CAS_ATTEMPTS_MAX);
  }

  /**
   * Runs `op` when the register's earlier SERIAL operations on this node have ended (FIFO), and
   * tells the next when `op` calls `release`: the SERIAL commands of different connections on one
   * key or hash tag, and a blocking pop's tries, no longer race each other's Paxos ballots on this
   * node (a blocking queue at SERIAL, a producer's pushes duelling its node's consumers' pops, ran
   * 4 jobs/s; 29 after). Nodes still race each other (Paxos settles it). Past
   * storeSerialQueuedCountMax operations waiting on one register: -BUSY, not written.
   */
  private inRegister(
    register: Uint8Array,
    refused: (reply: RespValue) => void,
    op: (release: () => void) => void,
  ): void {
    const name = latin1(register);
    const waiting = this.registerQueues.get(name);
    if (waiting !== undefined) {
      // waiting[0] is the one running.
      if (waiting.length - 1 >= this.serialQueuedCountMax)
        return refused(
          retriable(
            reply.error(
              `BUSY ${waiting.length - 1} SERIAL operations wait on ${describeRegister(register)} on this node, storeSerialQueuedCountMax (not written)`,
            ),
          ),
        );
      waiting.push(op);
      return;
    }
    const queue: Array<(release: () => void) => void> = [op];
    this.registerQueues.set(name, queue);
    trampoline((next) => {
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        queue.shift();
        if (queue.length === 0) this.registerQueues.delete(name);
        else next();
      };
      try {
        queue[0]!(release);
      } catch (error) {
        // A defect that throws must not hold the register on this node for good.
        release();
        throw error;
      }
    });
  }

  /** WATCH at SERIAL: the keys' values now (a serial read of their register), for EXEC to compare. */
  watch(
    register: Uint8Array,
    keys: readonly Uint8Array[],
    done: (seen: Map<string, Uint8Array | null> | RespValue) => void,
  ): void {
    const long = keys.find((k) => k.length > limits.kvKeyBytesMax);
    if (long !== undefined)
      return done(reply.error(`ERR key_too_large: key of ${long.length} bytes, max ${limits.kvKeyBytesMax}`));
    this.inRegister(register, done, (release) => {
      const answer = (v: Map<string, Uint8Array | null> | RespValue): void => {
        release();
        done(v);
      };
      this.tagRead(register, answer, undefined, (state) => {
        const nowMs = this.node.wallMs();
        answer(new Map(keys.map((k) => [latin1(k), heldBytes(latin1(k), liveEntry(state, latin1(k), nowMs))])));
      });
    });
  }

  /** A serial read of a register, decoded; a failure (or broken bytes) answered through `failed`. */
  private tagRead(
    register: Uint8Array,
    failed: (reply: RespValue) => void,
    note: Note | undefined,
    next: (state: TagState, current: Uint8Array | null) => void,
  ): void {
    this.node.serial(register, { kind: 'read' }, (r) => {
      if (!r.ok) return failed(errorReply(r.error, false, note?.(r.error)));
      let state: TagState;
      try {
        // A raw string an older build wrote is read as the key named like the register.
        state = decodeRegister(register, r.current);
      } catch (error) {
        if (!(error instanceof BaristaError)) throw error;
        return failed(errorReply(error, false, note?.(error)));
      }
      next(state, r.current);
    });
  }

  private read(key: Uint8Array, level: Level, done: Done, answer: (s: KeyState) => RespValue): void {
    this.node.submit({ kind: 'get', key, level: readAt(level) }, (o) =>
      done(o.ok ? answer(o.state) : errorReply(o.error, false)),
    );
  }

  /**
   * Reads the context, then writes with it (the write supersedes what it read); value null =
   * delete; `expiresAtMs`: the value's absolute deadline (SET EX and the like).
   */
  private write(
    key: Uint8Array,
    value: Uint8Array | null,
    level: Level,
    ok: (read: KeyState) => void,
    failed: Failed,
    expiresAtMs?: number,
  ): void {
    this.node.submit({ kind: 'get', key, level: readAt(level) }, (read) => {
      if (!read.ok) return failed(read.error, false);
      this.writeWith(key, value, level, read.state.context, expiresAtMs, () => ok(read.state), failed);
    });
  }

  /**
   * SET, SETEX, PSETEX and MSET's value (store.conflicts), one write that supersedes what its
   * coordinating replica holds, without reading first. In a siblings keyspace the write is checked
   * (ClientRequest.checked): each replica that counts for the level says whether it held a sibling
   * the write does not supersede, and when the acks the level waits for are in with such an answer
   * the coordinator makes the write once more over the join of what they reported: what a read at
   * the level then a write over its context (`write`) gave, in one round when the replicas agree
   * (that read was a third of a SET's cluster CPU, docs/ARCHITECTURE.md). In a last-write-wins
   * keyspace nothing is checked: what the coordinator has not seen stays a sibling, and reads
   * return the highest timestamp.
   */
  private setValue(
    key: Uint8Array,
    value: Uint8Array,
    level: Level,
    ok: () => void,
    failed: Failed,
    expiresAtMs?: number,
  ): void {
    this.writeWith(key, value, level, this.conflicts === 'siblings' ? 'checked' : 'held', expiresAtMs, ok, failed);
  }

  /**
   * STRLEN, GETSET, GETDEL, APPEND, GETEX, SETRANGE, GETRANGE, SUBSTR, INCRBYFLOAT below SERIAL: each key read at the level
   * (a counter as its decimal text, a string with its deadline), Redis' own command run on the
   * values read (src/redis/scratch.ts), then the first key written over what was read if the
   * command changed its value or deadline: two operations, as SET. The reply is Redis' on the
   * values read.
   */
  private stringByRedis(argv: readonly Uint8Array[], level: Level, done: Done): void {
    const spec = lookupCommand(argv[0]!)!;
    const keys = [...new Map(commandKeys(spec, argv).map((k) => [latin1(k), k])).values()];
    const reads: KeyState[] = [];
    const values: Array<Materialized | null> = [];
    // The command runs at the time of the first read: a deadline the reads saw as future is still
    // future then (a later clock could expire it in the scratch, and a read-only command write).
    let atMs: number | undefined;
    inTurn(
      keys.length,
      (i, next) =>
        this.node.submit({ kind: 'get', key: keys[i]!, level: readAt(level) }, (o) => {
          if (!o.ok) return done(errorReply(o.error, false));
          atMs ??= this.node.wallMs();
          const read = materialize(o.state.versioned);
          if (read instanceof BaristaError) return done(errorReply(read, false));
          const deadline = o.state.versioned.keptDeadline();
          reads.push(o.state);
          values.push(
            read.value?.type === 'string' && deadline !== undefined
              ? { ...read.value, expiresAtMs: deadline }
              : read.value,
          );
          next();
        }),
      () => {
        const outcome = runOnValues(
          keys.map((k, i) => [k, values[i]!] as const),
          argv,
          atMs ?? this.node.wallMs(),
          this.rng,
        );
        const before = values[0]!;
        const after = outcome.after[0]!;
        if (outcome.reply.type === 'error' || spec.flags.includes('readonly') || sameString(before, after))
          return done(outcome.reply);
        if (after !== null && after.type !== 'string') return done(reply.error(`ERR ${spec.name}: not a string after`));
        const key = keys[0]!;
        // A counter whose deadline alone changed (GETEX EX / PERSIST) stays a counter, as EXPIRE keeps it.
        if (
          after !== null &&
          before?.type === 'string' &&
          bytesEqual(before.value, after.value) &&
          reads[0]!.chosen?.crdt === true
        ) {
          const op: TypedOp = { type: 'expire', expiresAtMs: after.expiresAtMs ?? 0 };
          return this.node.submit({ kind: 'typed', key, op, level }, (o) =>
            done(o.ok ? outcome.reply : errorReply(o.error, true)),
          );
        }
        this.writeWith(
          key,
          after === null ? null : after.value,
          level,
          reads[0]!.context,
          after?.expiresAtMs,
          () => done(outcome.reply),
          answerFailure(done),
        );
      },
    );
  }

  /**
   * A write superseding what `context` covers; 'held': what the key's coordinating replica holds
   * (a last-write-wins write, ClientRequest.overHeld); 'checked': that, and what the replicas that
   * count for the level hold (ClientRequest.checked).
   */
  private writeWith(
    key: Uint8Array,
    value: Uint8Array | null,
    level: Level,
    context: VectorClock | 'held' | 'checked',
    expiresAtMs: number | undefined,
    ok: () => void,
    failed: Failed,
  ): void {
    const over =
      context === 'held'
        ? ({ overHeld: true } as const)
        : context === 'checked'
          ? ({ overHeld: true, checked: true } as const)
          : { context };
    const request =
      value === null
        ? ({ kind: 'delete', key, level, ...over } as const)
        : ({ kind: 'put', key, value, level, ...over, ...(expiresAtMs === undefined ? {} : { expiresAtMs }) } as const);
    this.node.submit(request, (o) => (o.ok ? ok() : failed(o.error, true)));
  }

  /**
   * A read for the expiry commands: the key's newest value (null: none, a tombstone or past its
   * deadline), its deadline (0: none), and whether it is a counter, set or hash (a CRDT, whose
   * deadline is rewritten by a typed operation: typed.ts `expire`).
   */
  private plainRead(
    key: Uint8Array,
    level: Level,
    done: Done,
    then: (s: KeyState, value: Uint8Array | null, expiresAtMs: number, crdt: boolean) => void,
  ): void {
    this.node.submit({ kind: 'get', key, level: readAt(level) }, (o) => {
      if (!o.ok) return done(errorReply(o.error, false));
      const top = o.state.chosen;
      const value = showsValue(top) ? top!.value : null;
      then(o.state, value, top?.expiresAtMs ?? 0, top?.crdt === true);
    });
  }

  /** A counter's, set's or hash's new deadline (0: none), kept by its later updates; answers 1. */
  private expireTyped(key: Uint8Array, expiresAtMs: number, level: Level, done: Done): void {
    this.node.submit({ kind: 'typed', key, op: { type: 'expire', expiresAtMs }, level }, (o) =>
      o.ok ? done(reply.integer(1n)) : done(errorReply(o.error, true)),
    );
  }

  /** EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT (NX, XX, GT, LT): a read, then the value rewritten with its new deadline. */
  private expire(name: string, argv: readonly Uint8Array[], level: Level, done: Done): void {
    const req = parseExpireArgs(
      argv,
      name,
      !name.endsWith('at'),
      name === 'expire' || name === 'expireat',
      this.node.wallMs(),
    );
    if ('type' in req) return done(req);
    this.plainRead(argv[1]!, level, done, (s, value, expiresAtMs, crdt) => {
      const outcome = expireOutcome(req, value === null ? undefined : expiresAtMs, this.node.wallMs(), name);
      if (outcome === 'zero') return done(reply.integer(0n));
      if (outcome !== 'delete' && 'type' in outcome) return done(outcome);
      const deadline = outcome === 'delete' ? undefined : outcome.deadlineMs;
      if (crdt && deadline !== undefined) return this.expireTyped(argv[1]!, deadline, level, done);
      this.writeWith(
        argv[1]!,
        outcome === 'delete' ? null : value,
        level,
        s.context,
        deadline,
        () => done(reply.integer(1n)),
        answerFailure(done),
      );
    });
  }

  /**
   * RENAME / RENAMENX at N > 1: src read at the level (a string, or a counter as its decimal text,
   * with its deadline), dst read for its context (RENAMENX: 0 if it holds a value), dst written
   * over what was read, then src deleted over what was read. Three operations, not one: a reader
   * between them may see both names or the old one only; a failure after dst was written says so.
   */
  private rename(nx: boolean, src: Uint8Array, dst: Uint8Array, level: Level, done: Done): void {
    this.node.submit(this.wholeRead(src, level), (s) => {
      if (!s.ok) return done(errorReply(s.error, false));
      const read = materialize(s.state.versioned, s.state.collection);
      if (read instanceof BaristaError) return done(errorReply(read, false));
      if (read.value === null) return done(redisErrorReply.noSuchKey);
      // Redis: the same name is OK for RENAME, 0 for RENAMENX, and nothing changes (any type).
      if (bytesEqual(src, dst)) return done(nx ? reply.integer(0n) : reply.ok);
      if (read.value.type !== 'string') return this.renameCollection(nx, src, dst, s.state, read.value, level, done);
      const value = read.value.value;
      const deadline = s.state.chosen?.expiresAtMs ?? 0;
      this.node.submit({ kind: 'get', key: dst, level: readAt(level) }, (d) => {
        if (!d.ok) return done(errorReply(d.error, false));
        if (nx && holdsValue(d.state)) return done(reply.integer(0n));
        const moved = () => this.renamed(nx, src, s.state.context, level, done);
        const at = deadline > 0 ? deadline : undefined;
        this.writeWith(dst, value, level, d.state.context, at, moved, answerFailure(done));
      });
    });
  }

  /**
   * RENAME / RENAMENX of a list, set, sorted set or hash: dst read at the level; a dst of another
   * type deleted over what was read; dst's content turned into src's as CRDT operations
   * (replicated-collections.ts diffOps: from dst's value as read, so only what changes is sent),
   * src's deadline set on dst (or dst's removed), then src deleted over what was read. Per-key
   * operations in turn, as RENAME of a string: a failure after dst was touched says so.
   */
  private renameCollection(
    nx: boolean,
    src: Uint8Array,
    dst: Uint8Array,
    srcState: KeyState,
    value: Materialized,
    level: Level,
    done: Done,
  ): void {
    const srcDeadline = srcState.versioned.keptDeadline() ?? 0;
    this.node.submit(this.wholeRead(dst, level), (d) => {
      if (!d.ok) return done(errorReply(d.error, false));
      if (nx && holdsValue(d.state)) return done(reply.integer(0n));
      const dstRead = materialize(d.state.versioned, d.state.collection);
      if (dstRead instanceof BaristaError) return done(errorReply(dstRead, false));
      const sameType = dstRead.value?.type === value.type;
      const ops = diffOps(sameType ? dstRead : { value: null, listKeys: [] }, value, this.rng);
      if (ops instanceof BaristaError) return done(reply.error(`ERR ${ops.message}`));
      const dstDeadline = sameType ? (d.state.versioned.keptDeadline() ?? 0) : 0;
      if (srcDeadline !== dstDeadline) ops.push({ type: 'expire', expiresAtMs: srcDeadline });
      const touched = 'the new name may hold part of the value; the old name remains';
      const failed = (error: BaristaError, write: boolean) => done(errorReply(error, write, touched));
      const write = () =>
        inTurn(
          ops.length,
          (i, next) =>
            this.node.submit({ kind: 'typed', key: dst, op: ops[i]!, level }, (o) =>
              o.ok ? next() : failed(o.error, true),
            ),
          () => this.renamed(nx, src, srcState.context, level, done),
        );
      // Another type at dst goes first (Redis' RENAME replaces whatever dst holds).
      if (dstRead.value !== null && !sameType)
        return this.writeWith(dst, null, level, d.state.context, undefined, write, answerFailure(done));
      write();
    });
  }

  /** A read of `key`'s whole value at the level: in the rows layout, with every row of a collection. */
  private wholeRead(key: Uint8Array, level: Level): ReplicaRequest {
    return this.node.collections === 'rows'
      ? { kind: 'rows', key, level: readAt(level), elements: null }
      : { kind: 'get', key, level: readAt(level) };
  }

  /** RENAME's last step: src deleted over what was read, then RENAME's (or RENAMENX's) reply. */
  private renamed(nx: boolean, src: Uint8Array, context: VectorClock, level: Level, done: Done): void {
    this.node.submit({ kind: 'delete', key: src, level, context }, (o) =>
      done(
        o.ok
          ? nx
            ? reply.integer(1n)
            : reply.ok
          : errorReply(o.error, true, 'the value was written to the new name; the old name may remain'),
      ),
    );
  }

  /** MGET: `get` of each key in turn, the values gathered into one array reply. */
  private mget(
    argv: readonly Uint8Array[],
    done: Done,
    get: (key: Uint8Array, next: (value: Uint8Array | null) => void) => void,
  ): void {
    const values: RespValue[] = [];
    inTurn(
      argv.length - 1,
      (i, next) =>
        get(argv[i + 1]!, (value) => {
          values.push(value === null ? reply.null : reply.bulk(value));
          next();
        }),
      () => done(reply.array(values)),
    );
  }

  /**
   * MSET: `set` of each pair from argv[at] in turn. A failure after the first pair answers its
   * error saying how many keys were written before it (they stay written: per-key operations).
   */
  private mset(
    argv: readonly Uint8Array[],
    done: Done,
    set: (key: Uint8Array, value: Uint8Array, next: () => void, failed: Failed) => void,
  ): void {
    const refused = msetRefusal(argv);
    if (refused !== undefined) return done(refused);
    inTurn(
      (argv.length - 1) / 2,
      (i, next) =>
        set(argv[1 + 2 * i]!, argv[2 + 2 * i]!, next, (error, write) => {
          if (i === 0) return done(errorReply(error, write));
          const indefinite = write && (error.code === 'timeout' || error.code === 'outcome_unknown');
          done(
            errorReply(
              error,
              write,
              `the ${i} keys before it were written${indefinite ? '; this one may have been' : ''}`,
            ),
          );
        }),
      () => done(reply.ok),
    );
  }

  /** DEL and EXISTS over their keys in turn (each key its own operation, as N > 1 makes it). */
  private eachKey(name: 'del' | 'exists', keys: readonly Uint8Array[], level: Level, done: Done): void {
    let count = 0;
    inTurn(
      keys.length,
      (i, next) => {
        const key = keys[i]!;
        const counted = (read: KeyState) => {
          if (holdsValue(read)) count++;
          next();
        };
        if (name === 'exists')
          return this.node.submit({ kind: 'get', key, level: readAt(level) }, (o) =>
            o.ok ? counted(o.state) : done(errorReply(o.error, false)),
          );
        // A DEL that already deleted earlier keys must not answer "nothing was written".
        const note = i > 0 ? `the keys before it were deleted (${count} held a value)` : undefined;
        this.write(key, null, level, counted, answerFailure(done, note));
      },
      () => done(reply.integer(count)),
    );
  }
}

/** Collection commands whose first key is a destination they replace whole. */
const STORE_DESTINATION_FIRST: ReadonlySet<string> = new Set([
  'sinterstore',
  'sunionstore',
  'sdiffstore',
  'zunionstore',
  'zinterstore',
  'zdiffstore',
  'zrangestore',
]);

/** Parses a level argument of BARISTA CONSISTENCY. */
export function parseLevel(arg: Uint8Array): ConsistencyLevel | undefined {
  const upper = latin1(arg).toUpperCase();
  return CONSISTENCY_LEVELS.find((l) => l === upper);
}

/**
 * One sibling in BARISTA SIBLINGS: a string's bytes, a counter's value as text, nil for a
 * tombstone, and a concurrent write of a collection (a SET racing an LPUSH) as a WRONGTYPE error
 * element naming its type, as EXEC's array carries a command's error.
 */
function siblingReply(sib: Sibling): RespValue {
  if (sib.value === null) return reply.null;
  if (sib.crdt !== true) return reply.bulk(sib.value);
  const c = decodeCrdt(sib.value);
  if (c instanceof PNCounter) return reply.bulk(new TextEncoder().encode(c.value().toString()));
  const type = crdtShownType(c);
  // An emptied collection reads as no key (TYPE, EXISTS, GET), as a tombstone does.
  return type === null ? reply.null : reply.error(`WRONGTYPE a concurrent ${type} write`);
}

/** The element count of the collection marker a write left as the chosen sibling, if it is one. */
function markerCount(state: Versioned | undefined): number | undefined {
  const top = state?.chosen();
  if (top === undefined || top.value === null || top.crdt !== true) return undefined;
  const c = decodeCrdt(top.value);
  return c instanceof CollectionMarker ? c.count : undefined;
}
