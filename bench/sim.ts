// Simulator throughput: events per wall second and simulated seconds per wall second for a 5-node
// cluster under load. The program is pluggable (`--program heartbeat|heartbeat-disk`); until the
// real protocols land, the load is an all-to-all heartbeat/echo (src/sim/echo-program.ts).
// Reference, in the same run: the bare event queue (push+pop of the same number of events with no
// work), the ceiling any simulation step can reach; each scenario prints its ratio to it.
//
//   npm run bench -- sim [--seconds 60] [--period-ms 10] [--program heartbeat] [--repeat 3]
import { loadavg } from 'node:os';
import { Command } from 'commander';
import type { Env } from '../src/env/types.ts';
import { EventQueue } from '../src/sim/heap.ts';
import { heartbeatProgram, randomNemesis, Simulation } from '../src/sim/index.ts';
import { machineLine } from './_machine.ts';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];

interface Scenario {
  name: string;
  build(seconds: number, periodMs: number, program: string): Simulation<unknown>;
}

function programFor(name: string, periodMs: number): (env: Env) => unknown {
  switch (name) {
    case 'heartbeat':
      return heartbeatProgram(nodes, { periodMs, paddingBytes: 64 });
    case 'heartbeat-disk':
      return heartbeatProgram(nodes, { periodMs, paddingBytes: 64, syncEvery: 8 });
    default:
      throw new Error(`unknown --program ${name} (heartbeat, heartbeat-disk)`);
  }
}

const scenarios: Scenario[] = [
  {
    name: 'no faults',
    build: (_s, periodMs, program) => new Simulation({ seed: 1, nodes, program: programFor(program, periodMs) }),
  },
  {
    name: 'chaos + invariant',
    build: (seconds, periodMs, program) => {
      const sim = new Simulation({
        seed: 1,
        nodes,
        program: programFor(program, periodMs),
        network: { lossProbability: 0.01, duplicateProbability: 0.01, reorderProbability: 0.01 },
      });
      sim.schedule(
        randomNemesis(sim.forkRng('nemesis'), nodes, {
          kinds: ['partition', 'crash', 'pause', 'clock', 'clog', 'loss'],
          startMs: 0,
          endMs: seconds * 1000,
        }),
      );
      sim.addInvariant('at most 5 nodes', (s) => (s.nodeIds.length <= 5 ? undefined : 'too many nodes'));
      return sim;
    },
  },
];

function queueCeiling(events: number): number {
  const q = new EventQueue<{ atMs: number; seq: number }>(10_000_000, 'bench');
  const t0 = performance.now();
  // Keep ~1000 pending events, like a 5-node cluster with timers and in-flight messages.
  let t = 0;
  for (let i = 0; i < 1000; i++) q.push({ atMs: (t += 0.01), seq: 0 });
  for (let i = 0; i < events; i++) {
    const e = q.pop()!;
    e.atMs += 10;
    q.push(e);
  }
  return events / ((performance.now() - t0) / 1000);
}

export default async function (args: string[]): Promise<void> {
  const opts = new Command()
    .option('--seconds <n>', 'simulated seconds per run', '60')
    .option('--period-ms <n>', 'heartbeat period per node', '10')
    .option('--program <name>', 'heartbeat | heartbeat-disk', 'heartbeat')
    .option('--repeat <n>', 'runs per scenario (best is reported)', '3')
    .parse(args, { from: 'user' })
    .opts<{ seconds: string; periodMs: string; program: string; repeat: string }>();
  const seconds = Number(opts.seconds);
  const periodMs = Number(opts.periodMs);
  const repeat = Number(opts.repeat);
  console.log(`command: npm run bench -- sim ${args.join(' ')}`.trim());
  console.log(machineLine());
  console.log(
    `load average (1 min) at start: ${loadavg()[0]!.toFixed(2)} (other work on the machine skews every number below)`,
  );
  console.log(
    `load: ${nodes.length} nodes, program ${opts.program}, all-to-all heartbeat every ${periodMs} ms + echo ` +
      `(${((nodes.length * (nodes.length - 1) * 2 * 1000) / periodMs).toFixed(0)} msgs/simulated s), ${seconds} simulated s`,
  );
  const ceiling = Math.max(...Array.from({ length: repeat }, () => queueCeiling(2_000_000)));
  console.log(`reference: bare event queue push+pop ${fmt(ceiling)} events/s`);
  console.log('scenario              events     events/s    sim s / wall s   ratio to queue   trace hash');
  for (const sc of scenarios) {
    let best = { eventsPerS: 0, simPerWall: 0, events: 0, hash: '' };
    for (let r = 0; r < repeat; r++) {
      const sim = sc.build(seconds, periodMs, opts.program);
      const t0 = performance.now();
      sim.runUntil(seconds * 1000);
      const wallS = (performance.now() - t0) / 1000;
      const eventsPerS = sim.events / wallS;
      if (eventsPerS > best.eventsPerS) {
        best = { eventsPerS, simPerWall: seconds / wallS, events: sim.events, hash: sim.traceHash() };
      }
    }
    console.log(
      `${sc.name.padEnd(20)} ${String(best.events).padStart(8)} ${fmt(best.eventsPerS).padStart(12)} ` +
        `${best.simPerWall.toFixed(1).padStart(15)} ${(best.eventsPerS / ceiling).toFixed(3).padStart(16)}   ${best.hash}`,
    );
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
