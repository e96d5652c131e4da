#!/usr/bin/env node
// `npm run swarm:hunt`: hunts for the first swarm seed that catches a planted bug *with a given
// fault class on*, and checks that the same seed passes with that class left out (docs/SWARM.md,
// "One planted bug per fault class"). A seed's fault mix is a pure function of the seed
// (drawSwarmMix), so the hunt skips, without running them, the seeds whose mix lacks a required
// class or has a forbidden one; the catching seed is a plain swarm seed that `barista sim --swarm
// --seed S --mutation NAME` replays. One process, seeds in order (the machine is shared).
//
//   npm run swarm:hunt -- --mutation raft-timeout-definite --require loss --forbid clog --sessions off
//   npm run swarm:hunt -- --mutation wal-repair-skip-truncate --require torn-write --max 30 --first 1
//
// Prints one line per seed run (mix, injected faults, wall time), then for the catching seed: the
// failure, whether it passes without the mutation, and whether it passes without each required
// class. Exits 0 when a seed caught the bug, 1 when the budget ran out, 2 on bad arguments.
import { catches, runSwarmSeed } from '../src/node/sim-swarm.ts';
import { drawSwarmMix, faultClassNames } from '../src/sim/swarm.ts';
import { isMutation } from '../src/lib/mutations.ts';

function parse(argv) {
  const o = { mutation: '', require: [], forbid: [], sessions: 'any', first: 1, max: 30, last: 5_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--mutation') o.mutation = value;
    else if (flag === '--require') o.require = value.split(',');
    else if (flag === '--forbid') o.forbid = value.split(',');
    else if (flag === '--sessions') o.sessions = value;
    else if (flag === '--first' || flag === '--max' || flag === '--last') o[flag.slice(2)] = Number(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!isMutation(o.mutation)) throw new Error(`--mutation: unknown mutation '${o.mutation}'`);
  for (const c of [...o.require, ...o.forbid])
    if (!faultClassNames.includes(c)) throw new Error(`unknown class '${c}'`);
  if (!['on', 'off', 'any'].includes(o.sessions)) throw new Error('--sessions: on, off or any');
  for (const k of ['first', 'max', 'last'])
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k}: a positive integer`);
  return o;
}

let o;
try {
  o = parse(process.argv.slice(2));
} catch (err) {
  console.error(`swarm-hunt: ${err.message}`);
  process.exit(2);
}

let tried = 0;
for (let s = o.first; s <= o.last && tried < o.max; s++) {
  const seed = String(s);
  const mix = drawSwarmMix(seed);
  const on = mix.on.map((c) => c.name);
  if (!o.require.every((c) => on.includes(c)) || o.forbid.some((c) => on.includes(c))) continue;
  if (o.sessions !== 'any' && mix.knobs.workload.sessions !== (o.sessions === 'on')) continue;
  tried++;
  const started = performance.now();
  const r = catches(seed, [o.mutation]);
  const injected = Object.entries(r.planted.injected).filter(([, n]) => n > 0);
  const wall = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `seed ${seed}: ${r.planted.ok ? 'pass' : 'FAIL'} (${wall} s) on=${on.join(',')} injected=${JSON.stringify(Object.fromEntries(injected))}`,
  );
  if (r.planted.ok) continue;
  const f = r.planted.failure;
  console.log(`  ${f.invariant}: ${f.detail.slice(0, 400)}\n  replay: ${f.replay}`);
  if (!r.caught) {
    console.log(`  fails without the mutation too: ${r.baseline?.failure?.invariant}; not a catch, hunting on`);
    continue;
  }
  console.log(`  caught: seed ${seed} (${tried} seeds tried); passes without the mutation`);
  for (const c of o.require) {
    const w = runSwarmSeed(seed, { mutations: [o.mutation], without: [c] });
    console.log(`  without ${c}: ${w.ok ? 'passes' : `still fails (${w.failure?.invariant})`}`);
  }
  process.exit(0);
}
console.log(`not caught in ${tried} seeds`);
process.exit(1);
