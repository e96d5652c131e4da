// Goal: `barista sim --mutation` accepts the flag repeated or comma-separated, rejects a name it
// does not know (a typo must not silently plant nothing) with an error naming the flag, and a
// swarm run's replay command carries --swarm and the planted mutations, sorted, so a printed
// failure replays as the same run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../lib/errors.ts';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRaftOverrides, replayArgs, runClusterSimulation } from '../node/sim-cluster.ts';
import { colours } from './common.ts';
import { parseMutations, runSimCommand } from './sim.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('--mutation: repeated and comma-separated, validated, deduplicated', () => {
  assert.deepEqual(parseMutations([]), []);
  assert.deepEqual(parseMutations(['wal-skip-fsync,kv-skip-session-dedup', 'wal-skip-fsync']), [
    'kv-skip-session-dedup',
    'wal-skip-fsync',
  ]);
  assert.throws(
    () => parseMutations(['wal-skip-fsnyc']),
    (err: unknown) =>
      err instanceof ConfigError && /--mutation/.test(err.message) && /wal-skip-fsync/.test(err.message),
  );
});

test('a swarm replay command carries --swarm and the mutations instead of --nemesis', () => {
  const args = replayArgs({
    seed: '7',
    nodes: 5,
    nemesis: [],
    durationMs: 20_000,
    livenessBoundMs: 20_000,
    workload: 'raft-kv',
    swarm: true,
    mutations: ['wal-skip-fsync', 'kv-skip-session-dedup'],
  });
  assert.deepEqual(args, {
    workload: 'raft-kv',
    swarm: true,
    duration: '20000ms',
    'liveness-bound': '20000ms',
    mutation: 'kv-skip-session-dedup,wal-skip-fsync',
  });
});

// Goal: a failure's printed replay command is the same run. The blob writer, the snapshot bound
// and Raft overrides a test set are in it (the coord and raft-kv runs that reach the state bounds
// use all three), and `barista sim` given it replays the same trace to the same failure.
test('a replay command carries --blob-bytes-max, --snapshot-data-bytes-max and --raft, and replays the same trace', () => {
  const r = runClusterSimulation({
    seed: '1',
    nodes: 3,
    nemesis: ['partition', 'crash', 'pause', 'clock'],
    durationMs: 20_000,
    livenessBoundMs: 30_000,
    workload: 'coord',
    raft: { snapshotEveryEntries: 30, snapshotRetainEntries: 5, snapshotWriteSliceBytes: 128 },
    snapshotDataBytesMax: 192 * 1024,
    workloadOptions: { blobBytesMax: 24 * 1024 },
    mutations: ['coord-tree-bytes-unbounded'],
  });
  assert.equal(r.ok, false);
  const command = r.failure!.replayCommand;
  assert.match(command, / --blob-bytes-max 24576 --snapshot-data-bytes-max 196608 /);
  assert.match(command, / --raft snapshotEveryEntries=30,snapshotRetainEntries=5,snapshotWriteSliceBytes=128 /);
  const argv = command.replace(/^barista /, '').split(' ');
  const child = spawnSync(process.execPath, [join(root, 'bin', 'barista.mjs'), ...argv, '--json'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.notEqual(child.status, 0, 'a failed seed fails the command');
  const [replayed] = JSON.parse(child.stdout) as { traceHash: string; ok: boolean }[];
  assert.equal(replayed!.ok, false);
  assert.equal(replayed!.traceHash, r.traceHash, 'the same trace');
  assert.throws(
    () => parseRaftOverrides('snapshotEveryEntries=30,tickMz=5'),
    (err: unknown) => err instanceof ConfigError && /--raft/.test(err.message) && /tickMs/.test(err.message),
  );
  assert.deepEqual(parseRaftOverrides('tickMs=20'), { tickMs: 20 });
  assert.deepEqual(parseRaftOverrides('readOnly=lease,leaseClockDriftRateMax=0.05'), {
    readOnly: 'lease',
    leaseClockDriftRateMax: 0.05,
  });
  for (const bad of [
    'tickMs=0',
    'snapshotWriteSliceBytes=0',
    'tickMs=1.5',
    'a=1=2',
    'readOnly=fast',
    'heartbeatTicks=10',
  ])
    assert.throws(() => parseRaftOverrides(bad), ConfigError, bad);
  // A lease-mode run's replay keeps its mode (a numbers-only --raft replayed it in safe mode).
  const lease = replayArgs({
    seed: '3',
    nodes: 3,
    nemesis: ['clock'],
    durationMs: 10_000,
    livenessBoundMs: 10_000,
    workload: 'raft-kv',
    raft: { readOnly: 'lease', leaseClockDriftRateMax: 0.05 },
  });
  assert.equal(lease['raft'], 'leaseClockDriftRateMax=0.05,readOnly=lease');
  assert.deepEqual(parseRaftOverrides(String(lease['raft'])), { readOnly: 'lease', leaseClockDriftRateMax: 0.05 });
});

// Goal: the summary tables follow the same colour rule as every other command (NO_COLOR,
// FORCE_COLOR, a terminal): piped output (as here, under the test runner) carries no escapes
// unless colours are forced on. The old tables coloured borders and results regardless.
test('barista sim prints colours only when colourEnabled says so', () => {
  let text = '';
  const code = runSimCommand(
    {
      seed: '1',
      seeds: 1,
      nodes: 3,
      nemesis: 'none',
      duration: '2s',
      livenessBound: '10s',
      workload: 'membership',
      readConsistency: 'linearizable',
      sessions: false,
      json: false,
      swarm: false,
    },
    (s) => {
      text += s;
    },
  );
  assert.equal(code, 0);
  assert.match(text, /1 passed, 0 failed/);
  assert.equal(text.includes('\x1b['), colours.isColorSupported);
});

// Goal (issue 8 item 6): workloads come from the service registry. `--workload list` prints each
// with its service; an unknown name is refused listing the known ones; `--workload mix` lets the
// seed draw the workloads and their intensities, the same for the same seed.
test('--workload: list, unknown names refused with the list, and a mix drawn from the seed', () => {
  const base = {
    seeds: 1,
    nodes: 3,
    nemesis: 'none',
    duration: '2s',
    livenessBound: '10s',
    readConsistency: 'linearizable',
    sessions: false,
    json: true,
    swarm: false,
  };
  let text = '';
  assert.equal(
    runSimCommand({ ...base, seed: '1', workload: 'list' }, (s) => (text += s)),
    0,
  );
  assert.match(text, /membership\s*│\s*membership/);
  assert.match(text, /raft-kv\s*│\s*kv/);
  assert.match(text, /mix/);
  assert.throws(
    () => runSimCommand({ ...base, seed: '1', workload: 'raft-kb' }, () => {}),
    (err: unknown) => err instanceof ConfigError && /membership, raft-kv, coord, store, mix/.test(err.message),
  );
  const mixOf = (seed: string) => {
    let out = '';
    assert.equal(
      runSimCommand({ ...base, seed, workload: 'mix' }, (s) => (out += s)),
      0,
      out,
    );
    return (JSON.parse(out) as Array<{ workloads: unknown; clients: { ops: number } | null }>)[0]!;
  };
  const a = mixOf('3');
  assert.deepEqual(mixOf('3').workloads, a.workloads, 'a mix is a function of the seed');
  assert.ok(a.clients !== null && a.clients.ops > 0, 'the mix ran a client workload');
  assert.match(JSON.stringify(a.workloads), /"name":"(raft-kv|coord)","intensity":0\.\d+/);
});
