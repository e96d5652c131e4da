// `barista check FILE|DIR... --model M`: checks history files and prints one verdict line per
// file, then a total. The CLI's main file registers it through registerCheckCommand; tests call
// runCheckCommand directly with captured stdout/stderr.
// This is an I/O layer (it reads files and the process clock for the time budget); the checker it
// calls is pure and takes `now` as a function.
//
//   valid    cas-register/good/memstress3-0.edn  (205 ops, 6.1 ms)
//   invalid  cas-register/bad/cas-failure.edn  (205 ops, 7.0 ms)  p70 read → 0 cannot be ...
//   unknown  big.jsonl  (100000 ops, 60000.2 ms)  time budget
//   error    broken.edn  broken.edn:12: :type must be one of invoke, ok, fail, info (got nil)
//   total: 4 files: 1 valid, 1 invalid, 1 unknown, 1 error in 60013.3 ms
//
// Exit code: 1 if any file is invalid (a definite finding wins), else 2 if any is unknown or
// could not be read/parsed (or no file was found, or a flag is bad), else 0.
// Folders are walked recursively (symlinked folders are not followed) for .edn, .jsonl, .log and
// .txt files, in sorted order.
// --json prints one JSON document instead of the lines. --html FILE writes one self-contained
// report for the whole run: a section per file; invalid/unknown/error files first with their
// timelines (at most HTML_TIMELINES_MAX), valid files as summary lines (a single file always gets
// its timeline).
// --initial VALUE sets the value of a register/key never written (an EDN literal: 0, nil, "x";
// an empty argument is the empty string). Without it, the format's own convention applies
// (Porcupine's KV files: ""; see formatModelDefaults), else the model's default.
// Models: every name of the checker core (MODEL_NAMES: linearizability models and bounds
// checkers) plus the consistency checks (read-your-writes, monotonic-reads, convergence,
// lost-writes, sequential).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Command } from 'commander';
import { BaristaError } from '../lib/errors.ts';
import { CONSISTENCY_CHECKS } from '../check/consistency/index.ts';
import type { ConsistencyOptions, ConsistencyResult } from '../check/consistency/types.ts';
import type { History } from '../check/history.ts';
import {
  checkHistory,
  detectFormat,
  isModelName,
  LINEARIZABILITY_DEFAULTS,
  MODEL_NAMES,
  parseHistory,
} from '../check/index.ts';
import { parseEdnValue } from '../check/readers/edn.ts';
import { formatModelDefaults } from '../check/readers/index.ts';
import {
  renderHtmlReport,
  type ReportSection,
  sectionFromCheckResult,
  sectionFromConsistencyResult,
} from '../check/report/html.ts';
import type { CasConvention, CheckResult, HistoryFormat, Verdict } from '../check/types.ts';

/** File name endings taken from folders. Files named explicitly are read whatever their name. */
export const HISTORY_EXTENSIONS: readonly string[] = ['.edn', '.jsonl', '.log', '.txt'];
export const FORMATS: readonly (HistoryFormat | 'auto')[] = ['auto', 'edn', 'jepsen-log', 'porcupine-kv', 'jsonl'];
/** Files one run checks at most (a folder with more is an error, not a silent cut). */
export const CHECK_FILES_MAX = 100_000;
/** Timelines drawn in one HTML report; further non-valid files get a summary only. */
export const HTML_TIMELINES_MAX = 50;
/** Anomalies per file in --json output. */
export const JSON_ANOMALIES_MAX = 50;
/** Upper bound for --time-budget-ms (one day). */
export const TIME_BUDGET_MS_MAX = 86_400_000;

export interface CheckCommandArgs {
  readonly files: readonly string[];
  readonly model: string;
  readonly format?: string;
  readonly html?: string;
  readonly json?: boolean;
  readonly cas?: CasConvention;
  readonly timeBudgetMs?: number;
  /**
   * Value of a register/key never written (parsed, see parseInitialValue); undefined = not given:
   * the format's convention applies (formatModelDefaults), else the model's default.
   */
  readonly initial?: unknown;
}

/**
 * Parses `--initial`: an EDN literal (`0`, `nil`, `"x"`, `:k`, a bare word as a string); an
 * empty argument (`--initial ''`) is the empty string. Throws HistoryParseError on bad syntax.
 */
export function parseInitialValue(text: string): unknown {
  if (text.trim() === '') return '';
  return parseEdnValue(text.trim(), '--initial', 1);
}

export interface CheckCommandIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Monotonic milliseconds; default performance.now. Tests may inject a fake. */
  readonly now?: () => number;
}

type Outcome = Verdict | 'error';

interface FileReport {
  readonly path: string;
  readonly outcome: Outcome;
  readonly ops: number;
  readonly elapsedMs: number;
  readonly reason?: string;
  readonly json: Record<string, unknown>;
  /** Kept only when an HTML report is asked for. */
  readonly section?: ReportSection;
}

export function consistencyNames(): string[] {
  return Object.keys(CONSISTENCY_CHECKS);
}

export function allModelNames(): string[] {
  return [...MODEL_NAMES, ...consistencyNames()];
}

/** Expands files and folders into the list of files to check. Throws with a clear message. */
export function collectFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const add = (file: string) => {
    if (out.length >= CHECK_FILES_MAX) throw new Error(`more than ${CHECK_FILES_MAX} history files`);
    out.push(file);
  };
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && HISTORY_EXTENSIONS.includes(extname(entry.name).toLowerCase())) add(path);
    }
  };
  for (const path of paths) {
    const stat = statSync(path);
    if (stat.isDirectory()) walk(path);
    else add(path);
  }
  return out;
}

/** Typed errors (BaristaError: malformed or unpaired history, limits) and file-system errors. */
function isOperatingError(err: unknown): boolean {
  if (err instanceof BaristaError) return true;
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (err as NodeJS.ErrnoException).syscall !== undefined
  );
}

function errorMessage(err: unknown): string {
  // Our BaristaErrors carry source:line in the message; Node's fs errors carry the path.
  return err instanceof Error ? err.message : String(err);
}

function opsOf(history: History): number {
  let count = 0;
  for (const op of history) if (op.type === 'invoke') count++;
  return count;
}

function checkResultJson(result: CheckResult): Record<string, unknown> {
  const opJson = (op: NonNullable<CheckResult['failingOp']>) => ({
    index: op.invoke.index,
    process: op.process,
    f: op.f,
    ...(op.key === undefined ? {} : { key: op.key }),
    input: op.input,
    output: op.output,
    status: op.status,
  });
  return {
    ...(result.failingKey === undefined ? {} : { failingKey: result.failingKey }),
    ...(result.failingOp === undefined ? {} : { failingOp: opJson(result.failingOp) }),
    ...(result.concurrentOps === undefined ? {} : { concurrentOps: result.concurrentOps.map((op) => op.invoke.index) }),
    ...(result.longestPrefix === undefined ? {} : { longestPrefixLength: result.longestPrefix.length }),
    ...(result.anomalies === undefined
      ? {}
      : {
          anomalies: result.anomalies
            .slice(0, JSON_ANOMALIES_MAX)
            .map((a) => ({ kind: a.kind, message: a.message, ops: a.ops.map((op) => op.index) })),
        }),
    stats: result.stats,
  };
}

function consistencyJson(result: ConsistencyResult): Record<string, unknown> {
  return {
    anomalies: result.anomalies.slice(0, JSON_ANOMALIES_MAX).map((a) => ({
      kind: a.kind,
      message: a.detail,
      ops: [a.op.index, ...(a.related ?? []).map((op) => op.index)],
    })),
    stats: result.stats,
  };
}

/** JSON.stringify that survives bigint and cycles-free unknown values from EDN. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

function checkOneFile(
  path: string,
  args: CheckCommandArgs,
  format: HistoryFormat | 'auto',
  now: () => number,
): FileReport {
  const startMs = now();
  const elapsed = () => now() - startMs;
  const keepSection = args.html !== undefined;
  const cas = args.cas ?? 'knossos';
  let history: History = [];
  try {
    const content = readFileSync(path, 'utf8');
    const chosen = format === 'auto' ? detectFormat(content) : format;
    history = parseHistory(content, chosen, { source: path, casConvention: cas });
    const initial = args.initial !== undefined ? args.initial : formatModelDefaults(chosen).initial;
    const base = { source: path, model: args.model, history };
    const consistency = CONSISTENCY_CHECKS[args.model];
    if (consistency !== undefined) {
      // Knossos histories start at 0 and a nil read is "unknown"; etcd logs start at nil.
      const options: ConsistencyOptions = {
        ...(cas === 'knossos' ? { initialValue: 0, nilReadIsUnknown: true } : {}),
        ...(initial === undefined ? {} : { initialValue: initial }),
      };
      const result = consistency.check(history, options);
      const elapsedMs = elapsed();
      return {
        path,
        outcome: result.verdict,
        ops: opsOf(history),
        elapsedMs,
        ...(result.reason === undefined ? {} : { reason: result.reason }),
        json: consistencyJson(result),
        ...(keepSection ? { section: sectionFromConsistencyResult({ ...base, elapsedMs }, result) } : {}),
      };
    }
    if (!isModelName(args.model)) throw new Error(`unknown model ${args.model}`);
    const result = checkHistory(history, args.model, {
      now,
      timeBudgetMs: args.timeBudgetMs ?? LINEARIZABILITY_DEFAULTS.timeBudgetMs,
      model: { casConvention: cas, ...(initial === undefined ? {} : { initial }) },
    });
    const elapsedMs = elapsed();
    return {
      path,
      outcome: result.verdict,
      ops: opsOf(history),
      elapsedMs,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      json: checkResultJson(result),
      ...(keepSection ? { section: sectionFromCheckResult({ ...base, elapsedMs }, result) } : {}),
    };
  } catch (err) {
    // Operating errors only: unreadable files (errno) and typed errors (malformed or unpaired
    // histories). Anything else is a bug in the checker and must not pass for a bad input file.
    if (!isOperatingError(err)) throw err;
    const elapsedMs = elapsed();
    const reason = errorMessage(err);
    const section: ReportSection = {
      source: path,
      model: args.model,
      verdict: 'unknown',
      reason: `error: ${reason}`,
      elapsedMs,
      history: [],
    };
    return {
      path,
      outcome: 'error',
      ops: opsOf(history),
      elapsedMs,
      reason,
      json: { code: err instanceof BaristaError ? err.code : (err as NodeJS.ErrnoException).code },
      ...(keepSection ? { section } : {}),
    };
  }
}

function line(report: FileReport): string {
  const label = report.outcome.padEnd(8);
  if (report.outcome === 'error') return `${label} ${report.path}  ${report.reason ?? ''}`;
  const timing = `(${report.ops} ops, ${report.elapsedMs.toFixed(1)} ms)`;
  return `${label} ${report.path}  ${timing}${report.reason === undefined ? '' : `  ${report.reason}`}`;
}

export function exitCodeOf(outcomes: readonly Outcome[]): number {
  if (outcomes.includes('invalid')) return 1;
  if (outcomes.length === 0 || outcomes.includes('unknown') || outcomes.includes('error')) return 2;
  return 0;
}

export async function runCheckCommand(args: CheckCommandArgs, io: CheckCommandIo): Promise<number> {
  const now = io.now ?? (() => performance.now());
  const startMs = now();
  const models = allModelNames();
  if (!models.includes(args.model)) {
    io.stderr(`error: unknown model '${args.model}'; models: ${models.join(', ')}\n`);
    return 2;
  }
  const format = (args.format ?? 'auto') as HistoryFormat | 'auto';
  if (!FORMATS.includes(format)) {
    io.stderr(`error: unknown format '${args.format}'; formats: ${FORMATS.join(', ')}\n`);
    return 2;
  }
  if (
    args.timeBudgetMs !== undefined &&
    !(Number.isInteger(args.timeBudgetMs) && args.timeBudgetMs > 0 && args.timeBudgetMs <= TIME_BUDGET_MS_MAX)
  ) {
    io.stderr(`error: --time-budget-ms must be an integer from 1 to ${TIME_BUDGET_MS_MAX}\n`);
    return 2;
  }
  let files: string[];
  try {
    files = collectFiles(args.files);
  } catch (err) {
    io.stderr(`error: ${errorMessage(err)}\n`);
    return 2;
  }
  if (files.length === 0) {
    io.stderr(`error: no history files (${HISTORY_EXTENSIONS.join(', ')}) in ${args.files.join(', ')}\n`);
    return 2;
  }
  const reports: FileReport[] = [];
  for (const file of files) {
    const report = checkOneFile(file, args, format, now);
    reports.push(report);
    if (args.json !== true) (report.outcome === 'error' ? io.stderr : io.stdout)(`${line(report)}\n`);
  }
  const totalMs = now() - startMs;
  const count = (o: Outcome) => reports.filter((r) => r.outcome === o).length;
  const code = exitCodeOf(reports.map((r) => r.outcome));
  let htmlError: string | undefined;
  if (args.html !== undefined) {
    const sections = reports.flatMap((r) => (r.section === undefined ? [] : [r.section]));
    try {
      writeFileSync(args.html, renderHtmlReport(sections, { timelinesMax: HTML_TIMELINES_MAX }));
    } catch (err) {
      htmlError = errorMessage(err);
    }
  }
  if (args.json === true) {
    io.stdout(
      `${toJson({
        model: args.model,
        files: reports.map((r) => ({
          path: r.path,
          verdict: r.outcome,
          ops: r.ops,
          elapsedMs: Math.round(r.elapsedMs * 10) / 10,
          ...(r.reason === undefined ? {} : { reason: r.reason }),
          ...r.json,
        })),
        total: {
          files: reports.length,
          valid: count('valid'),
          invalid: count('invalid'),
          unknown: count('unknown'),
          error: count('error'),
          elapsedMs: Math.round(totalMs * 10) / 10,
        },
        ...(args.html === undefined ? {} : { html: args.html }),
        exitCode: htmlError === undefined ? code : Math.max(code, 2),
      })}\n`,
    );
  } else {
    io.stdout(
      `total: ${reports.length} file${reports.length === 1 ? '' : 's'}: ${count('valid')} valid, ${count('invalid')} invalid, ${count('unknown')} unknown, ${count('error')} error in ${totalMs.toFixed(1)} ms\n`,
    );
    if (args.html !== undefined && htmlError === undefined) io.stdout(`report: ${args.html}\n`);
  }
  if (htmlError !== undefined) {
    io.stderr(`error: could not write ${args.html}: ${htmlError}\n`);
    return code === 1 ? 1 : 2;
  }
  return code;
}

const HELP_AFTER = () => `
Models:
  linearizability / bounds: ${MODEL_NAMES.join(', ')}
  consistency checks:       ${consistencyNames()
    .map((n) => `${n} (${CONSISTENCY_CHECKS[n]?.summary ?? ''})`)
    .join(',\n                            ')}
Formats (default auto-detected): ${FORMATS.filter((f) => f !== 'auto').join(', ')}
Folders are searched recursively for ${HISTORY_EXTENSIONS.join(' ')} files.
--html writes one report for the whole run (invalid/unknown files first, with timelines).
Exit: 0 all valid, 1 any invalid, 2 unknown / unreadable or malformed file / bad flags.
`;

/** Adds `check <files...>` to the program. The action sets process.exitCode. */
export function registerCheckCommand(program: Command): Command {
  return program
    .command('check')
    .description('check history files (or folders of them) for linearizability or weaker consistency')
    .argument('<files...>', 'history files or folders')
    .requiredOption('--model <name>', `model or check: ${allModelNames().join(', ')}`)
    .option('--format <format>', `history format: ${FORMATS.join(', ')}`, 'auto')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--json', 'print machine-readable results', false)
    .option(
      '--cas-convention <convention>',
      "failed cas: 'knossos' (did not happen) or 'etcd' (observed false)",
      'knossos',
    )
    .option('--initial <value>', "value of a key never written (EDN: 0, nil, '\"x\"'; '' = empty string)")
    .option(
      '--time-budget-ms <ms>',
      `give up with 'unknown' after this long per file (default ${LINEARIZABILITY_DEFAULTS.timeBudgetMs})`,
    )
    .addHelpText('after', HELP_AFTER())
    .action(
      async (
        files: string[],
        o: {
          model: string;
          format: string;
          html?: string;
          json: boolean;
          casConvention: string;
          timeBudgetMs?: string;
          initial?: string;
        },
      ) => {
        const out = {
          stdout: (s: string) => void process.stdout.write(s),
          stderr: (s: string) => void process.stderr.write(s),
        };
        if (o.casConvention !== 'knossos' && o.casConvention !== 'etcd') {
          out.stderr(`error: --cas-convention must be knossos or etcd (got ${o.casConvention})\n`);
          process.exitCode = 2;
          return;
        }
        const timeBudgetMs = o.timeBudgetMs === undefined ? undefined : Number(o.timeBudgetMs);
        let initial: unknown;
        try {
          initial = o.initial === undefined ? undefined : parseInitialValue(o.initial);
        } catch (err) {
          out.stderr(`error: --initial: ${errorMessage(err)}\n`);
          process.exitCode = 2;
          return;
        }
        process.exitCode = await runCheckCommand(
          {
            files,
            model: o.model,
            format: o.format,
            json: o.json,
            cas: o.casConvention,
            ...(o.html === undefined ? {} : { html: o.html }),
            ...(timeBudgetMs === undefined ? {} : { timeBudgetMs }),
            ...(initial === undefined ? {} : { initial }),
          },
          out,
        );
      },
    );
}
