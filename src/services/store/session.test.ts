// Goal: the store's RESP front end over simulated client connections (byte-chunked links, virtual
// time, the real service code on one node with the simulator's disk): pipelined requests are
// answered in request order; a protocol error is answered with Redis' text, then the connection
// closes and is counted; arity and unknown-command errors carry Redis 7.0's exact texts; NOAUTH
// before AUTH; HELLO 3 switches the connection to RESP3; MULTI/EXEC queue, EXECABORT after an
// error while queuing, WATCH aborts EXEC when another connection wrote the key. Group commit under
// sync `always`: a reply is never written before the sync that covers its write, proved by a power
// loss right after the client received the reply (the write survives the restart); the negative
// control (mutation store-reply-before-sync) loses it. FLUSHALL and a power loss right after:
// keys from before it stay gone under every sync policy, those in runs and in the commit log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { mutationsFrom } from '../../lib/mutations.ts';
import type { NodeServices } from '../../node/services.ts';
import type { Simulation } from '../../sim/simulation.ts';
import { SimulationFailure } from '../../sim/failure.ts';
import { TripwireError } from '../../sim/observe.ts';
import { simServices } from '../../../test/support/sim-services.ts';
import { storeOf, storeService } from './service.ts';
import { show, SimRespClient } from './sim-client.ts';

const NODE = 'n1';

function node(
  seed: string,
  store: Record<string, unknown> = {},
  mutations: string[] = [],
  chunking: 'random' | 'whole' = 'random',
): Simulation<NodeServices> {
  return simServices({
    seed,
    nodes: [NODE],
    services: [storeService],
    clientLinks: chunking === 'random' ? { chunking, chunkBytesMax: 7 } : { chunking },
    store,
    ...(mutations.length > 0 ? { mutations: mutationsFrom(mutations) } : {}),
  });
}

function settle(sim: Simulation<NodeServices>, c: SimRespClient): string[] {
  assert.ok(
    sim.runUntilCondition(() => c.settled || c.closed !== undefined, 5_000),
    `replies to ${c.sent} commands`,
  );
  return c.replies.map(show);
}

test('pipelined requests are answered in request order, inline commands too', () => {
  const sim = node('resp-pipeline');
  const c = new SimRespClient(sim, NODE);
  const expected: string[] = [];
  for (let i = 0; i < 50; i++) {
    c.send('SET', `k${i}`, `v${i}`);
    c.send('GET', `k${i}`);
    c.send('INCR', 'counter');
    c.send('ECHO', `e${i}`);
    expected.push('+OK', `$v${i}`, `:${i + 1}`, `$e${i}`);
  }
  c.sendRaw('PING\r\nPING "hello world"\r\n', 2);
  expected.push('+PONG', '$hello world');
  assert.deepEqual(settle(sim, c), expected);
});

test('a protocol error: earlier requests answered, then Redis text, then the connection closes and is counted', () => {
  const sim = node('resp-protocol-error');
  const c = new SimRespClient(sim, NODE);
  c.send('SET', 'a', '1');
  c.sendRaw('*1\r\n$x\r\n', 1);
  c.send('GET', 'a');
  assert.ok(
    sim.runUntilCondition(() => c.closed !== undefined, 5_000),
    'closed',
  );
  assert.deepEqual(c.replies.map(show), ['+OK', '-ERR Protocol error: invalid bulk length']);
  const status = storeOf(sim.instance(NODE)!).status!() as { protocolErrors: number };
  assert.equal(status.protocolErrors, 1);
});

test('arity and unknown command errors carry Redis 7.0 texts; the connection stays open', () => {
  const sim = node('resp-errors');
  const c = new SimRespClient(sim, NODE);
  c.send('GET');
  c.send('get', 'a', 'b');
  c.send('NOSUCH', 'x', 'y z');
  c.send('nosuch');
  c.send('CLIENT', 'NOPE');
  c.send('CLIENT', 'SETNAME');
  c.send('SELECT', '1');
  c.send('SELECT', 'x');
  c.send('PING', 'a', 'b');
  c.send('PING');
  assert.deepEqual(settle(sim, c), [
    "-ERR wrong number of arguments for 'get' command",
    "-ERR wrong number of arguments for 'get' command",
    "-ERR unknown command 'NOSUCH', with args beginning with: 'x' 'y z' ",
    "-ERR unknown command 'nosuch', with args beginning with: ",
    "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.",
    "-ERR wrong number of arguments for 'client|setname' command",
    '-ERR DB index is out of range',
    '-ERR value is not an integer or out of range',
    "-ERR wrong number of arguments for 'ping' command",
    '+PONG',
  ]);
  assert.equal(c.closed, undefined);
});

test('requirepass: NOAUTH before AUTH (unknown commands first), WRONGPASS, then served; HELLO 3 speaks RESP3', () => {
  const sim = node('resp-auth', { requirepass: 'secret' });
  const c = new SimRespClient(sim, NODE);
  c.send('GET', 'a');
  c.send('NOSUCH');
  c.send('AUTH', 'wrong');
  c.send('HELLO', '3');
  c.send('AUTH', 'secret');
  c.send('HELLO', '3', 'SETNAME', 'me');
  c.send('GET', 'a');
  c.send('CLIENT', 'GETNAME');
  const r = settle(sim, c);
  assert.deepEqual(r.slice(0, 5), [
    '-NOAUTH Authentication required.',
    "-ERR unknown command 'NOSUCH', with args beginning with: ",
    '-WRONGPASS invalid username-password pair or user is disabled.',
    '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    '+OK',
  ]);
  assert.match(
    r[5]!,
    /^%\{\$server=\$redis,\$version=\$7\.0\.15,\$proto=:3,\$id=:1,\$mode=\$standalone,\$role=\$master,\$modules=\*\[\]\}$/,
  );
  assert.equal(r[6], '_', 'a RESP3 null');
  assert.equal(r[7], '$me');
});

test('MULTI/EXEC: queued, run in order; an error while queuing aborts EXEC; WATCH aborts on a write by another client', () => {
  const sim = node('resp-multi');
  const a = new SimRespClient(sim, NODE);
  const b = new SimRespClient(sim, NODE);
  a.send('MULTI');
  a.send('SET', 'x', '1');
  a.send('INCR', 'x');
  a.send('GET', 'x');
  a.send('EXEC');
  a.send('MULTI');
  a.send('SET', 'x', '5');
  a.send('GET');
  a.send('EXEC');
  a.send('GET', 'x');
  a.send('EXEC');
  a.send('WATCH', 'x');
  assert.deepEqual(settle(sim, a), [
    '+OK',
    '+QUEUED',
    '+QUEUED',
    '+QUEUED',
    '*[+OK,:2,$2]',
    '+OK',
    '+QUEUED',
    "-ERR wrong number of arguments for 'get' command",
    '-EXECABORT Transaction discarded because of previous errors.',
    '$2',
    '-ERR EXEC without MULTI',
    '+OK',
  ]);
  b.send('SET', 'x', 'other');
  settle(sim, b);
  a.send('MULTI');
  a.send('SET', 'x', 'mine');
  a.send('EXEC');
  a.send('GET', 'x');
  assert.deepEqual(settle(sim, a).slice(12), ['+OK', '+QUEUED', '_', '$other']);
});

/** Cuts the node's power, restarts it, and returns a new connection to it. */
function powerLossAndRestart(sim: Simulation<NodeServices>): SimRespClient {
  sim.crash(NODE);
  sim.restart(NODE);
  assert.ok(
    sim.runUntilCondition(() => sim.instance(NODE) !== undefined, 5_000),
    'restarted',
  );
  return new SimRespClient(sim, NODE);
}

/** Sets k=v, waits for the +OK, cuts the power at once, restarts, and reads k back. */
function writeCrashRead(seed: string, mutations: string[]): string {
  const sim = node(seed, { sync: 'always' }, mutations);
  const c = new SimRespClient(sim, NODE);
  for (let i = 0; i < 5; i++) c.send('SET', `pre${i}`, 'x');
  c.send('SET', 'k', 'v');
  assert.ok(
    sim.runUntilCondition(() => c.replies.length === 6, 5_000),
    'acknowledged',
  );
  assert.equal(show(c.replies[5]), '+OK');
  const r = powerLossAndRestart(sim);
  r.send('GET', 'k');
  return settle(sim, r)[0]!;
}

test('group commit under always: an acknowledged write survives a power loss right after its reply', () => {
  for (let i = 0; i < 5; i++) assert.equal(writeCrashRead(`resp-durable-${i}`, []), '$v', `seed ${i}`);
});

test('negative control: a reply sent before its sync loses the acknowledged write at the power loss', () => {
  const lost = [0, 1, 2, 3, 4].filter((i) => writeCrashRead(`resp-durable-${i}`, ['store-reply-before-sync']) === '_');
  assert.ok(lost.length > 0, 'the planted bug loses an acknowledged write');
});

test('FLUSHALL through the front end, then a power loss: under every sync policy the keys stay gone', () => {
  // The engine drops every entry at once (its truncate: a manifest listing no run), durable when
  // the reply leaves under every policy; a small memtable puts most keys in runs first.
  for (const sync of ['always', 'periodic', 'none'] as const) {
    const sim = node(`resp-flushall-${sync}`, { sync, memtableBytesMax: 64 * 1024 });
    const runs = (): number => storeOf(sim.instance(NODE)!).engine.stats().runs.length;
    const c = new SimRespClient(sim, NODE);
    for (let i = 0; i < 800; i++) c.send('SET', `k${i}`, 'x'.repeat(100));
    c.send('SADD', 'set', 'a', 'b', 'c');
    assert.equal(settle(sim, c).at(-1), ':3');
    assert.ok(runs() > 0, `${sync}: keys in runs before the FLUSHALL`);
    c.send('FLUSHALL');
    c.send('DBSIZE');
    c.send('SET', 'after', '1');
    assert.deepEqual(settle(sim, c).slice(801), ['+OK', ':0', '+OK'], sync);
    assert.equal(runs(), 0, `${sync}: no run is left`);
    const r = powerLossAndRestart(sim);
    r.send('GET', 'k0');
    r.send('SMEMBERS', 'set');
    r.send('GET', 'after');
    r.send('GET', 'k799');
    const [k0, set, after, last] = settle(sim, r);
    assert.equal(k0, '_', `${sync}: a key from before the FLUSHALL (in a run)`);
    assert.equal(last, '_', `${sync}: a key from before the FLUSHALL (in the commit log)`);
    assert.equal(set, '*[]', sync);
    // Acknowledged after its sync under always; under periodic and none it may be lost.
    if (sync === 'always') assert.equal(after, '$1');
    else assert.ok(after === '$1' || after === '_', `${sync}: ${after}`);
  }
});

test('group commit: one sync covers a turn of pipelined writes; read-only turns need none', () => {
  const sim = node('resp-group', { sync: 'always' }, [], 'whole');
  const c = new SimRespClient(sim, NODE);
  c.send('PING');
  settle(sim, c);
  const store = storeOf(sim.instance(NODE)!);
  const seq0 = store.engine.durableSeq;
  const syncs0 = store.server.groupCommit.syncs;
  let body = '';
  for (let i = 0; i < 100; i++) body += `SET g${i} ${i}\r\n`;
  c.sendRaw(body, 100);
  settle(sim, c);
  assert.ok(store.engine.durableSeq >= seq0 + 100, 'every write synced before its reply');
  assert.equal(store.server.groupCommit.syncs, syncs0 + 1, 'one chunk, one turn, one sync for 100 writes');
  const before = store.engine.durableSeq;
  c.sendRaw('GET g1\r\nGET g2\r\n', 2);
  assert.deepEqual(settle(sim, c).slice(-2), ['$1', '$2']);
  assert.equal(store.engine.durableSeq, before);
  assert.equal(store.server.groupCommit.syncs, syncs0 + 1, 'a read-only turn syncs nothing');
});

test('introspection: INFO fields clients parse, CONFIG GET, COMMAND COUNT/INFO/DOCS, CLIENT ID/LIST, DEBUG SLEEP 0', () => {
  const sim = node('resp-introspection', { sync: 'always' });
  const c = new SimRespClient(sim, NODE);
  const other = new SimRespClient(sim, NODE);
  other.send('CLIENT', 'SETNAME', 'other');
  settle(sim, other);
  c.send('SET', 'a', '1');
  c.send('SET', 'b', '2', 'EX', '100');
  c.send('INFO');
  c.send('INFO', 'keyspace');
  c.send('CONFIG', 'GET', 'maxmemory');
  c.send('CONFIG', 'GET', 'append*');
  c.send('COMMAND', 'COUNT');
  c.send('COMMAND', 'INFO', 'get', 'nosuch');
  c.send('COMMAND', 'DOCS', 'ping');
  c.send('CLIENT', 'ID');
  c.send('CLIENT', 'LIST');
  c.send('DEBUG', 'SLEEP', '0');
  c.send('RESET');
  c.send('QUIT');
  const r = settle(sim, c);
  const info = r[2]!;
  for (const field of [
    'redis_version:7.0.15',
    'redis_mode:standalone',
    'role:master',
    'loading:0',
    'connected_clients:2',
    'used_memory:',
  ]) {
    assert.ok(info.includes(`${field}`), `INFO has ${field}`);
  }
  assert.match(info, /# Keyspace\r\ndb0:keys=2,expires=\d+,avg_ttl=0\r\n/);
  assert.equal(r[3], '$# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n');
  assert.equal(r[4], '*[$maxmemory,$0]');
  assert.equal(r[5], '*[$appendonly,$yes,$appendfsync,$always]');
  const count = Number(r[6]!.slice(1));
  const store = storeOf(sim.instance(NODE)!);
  assert.equal(count, store.server.table.size);
  assert.ok(count > 40, `COMMAND COUNT ${count}`);
  assert.equal(r[7], '*[*[$get,:2,*[+readonly,+fast],:1,:1,:1,*[+@read,+@fast],*[],*[],*[]],_]');
  assert.match(r[8]!, /^\*\[\$ping,\*\[\$summary,\$Ping the server,\$since,\$1\.0\.0,\$group,\$connection\]\]$/);
  const id = r[9]!;
  assert.match(id, /^:\d+$/);
  const list = r[10]!.slice(1).trim().split('\n');
  assert.equal(list.length, 2, 'both connections listed');
  assert.ok(list.some((l) => l.startsWith(`id=${id.slice(1)} `) && l.includes(' cmd=client|list ')));
  assert.ok(list.some((l) => l.includes(' name=other ')));
  assert.deepEqual(r.slice(11), ['+OK', '+RESET', '+OK']);
  assert.ok(
    sim.runUntilCondition(() => c.closed !== undefined, 5_000),
    'QUIT closes the connection',
  );
});

test('property: any sequence of commands with arbitrary arguments gets exactly one reply each, in order, and the node keeps serving', () => {
  const names = [
    'PING',
    'ECHO',
    'HELLO',
    'AUTH',
    'SELECT',
    'CLIENT',
    'RESET',
    'COMMAND',
    'INFO',
    'CONFIG',
    'DEBUG',
    'MULTI',
    'EXEC',
    'DISCARD',
    'WATCH',
    'UNWATCH',
    'SET',
    'GET',
    'INCR',
    'DEL',
    'LPUSH',
    'HSET',
    'SADD',
    'ZADD',
    'FLUSHALL',
    'DBSIZE',
    'NOSUCH',
    'setinfo',
    'GETNAME',
    'SETNAME',
    'ID',
    'LIST',
    '2',
    '3',
    'x',
  ];
  const arg = fc.oneof(
    fc.constantFrom(...names).map((n) => new TextEncoder().encode(n)),
    fc.uint8Array({ maxLength: 12 }),
  );
  const command = fc.tuple(fc.constantFrom(...names), fc.array(arg, { maxLength: 5 }));
  fc.assert(
    fc.property(
      fc.array(command, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 0, max: 1000 }),
      (commands, seed) => {
        const sim = node(`resp-property-${seed}`, { requirepass: 'pw' });
        const c = new SimRespClient(sim, NODE);
        c.send('AUTH', 'pw');
        for (const [name, args] of commands) c.send(name, ...args);
        c.send('ECHO', 'last');
        const replies = settle(sim, c);
        assert.equal(c.closed, undefined, 'the connection stays open');
        assert.equal(replies.length, commands.length + 2, 'one reply per command');
        // RESET drops the authentication and MULTI queues: the last ECHO is answered, refused or queued.
        assert.ok(['$last', '-NOAUTH Authentication required.', '+QUEUED'].includes(replies.at(-1)!), replies.at(-1));
      },
    ),
    { numRuns: 25 },
  );
});

test('a command that throws a ProtocolError (a bug), at once or later, before or after it answers, is answered once (-ERR internal if not yet) and counted; the connection and the commands behind it go on in order; the tripwire fails a default run', () => {
  const run = (tripwireCounters?: readonly string[]) => {
    const sim = simServices({
      seed: 'resp-command-throws',
      nodes: [NODE],
      services: [storeService],
      clientLinks: { chunking: 'whole' },
      mutations: mutationsFrom(['store-echo-throws']),
      ...(tripwireCounters === undefined ? {} : { tripwireCounters }),
    });
    const c = new SimRespClient(sim, NODE);
    // ECHO of 1 byte throws at once; of 6, answers later and throws before answering; of 5,
    // answers later and then throws (mutation store-echo-throws).
    c.send('ECHO', 'a');
    c.send('PING');
    c.send('ECHO', 'before');
    c.send('SET', 'k', 'v');
    c.send('ECHO', 'after');
    c.send('GET', 'k');
    return { sim, replies: settle(sim, c), closed: c.closed };
  };
  const { sim, replies, closed } = run([]);
  assert.equal(closed, undefined);
  assert.equal(replies.length, 6);
  assert.ok(replies[0]!.startsWith('-ERR internal'), replies[0]);
  assert.ok(replies[2]!.startsWith('-ERR internal'), replies[2]);
  assert.deepEqual([replies[1], ...replies.slice(3)], ['+PONG', '+OK', '$after', '$v']);
  const m = sim.metrics(NODE);
  assert.equal(m.value('continuation_failures_total', { component: 'store' }), 3);
  // The one that answered before it threw: its internal answer dropped, counted.
  assert.equal(m.value('store_second_answers_total'), 1);
  // Negative control: by default the counter is a tripwire, so the simulation fails where it rose.
  assert.throws(
    () => run(),
    (e: unknown) => e instanceof SimulationFailure && e.cause instanceof TripwireError,
  );
});
