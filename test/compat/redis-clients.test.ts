// Goal: real Redis clients work against one Baristas node process (`barista node`, the store
// service on its resp port): redis-cli (strings and keys, errors, RESP3 with -3, pipelining a
// generated stream through --pipe), ioredis 6 (its handshake: HELLO 3, CLIENT SETINFO, the INFO
// ready check; pipelines answered in order; MULTI/EXEC; RESP2 too) and `barista store`. Skipped,
// saying so, when redis-cli is not installed (ioredis and barista store then still run).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { runStore, STORE_EXIT } from '../../src/cli/store.ts';
import { type RunningRespServer, startStoreNode } from '../support/redis-servers.ts';

const cliSkip =
  spawnSync('redis-cli', ['--version']).status === 0
    ? false
    : 'redis-cli is not installed (apt-get install redis-tools)';

function redisCli(server: RunningRespServer, args: string[], input = ''): { out: string; status: number | null } {
  const r = spawnSync('redis-cli', ['-h', server.host, '-p', String(server.port), ...args], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { out: r.stdout + r.stderr, status: r.status };
}

describe('real clients against a Baristas node', () => {
  let node: RunningRespServer;
  before(async () => {
    node = await startStoreNode({ sync: 'always' });
  });
  after(async () => {
    await node?.stop();
  });

  test('redis-cli: strings, keys, errors (RESP2 and RESP3 with -3)', { skip: cliSkip }, () => {
    const script = [
      'SET cli:a hello',
      'GET cli:a',
      'APPEND cli:a !',
      'GET cli:a',
      'INCR cli:n',
      'INCRBY cli:n 41',
      'GET cli:missing',
      'DEL cli:a cli:n',
      'EXISTS cli:a',
      'GET',
      'NOSUCH x',
      'PING',
    ];
    const expected = [
      'OK',
      '"hello"',
      '(integer) 6',
      '"hello!"',
      '(integer) 1',
      '(integer) 42',
      '(nil)',
      '(integer) 2',
      '(integer) 0',
      "(error) ERR wrong number of arguments for 'get' command",
      "(error) ERR unknown command 'NOSUCH', with args beginning with: 'x' ",
      'PONG',
    ];
    for (const proto of [[], ['-3']]) {
      const r = redisCli(node, ['--no-raw', ...proto], `${script.join('\n')}\n`);
      assert.deepEqual(r.out.trimEnd().split('\n'), expected, `redis-cli ${proto.join(' ')}`);
    }
  });

  test('redis-cli --pipe: 10,000 pipelined SETs, every reply, no error', { skip: cliSkip }, () => {
    let stream = '';
    for (let i = 0; i < 10_000; i++) {
      const k = `pipe:${i}`;
      const v = `v${i}`;
      stream += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`;
    }
    const r = redisCli(node, ['--pipe'], stream);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /errors: 0, replies: 10000/);
    assert.equal(redisCli(node, ['GET', 'pipe:9999']).out.trim(), 'v9999');
  });

  test('ioredis (RESP3 by default, and RESP2): handshake, pipeline in order, MULTI/EXEC', async () => {
    for (const protocol of [3, 2] as const) {
      const client = new Redis({
        host: node.host,
        port: node.port,
        protocol,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
      });
      try {
        await client.connect();
        // The handshake's outcome: ioredis falls back to RESP2 when HELLO 3 is refused.
        assert.match(String(await client.call('CLIENT', 'INFO')), new RegExp(` resp=${protocol}\\b`));
        const p = client.pipeline();
        for (let i = 0; i < 200; i++) p.set(`io:${protocol}:${i}`, String(i)).incr(`io:${protocol}:count`);
        p.get(`io:${protocol}:199`);
        const results = (await p.exec())!;
        assert.equal(results.length, 401);
        for (let i = 0; i < 200; i++) {
          assert.deepEqual(results[2 * i], [null, 'OK']);
          assert.deepEqual(results[2 * i + 1], [null, i + 1]);
        }
        assert.deepEqual(results[400], [null, '199']);
        const tx = await client
          .multi()
          .set(`io:${protocol}:t`, 'x')
          .append(`io:${protocol}:t`, 'y')
          .get(`io:${protocol}:t`)
          .exec();
        assert.deepEqual(tx, [
          [null, 'OK'],
          [null, 2],
          [null, 'xy'],
        ]);
        assert.equal(await client.get(`io:${protocol}:missing`), null);
        await assert.rejects(client.call('NOSUCH'), /unknown command 'NOSUCH'/);
      } finally {
        client.disconnect();
      }
    }
  });

  test('barista store get|set|del: values and exit codes', async () => {
    const io = { out: '', err: '' };
    const sink = { out: (s: string) => void (io.out += s), err: (s: string) => void (io.err += s) };
    const run = (command: 'get' | 'set' | 'del', key: string, value?: string) =>
      runStore(
        {
          command,
          key,
          value,
          server: `${node.host}:${node.port}`,
          dataDir: '/nonexistent',
          password: undefined,
          timeoutMs: 5000,
        },
        sink,
      );
    assert.equal(await run('set', 'cli:k', 'v1'), STORE_EXIT.done);
    assert.equal(await run('get', 'cli:k'), STORE_EXIT.done);
    assert.equal(await run('del', 'cli:k'), STORE_EXIT.done);
    assert.equal(await run('get', 'cli:k'), STORE_EXIT.notFound);
    assert.equal(await run('del', 'cli:k'), STORE_EXIT.notFound);
    assert.equal(io.out, 'OK\nv1\n1\n0\n');
    assert.equal(await run('set', 'cli:l', 'x'), STORE_EXIT.done);
    const unreachable = await runStore(
      {
        command: 'get',
        key: 'k',
        value: undefined,
        server: '127.0.0.1:1',
        dataDir: '/nonexistent',
        password: undefined,
        timeoutMs: 2000,
      },
      sink,
    );
    assert.equal(unreachable, STORE_EXIT.unavailable);
  });
});
