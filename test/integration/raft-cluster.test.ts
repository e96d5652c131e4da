// Goal (issue 4 acceptance, real processes): a 3-node `barista dev` cluster on loopback with
// fsynced WALs. Clients write continuously (HTTP /v1/kv through random nodes) while the leader is
// killed with `kill -9` and later restarted. Afterwards every acknowledged write is present, the
// recorded history (read/write/cas on a few registers) is linearizable, and `barista kv` works.
// Timeouts are `info` (indeterminate), definite errors `fail` — Jepsen's conventions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { httpPostJson } from '../../src/cli/common.ts';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkHistory } from '../../src/check/index.ts';
import { HistoryRecorder } from '../../src/check/recorder.ts';
import type { ClusterFile } from '../../src/cli/cluster-file.ts';
import { freePortRange, getJson, type Spawned, spawnCli, stopProcess, tempDir, until } from './helpers.ts';

type Node = ClusterFile['nodes'][number];
interface Answer {
  ok: boolean;
  value?: string | null;
  code?: string;
  definite?: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

async function kv(node: Node, body: unknown, timeoutMs = 3_000): Promise<Answer> {
  const r = await httpPostJson(node.host, node.ports['admin']!, '/v1/kv', body, timeoutMs, agent);
  return JSON.parse(r.body) as Answer;
}

/** The part of /status these tests read: the kv group's Raft state. */
interface KvStatus {
  groups: { kv: { role: string; appliedIndex: number; commitIndex: number } };
}

async function leaderOf(nodes: readonly Node[]): Promise<Node | undefined> {
  for (const n of nodes) {
    try {
      // The KV keyspace's own Raft group (`raft` in /status is the metadata group).
      const s = await getJson<KvStatus>(n.host, n.ports['admin']!, '/status');
      if (s.groups.kv.role === 'leader') return n;
    } catch {
      // down
    }
  }
  return undefined;
}

describe('Raft across real processes', () => {
  const dir = tempDir('baristas-raft-');
  let dev: Spawned;
  let cluster: ClusterFile;
  let restarted: Spawned | undefined;

  before(async () => {
    const base = await freePortRange(30);
    dev = spawnCli(['dev', '--data-dir', dir.path, '--base-port', String(base)]);
    await until('cluster healthy', 60_000, () => dev.output().includes('live view'));
    cluster = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8')) as ClusterFile;
    await until('a leader', 20_000, () => leaderOf(cluster.nodes));
  });

  after(async () => {
    agent.destroy();
    if (restarted) await stopProcess(restarted.child);
    if (dev) await stopProcess(dev.child, 10_000);
    dir.remove();
  });

  test('barista kv put/get/cas/del through any node', async () => {
    const ep = cluster.nodes.flatMap((n) => ['--endpoint', `${n.host}:${n.ports['admin']}`]);
    const runKv = async (args: string[]) => {
      const p = spawnCli(['kv', ...args, ...ep]);
      return { code: await p.exited(), out: p.output() };
    };
    assert.equal((await runKv(['put', 'greeting', 'hello'])).code, 0);
    assert.equal((await runKv(['get', 'greeting'])).out.trim(), 'hello');
    const casBad = await runKv(['cas', 'greeting', 'x', '--expected', 'nope']);
    assert.equal(casBad.code, 1);
    assert.match(casBad.out, /compare failed: current value is "hello"/);
    assert.equal((await runKv(['cas', 'greeting', 'bye', '--expected', 'hello'])).code, 0);
    assert.equal((await runKv(['cas', 'fresh', 'v', '--absent'])).code, 0);
    assert.equal((await runKv(['del', 'greeting'])).code, 0);
    assert.equal((await runKv(['get', 'greeting'])).code, 4, 'a missing key exits 4 (not found)');
  });

  test('exactly-once sessions: a retried request returns the first result and is not re-executed', async () => {
    const [a, b] = cluster.nodes as [Node, Node];
    const opened = await kv(a, { op: 'session' });
    assert.ok(opened.ok);
    const session = (opened as Answer & { sessionId: number }).sessionId;
    assert.ok(session > 0);
    const first = await kv(a, { op: 'cas', key: 'once', expected: null, value: 'mine', session, seq: 1 });
    assert.ok(first.ok);
    // Someone else changes the key; then our request is retried (say, after a timeout), via another node.
    assert.ok((await kv(b, { op: 'put', key: 'once', value: 'theirs' })).ok);
    const retry = await kv(b, { op: 'cas', key: 'once', expected: null, value: 'mine', session, seq: 1 });
    assert.ok(retry.ok, 'the retry reports the first outcome');
    assert.equal((await kv(a, { op: 'get', key: 'once' })).value, 'theirs', 'the retry did not execute again');
    const again = await kv(a, { op: 'put', key: 'once', value: 'old', session, seq: 1 });
    assert.ok(again.ok, 'seq 1 again is still the cached answer');
    assert.equal((await kv(a, { op: 'get', key: 'once' })).value, 'theirs');
    const unknown = await kv(a, { op: 'put', key: 'once', value: 'x', session: 999_999, seq: 1 });
    assert.equal(unknown.code, 'session_expired');
    const metrics = await (await import('./helpers.ts')).httpGet(a.host, a.ports['admin']!, '/metrics');
    assert.match(metrics.body, /kv_request_latency_ms\{op="cas",quantile="0.99"\}/);
    assert.match(metrics.body, /kv_request_apdex /);
  });

  test('kill -9 the leader while clients write: acknowledged writes survive, history is linearizable', async () => {
    const recorder = new HistoryRecorder();
    const t0 = process.hrtime.bigint();
    const now = (): number => Number(process.hrtime.bigint() - t0);
    const acked: Array<{ key: string; value: string }> = [];
    let stop = false;
    let nextProcess = 100;
    let nextValue = 1;
    const live = (): Node[] => cluster.nodes;

    const client = async (first: number): Promise<void> => {
      let proc = first;
      let n = 0;
      while (!stop) {
        const node = live()[Math.floor(Math.random() * live().length)]!;
        const roll = Math.random();
        const key = `r${Math.floor(Math.random() * 3)}`;
        if (roll < 0.25) {
          // Write-once keys: every acknowledged one must be readable at the end.
          const k = `once-${first}-${n++}`;
          try {
            const a = await kv(node, { op: 'put', key: k, value: k });
            if (a.ok) acked.push({ key: k, value: k });
          } catch {
            // indeterminate: not counted as acknowledged
          }
          continue;
        }
        const f = roll < 0.55 ? 'read' : roll < 0.85 ? 'write' : 'cas';
        const value: unknown =
          f === 'read' ? null : f === 'write' ? nextValue++ : [Math.floor(Math.random() * nextValue), nextValue++];
        recorder.invoke(proc, f, value, { timeNs: now(), key });
        try {
          const body =
            f === 'read'
              ? { op: 'get', key }
              : f === 'write'
                ? { op: 'put', key, value: String(value) }
                : { op: 'cas', key, expected: String((value as number[])[0]), value: String((value as number[])[1]) };
          const a = await kv(node, body);
          if (a.ok)
            recorder.ok(
              proc,
              f === 'read' ? (a.value === null || a.value === undefined ? null : Number(a.value)) : value,
              { timeNs: now(), key },
            );
          else if (a.code === 'precondition_failed' || a.definite === true)
            recorder.fail(proc, value, { timeNs: now(), key, error: a.code ?? 'error' });
          else {
            recorder.info(proc, value, { timeNs: now(), key, error: a.code ?? 'indefinite' });
            proc = nextProcess++;
          }
        } catch (err) {
          // Connection refused before sending is definite, anything else (timeout, reset) is not.
          const refused = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
          if (refused || f === 'read') recorder.fail(proc, value, { timeNs: now(), key, error: 'connection' });
          else {
            recorder.info(proc, value, { timeNs: now(), key, error: String((err as Error).message) });
            proc = nextProcess++;
          }
        }
      }
    };

    const clients = [0, 1, 2, 3].map((i) => client(i));
    await until('some writes', 20_000, () => acked.length >= 20);
    const leader = (await leaderOf(cluster.nodes))!;
    assert.ok(leader.pid, 'leader pid known');
    process.kill(leader.pid!, 'SIGKILL');
    const ackedAtKill = acked.length;
    await until('a new leader', 20_000, async () => {
      const l = await leaderOf(cluster.nodes.filter((n) => n.id !== leader.id));
      return l !== undefined;
    });
    await until('writes continue under the new leader', 20_000, () => acked.length >= ackedAtKill + 20);
    restarted = spawnCli(['node', '--config', leader.config]);
    await until('the old leader catches up', 30_000, async () => {
      const s = await getJson<KvStatus>(leader.host, leader.ports['admin']!, '/status');
      const l = await leaderOf(cluster.nodes);
      if (!l) return false;
      const ls = await getJson<KvStatus>(l.host, l.ports['admin']!, '/status');
      return s.groups.kv.appliedIndex >= ls.groups.kv.commitIndex - 5;
    });
    stop = true;
    await Promise.all(clients);

    // Every acknowledged write-once key is present, read linearizably through every node.
    for (const node of cluster.nodes) {
      for (const { key, value } of acked) {
        const a = await kv(node, { op: 'get', key }, 10_000);
        assert.ok(a.ok && a.value === value, `${key} lost on ${node.id}: ${JSON.stringify(a)}`);
      }
    }
    const history = recorder.history();
    const result = checkHistory(history, 'kv', { timeBudgetMs: 60_000, now: () => performance.now() });
    assert.equal(result.verdict, 'valid', `${result.reason} (${history.length} ops)`);
    assert.ok(history.filter((o) => o.type === 'ok').length > 50, 'enough operations completed');
  });
});
