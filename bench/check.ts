// Benchmark of the linearizability checker (src/check/linearizability.ts) on generated histories.
//   npm run bench -- check            # Porcupine-equivalent set + the full matrix
//   npm run bench -- check quick      # Porcupine-equivalent set + 1k/10k rows only
//   npm run bench -- check porcupine  # Porcupine-equivalent set only
// Reference: Porcupine (Go) checks its 102 etcd Jepsen histories in ≈ 0.83 s total on this machine,
// hardest ≈ 0.27 s. Our equivalent: 102 generated single-register cas histories, ~80 ops each,
// ~20 processes, ~20 % indeterminate ops (same shape, not the same files).
// Every case runs under a time budget (verdict `unknown` when it runs out) so the run is bounded.
import { checkLinearizable } from '../src/check/linearizability.ts';
import { generateRegisterHistory } from '../src/check/generate.ts';
import { kvModel } from '../src/check/models/kv.ts';
import { casRegisterModel } from '../src/check/models/register.ts';
import { machineLine } from './_machine.ts';

const PORCUPINE_TOTAL_MS = 830;
const PORCUPINE_HARDEST_MS = 270;
const CASE_BUDGET_MS = 10_000;

const now = (): number => performance.now();
const maxRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

/**
 * Porcupine's etcd histories have 5 concurrent clients; a client that times out is replaced by a
 * new process id, which is how a history reaches ~20 process ids. `concurrency` is the number of
 * clients at a time (5 matches the reference; 20 is a much harder stress variant).
 */
function porcupineEquivalent(concurrency: number): void {
  const model = casRegisterModel({ initial: 0 });
  // Warm up the JIT on other seeds so the measured runs are steady state (Go is compiled AOT).
  for (let s = 0; s < 30; s++)
    checkLinearizable(
      generateRegisterHistory({ seed: 1e6 + s, opCount: 80, processCount: concurrency, keyCount: 1, infoRate: 0.2 }),
      model,
    );
  let totalMs = 0;
  let hardest = 0;
  let states = 0;
  const processIds = new Set<unknown>();
  const verdicts = new Map<string, number>();
  for (let s = 0; s < 102; s++) {
    const h = generateRegisterHistory({ seed: s, opCount: 80, processCount: concurrency, keyCount: 1, infoRate: 0.2 });
    if (s === 0) for (const op of h) processIds.add(op.process);
    const t0 = now();
    const r = checkLinearizable(h, model, { now, timeBudgetMs: CASE_BUDGET_MS });
    const ms = now() - t0;
    totalMs += ms;
    hardest = Math.max(hardest, ms);
    states += r.stats.statesExplored;
    verdicts.set(r.verdict, (verdicts.get(r.verdict) ?? 0) + 1);
  }
  console.log(
    `porcupine-equivalent: 102 histories x 80 ops, ${concurrency} concurrent clients (${processIds.size} process ids in the first), 20% info, single cas register`,
  );
  console.log(
    `  total   ${totalMs.toFixed(1)} ms   porcupine ${PORCUPINE_TOTAL_MS} ms   ratio ${(totalMs / PORCUPINE_TOTAL_MS).toFixed(3)}`,
  );
  console.log(
    `  hardest ${hardest.toFixed(1)} ms   porcupine ${PORCUPINE_HARDEST_MS} ms   ratio ${(hardest / PORCUPINE_HARDEST_MS).toFixed(3)}`,
  );
  console.log(`  verdicts ${JSON.stringify(Object.fromEntries(verdicts))}, model steps ${states}`);
}

function matrix(quick: boolean): void {
  const sizes = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
  console.log(`\nmatrix (time budget ${CASE_BUDGET_MS} ms per case; gen = generation, not counted)`);
  console.log('ops      procs keys  info  verdict  check ms  ops/ms   steps       memo     maxRSS MiB');
  for (const opCount of sizes)
    for (const processCount of [5, 20, 50])
      for (const keyCount of [1, 10, 1000])
        for (const infoRate of [0, 0.1]) {
          const h = generateRegisterHistory({
            seed: opCount + processCount + keyCount,
            opCount,
            processCount,
            keyCount,
            infoRate,
          });
          const model = keyCount === 1 ? casRegisterModel({ initial: 0 }) : kvModel({ initial: 0 });
          const t0 = now();
          const r = checkLinearizable(h, model as never, { now, timeBudgetMs: CASE_BUDGET_MS });
          const ms = now() - t0;
          console.log(
            [
              String(opCount).padEnd(8),
              String(processCount).padEnd(5),
              String(keyCount).padEnd(5),
              String(infoRate).padEnd(5),
              r.verdict.padEnd(8),
              ms.toFixed(1).padStart(8),
              (opCount / ms).toFixed(0).padStart(7),
              String(r.stats.statesExplored).padStart(11),
              String(r.stats.memoEntries).padStart(9),
              maxRssMiB().toFixed(0).padStart(10),
            ].join(' '),
          );
        }
}

export default async function (args: string[]): Promise<void> {
  console.log(machineLine());
  console.log(`command: npm run bench -- check ${args.join(' ')}`.trim());
  porcupineEquivalent(5);
  porcupineEquivalent(20);
  if (!args.includes('porcupine')) matrix(args.includes('quick'));
}
