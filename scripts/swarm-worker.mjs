// One worker of `npm run swarm` (scripts/swarm.mjs): runs the seeds the runner sends, one at a
// time, and answers each with its report. Started with `--import scripts/ts-loader.mjs` to load the sources.
// Exits when the runner disconnects (also when the runner dies), so no worker outlives it.
import { catches, runSwarmSeed } from '../src/node/sim-swarm.ts';

const options = JSON.parse(process.argv[2] ?? '{}');

process.on('message', (msg) => {
  const started = performance.now();
  let report;
  try {
    if ((options.mutations ?? []).length > 0) {
      // A catch must fail with the mutations and pass without them; `baselineOk` says which.
      const r = catches(msg.seed, options.mutations, options);
      report = { ...r.planted, ...(r.baseline !== undefined ? { baselineOk: r.baseline.ok } : {}) };
    } else {
      report = runSwarmSeed(msg.seed, options);
    }
  } catch (err) {
    // Not a SimulationFailure: a bug outside the simulated nodes (harness, checker). Still a failure.
    report = {
      seed: msg.seed,
      ok: false,
      on: [],
      injected: {},
      virtualMs: 0,
      events: 0,
      clientOpsOk: 0,
      failure: { invariant: 'internal-error', detail: String(err?.stack ?? err), replay: '' },
    };
  }
  process.send({ report, wallMs: performance.now() - started });
});
process.on('disconnect', () => process.exit(0));
