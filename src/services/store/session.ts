// One RESP client connection of the store service: its state (protocol 2 or 3, authenticated,
// name, MULTI queue, watched keys) and Redis 7.0's processCommand order for each request the
// pipeline (src/wire/pipeline.ts) hands it: look the command up (unknown command / unknown
// subcommand), check its arity, refuse it before AUTH (NOAUTH), queue it inside MULTI (an error
// while queuing makes EXEC answer EXECABORT), else run it. Every error a command is refused with
// while MULTI is open flags the transaction, as Redis' rejectCommand does.
//
// Replies are encoded for the connection's protocol at the time they are produced, then handed to
// the server's group commit (group-commit.ts), which releases them when the sync policy allows;
// the pipeline writes each connection's replies in request order. A command runs to its end
// within one call (the whole EXEC too): atomic, as in Redis, because nothing else runs meanwhile.
// At N > 1 a transaction runs at SERIAL over the keys of one register (tag-state.ts: one hash
// tag's keys, or one untagged key): each queued command must be a data command on those keys (else
// refused while queuing: EXECABORT), and EXEC is one CAS of the register (replicated.ts
// transaction); WATCH reads the register.

import type { ClientConnection } from '../../env/types.ts';
import { arityAccepts } from '../../redis/command.ts';
import { wrongArityError } from '../../redis/errors.ts';
import type { Reply } from '../../wire/pipeline.ts';
import { encodeReply, type RespProtocol, type RespValue, reply } from '../../wire/resp/index.ts';
import { RESP_ARG_OVERHEAD_BYTES } from '../../wire/resp/request.ts';
import { type CommandEntry, type Later, lookupCommand } from './command-entry.ts';
import { ALLOWED_WHILE_SUBSCRIBED, subscribedModeError } from './pubsub.ts';
import { bytesEqual } from '../../lib/bytes.ts';
import { limits } from '../../lib/limits.ts';
import {
  type ConsistencyLevel,
  commandRegister,
  errorReply,
  ReplicatedCommands,
  TAGS_CROSSSLOT,
} from './replicated.ts';
import { serialRegister } from './tag-state.ts';
import { CROSSSLOT_MESSAGE, commandKeys, namesKeys } from './routing.ts';
import { OOM_MESSAGE, type StoreServer } from './server.ts';

/**
 * The memory a RESP command holds: in flight (clientInflightRequestBytesMax, the pipeline's
 * sizeOf) and queued in a MULTI (storeMultiQueuedBytesMax).
 */
export function respCommandSize(command: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const arg of command) bytes += arg.length + RESP_ARG_OVERHEAD_BYTES;
  return bytes;
}

const NOAUTH = reply.error('NOAUTH Authentication required.');
const QUEUED = reply.simple('QUEUED');
const EXECABORT = reply.error('EXECABORT Transaction discarded because of previous errors.');
/** Commands that run at once inside MULTI (server.c processCommand's exceptions). */
const RUN_IN_MULTI = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

interface Queued {
  readonly entry: CommandEntry;
  readonly argv: readonly Uint8Array[];
}

export interface MultiState {
  readonly queue: Queued[];
  bytes: number;
  /** An error while queuing: EXEC answers EXECABORT (Redis' CLIENT_DIRTY_EXEC). */
  dirty: boolean;
  /** N > 1: the SERIAL register every queued command's keys share (tag-state.ts). */
  register?: Uint8Array;
}

/** A transaction or WATCH at N > 1 below SERIAL. */
const NOT_SERIAL_ERROR =
  'ERR MULTI/EXEC and WATCH with store.replication.replicas > 1 run at SERIAL over one key or the keys of one hash tag: BARISTA CONSISTENCY SERIAL first';

export class RespSession {
  /** CLIENT ID: unique per node start, increasing. */
  readonly id: number;
  protocol: RespProtocol = 2;
  authenticated: boolean;
  name = '';
  libName = '';
  libVersion = '';
  noEvict = false;
  multi: MultiState | null = null;
  /** WATCHed keys (latin1); `watchDirty` once one changed (Redis' CLIENT_DIRTY_CAS). */
  readonly watched = new Set<string>();
  /** The bytes of `watched`'s keys (storeWatchedKeysBytesMax). */
  watchedBytes = 0;
  watchDirty = false;
  /** N > 1: the watched keys' register and their values when watched (replicated.ts watch). */
  watchedRegister: { readonly register: Uint8Array; readonly seen: Map<string, Uint8Array | null> } | undefined;
  readonly createdMs: number;
  lastCommandMs: number;
  lastCommand = 'NULL';
  /** The consistency level of this connection's commands at N > 1 (BARISTA CONSISTENCY). */
  consistency: ConsistencyLevel;
  /** A command that answers later is running: later requests wait in `held`, in order. */
  private running = false;
  private readonly held: Array<{ readonly argv: Uint8Array[]; readonly answer: Reply }> = [];
  /** Set by a command (QUIT) whose reply is the connection's last. */
  closeAfterReply = false;
  /** Pub/Sub: the channels and patterns subscribed to (latin1), in subscription order. */
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  /** Sharded Pub/Sub: the shard channels subscribed to (SSUBSCRIBE). */
  readonly shardChannels = new Set<string>();
  /** The bytes of the names in channels, patterns and shardChannels (storePubsubSubscriptionsBytesMax). */
  subscriptionBytes = 0;
  /** Replies that precede this request's last one (SUBSCRIBE a b c confirms each name). */
  readonly leading: RespValue[] = [];
  /** Since when the pending output has been over the pubsub soft limit (pubsub.ts). */
  outputSoftSinceMs: number | undefined;
  /** EXEC is running its queue (SUBSCRIBE refuses to run there). */
  inExec = false;
  /** What this session holds beside its pipeline: its MULTI queue, WATCHed keys, subscriptions. */
  get stateBytes(): number {
    return (this.multi?.bytes ?? 0) + this.watchedBytes + this.subscriptionBytes;
  }

  /** The connection's out-of-band writer (the pipeline): set by the service once it exists. */
  output:
    | { push(bytes: Uint8Array): void; readonly heldBytes: number; readonly inflightRequestBytes?: number }
    | undefined;

  constructor(
    readonly server: StoreServer,
    readonly conn: ClientConnection,
    id: number,
  ) {
    this.id = id;
    this.authenticated = server.config.requirepass === undefined;
    this.consistency = server.defaultConsistency;
    this.createdMs = server.env.clock.monotonicMs();
    this.lastCommandMs = this.createdMs;
  }

  /**
   * The pipeline's serve: one request, answered exactly once (now or after the covering sync).
   * Commands run in request order, each after the one before has finished: one that answers later
   * (forwarded to its keys' owner, or a replica round at N > 1) holds the requests behind it here,
   * or a pipelined `SET k 1; GET k` could read before its own write. At most the pipeline's
   * in-flight bound (`listen.resp.inflightRequestsMax`) wait.
   */
  serve(argv: Uint8Array[], answer: Reply): void {
    if (this.running || this.held.length > 0) {
      // Behind a running command, or behind held ones a failed answer left (finish below).
      this.held.push({ argv, answer });
      this.drain();
      return;
    }
    this.serveNow(argv, answer);
  }

  /** One request, with nothing running or held before it. */
  private serveNow(argv: Uint8Array[], answer: Reply): void {
    let value: RespValue | Later;
    try {
      value = this.process(argv);
    } catch (err) {
      value = this.internal(err);
    }
    if (typeof value === 'function') {
      // The owner made it durable before answering: no sync here. The protocol is the one in
      // force now (a HELLO pipelined after it has not run yet).
      const protocol = this.protocol;
      this.running = true;
      let answered = false;
      const finish = (v: RespValue): void => {
        // Exactly once: a continuation that answered and then threw is called again with an
        // internal error (src/lib/continuation.ts); that second answer is dropped, and counted.
        if (answered) return this.server.countSecondAnswer();
        answered = true;
        try {
          if (v.type === 'error') this.server.countError(v.message);
          answer(encodeReply(v, protocol), { thenClose: false });
        } finally {
          // Whatever the answer threw, the next command is not held behind this one forever.
          this.running = false;
        }
        this.drain();
      };
      try {
        value(finish);
      } catch (err) {
        finish(this.internal(err)); // dropped, and counted, if it answered before throwing
      }
      return;
    }
    const bytes = this.encodeOut(value);
    const thenClose = this.closeAfterReply;
    this.server.groupCommit.release(
      () => answer(bytes, { thenClose }),
      () => this.conn.close(),
    );
  }

  /** The held requests, in order, until one of them answers later in its turn. */
  private drain(): void {
    while (!this.running && this.held.length > 0) {
      const more = this.held.shift()!;
      this.serveNow(more.argv, more.answer);
    }
  }

  /** A ProtocolError thrown while a command ran (a bug), counted: its client's answer (anything else rethrown). */
  private internal(err: unknown): RespValue {
    return errorReply(this.server.continuations.caught(err), false);
  }

  /** Channels plus patterns: the count in (un)subscribe confirmations; > 0 is Redis' subscribed mode. */
  get subscriptionCount(): number {
    return this.channels.size + this.patterns.size;
  }

  /** Any subscription, shard channels included: a RESP2 connection is in Redis' subscribed mode. */
  get subscribed(): boolean {
    return this.channels.size + this.patterns.size + this.shardChannels.size > 0;
  }

  /** Bytes answered but not yet handed to the connection. */
  heldOutputBytes(): number {
    return this.output?.heldBytes ?? 0;
  }

  /** A Pub/Sub message: out of band, after every reply to an earlier request. */
  pushOut(bytes: Uint8Array): void {
    this.output?.push(bytes);
  }

  /** The reply bytes, after the replies a command put in `leading`. */
  private encodeOut(value: RespValue): Uint8Array {
    if (this.leading.length === 0) return encodeReply(value, this.protocol);
    const parts = this.leading.map((v) => encodeReply(v, this.protocol));
    this.leading.length = 0;
    parts.push(encodeReply(value, this.protocol));
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    const out = new Uint8Array(bytes);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Redis' processCommand for one request; returns its reply. */
  process(argv: readonly Uint8Array[]): RespValue | Later {
    const started = this.server.env.clock.monotonicMs();
    this.lastCommandMs = started;
    const found = lookupCommand(this.server.table, argv);
    let value: RespValue | Later;
    if (!('kind' in found)) {
      this.server.countCommand(undefined);
      value = this.reject(found);
    } else {
      const spec = found.spec;
      this.lastCommand = spec.name;
      this.server.countCommand(spec.name);
      if (!arityAccepts(spec.arity, argv.length)) value = this.reject(wrongArityError(spec.name));
      else if (!this.authenticated && !spec.flags.includes('no_auth')) value = this.reject(NOAUTH);
      else if (this.protocol === 2 && this.subscribed && !ALLOWED_WHILE_SUBSCRIBED.has(found.spec.name))
        value = this.reject(subscribedModeError(spec.name));
      else if (this.multi !== null && !RUN_IN_MULTI.has(spec.name)) value = this.queue(found, argv);
      else value = this.routed(found, argv);
    }
    // Clients blocked on keys this command (or EXEC) wrote pop now, before the next command.
    this.server.blocking.serveReady();
    if (typeof value === 'function') return value;
    if (value.type === 'error') this.server.countError(value.message);
    this.server.observeLatency(this.server.env.clock.monotonicMs() - started);
    return value;
  }

  /**
   * Runs a command where its keys live (routing.ts): here, or on their owner (a Promise of its
   * reply). A server command with keys (WATCH) must name keys of this node: watching a key another
   * node changes would never fire.
   */
  private routed(entry: CommandEntry, argv: readonly Uint8Array[]): RespValue | Later {
    const refusal = this.server.refusal;
    if (refusal !== undefined && touchesData(entry, argv)) return reply.error(`CLUSTERDOWN ${refusal}`);
    const replicated = this.server.replicated;
    if (replicated !== undefined && entry.kind === 'data') {
      // N > 1: every replica of the key takes part; no owner to forward to.
      // At SERIAL every data command with keys runs (replicated.ts runSerial: one register's CAS).
      const serial = this.consistency === 'SERIAL' && (commandRegister(argv) !== undefined || namesKeys(entry.spec));
      if (!serial && !ReplicatedCommands.offers(entry.spec.name))
        return reply.error(
          `ERR '${entry.spec.name}' is not available with store.replication.replicas > 1 yet, except at SERIAL over one key or the keys of one hash tag ({tag}a {tag}b)`,
        );
      // maxmemory at N > 1: this node's count of its replica store (replicated-memory.ts).
      const oom = this.server.oomReply(entry.spec.name, entry.spec.flags, this);
      if (oom !== undefined) return oom;
      this.server.stats.commandsProcessed++;
      const level = this.consistency;
      const waiters = entry.spec.flags.includes('write') ? this.server.blocking.replicated : undefined;
      if (waiters === undefined) return (done) => replicated.run(entry.spec.name, argv, level, done);
      // A write may feed a blocked pop on its keys here (blocking-replicated.ts): they try after it.
      return (done) =>
        replicated.run(entry.spec.name, argv, level, (v) => {
          done(v);
          if (v.type !== 'error') for (const key of commandKeys(entry.spec, argv)) waiters.signal(key);
        });
    }
    if (replicated !== undefined && entry.spec.name === 'watch') return this.watchAtN(argv);
    // N > 1: no key has an owner to forward to; a server command with keys (the blocking pops)
    // runs here, through the replicated path (blocking-replicated.ts).
    if (replicated !== undefined && entry.kind === 'server' && !entry.spec.flags.includes('pubsub')) {
      if (entry.spec.name === 'exec') {
        const oom = this.server.oomReply('exec', entry.spec.flags, this);
        if (oom !== undefined) return this.execOom();
      } else if (entry.spec.flags.includes('blocking')) {
        // BLMOVE and BRPOPLPUSH are denyoom, as at N = 1 (server.ts oomReply reads the flags).
        const oom = this.server.oomReply(entry.spec.name, entry.spec.flags, this);
        if (oom !== undefined) return oom;
      }
      return this.server.run(this, entry, argv);
    }
    // Sharded Pub/Sub names channels where keys go, yet runs on any node (pubsub.ts).
    if (entry.kind === 'server' && entry.spec.flags.includes('pubsub')) return this.server.run(this, entry, argv);
    const route = this.server.route(entry, argv);
    if (route.kind === 'crossslot') return reply.error(CROSSSLOT_MESSAGE);
    if (route.kind === 'forward') {
      if (entry.kind !== 'data')
        return reply.error(`${CROSSSLOT_MESSAGE} (the keys live on ${route.to}: connect there)`);
      this.server.stats.commandsProcessed++;
      // The owner applies its own maxmemory (service.ts runForwarded), as a Redis Cluster node does.
      return (done) => this.server.forward(route.to, argv, this.protocol, done);
    }
    const oom = this.server.oomReply(entry.spec.name, entry.spec.flags, this);
    if (oom !== undefined) return entry.spec.name === 'exec' ? this.execOom() : oom;
    return this.server.run(this, entry, argv);
  }

  /** Redis' execCommandAbort under maxmemory: the transaction is discarded, the reason named. */
  private execOom(): RespValue {
    this.multi = null;
    this.server.unwatchAll(this);
    return reply.error(`EXECABORT Transaction discarded because of: ${OOM_MESSAGE}`);
  }

  private reject(error: RespValue): RespValue {
    if (this.multi !== null) this.multi.dirty = true;
    return error;
  }

  private queue(entry: CommandEntry, argv: readonly Uint8Array[]): RespValue {
    const multi = this.multi!;
    // Out of memory, nothing is queued (Redis: queuing could grow without bound).
    const oom = this.server.oomReply(entry.spec.name, entry.spec.flags, this);
    if (oom !== undefined) return this.reject(oom);
    // Each argument priced as the pipeline prices it in flight: its bytes and its object (a DEL of
    // a million empty keys is 3 bytes of arguments and ~190 MB of heap: an audit, 2026-12-07).
    const bytes = respCommandSize(argv);
    if (!this.server.admitsQueued(multi.queue.length + 1, multi.bytes + bytes)) {
      multi.dirty = true;
      return reply.error('ERR MULTI queue over its bound (storeMultiQueuedCountMax / storeMultiQueuedBytesMax)');
    }
    if (this.server.replicated !== undefined) {
      // N > 1: a transaction is one CAS of one register (tag-state.ts).
      if (this.consistency !== 'SERIAL') return this.reject(reply.error(NOT_SERIAL_ERROR));
      if (entry.kind !== 'data')
        return this.reject(
          reply.error(
            `ERR '${entry.spec.name}' cannot be queued with store.replication.replicas > 1 (a transaction there holds data commands over one key or the keys of one hash tag)`,
          ),
        );
      const register = commandRegister(argv);
      if (!(register instanceof Uint8Array) || (multi.register !== undefined && !bytesEqual(multi.register, register)))
        return this.reject(reply.error(TAGS_CROSSSLOT));
      multi.register = register;
    }
    // The decoder hands each request arrays of its own, so keeping them is safe.
    multi.queue.push({ entry, argv });
    multi.bytes += bytes;
    return QUEUED;
  }

  /**
   * EXEC: every queued command in order, in this one call (nothing else runs meanwhile). At N > 1,
   * one CAS of the register the queued commands share (replicated.ts transaction).
   */
  exec(): RespValue | Later {
    const multi = this.multi;
    if (multi === null) return reply.error('ERR EXEC without MULTI');
    this.multi = null;
    const dirtyCas = this.watchDirty || this.server.watchedKeyExpired(this);
    const watchedRegister = this.watchedRegister;
    this.server.unwatchAll(this);
    if (multi.dirty) return EXECABORT;
    if (dirtyCas) return reply.nullArray;
    const replicated = this.server.replicated;
    if (replicated !== undefined) {
      const register = multi.register ?? watchedRegister?.register;
      if (register === undefined) return reply.array([]);
      if (watchedRegister !== undefined && !bytesEqual(watchedRegister.register, register))
        return reply.error(TAGS_CROSSSLOT);
      const commands = multi.queue.map((q) => q.argv);
      return (done) =>
        replicated.transaction(register, commands, watchedRegister?.seen, (r) => {
          if (!Array.isArray(r)) return done(r);
          for (const v of r) if (v.type === 'error') this.server.countError(v.message);
          done(reply.array(r));
          // The transaction's writes may feed blocked pops here: they try now (blocking-replicated.ts).
          const waiters = this.server.blocking.replicated;
          if (waiters !== undefined)
            for (const q of multi.queue)
              if (q.entry.spec.flags.includes('write'))
                for (const key of commandKeys(q.entry.spec, q.argv)) waiters.signal(key);
        });
    }
    // Atomic only on one node: every queued command's keys must live here (Redis Cluster asks
    // the same of a transaction's slots).
    for (const q of multi.queue) {
      const route = this.server.route(q.entry, q.argv);
      if (route.kind !== 'local')
        return reply.error(`${CROSSSLOT_MESSAGE} (a transaction runs on the node owning all its keys)`);
    }
    const items: RespValue[] = [];
    this.inExec = true;
    for (const q of multi.queue) {
      const ran = this.server.run(this, q.entry, q.argv);
      // A queued command that answers later (BARISTA SIBLINGS) cannot be part of an atomic EXEC.
      const v = typeof ran === 'function' ? reply.error('ERR this command cannot run inside MULTI') : ran;
      if (v.type === 'error') this.server.countError(v.message);
      items.push(v);
    }
    this.inExec = false;
    return reply.array(items);
  }

  /**
   * WATCH at N > 1: the keys (of one register, at SERIAL) as a serial read sees them now; EXEC
   * answers the null array when any differs then. Watching again keeps the first sight of a key.
   */
  private watchAtN(argv: readonly Uint8Array[]): RespValue | Later {
    if (this.multi !== null) return reply.error('ERR WATCH inside MULTI is not allowed');
    if (this.consistency !== 'SERIAL') return reply.error(NOT_SERIAL_ERROR);
    const register = serialRegister(argv.slice(1));
    if (
      !(register instanceof Uint8Array) ||
      (this.watchedRegister !== undefined && !bytesEqual(this.watchedRegister.register, register))
    )
      return reply.error(TAGS_CROSSSLOT);
    const keys = argv.slice(1);
    if ((this.watchedRegister?.seen.size ?? 0) + keys.length > limits.storeWatchedKeysCountMax)
      return reply.error('ERR too many WATCHed keys (storeWatchedKeysCountMax)');
    const replicated = this.server.replicated!;
    return (done) =>
      replicated.watch(register, keys, (seen) => {
        if (!(seen instanceof Map)) return done(seen);
        const held = this.watchedRegister?.seen ?? new Map<string, Uint8Array | null>();
        let bytes = 0;
        for (const [k, v] of seen) if (!held.has(k)) bytes += k.length + (v?.length ?? 0);
        if (this.watchedBytes + bytes > limits.storeWatchedValuesBytesMax)
          return done(reply.error('ERR too many WATCHed keys (storeWatchedKeysCountMax, storeWatchedValuesBytesMax)'));
        this.watchedBytes += bytes;
        for (const [k, v] of seen) if (!held.has(k)) held.set(k, v);
        this.watchedRegister = { register, seen: held };
        done(reply.ok);
      });
  }

  /** RESET: Redis 7.0's clearClientConnectionState (protocol 2, no name, no MULTI or watches, auth reset). */
  reset(): void {
    this.multi = null;
    this.server.unwatchAll(this);
    this.server.pubsub.dropAll(this);
    this.protocol = 2;
    this.name = '';
    this.authenticated = this.server.config.requirepass === undefined;
  }

  /** The connection closed: forget its watches. */
  onClose(): void {
    this.server.unwatchAll(this);
    this.server.pubsub.dropAll(this);
    this.server.blocking.drop(this);
    this.multi = null;
  }
}

/** A command that reads or writes keys: a data command, EXEC, or a server command naming keys (WATCH, BLPOP). */
function touchesData(entry: CommandEntry, argv: readonly Uint8Array[]): boolean {
  if (entry.kind === 'data' || entry.spec.name === 'exec') return true;
  return !entry.spec.flags.includes('pubsub') && commandKeys(entry.spec, argv).length > 0;
}
