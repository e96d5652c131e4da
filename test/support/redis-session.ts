// Scripted redis-cli sessions compared between Debian's redis-server and Baristas (the compat
// tests): one script through one redis-cli connection per server, outputs equal line by line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { type RunningRespServer, redisServerUnavailable, startRedisServer } from './redis-servers.ts';

/** Why a session test cannot run here (no redis-server or redis-cli), or undefined. */
export const sessionSkip =
  redisServerUnavailable() ??
  (spawnSync('redis-cli', ['--version']).status === 0
    ? undefined
    : 'redis-cli is not installed (apt-get install redis-tools)');

/**
 * Inside a describe block: redis-server (no persistence) and the Baristas server `start` makes,
 * started before the block's tests and stopped after them.
 */
export function sessionServers(start: () => Promise<RunningRespServer>): {
  readonly redis: RunningRespServer;
  readonly baristas: RunningRespServer;
} {
  const servers = {} as { redis: RunningRespServer; baristas: RunningRespServer };
  before(async () => {
    servers.redis = await startRedisServer('none');
    servers.baristas = await start();
  });
  after(async () => {
    await servers.redis?.stop();
    await servers.baristas?.stop();
  });
  return servers;
}

/** Inside a describe block: `script` compared in RESP2 and in RESP3 (redis-cli -3), one test each. */
export function testBothProtocols(
  servers: { readonly redis: RunningRespServer; readonly baristas: RunningRespServer },
  script: readonly string[],
): void {
  for (const [name, args] of [
    ['RESP2', []],
    ['RESP3 (redis-cli -3)', ['-3']],
  ] as const) {
    test(name, () => assertSameSession(servers.redis, servers.baristas, [...args], script));
  }
}

/**
 * Runs `script` on both servers and asserts equal output, line by line (redis-server must answer).
 * `baristasFirst`: a command Baristas runs first on the same connection (BARISTA CONSISTENCY
 * SERIAL), its one-line reply checked and left out of the comparison.
 */
export function assertSameSession(
  redis: RunningRespServer,
  baristas: RunningRespServer,
  protocolArgs: string[],
  script: readonly string[],
  baristasFirst?: string,
): void {
  const marked = markTtls(script);
  const expected = runSession(redis, protocolArgs, marked);
  let actual = runSession(baristas, protocolArgs, baristasFirst === undefined ? marked : [baristasFirst, ...marked]);
  if (baristasFirst !== undefined) {
    assert.equal(actual[0], 'OK', `${baristasFirst}: ${actual[0]}`);
    actual = actual.slice(1);
  }
  assert.ok(expected.length > script.length - 5, `redis-server answered the session: ${expected.join('\n')}`);
  if (marked.length > script.length)
    assert.ok(expected.includes(TTL_MARK_LINE), 'the TTL marks are printed as expected');
  const diffs = sessionDiffs(expected, actual);
  assert.deepEqual(diffs, [], diffs.join('\n'));
}

/** What ECHO of TTL_MARK prints in redis-cli's output (RESP2 and RESP3 alike). */
const TTL_MARK = '__ttl_reply_next__';
const TTL_MARK_LINE = `"${TTL_MARK}"`;

/** `script` with an ECHO of TTL_MARK before each TTL: the line after the mark's is a TTL's reply. */
export function markTtls(script: readonly string[]): string[] {
  return script.flatMap((line) => (/^ttl\s/i.test(line) ? [`ECHO ${TTL_MARK}`, line] : [line]));
}

/**
 * The lines that differ between two sessions' outputs, except that a TTL's reply (the line after
 * TTL_MARK's) may be one second lower on Baristas' side: TTL rounds the milliseconds left to the
 * nearest second, so a key set with EX 100 reads 99 once more than 500 ms pass before its TTL
 * (a loaded machine: a cluster's replies are slower than redis-server's). Any other difference,
 * a TTL higher, lower by two, or of another sign, is one.
 */
export function sessionDiffs(expected: readonly string[], actual: readonly string[]): string[] {
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    const e = expected[i];
    const a = actual[i];
    if (e === a) continue;
    if (i > 0 && expected[i - 1] === TTL_MARK_LINE && actual[i - 1] === TTL_MARK_LINE) {
      const te = /^\(integer\) (\d+)$/.exec(e ?? '');
      const ta = /^\(integer\) (\d+)$/.exec(a ?? '');
      if (te !== null && ta !== null && Number(te[1]) - Number(ta[1]) === 1) continue;
    }
    diffs.push(`line ${i + 1}: redis ${JSON.stringify(e)} baristas ${JSON.stringify(a)}`);
  }
  return diffs;
}

/** Runs `script` through one redis-cli connection; its output lines. */
export function runSession(server: RunningRespServer, protocolArgs: string[], script: readonly string[]): string[] {
  const r = spawnSync('redis-cli', ['-h', server.host, '-p', String(server.port), '--no-raw', ...protocolArgs], {
    input: `${script.join('\n')}\n`,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `redis-cli against ${server.name}: ${r.stderr}`);
  // redis-cli notes a reply that took 0.5 s or more on a line of its own, "(0.56s)": a timing, not
  // a reply (a loaded machine printed one and shifted every later line).
  return r.stdout
    .trimEnd()
    .split('\n')
    .filter((line) => !/^\(\d+\.\d\ds\)$/.test(line));
}
