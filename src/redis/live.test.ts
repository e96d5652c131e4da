// Goal: our string and generic key commands answer byte for byte what Redis 7.0 answers. A
// redis-server started here on a free loopback port and our command table (runCommand over an LSM
// engine on the simulator's disk, clock = the wall clock at each command) get the same scripted
// commands — every option and every error case the families implement — and their replies,
// encoded as RESP2, must be equal. Normalised only where time passes (TTL/PTTL within a margin),
// and where Redis' order is its hash table's (KEYS sorted; SCAN compared as the union of a full
// iteration). Also seeded random checks: glob patterns through KEYS, INCRBYFLOAT on random decimals
// (long double arithmetic and "%.17Lf"), and COMMAND INFO's arity, flags and key positions for
// every command of ours. Skipped, saying so, when redis-server is not installed.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ProtocolError } from '../lib/errors.ts';
import { SeededRng } from '../lib/rng.ts';
import { encodeCommand, encodeReply, RespReplyDecoder, type RespValue } from '../wire/resp/index.ts';
import { randomStringScript } from '../../test/support/redis-random.ts';
import { freePorts } from '../../test/support/zookeeper-server.ts';
import { commandTable } from './table.ts';
import { RedisHarness } from './testing.ts';

const installed = spawnSync('redis-server', ['--version']).status === 0;
const skip = installed
  ? false
  : 'redis-server is not installed (apt-get install redis-server): live comparison skipped';

let server: ChildProcess | undefined;
let dir = '';
let client: Client | undefined;

/** One connection; `call` sends a command and resolves with its reply. */
class Client {
  private readonly decoder = new RespReplyDecoder();
  private readonly waiting: Array<(v: RespValue) => void> = [];
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.decoder.push(new Uint8Array(d));
      for (let r = this.decoder.next(); r !== undefined; r = this.decoder.next()) {
        if (r instanceof ProtocolError) throw r;
        this.waiting.shift()?.(r);
      }
    });
  }
  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  call(args: ReadonlyArray<string | Uint8Array>): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      // A bound, not a sleep: a local redis-server answers in well under this.
      const timer = setTimeout(() => reject(new Error(`no reply to ${args.join(' ')} in 10 s`)), 10_000);
      this.waiting.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.socket.write(encodeCommand(args));
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

before(async () => {
  if (!installed) return;
  dir = mkdtempSync(join(tmpdir(), 'redis-core-live-'));
  const port = (await freePorts(1))[0]!;
  server = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  // Bounded wait for the server to accept connections (polling a condition, not sleeping on hope).
  for (let tries = 0; ; tries++) {
    try {
      client = await Client.connect(port);
      break;
    } catch {
      assert.ok(tries < 400, 'redis-server accepts a connection within 20 s');
      await delay(50);
    }
  }
});

after(() => {
  client?.close();
  if (server?.pid !== undefined) server.kill('SIGTERM');
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const latin1 = (v: RespValue): string => Buffer.from(encodeReply(v, 2)).toString('latin1');

type Step =
  | readonly string[]
  | { readonly cmd: readonly string[]; readonly compare: 'ttl' | 'unordered' }
  /** A list made on both sides: RPUSH on Redis; on ours a list head and elements written directly. */
  | { readonly list: string; readonly items: readonly string[] };

/** keys.ts' list layout: head value (leftPos, rightPos) as i64 pairs, elements at pos + 2^63. */
function writeList(h: RedisHarness, key: string, items: readonly string[]): void {
  const k = new Uint8Array(Buffer.from(key, 'latin1'));
  const head = new Uint8Array(16);
  const view = new DataView(head.buffer);
  view.setBigInt64(0, 0n, false);
  view.setBigInt64(8, BigInt(items.length - 1), false);
  h.keyspace.putHead(k, { type: 'list', value: head, expiresAtMs: 0 }, h.clock.nowMs);
  items.forEach((item, i) => {
    const sub = new Uint8Array(8);
    new DataView(sub.buffer).setBigUint64(0, BigInt(i) + (1n << 63n), false);
    h.keyspace.putElement(k, sub, new Uint8Array(Buffer.from(item, 'latin1')));
  });
  h.keyspace.endCommand();
}

function ttlClose(a: RespValue, b: RespValue, marginMs: number): boolean {
  if (a.type !== 'integer' || b.type !== 'integer') return latin1(a) === latin1(b);
  return a.value === b.value || (a.value >= 0n && b.value >= 0n && Math.abs(Number(a.value - b.value)) <= marginMs);
}

function sortedItems(v: RespValue): string {
  if (v.type !== 'array') return latin1(v);
  return JSON.stringify(v.items.map(latin1).sort());
}

/** Runs the steps on both sides; returns the mismatches (command, Redis' reply, ours). */
async function compare(h: RedisHarness, steps: readonly Step[]): Promise<string[]> {
  const bad: string[] = [];
  for (const step of steps) {
    if ('list' in step) {
      await client!.call(['RPUSH', step.list, ...step.items]);
      writeList(h, step.list, step.items);
      continue;
    }
    const cmd = Array.isArray(step) ? (step as readonly string[]) : (step as { cmd: readonly string[] }).cmd;
    const how = Array.isArray(step) ? 'exact' : (step as { compare: string }).compare;
    const theirs = await client!.call(cmd.map((a) => Buffer.from(a, 'latin1')));
    h.clock.nowMs = Date.now();
    const ours = h.run(...cmd.map((a) => new Uint8Array(Buffer.from(a, 'latin1'))));
    const same =
      how === 'ttl'
        ? ttlClose(theirs, ours, cmd[0]!.toLowerCase().startsWith('p') ? 1000 : 1)
        : how === 'unordered'
          ? sortedItems(theirs) === sortedItems(ours)
          : latin1(theirs) === latin1(ours);
    if (!same)
      bad.push(
        `${JSON.stringify(cmd)}\n  redis: ${JSON.stringify(latin1(theirs))}\n  ours:  ${JSON.stringify(latin1(ours))}`,
      );
  }
  return bad;
}

const far = String(Math.floor(Date.now() / 1000) + 100_000);
const farMs = String(Date.now() + 100_000_000);
const past = String(Math.floor(Date.now() / 1000) - 100);
const ttl = (...cmd: string[]): Step => ({ cmd, compare: 'ttl' });
const unordered = (...cmd: string[]): Step => ({ cmd, compare: 'unordered' });

const stringSteps: Step[] = [
  ['FLUSHALL'],
  ['GET', 'nokey'],
  ['SET', 's', 'hello'],
  ['GET', 's'],
  ['SET', 's', 'v2', 'GET'],
  ['SET', 'nokey2', 'v', 'GET'],
  ['SET', 's', 'x', 'NX'],
  ['SET', 's', 'x', 'XX'],
  ['SET', 'new', 'x', 'XX'],
  ['SET', 'new', 'x', 'NX', 'GET'],
  ['SET', 'new', 'y', 'NX', 'GET'],
  ['SET', 's', 'v', 'NX', 'XX'],
  ['SET', 's', 'v', 'XX', 'NX'],
  ['SET', 's', 'v', 'EX', '10', 'PX', '100'],
  ['SET', 's', 'v', 'EX', '10', 'EX', '20'],
  ttl('TTL', 's'),
  ['SET', 's', 'v', 'KEEPTTL'],
  ttl('TTL', 's'),
  ['SET', 's', 'v', 'KEEPTTL', 'EX', '5'],
  ['SET', 's', 'v', 'EX', '5', 'KEEPTTL'],
  ['SET', 's', 'v', 'EX'],
  ['SET', 's', 'v', 'EX', '0'],
  ['SET', 's', 'v', 'EX', '-5'],
  ['SET', 's', 'v', 'PX', '0'],
  ['SET', 's', 'v', 'EX', 'ten'],
  ['SET', 's', 'v', 'EX', '1.5'],
  ['SET', 's', 'v', 'EX', '9223372036854775807'],
  ['SET', 's', 'v', 'EX', '9223372036854776'],
  ['SET', 's', 'v', 'PX', '9223372036854775807'],
  ['SET', 's', 'v', 'EX', '99999999999999999999'],
  ['SET', 's', 'v', 'EXAT', far],
  ttl('TTL', 's'),
  ['SET', 's', 'v', 'PXAT', farMs],
  ttl('PTTL', 's'),
  ['SET', 's', 'v', 'EXAT', past],
  ['GET', 's'],
  ['SET', 's', 'v', 'PERSIST'],
  ['SET', 's', 'v', 'FOO'],
  ['SET', 's', 'v', 'GET', 'GET'],
  ['set', 's', 'v', 'nx'],
  ['SET', 's'],
  ['SETNX', 's2', 'a'],
  ['SETNX', 's2', 'b'],
  ['GET', 's2'],
  ['SETEX', 'e', '100', 'v'],
  ttl('TTL', 'e'),
  ['SETEX', 'e', '0', 'v'],
  ['SETEX', 'e', '-1', 'v'],
  ['SETEX', 'e', 'x', 'v'],
  ['PSETEX', 'e', '100000', 'v'],
  ttl('PTTL', 'e'),
  ['PSETEX', 'e', '0', 'v'],
  ['MSET', 'a', '1', 'b', '2', 'c', '3'],
  ['MSET', 'a', '1', 'b'],
  ['MGET', 'a', 'b', 'c', 'nokey'],
  ['MSETNX', 'a', '9', 'z', '9'],
  ['MSETNX', 'y', '9', 'z', '9'],
  ['MSETNX', 'y'],
  ['MGET', 'y', 'z'],
  ['GETSET', 'a', 'new'],
  ['GETSET', 'fresh', 'v'],
  ['GETDEL', 'a'],
  ['GETDEL', 'a'],
  ['EXISTS', 'a'],
  ['SET', 'gx', 'v'],
  ['GETEX', 'gx'],
  ['GETEX', 'gx', 'EX', '100'],
  ttl('TTL', 'gx'),
  ['GETEX', 'gx', 'PERSIST'],
  ['TTL', 'gx'],
  ['GETEX', 'gx', 'PX', '100000'],
  ttl('PTTL', 'gx'),
  ['GETEX', 'gx', 'EXAT', far],
  ttl('TTL', 'gx'),
  ['GETEX', 'gx', 'PXAT', farMs],
  ['GETEX', 'gx', 'EX', '0'],
  ['GETEX', 'gx', 'EX', 'x'],
  ['GETEX', 'gx', 'EX'],
  ['GETEX', 'gx', 'PERSIST', 'EX', '10'],
  ['GETEX', 'gx', 'EX', '10', 'PERSIST'],
  ['GETEX', 'gx', 'KEEPTTL'],
  ['GETEX', 'gx', 'NX'],
  ['GETEX', 'gx', 'GET'],
  ['GETEX', 'nokey', 'EX', '0'],
  ['GETEX', 'nokey', 'FOO'],
  ['GETEX', 'gx', 'EXAT', past],
  ['EXISTS', 'gx'],
  ['APPEND', 'ap', 'abc'],
  ['APPEND', 'ap', 'def'],
  ['GET', 'ap'],
  ['STRLEN', 'ap'],
  ['STRLEN', 'nokey'],
  ['SETRANGE', 'ap', '1', 'XY'],
  ['GET', 'ap'],
  ['SETRANGE', 'ap', '10', 'Z'],
  ['GET', 'ap'],
  ['SETRANGE', 'ap', '0', ''],
  ['SETRANGE', 'sr', '0', ''],
  ['EXISTS', 'sr'],
  ['SETRANGE', 'sr', '3', 'x'],
  ['GET', 'sr'],
  ['SETRANGE', 'sr', '-1', 'x'],
  ['SETRANGE', 'sr', 'x', 'x'],
  ['SETRANGE', 'sr', '536870912', 'x'],
  ['SETRANGE', 'sr', '9223372036854775807', 'x'],
  ['SET', 'gr', 'This is a string'],
  ['GETRANGE', 'gr', '0', '3'],
  ['GETRANGE', 'gr', '-3', '-1'],
  ['GETRANGE', 'gr', '0', '-1'],
  ['GETRANGE', 'gr', '10', '100'],
  ['GETRANGE', 'gr', '5', '2'],
  ['GETRANGE', 'gr', '-1', '-5'],
  ['GETRANGE', 'gr', '-100', '-50'],
  ['GETRANGE', 'gr', '-100', '100'],
  ['GETRANGE', 'gr', '100', '200'],
  ['GETRANGE', 'gr', 'a', '1'],
  ['GETRANGE', 'gr', '1', 'b'],
  ['GETRANGE', 'nokey', '0', '1'],
  ['GETRANGE', 'gr', '-9223372036854775808', '9223372036854775807'],
  ['SUBSTR', 'gr', '0', '3'],
  ['SET', 'n', '10'],
  ['INCR', 'n'],
  ['INCRBY', 'n', '5'],
  ['INCRBY', 'n', '-20'],
  ['DECR', 'n'],
  ['DECRBY', 'n', '3'],
  ['DECRBY', 'n', '-3'],
  ['INCR', 'newn'],
  ['DECR', 'newn2'],
  ['INCRBY', 'n', 'x'],
  ['INCRBY', 'n', '1.5'],
  ['INCRBY', 'n', ''],
  ['DECRBY', 'n', '-9223372036854775808'],
  ['DECRBY', 'n', 'x'],
  ['SET', 'n', '9223372036854775807'],
  ['INCR', 'n'],
  ['INCRBY', 'n', '0'],
  ['SET', 'n', '-9223372036854775808'],
  ['DECR', 'n'],
  ['INCR', 'n'],
  ['SET', 'n', 'abc'],
  ['INCR', 'n'],
  ['SET', 'n', ' 1'],
  ['INCR', 'n'],
  ['SET', 'n', '01'],
  ['INCR', 'n'],
  ['SET', 'n', '+1'],
  ['INCR', 'n'],
  ['SET', 'n', '-0'],
  ['INCR', 'n'],
  ['SET', 'n', '99999999999999999999'],
  ['INCR', 'n'],
  ['SET', 'n', '5'],
  ['EXPIRE', 'n', '1000'],
  ['INCR', 'n'],
  ttl('TTL', 'n'),
  ['SET', 'f', '10.50'],
  ['INCRBYFLOAT', 'f', '0.1'],
  ['INCRBYFLOAT', 'f', '-5.0e3'],
  ['INCRBYFLOAT', 'f', '5.0e3'],
  ['INCRBYFLOAT', 'nf', '3.0e3'],
  ['INCRBYFLOAT', 'nf', '1e-20'],
  ['INCRBYFLOAT', 'nf', '-3000'],
  ['INCRBYFLOAT', 'f', 'abc'],
  ['INCRBYFLOAT', 'f', ' 1'],
  ['INCRBYFLOAT', 'f', '1 '],
  ['INCRBYFLOAT', 'f', ''],
  ['INCRBYFLOAT', 'f', 'inf'],
  ['INCRBYFLOAT', 'f', '-inf'],
  ['INCRBYFLOAT', 'f', 'nan'],
  ['INCRBYFLOAT', 'f', '1e5000'],
  ['INCRBYFLOAT', 'f', '1e-5000'],
  ['INCRBYFLOAT', 'f', '0x10'],
  ['INCRBYFLOAT', 'f', '0x1.8p1'],
  ['INCRBYFLOAT', 'f', '.5'],
  ['INCRBYFLOAT', 'f', '5.'],
  ['INCRBYFLOAT', 'f', '+1.5'],
  ['INCRBYFLOAT', 'f', '1e'],
  ['INCRBYFLOAT', 'f', '1.7976931348623157e308'],
  ['INCRBYFLOAT', 'f', '1e4000'],
  ['INCRBYFLOAT', 'f', '-1e4000'],
  ['SET', 'f', 'abc'],
  ['INCRBYFLOAT', 'f', '1'],
  ['SET', 'f', '1e4930'],
  ['INCRBYFLOAT', 'f', '1e4930'],
  ['SET', 'f', '1e4931'],
  ['INCRBYFLOAT', 'f', '1.1e4932'],
  ['INCRBYFLOAT', 'f', '1.2e4932'],
  ['SET', 'f', '-0.0000000000000000001'],
  ['INCRBYFLOAT', 'f', '0'],
  ['GET', 'f'],
  { list: 'L', items: ['a', 'b', 'c'] },
  ['GET', 'L'],
  ['SET', 'L', 'v', 'GET'],
  ['SET', 'L', 'v', 'NX', 'GET'],
  ['SET', 'L', 'v', 'EX', '0', 'GET'],
  ['MGET', 'L', 's2', 'L'],
  ['GETSET', 'L', 'v'],
  ['GETDEL', 'L'],
  ['GETEX', 'L'],
  ['GETEX', 'L', 'EX', '0'],
  ['GETEX', 'L', 'FOO'],
  ['APPEND', 'L', 'x'],
  ['STRLEN', 'L'],
  ['SETRANGE', 'L', '0', 'x'],
  ['SETRANGE', 'L', '0', ''],
  ['SETRANGE', 'L', '-1', 'x'],
  ['GETRANGE', 'L', '0', '1'],
  ['GETRANGE', 'L', 'x', '1'],
  ['INCR', 'L'],
  ['INCRBY', 'L', 'x'],
  ['DECRBY', 'L', '1'],
  ['INCRBYFLOAT', 'L', '1'],
  ['INCRBYFLOAT', 'L', 'x'],
  ['SETNX', 'L', 'v'],
  ['MSETNX', 'L', 'v'],
  ['TYPE', 'L'],
  ['SET', 'L', 'now a string'],
  ['TYPE', 'L'],
  ['GET', 'L'],
  { list: 'L2', items: ['x'] },
  ['MSET', 'L2', 'str'],
  ['GET', 'L2'],
];

const keySteps: Step[] = [
  ['FLUSHALL'],
  ['MSET', 'k1', 'a', 'k2', 'b', 'k3', 'c', 'other', 'd'],
  ['DEL', 'k1', 'k1', 'nokey'],
  ['UNLINK', 'k2', 'nokey'],
  ['DEL'],
  ['EXISTS', 'k3', 'k3', 'nokey'],
  ['TOUCH', 'k3', 'k3', 'nokey'],
  ['TYPE', 'k3'],
  ['TYPE', 'nokey'],
  ['RENAME', 'k3', 'k4'],
  ['GET', 'k4'],
  ['RENAME', 'k3', 'k5'],
  ['RENAME', 'k4', 'k4'],
  ['RENAME', 'nokey', 'nokey'],
  ['RENAMENX', 'k4', 'k4'],
  ['RENAMENX', 'k4', 'other'],
  ['RENAMENX', 'k4', 'k6'],
  ['RENAMENX', 'nokey', 'x'],
  ['SET', 'ex', 'v', 'EX', '1000'],
  ['RENAME', 'ex', 'ex2'],
  ttl('TTL', 'ex2'),
  ['RENAME', 'k6', 'ex2'],
  ['TTL', 'ex2'],
  ['SET', 'x', '1'],
  ['EXPIRE', 'x', '100'],
  ttl('TTL', 'x'),
  ttl('PTTL', 'x'),
  ['EXPIRE', 'x', '100', 'NX'],
  ['EXPIRE', 'x', '200', 'XX'],
  ['EXPIRE', 'x', '50', 'GT'],
  ['EXPIRE', 'x', '300', 'GT'],
  ['EXPIRE', 'x', '400', 'LT'],
  ['EXPIRE', 'x', '100', 'LT'],
  ttl('TTL', 'x'),
  ['EXPIRE', 'x', '100', 'NX', 'XX'],
  ['EXPIRE', 'x', '100', 'NX', 'GT'],
  ['EXPIRE', 'x', '100', 'nx', 'lt'],
  ['EXPIRE', 'x', '100', 'GT', 'LT'],
  // 50 s, not 100: the deadline from `100 LT` just above is about now + 100 s, and whether a new
  // now + 100 s passes it depends on a millisecond boundary falling between the two commands.
  ['EXPIRE', 'x', '50', 'XX', 'GT'],
  ['EXPIRE', 'x', '100', 'FOO'],
  ['EXPIRE', 'x', '100', 'XX', 'bar'],
  ['EXPIRE', 'x', 'abc'],
  ['EXPIRE', 'x', 'abc', 'FOO'],
  ['EXPIRE', 'x'],
  ['EXPIRE', 'x', '9223372036854775807'],
  ['EXPIRE', 'x', '-9223372036854775808'],
  ['PEXPIRE', 'x', '9223372036854775807'],
  ['EXPIRE', 'nokey', '100'],
  ['EXPIRE', 'nokey', 'abc'],
  ['PERSIST', 'x'],
  ['PERSIST', 'x'],
  ['PERSIST', 'nokey'],
  ['TTL', 'x'],
  ['PTTL', 'nokey'],
  ['EXPIRE', 'x', '100', 'XX'],
  ['EXPIRE', 'x', '100', 'GT'],
  ['EXPIRE', 'x', '100', 'LT'],
  ttl('TTL', 'x'),
  ['PEXPIRE', 'x', '500000'],
  ttl('PTTL', 'x'),
  ['EXPIREAT', 'x', far],
  ['EXPIRETIME', 'x'],
  ['PEXPIREAT', 'x', farMs],
  ['PEXPIRETIME', 'x'],
  ['EXPIRETIME', 'nokey'],
  ['SET', 'np', 'v'],
  ['EXPIRETIME', 'np'],
  ['PEXPIRETIME', 'np'],
  ['EXPIREAT', 'x', past],
  ['EXISTS', 'x'],
  ['SET', 'x', '1'],
  ['EXPIRE', 'x', '-1'],
  ['EXISTS', 'x'],
  ['SET', 'x', '1'],
  ['PEXPIRE', 'x', '0'],
  ['GET', 'x'],
  { list: 'LL', items: ['1', '2'] },
  ['TYPE', 'LL'],
  ['EXPIRE', 'LL', '1000'],
  ttl('TTL', 'LL'),
  ['RENAME', 'LL', 'LL2'],
  ['TYPE', 'LL2'],
  ['EXISTS', 'LL'],
  ttl('TTL', 'LL2'),
  ['SET', 'sx', 'v'],
  ['RENAME', 'sx', 'LL2'],
  ['TYPE', 'LL2'],
  { list: 'LL3', items: ['1'] },
  ['RENAMENX', 'LL3', 'LL2'],
  ['RENAME', 'LL3', 'LL2'],
  ['TYPE', 'LL2'],
  ['PERSIST', 'LL2'],
  ['DEL', 'LL2', 'LL3'],
  ['SET', 'x', '1'],
  ['EXPIRE', 'x', '0', 'GT'],
  ['EXPIRE', 'x', '-5', 'LT'],
  ['EXISTS', 'x'],
  ['FLUSHALL'],
  ['DBSIZE'],
  ['RANDOMKEY'],
  ['KEYS', '*'],
  ['SCAN', '0'],
  ['SET', 'only', 'v'],
  ['RANDOMKEY'],
  ['DBSIZE'],
  ['MSET', 'hello', '1', 'hallo', '2', 'hxllo', '3', 'hllo', '4', 'heeeello', '5', 'h[a]llo', '6', 'h*llo', '7'],
  ['MSET', 'a\\b', '8', 'x-y', '9', '\xe9t\xe9', '10', 'A', '11', 'z', '12', '^', '13', ']', '14'],
  ['DBSIZE'],
  unordered('KEYS', '*'),
  { list: 'hlist', items: ['x'] },
  ['DBSIZE'],
  unordered('KEYS', 'h?llo'),
  unordered('KEYS', 'h*llo'),
  unordered('KEYS', 'h[ae]llo'),
  unordered('KEYS', 'h[^e]llo'),
  unordered('KEYS', 'h[a-b]llo'),
  unordered('KEYS', 'h[b-a]llo'),
  unordered('KEYS', 'h\\*llo'),
  unordered('KEYS', 'h\\[a\\]llo'),
  unordered('KEYS', 'a\\\\b'),
  unordered('KEYS', '[a-z]'),
  unordered('KEYS', '[^a-z]'),
  unordered('KEYS', '[\\]]'),
  unordered('KEYS', '[]'),
  unordered('KEYS', '['),
  unordered('KEYS', '[^'),
  unordered('KEYS', 'h[a'),
  unordered('KEYS', '*\\'),
  unordered('KEYS', '\\'),
  unordered('KEYS', '[a-\xff]'),
  unordered('KEYS', '[\x80-\xff]t*'),
  unordered('KEYS', '**o'),
  unordered('KEYS', '*l*o'),
  unordered('KEYS', 'nomatch*'),
  unordered('KEYS', ''),
  ['SET', '', 'the empty key'],
  ['GET', ''],
  unordered('KEYS', '*'),
  unordered('KEYS', '**'),
  unordered('KEYS', ''),
  ['TYPE', ''],
  ['DEL', ''],
  ['SCAN', 'abc'],
  ['SCAN', '-1x'],
  ['SCAN', ' 0'],
  ['SCAN', '18446744073709551616'],
  ['SCAN', '0', 'COUNT'],
  ['SCAN', '0', 'COUNT', '0'],
  ['SCAN', '0', 'COUNT', '-1'],
  ['SCAN', '0', 'COUNT', 'x'],
  ['SCAN', '0', 'MATCH'],
  ['SCAN', '0', 'TYPE'],
  ['SCAN', '0', 'FOO', 'bar'],
  ['SCAN', '0', 'COUNT', '10', 'FOO'],
  ['FLUSHALL', 'ASYNC'],
  ['FLUSHALL', 'SYNC'],
  ['FLUSHALL', 'LAZY'],
  ['FLUSHALL', 'SYNC', 'ASYNC'],
  ['FLUSHDB'],
  ['FLUSHDB', 'async'],
  ['FLUSHDB', 'x'],
  ['DBSIZE', 'x'],
  ['RANDOMKEY', 'x'],
  ['KEYS'],
  ['TTL'],
  ['TYPE', 'a', 'b'],
  ['RENAME', 'a'],
  ['NOSUCHCOMMAND', 'a', 'b'],
  ['NOSUCHCOMMAND'],
  ['nosuch\r\ncommand', 'x'.repeat(200), 'y'],
  ['nosuch', 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60), 'd'],
  ['nosuch', 'a\u0000b', 'c\r\nd'],
];

test('string commands: replies equal redis-server 7.0 byte for byte', { skip }, async () => {
  const bad = await compare(new RedisHarness({ seed: 'live-strings' }), stringSteps);
  assert.deepEqual(bad, [], bad.join('\n'));
});

test('key commands: replies equal redis-server 7.0 byte for byte', { skip }, async () => {
  const bad = await compare(new RedisHarness({ seed: 'live-keys' }), keySteps);
  assert.deepEqual(bad, [], bad.join('\n'));
});

// Bitmaps (bitops.c): every error in Redis' order, and the edges of ranges in BYTE and BIT.
const bitSteps: Step[] = [
  ['FLUSHALL'],
  ['SET', 's', 'foobar'],
  { list: 'l', items: ['a'] },
  ['GETBIT', 's', '1'],
  ['GETBIT', 's', '-1'],
  ['GETBIT', 's', '4294967295'],
  ['GETBIT', 's', '4294967296'],
  ['GETBIT', 'nokey', 'x'],
  ['GETBIT', 'nokey', '3'],
  ['GETBIT', 'l', '1'],
  ['GETBIT', 'l', 'x'],
  ['SETBIT', 's', '1', '2'],
  ['SETBIT', 's', 'x', '1'],
  ['SETBIT', 's', '1', 'x'],
  ['SETBIT', 'l', '1', '1'],
  ['SETBIT', 'l', '1', '2'],
  ['SETBIT', 'l', 'x', '1'],
  ['SETBIT', 'nk', '7', '1'],
  ['GET', 'nk'],
  ['SETBIT', 'nk', '7', '1'],
  ['SETBIT', 'nk', '7', '0'],
  ['SETBIT', 'nk', '100', '1'],
  ['STRLEN', 'nk'],
  ['SETBIT', 's', '0', '1'],
  ['GET', 's'],
  ['SET', 't', 'x', 'EX', '100'],
  ['SETBIT', 't', '3', '1'],
  ttl('TTL', 't'),
  ['SET', 'n', '12345'],
  ['SETBIT', 'n', '2', '1'],
  ['GET', 'n'],
  ['BITCOUNT', 'nokey'],
  ['BITCOUNT', 'nokey', 'x', 'y'],
  ['BITCOUNT', 'nokey', '1'],
  ['BITCOUNT', 'nokey', '1', '2', 'foo'],
  ['BITCOUNT', 'l'],
  ['BITCOUNT', 'l', 'x', 'y'],
  ['BITCOUNT', 's'],
  ['BITCOUNT', 's', '1'],
  ['BITCOUNT', 's', '1', '2', '3'],
  ['BITCOUNT', 's', '1', '2', '3', '4'],
  ['BITCOUNT', 's', 'x', 'y'],
  ['BITCOUNT', 's', '1', 'y'],
  ['BITCOUNT', 's', '1', 'x', 'foo'],
  ['BITCOUNT', 's', 'x', '1', 'BIT'],
  ['BITCOUNT', 's', '1', '2', 'foo'],
  ['BITCOUNT', 's', '1', '2', 'BIT'],
  ['BITCOUNT', 's', '1', '2', 'bYtE'],
  ['BITCOUNT', 's', '5', '30', 'BIT'],
  ['BITCOUNT', 's', '-3', '-1', 'bit'],
  ['BITCOUNT', 's', '-1', '-3'],
  ['BITCOUNT', 's', '-1', '-3', 'BIT'],
  ['BITCOUNT', 's', '0', '-1'],
  ['BITCOUNT', 's', '-100', '100'],
  ['BITCOUNT', 's', '9223372036854775807', '-9223372036854775808', 'BIT'],
  ['BITCOUNT', 's', '-9223372036854775808', '9223372036854775807', 'BIT'],
  ['BITCOUNT', 's', '9223372036854775808', '1'],
  ['BITPOS', 'nokey', '1'],
  ['BITPOS', 'nokey', '0'],
  ['BITPOS', 'nokey', '2'],
  ['BITPOS', 'nokey', 'x'],
  ['BITPOS', 'nokey', '1', 'x'],
  ['BITPOS', 'l', '1'],
  ['BITPOS', 'l', '2'],
  ['BITPOS', 's', '1'],
  ['BITPOS', 's', '0'],
  ['BITPOS', 's', '-1'],
  ['BITPOS', 's', '1', 'x'],
  ['BITPOS', 's', '1', '1', 'x'],
  ['BITPOS', 's', '1', 'x', '1', 'BIT'],
  ['BITPOS', 's', '1', '0', 'x', 'foo'],
  ['BITPOS', 's', '1', '0', '-1', 'foo'],
  ['BITPOS', 's', '1', '1', '2', '3', '4'],
  ['BITPOS', 's', '1', '2'],
  ['BITPOS', 's', '0', '1', '1'],
  ['BITPOS', 's', '1', '2', '-1', 'BIT'],
  ['BITPOS', 's', '0', '0', '-1', 'bit'],
  ['BITPOS', 's', '0', '-100', '100'],
  ['BITPOS', 's', '1', '-9223372036854775808', '9223372036854775807', 'BIT'],
  ['SET', 'ones', '\xff\xff\xff'],
  ['SET', 'ones', '\u00ff\u00ff\u00ff'],
  ['SETRANGE', 'ff', '0', '\u00ff\u00ff\u00ff'],
  ['BITPOS', 'ff', '0'],
  ['BITPOS', 'ff', '0', '0'],
  ['BITPOS', 'ff', '0', '0', '-1'],
  ['BITPOS', 'ff', '0', '3', '20', 'BIT'],
  ['BITPOS', 'ff', '0', '3', 'x'],
  ['SET', 'a', 'foo'],
  ['SET', 'b', 'barbaz'],
  ['SET', 'd', 'old', 'EX', '100'],
  ['BITOP', 'AND', 'd', 'a', 'b'],
  ttl('TTL', 'd'),
  ['GET', 'd'],
  ['BITOP', 'or', 'd', 'a', 'b', 'nokey'],
  ['GET', 'd'],
  ['BITOP', 'XOR', 'd', 'b', 'a'],
  ['GET', 'd'],
  ['BITOP', 'foo', 'd', 'a'],
  ['BITOP', 'NOT', 'd', 'a', 'b'],
  ['BITOP', 'NOT', 'd', 'b'],
  ['GET', 'd'],
  ['BITOP', 'not', 'd', 'nokey'],
  ['EXISTS', 'd'],
  ['BITOP', 'AND', 'd', 'nokey', 'a'],
  ['GET', 'd'],
  ['BITOP', 'AND', 'd', 'nokey'],
  ['EXISTS', 'd'],
  ['BITOP', 'OR', 'd', 'l'],
  ['BITOP', 'OR', 'd', 'a', 'l'],
  ['BITOP', 'OR', 'l', 'a'],
  ['TYPE', 'l'],
  ['GET', 'l'],
  ['BITOP', 'AND', 'a', 'a', 'b'],
  ['GET', 'a'],
  ['BITOP', 'AND', 'd'],
  ['BITOP', 'AND'],
  ['SET', 'z', ''],
  ['BITOP', 'OR', 'd', 'z'],
  ['EXISTS', 'd'],
  ['BITPOS', 'z', '1'],
  ['BITPOS', 'z', '0'],
  ['BITCOUNT', 'z', '0', '-1', 'BIT'],
  ['GETBIT', 'z', '0'],
];

/** Random bitmaps and random ranges, the same on both sides: BITCOUNT and BITPOS agree everywhere. */
function randomBitSteps(seed: string, n: number): Step[] {
  const rng = new SeededRng(seed);
  const steps: Step[] = [['FLUSHALL']];
  const index = (): string => String(rng.int(41) - 20);
  for (let i = 0; i < n; i++) {
    const key = `b${rng.int(3)}`;
    const r = rng.int(10);
    if (r < 3) steps.push(['SETBIT', key, String(rng.int(60)), String(rng.int(2))]);
    else if (r < 4) {
      const bytes = Array.from({ length: rng.int(6) }, () => String.fromCharCode([0, 0xff, rng.int(256)][rng.int(3)]!));
      steps.push(['SET', key, bytes.join('')]);
    } else if (r < 7) {
      const unit = ['', 'BIT', 'BYTE'][rng.int(3)]!;
      steps.push(['BITCOUNT', key, ...(rng.int(4) === 0 ? [] : [index(), index(), ...(unit ? [unit] : [])])]);
    } else {
      const unit = ['', 'BIT', 'BYTE'][rng.int(3)]!;
      const tail = rng.int(3);
      const range = tail === 0 ? [] : tail === 1 ? [index()] : [index(), index(), ...(unit ? [unit] : [])];
      steps.push(['BITPOS', key, String(rng.int(2)), ...range]);
    }
    if (rng.int(8) === 0) steps.push(['GETBIT', key, String(rng.int(60))]);
    if (rng.int(10) === 0) {
      const op = ['AND', 'OR', 'XOR', 'NOT'][rng.int(4)]!;
      const sources =
        op === 'NOT' ? [`b${rng.int(4)}`] : Array.from({ length: 1 + rng.int(3) }, () => `b${rng.int(4)}`);
      steps.push(['BITOP', op, `b${rng.int(3)}`, ...sources]);
    }
  }
  return steps;
}

/** Random BITFIELD and BITFIELD_RO commands: every width, '#' offsets, edge values, every OVERFLOW, bad arguments. */
function randomBitfieldSteps(seed: string, n: number): Step[] {
  const rng = new SeededRng(seed);
  const steps: Step[] = [['FLUSHALL']];
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const type = (): string => {
    if (rng.int(25) === 0) return pick(['u64', 'i65', 'i0', 'u0', 'x8', 'I8', 'i', 'i08', 'u-1', '']);
    const signed = rng.int(2) === 0;
    const bits = rng.int(3) === 0 ? pick([1, 8, 16, 32, 63, 64]) : 1 + rng.int(64);
    return `${signed ? 'i' : 'u'}${signed ? bits : Math.min(bits, 63)}`;
  };
  const offset = (): string => {
    if (rng.int(25) === 0) return pick(['-1', '#', '#-1', 'x', '4294967296', '#99999999999', '01']);
    return rng.int(4) === 0 ? `#${rng.int(6)}` : String(rng.int(90));
  };
  const value = (): string =>
    rng.int(20) === 0
      ? pick(['abc', '1.5', '', '9223372036854775808'])
      : pick([
          '0',
          '1',
          '-1',
          '127',
          '-128',
          '255',
          '256',
          '9223372036854775807',
          '-9223372036854775808',
          String(rng.int(1000) - 500),
          String(rng.int(2 ** 31) * (rng.int(2) ? 1 : -1)),
        ]);
  for (let i = 0; i < n; i++) {
    const key = `f${rng.int(3)}`;
    const r = rng.int(20);
    if (r === 0) steps.push(['SET', key, pick(['', 'ab', '\xff\xff\xff\xff', 'hello world'])]);
    else if (r === 1) steps.push(['LPUSH', `f${rng.int(4)}`, 'x']);
    else if (r === 2) steps.push(['DEL', key]);
    else if (r === 3) steps.push(['GET', key]);
    else if (r === 4) steps.push(['EXPIRE', key, '100'], { cmd: ['TTL', key], compare: 'ttl' });
    else {
      const ro = rng.int(6) === 0;
      const argv = [ro ? 'BITFIELD_RO' : 'BITFIELD', key];
      const count = 1 + rng.int(4);
      for (let k = 0; k < count; k++) {
        const op = ro && rng.int(4) !== 0 ? 'GET' : pick(['GET', 'SET', 'INCRBY', 'OVERFLOW', 'get', 'incrby']);
        if (op.toUpperCase() === 'OVERFLOW')
          argv.push(op, rng.int(15) === 0 ? 'bogus' : pick(['WRAP', 'SAT', 'FAIL', 'fail']));
        else if (op.toUpperCase() === 'GET')
          // Reads anywhere up to Redis' last bit offset (writes there are our string-length bound).
          argv.push(op, type(), rng.int(12) === 0 ? String(4294967295 - rng.int(80)) : offset());
        else argv.push(op, type(), offset(), value());
      }
      if (rng.int(20) === 0) argv.pop(); // a missing argument
      if (rng.int(30) === 0) argv.push('BOGUS');
      steps.push(argv);
    }
  }
  return steps;
}

test('BITFIELD and BITFIELD_RO: seeded random commands answer as redis-server 7.0 byte for byte', {
  skip,
}, async () => {
  for (const seed of ['bitfield-1', 'bitfield-2', 'bitfield-3']) {
    const steps = randomBitfieldSteps(seed, 400);
    const bad = await compare(new RedisHarness({ seed: `live-${seed}` }), steps);
    assert.deepEqual(bad, [], bad.slice(0, 5).join('\n'));
    const fields = steps.filter((s) => Array.isArray(s) && /^BITFIELD/.test(String(s[0]))).length;
    assert.ok(fields > 250, `seed ${seed}: only ${fields} BITFIELD commands`);
  }
});

test('bit commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP): replies equal redis-server 7.0 byte for byte', {
  skip,
}, async () => {
  const bad = await compare(new RedisHarness({ seed: 'live-bits' }), bitSteps);
  assert.deepEqual(bad, [], bad.join('\n'));
  for (const seed of ['bits-1', 'bits-2', 'bits-3']) {
    const random = await compare(new RedisHarness({ seed: `live-${seed}` }), randomBitSteps(seed, 400));
    assert.deepEqual(random, [], random.slice(0, 5).join('\n'));
  }
});

test('seeded random string and key commands (test/support/redis-random.ts): replies equal redis-server 7.0', {
  skip,
}, async () => {
  for (const seed of ['s1', 's2', 's3']) {
    const steps: Step[] = [
      ['FLUSHALL'],
      ...randomStringScript(seed, 400)
        .split('\n')
        .map(
          (line): Step => (line.startsWith('%') ? { cmd: line.slice(1).split(' '), compare: 'ttl' } : line.split(' ')),
        ),
    ];
    const bad = await compare(new RedisHarness({ seed: `live-random-${seed}` }), steps);
    assert.deepEqual(bad, [], bad.slice(0, 5).join('\n'));
  }
});

/** Every key a full SCAN iteration returns (with `args` after the cursor), as a sorted set. */
async function scanAll(call: (args: string[]) => Promise<RespValue>, args: string[]): Promise<string[]> {
  const seen = new Set<string>();
  let cursor = '0';
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 10_000, 'SCAN ends');
    const page = await call(['SCAN', cursor, ...args]);
    assert.ok(page.type === 'array' && page.items.length === 2, JSON.stringify(page));
    const [c, keys] = page.items as [RespValue, RespValue];
    assert.ok(c.type === 'bulk' && keys.type === 'array');
    for (const k of keys.items) if (k.type === 'bulk') seen.add(Buffer.from(k.value).toString('latin1'));
    cursor = Buffer.from(c.value).toString('latin1');
    if (cursor === '0') return [...seen].sort();
  }
}

test('SCAN with COUNT, MATCH and TYPE returns the same keys as Redis over a full iteration', { skip }, async () => {
  const h = new RedisHarness({ seed: 'live-scan' });
  const both = async (cmd: string[]) => {
    await client!.call(cmd);
    h.clock.nowMs = Date.now();
    h.run(...cmd);
  };
  await both(['FLUSHALL']);
  for (let i = 0; i < 300; i++) await both(['SET', `key:${i}`, 'v']);
  for (const l of ['key:list1', 'key:list2', 'other']) {
    await client!.call(['RPUSH', l, 'x']);
    writeList(h, l, ['x']);
  }
  const ours = (args: string[]) => Promise.resolve(h.run(...args));
  const theirs = (args: string[]) => client!.call(args);
  for (const args of [
    [],
    ['COUNT', '1'],
    ['COUNT', '7', 'MATCH', 'key:1*'],
    ['TYPE', 'string'],
    ['TYPE', 'STRING'],
    ['TYPE', 'hash'],
    ['TYPE', 'list'],
    ['TYPE', 'nosuch'],
    ['MATCH', '*', 'COUNT', '1000'],
  ]) {
    assert.deepEqual(await scanAll(ours, args), await scanAll(theirs, args), `SCAN ${args.join(' ')}`);
  }
  assert.equal((await scanAll(ours, [])).length, 303);
});

test('KEYS with seeded random glob patterns selects the same keys as Redis', { skip }, async () => {
  const rng = new SeededRng('live-glob');
  const h = new RedisHarness({ seed: 'live-glob' });
  const alphabet = ['a', 'b', 'c', '*', '?', '[', ']', '^', '-', '\\', '\xff', '\x80', 'A'];
  const keyAlphabet = ['a', 'b', 'c', '*', '?', '[', ']', '^', '-', '\\', '\xff', '\x80', 'A', '\x00'];
  const word = (from: string[], n: number) => Array.from({ length: n }, () => from[rng.int(from.length)]).join('');
  await client!.call(['FLUSHALL']);
  h.run('FLUSHALL');
  for (let i = 0; i < 120; i++) {
    const k = word(keyAlphabet, 1 + rng.int(5));
    await client!.call(['SET', Buffer.from(k, 'latin1'), 'v']);
    h.run(new Uint8Array(Buffer.from('SET')), new Uint8Array(Buffer.from(k, 'latin1')), 'v');
  }
  const bad = await compare(
    h,
    Array.from({ length: 400 }, () => unordered('KEYS', word(alphabet, 1 + rng.int(6)))),
  );
  assert.deepEqual(bad, [], bad.join('\n'));
});

test("INCRBYFLOAT on seeded random decimals gives Redis' long double text", { skip }, async () => {
  const rng = new SeededRng('live-float');
  const h = new RedisHarness({ seed: 'live-float' });
  const decimal = (): string => {
    const sign = rng.int(3) === 0 ? '-' : '';
    const int = String(rng.int(10 ** (1 + rng.int(8))));
    const frac = rng.int(2) === 0 ? '' : `.${String(rng.int(10 ** (1 + rng.int(8))))}`;
    const exp = rng.int(4) === 0 ? `e${rng.int(2) === 0 ? '-' : ''}${rng.int(30)}` : '';
    return `${sign}${int}${frac}${exp}`;
  };
  const steps: Step[] = [['DEL', 'f']];
  for (let i = 0; i < 300; i++) {
    if (rng.int(10) === 0) steps.push(['SET', 'f', decimal()]);
    steps.push(['INCRBYFLOAT', 'f', decimal()]);
  }
  const bad = await compare(h, steps);
  assert.deepEqual(bad, [], bad.join('\n'));
});

test("COMMAND INFO: arity, flags and key positions of every command of ours are Redis'", { skip }, async () => {
  const bad: string[] = [];
  for (const spec of commandTable.values()) {
    const info = await client!.call(['COMMAND', 'INFO', spec.name]);
    assert.ok(info.type === 'array' && info.items[0]?.type === 'array', `${spec.name}: ${latin1(info)}`);
    const [, arity, flags, first, last, step] = info.items[0].items;
    const theirs = {
      arity: arity?.type === 'integer' ? Number(arity.value) : NaN,
      flags:
        flags?.type === 'array' || flags?.type === 'set'
          ? flags.items.map((f) => (f.type === 'simple' ? String(f.value) : '?'))
          : [],
      keys: [first, last, step].map((v) => (v?.type === 'integer' ? Number(v.value) : NaN)),
    };
    const ours = { arity: spec.arity, flags: [...spec.flags], keys: [spec.firstKey, spec.lastKey, spec.step] };
    if (JSON.stringify(theirs) !== JSON.stringify(ours))
      bad.push(`${spec.name}: redis ${JSON.stringify(theirs)} ours ${JSON.stringify(ours)}`);
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});
