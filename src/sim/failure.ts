// How a failed simulation run is reported: the seed, where it failed (event number, virtual time),
// which invariant broke, and the exact command that replays it. The CLI (src/cli) renders the same
// command from the same ReplaySpec, so a printed failure can be pasted back into a shell.

import { BaristaError } from '../lib/errors.ts';

/** What `barista sim` needs besides the seed to replay a run (workload, nemesis, ...). */
export interface ReplaySpec {
  /** Extra flags, rendered `--key value` in insertion order (`true` renders as a bare `--key`). */
  readonly args?: Readonly<Record<string, string | number | boolean>>;
  /** Replaces the whole rendering, for callers with their own CLI. */
  readonly render?: (seed: string) => string;
}

/** Renders `barista sim --seed S --nodes N [--key value ...]`. */
export function describeReplay(config: { seed: string | number; nodeCount: number; replay?: ReplaySpec }): string {
  const seed = String(config.seed);
  if (config.replay?.render) return config.replay.render(seed);
  const parts = ['barista', 'sim', '--seed', shellWord(seed), '--nodes', String(config.nodeCount)];
  for (const [key, value] of Object.entries(config.replay?.args ?? {})) {
    if (value === false) continue;
    parts.push(`--${key}`);
    if (value !== true) parts.push(shellWord(String(value)));
  }
  return parts.join(' ');
}

function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface SimulationFailureFields {
  readonly seed: string;
  /** 1-based number of the event after which the failure was detected. */
  readonly eventIndex: number;
  readonly atMs: number;
  /** The invariant's name, or `exception` / `runaway` / `liveness`. */
  readonly invariant: string;
  readonly detail: string;
  readonly replayCommand: string;
}

/** A run broke an invariant (or threw, or ran away). Definite: the seed reproduces it. */
export class SimulationFailure extends BaristaError<'sim_failure'> {
  override readonly name = 'SimulationFailure';
  readonly seed: string;
  readonly eventIndex: number;
  readonly atMs: number;
  readonly invariant: string;
  readonly detail: string;
  readonly replayCommand: string;

  constructor(f: SimulationFailureFields, cause?: unknown) {
    super(
      'sim_failure',
      `simulation failed: ${f.invariant}: ${f.detail}\n  seed ${f.seed}, event ${f.eventIndex}, ` +
        `virtual time ${f.atMs.toFixed(3)} ms\n  replay: ${f.replayCommand}`,
      { cause, fields: { ...f } },
    );
    this.seed = f.seed;
    this.eventIndex = f.eventIndex;
    this.atMs = f.atMs;
    this.invariant = f.invariant;
    this.detail = f.detail;
    this.replayCommand = f.replayCommand;
  }
}
