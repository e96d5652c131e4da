// Goal: `barista kv` says what happened in words and in its exit code (issue 7, smaller items): a
// get of a missing key and a del of a missing key say "not found" and exit 4 (distinct from a
// failed compare, 1); a del reports whether the key existed; a value can come from stdin (`-`) or
// a file, so values past the 128 KiB one-argument limit of Linux can be written.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { KV_EXIT, type KvCliOptions, runKv } from './kv.ts';

/** A fake node: a tiny in-memory keyspace behind POST /v1/kv. */
async function fakeNode(): Promise<{ server: Server; port: number; bodies: Array<Record<string, unknown>> }> {
  const data = new Map<string, string>();
  const bodies: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const b = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      bodies.push(b);
      const key = b['key'] as string;
      let answer: unknown;
      if (b['op'] === 'put') {
        data.set(key, b['value'] as string);
        answer = { ok: true, value: null };
      } else if (b['op'] === 'get') answer = { ok: true, value: data.get(key) ?? null };
      else if (b['op'] === 'del') {
        answer = { ok: true, value: data.get(key) ?? null };
        data.delete(key);
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, bodies };
}

function options(port: number, o: Partial<KvCliOptions>): KvCliOptions {
  return {
    op: 'get',
    key: 'k',
    value: undefined,
    expected: undefined,
    absent: false,
    serializable: false,
    endpoints: [`127.0.0.1:${port}`],
    dataDir: '/nonexistent',
    json: false,
    ...o,
  };
}

function io(stdin: Uint8Array = new Uint8Array()) {
  const r = { out: '', err: '' };
  return {
    r,
    io: {
      out: (s: string) => void (r.out += s),
      err: (s: string) => void (r.err += s),
      readStdin: async () => stdin,
    },
  };
}

test('get and del of a missing key say "not found" and exit 4; del reports whether it existed', async () => {
  const { server, port } = await fakeNode();
  try {
    let t = io();
    assert.equal(await runKv(options(port, { op: 'get', key: 'missing' }), t.io), KV_EXIT.notFound);
    assert.equal(t.r.out, '', 'stdout stays empty, so $(barista kv get k) is empty');
    assert.match(t.r.err, /not found: "missing"/);
    t = io();
    assert.equal(await runKv(options(port, { op: 'del', key: 'missing' }), t.io), KV_EXIT.notFound);
    assert.match(t.r.err, /not found.*nothing deleted/);
    assert.doesNotMatch(t.r.out, /OK/);
    await runKv(options(port, { op: 'put', key: 'k', value: 'v' }), io().io);
    t = io();
    assert.equal(await runKv(options(port, { op: 'del', key: 'k' }), t.io), KV_EXIT.done);
    assert.equal(t.r.out, 'deleted\n');
    assert.notEqual(KV_EXIT.notFound, KV_EXIT.compareFailed);
  } finally {
    server.close();
  }
});

test('a value over 128 KiB comes from stdin (-) or --file', async () => {
  const { server, port, bodies } = await fakeNode();
  try {
    const big = 'x'.repeat(200 * 1024);
    const stdin = io(new TextEncoder().encode(big));
    assert.equal(await runKv(options(port, { op: 'put', key: 'a', value: '-' }), stdin.io), KV_EXIT.done);
    assert.equal(bodies.at(-1)!['value'], big);
    const dir = mkdtempSync(join(tmpdir(), 'barista-kv-'));
    const file = join(dir, 'value.txt');
    writeFileSync(file, `${big}y`);
    assert.equal(await runKv(options(port, { op: 'put', key: 'b', file }), io().io), KV_EXIT.done);
    assert.equal(bodies.at(-1)!['value'], `${big}y`);
    const t = io();
    assert.equal(await runKv(options(port, { op: 'get', key: 'b' }), t.io), KV_EXIT.done);
    assert.equal(t.r.out, `${big}y\n`);
    await assert.rejects(
      runKv(options(port, { op: 'put', key: 'c', value: '-' }), io(new Uint8Array([0xff])).io),
      ConfigError,
      'stdin that is not UTF-8 is refused',
    );
    await assert.rejects(runKv(options(port, { op: 'put', key: 'c', value: 'v', file }), io().io), ConfigError);
  } finally {
    server.close();
  }
});
