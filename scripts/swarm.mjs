#!/usr/bin/env node
// `npm run swarm`: the issue-7 swarm. Runs many seeds of a 5-node raft-kv cluster (or another
// workload: --workload store, Redis clients on the Dynamo store) in the
// deterministic simulator (20 simulated seconds of faults each, then the liveness phase), each
// seed drawing its own fault mix and intensities (src/sim/swarm.ts), spread over worker processes
// (one per core, bounded by --workers). Prints progress, the faults injected per class (total and
// in how many seeds), every failure with the command that replays it, the count and the wall
// time. Exits non-zero on any failure, or — for runs of at least `allClassesSeedsMin` seeds —
// when a fault class was never injected (the swarm would not be testing it).
// With --mutation, a seed *catches* the planted bug when it fails with it and passes without it
// (the worker reruns failing seeds without the mutation); the exit code then says whether any
// seed caught it, and seeds that fail either way are listed as failures of their own.
//
//   npm run swarm                         2,000 seeds from seed 1
//   npm run swarm -- --seeds 200 --first 5000 --workers 2
//   npm run swarm -- --first random      a fresh random range
//   npm run swarm -- --mutation wal-skip-fsync --stop-on-first --seeds 500
//                                         hunt for the first seed that catches a planted bug
//   npm run swarm -- --report out.jsonl   also write one JSON report per seed (mix, injected, failure)
//   npm run swarm -- --workload store --seeds 200   the store's workload (docs/SWARM.md)
import { fork } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Below this many seeds a class may honestly be drawn off everywhere; above, zero means untested. */
const allClassesSeedsMin = 100;
const progressEveryMs = 10_000;
const workersMax = 64;

function parseArgs(argv) {
  const o = {
    seeds: 2_000,
    first: 1,
    workers: Math.min(2, availableParallelism()),
    mutations: [],
    stopOnFirst: false,
    workload: 'raft-kv',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (name, v, min, max) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < min || n > max)
        throw new Error(`${name} must be an integer in [${min}, ${max}]`);
      return n;
    };
    if (a === '--seeds') o.seeds = int(a, value(), 1, 10_000_000);
    else if (a === '--first') {
      const v = value();
      o.first = v === 'random' ? randomInt(1, 2 ** 40) : int(a, v, 0, Number.MAX_SAFE_INTEGER);
    } else if (a === '--workers') o.workers = int(a, value(), 1, workersMax);
    else if (a === '--mutation') o.mutations.push(...value().split(','));
    else if (a === '--stop-on-first') o.stopOnFirst = true;
    else if (a === '--report') o.report = value();
    else if (a === '--workload') o.workload = value();
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run swarm -- [--seeds N] [--first S|random] [--workers W] [--workload raft-kv|coord|store|mix] [--mutation NAME]... [--stop-on-first] [--report FILE]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function replayOf(seed, mutations, workload) {
  const m = mutations.length > 0 ? ` --mutation ${[...mutations].sort().join(',')}` : '';
  return `barista sim --seed ${seed} --nodes 5 --workload ${workload} --swarm --duration 20000ms --liveness-bound 20000ms${m}`;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { faultClassNames, SwarmTally } = await import('../src/sim/swarm.ts');
  const { parseMutations } = await import('../src/cli/sim.ts');
  const mutations = parseMutations(o.mutations);
  const workers = Math.min(o.workers, o.seeds);
  console.log(
    `[swarm] ${o.seeds} seeds from ${o.first}, 5-node ${o.workload}, 20 s of faults each, ${workers} worker(s)` +
      (mutations.length > 0 ? `, mutations: ${mutations.join(', ')}` : ''),
  );
  const tally = new SwarmTally(faultClassNames);
  if (o.report !== undefined) writeFileSync(o.report, '');
  const failures = [];
  const caught = [];
  const mutationMode = mutations.length > 0;
  const started = performance.now();
  let next = 0;
  let done = 0;
  let stopping = false;
  let lastProgress = started;
  let simulatedMs = 0;
  /** Nodes the simulated operator wiped and rejoined (the rot classes), and in how many seeds. */
  let operatorRejoins = 0;
  let seedsWithRejoins = 0;

  const progress = (force) => {
    const now = performance.now();
    if (!force && now - lastProgress < progressEveryMs) return;
    lastProgress = now;
    const rate = done / ((now - started) / 1000);
    const eta = rate > 0 ? duration(((o.seeds - done) / rate) * 1000) : '?';
    console.log(
      `[swarm] ${done}/${o.seeds} seeds, ${failures.length} failed, ${rate.toFixed(2)} seeds/s, ` +
        `elapsed ${duration(now - started)}, eta ${eta}`,
    );
  };

  await new Promise((resolve) => {
    let alive = workers;
    for (let w = 0; w < workers; w++) {
      const child = fork(join(here, 'swarm-worker.mjs'), [JSON.stringify({ mutations, workload: o.workload })], {
        execArgv: ['--import', pathToFileURL(join(here, 'ts-loader.mjs')).href],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const feed = () => {
        if (stopping || next >= o.seeds) {
          child.disconnect();
          return;
        }
        child.send({ seed: String(o.first + next++) });
      };
      child.on('message', ({ report, wallMs }) => {
        done++;
        if (o.report !== undefined)
          appendFileSync(o.report, `${JSON.stringify({ ...report, wallMs: Math.round(wallMs) })}\n`);
        tally.add(report.injected);
        simulatedMs += report.virtualMs;
        operatorRejoins += report.operatorRejoins ?? 0;
        if ((report.operatorRejoins ?? 0) > 0) seedsWithRejoins++;
        if (!report.ok && mutationMode && report.baselineOk === true) {
          caught.push(report);
          console.log(
            `[swarm] CAUGHT by seed ${report.seed}: ${report.failure.invariant}: ${report.failure.detail.split('\n')[0]}`,
          );
          console.log(`        replay: ${report.failure.replay || replayOf(report.seed, mutations, o.workload)}`);
          if (o.stopOnFirst) stopping = true;
        } else if (!report.ok) {
          failures.push(report);
          console.log(
            `[swarm] FAIL seed ${report.seed}${mutationMode ? ' (fails without the mutation too)' : ''}: ` +
              `${report.failure.invariant}: ${report.failure.detail.split('\n')[0]}`,
          );
          console.log(
            `        replay: ${report.failure.replay || replayOf(report.seed, mutationMode ? [] : mutations, o.workload)}`,
          );
          if (o.stopOnFirst && !mutationMode) stopping = true;
        }
        progress(false);
        feed();
      });
      child.on('exit', (code) => {
        if (code !== 0 && !stopping && next < o.seeds) {
          failures.push({ seed: '-', failure: { invariant: 'worker-died', detail: `exit ${code}`, replay: '' } });
          stopping = true;
        }
        if (--alive === 0) resolve();
      });
      feed();
    }
  });

  const wallMs = performance.now() - started;
  progress(true);
  console.log('\nfault class          injected   seeds injecting');
  for (const name of faultClassNames) {
    const total = tally.totals[name];
    console.log(`  ${name.padEnd(18)} ${String(total).padStart(9)}   ${tally.seedsInjecting[name]}/${tally.seeds}`);
  }
  console.log(
    `  ${'(operator rejoins)'.padEnd(18)} ${String(operatorRejoins).padStart(9)}   ${seedsWithRejoins}/${tally.seeds}`,
  );
  // Two classes act through the raft-kv workload alone (its reads in lease mode, its membership
  // changes): another workload's run cannot inject them, which is no gap in its testing.
  const raftKvOnly = ['lease-reads', 'membership-change'];
  const never = tally.neverInjected().filter((c) => o.workload === 'raft-kv' || !raftKvOnly.includes(c));
  if (failures.length > 0) {
    console.log(`\n${failures.length} failure(s):`);
    for (const f of failures) {
      console.log(`  seed ${f.seed}: ${f.failure.invariant}: ${f.failure.detail.split('\n')[0]}`);
      console.log(`    replay: ${f.failure.replay || replayOf(f.seed, mutations, o.workload)}`);
    }
  }
  console.log(
    `\n[swarm] ${done} seeds, ${failures.length} failed, wall ${duration(wallMs)} (${(wallMs / 1000).toFixed(1)} s), ` +
      `${(done / (wallMs / 1000)).toFixed(2)} seeds/s on ${workers} worker(s), ` +
      `${(simulatedMs / 1000).toFixed(0)} simulated s`,
  );
  if (mutationMode) {
    const first = caught.map((r) => Number(r.seed)).sort((a, b) => a - b)[0];
    console.log(
      caught.length > 0
        ? `[swarm] ${mutations.join(',')} caught by ${caught.length} seed(s), first seed ${first} ` +
            `(seeds tried: ${done}; catching seeds: ${caught.map((r) => r.seed).join(', ')})`
        : `[swarm] ${mutations.join(',')} NOT caught within ${done} seeds`,
    );
    process.exitCode = caught.length > 0 ? 0 : 1;
    return;
  }
  const zeroFails = never.length > 0 && done >= allClassesSeedsMin && !o.stopOnFirst;
  if (never.length > 0) {
    console.log(`[swarm] ${zeroFails ? 'FAIL' : 'note'}: never injected: ${never.join(', ')}`);
  }
  process.exitCode = failures.length > 0 || zeroFails ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
