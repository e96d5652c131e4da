// Goal: the negative control for our protocol error texts and inline parsing, against the real
// server rather than against captures: a redis-server (Debian 7.0) started here on a free loopback
// port gets every malformed input of test/fixtures/resp/protocol-errors.json plus a few more, and
// must answer the commands before the error and then exactly the line protocolErrorReply gives for
// our decoder's error; and seeded random inline lines of quotes, escapes and blanks are pushed into
// a list by Redis (RPUSH t <line>, read back with LRANGE) and by our splitter, which must agree,
// or both find the quotes unbalanced. Skipped, saying so, when redis-server is not installed.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { inspect } from 'node:util';
import { ProtocolError } from '../../lib/errors.ts';
import { SeededRng } from '../../lib/rng.ts';
import { protocolErrorReply, RespReplyDecoder, RespRequestDecoder, type RespValue, splitInlineArgs } from './index.ts';

const installed = spawnSync('redis-server', ['--version']).status === 0;
const skip = installed
  ? false
  : 'redis-server is not installed (apt-get install redis-server): live comparison skipped';

let server: ChildProcess | undefined;
let port = 0;
let dir = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
    s.on('error', reject);
  });
}

/** Sends `input` on a new connection; the bytes Redis answered once it closed (or after `closeAfterMs`). */
function exchange(input: Uint8Array, closeAfterMs = 0): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(input));
    const done = (): void => {
      clearTimeout(bound);
      s.destroy();
      resolve(new Uint8Array(Buffer.concat(got)));
    };
    // A bound, not a sleep: Redis closes on a protocol error; a test without one asks for QUIT.
    const bound = setTimeout(
      () => (closeAfterMs > 0 ? done() : reject(new Error('no close in 10 s'))),
      closeAfterMs || 10_000,
    );
    s.on('data', (d) => got.push(d));
    s.on('end', done);
    s.on('error', done); // a reset after Redis closed mid-send
  });
}

function replies(bytes: Uint8Array): RespValue[] {
  const d = new RespReplyDecoder();
  d.push(bytes);
  const out: RespValue[] = [];
  for (let r = d.next(); r !== undefined; r = d.next()) {
    if (r instanceof ProtocolError) throw r;
    out.push(r);
  }
  return out;
}

before(async () => {
  if (!installed) return;
  dir = mkdtempSync(join(tmpdir(), 'resp-live-'));
  port = await freePort();
  server = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  // Bounded wait for the server to answer (polling a condition, not sleeping on hope).
  const pong = new TextEncoder().encode('PING\r\nQUIT\r\n');
  for (let tries = 0; ; tries++) {
    const answer = await exchange(pong).catch(() => new Uint8Array());
    if (Buffer.from(answer).toString() === '+PONG\r\n+OK\r\n') break;
    assert.ok(tries < 400, 'redis-server answers PING within 20 s');
    await delay(50);
  }
});

after(() => {
  if (server?.pid !== undefined) server.kill('SIGTERM');
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/resp/protocol-errors.json', import.meta.url), 'utf8'),
) as { connections: Array<{ case: string; requests: string }> };

const extra: string[] = [
  '*1\r\n$-5\r\n',
  '*1\r\n$1a\r\n',
  '*2\r\n$3\r\nGET\r\n*1\r\n',
  'ECHO \'a"\r\n',
  'ECHO "a\\"\r\n',
  'PING\r\nPING\r\nSET a "unterminated\r\n',
  '*1\r\n$4\r\nPING\r\n*-1\r\n*1\r\n+1\r\n',
];

test('protocol errors: the live server answers the line our decoder gives, after the same commands', {
  skip,
}, async () => {
  const inputs = [...fixture.connections.map((c) => c.requests), ...extra];
  for (const latin1 of inputs) {
    const input = new Uint8Array(Buffer.from(latin1, 'latin1'));
    const d = new RespRequestDecoder();
    d.push(input);
    let commands = 0;
    let error: ProtocolError | undefined;
    for (let r = d.next(); r !== undefined; r = d.next()) {
      if (r instanceof ProtocolError) error = r;
      else commands++;
    }
    const label = JSON.stringify(latin1.slice(0, 40));
    assert.ok(error !== undefined, `${label}: our decoder fails`);
    const answered = replies(await exchange(input));
    assert.equal(answered.length, commands + 1, `${label}: replies to the ${commands} commands before the error`);
    const last = answered[answered.length - 1]!;
    assert.equal(last.type, 'error');
    const expected = Buffer.from(protocolErrorReply(error)!).toString('latin1');
    const text = last.type === 'error' ? last.message : '';
    const got = `-${typeof text === 'string' ? text : Buffer.from(text).toString('latin1')}\r\n`;
    assert.equal(got, expected, label);
  }
});

test('inline splitting: seeded random lines parse alike in Redis (RPUSH + LRANGE) and in ours', { skip }, async () => {
  const rng = new SeededRng('resp-live-inline');
  const alphabet = ['a', 'b', ' ', '\t', '"', "'", '\\', 'x', '4', 'f', 'G', 'n', '\x0b', '\xff', '\\x41', '\\"'];
  let agreed = 0;
  let unbalanced = 0;
  for (let i = 0; i < 150; i++) {
    const n = 1 + rng.int(12);
    let line = '';
    for (let j = 0; j < n; j++) line += alphabet[rng.int(alphabet.length)];
    const request = `RPUSH t ${line}`;
    const ours = splitInlineArgs(new Uint8Array(Buffer.from(request, 'latin1')));
    const wire = new Uint8Array(Buffer.from(`DEL t\r\n${request}\r\nLRANGE t 0 -1\r\nQUIT\r\n`, 'latin1'));
    const answered = replies(await exchange(wire));
    const label = JSON.stringify(line);
    if (ours === null) {
      const last = answered[answered.length - 1];
      assert.ok(last?.type === 'error' && String(last.message).includes('unbalanced'), `${label}: Redis too`);
      unbalanced++;
      continue;
    }
    const range = answered[2];
    if (ours.length === 2) {
      assert.equal(answered[1]?.type, 'error', `${label}: RPUSH t alone is an arity error in Redis`);
      continue;
    }
    assert.ok(range?.type === 'array', `${label}: ${inspect(answered)}`);
    assert.deepEqual(
      range.items.map((v) => (v.type === 'bulk' ? Buffer.from(v.value).toString('latin1') : '?')),
      ours.slice(2).map((a) => Buffer.from(a).toString('latin1')),
      label,
    );
    agreed++;
  }
  assert.ok(agreed > 30 && unbalanced > 10, `${agreed} agreed, ${unbalanced} unbalanced in both`);
});
