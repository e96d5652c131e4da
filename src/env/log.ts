// Structured logging. createLogger builds the real node's pino logger (JSON lines, one field
// `nodeId` on every line); memoryLogger keeps the last N lines in memory for tests and the
// simulator, without pino, timestamps or I/O, so output is deterministic.
//
// Lines that untrusted input can cause go through a LogLimiter (src/lib/log-limit.ts, re-exported
// here; it lives in src/lib so that pure cores such as the message router can use it too).
//
// Invariant: a MemoryLogger holds at most `linesMax` lines (oldest dropped first, counted);
// children share their parent's buffer and add their bindings to each line.

import pino, { type DestinationStream } from 'pino';
import { assert } from '../lib/assert.ts';
import type { Logger } from './types.ts';

export { defaultLogLimit, type LogLimitOptions, LogLimiter, overflowLogKey } from '../lib/log-limit.ts';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface CreateLoggerOptions {
  nodeId: string;
  level: LogLevel;
  /** Where JSON lines go; default stdout (pino.destination(1)). */
  destination?: DestinationStream;
}

/**
 * The Env's Logger over pino. A child's bindings REPLACE its parent's bindings of the same key:
 * pino itself appends them, so `log.child({ component: 'transport' })` handed to a module that adds
 * its own `child({ component: 'tcp-transport' })` printed `"component"` twice in one JSON line
 * (which most JSON readers resolve silently, to either value). Each child is therefore made from
 * the root with the merged bindings.
 */
class PinoLogger implements Logger {
  constructor(
    private readonly root: pino.Logger,
    private readonly bindings: Readonly<Record<string, unknown>>,
    private readonly target: pino.Logger,
  ) {}

  debug(obj: object, msg?: string): void {
    this.target.debug(obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.target.info(obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.target.warn(obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.target.error(obj, msg);
  }

  child(bindings: Record<string, unknown>): Logger {
    const merged = { ...this.bindings, ...bindings };
    return new PinoLogger(this.root, merged, this.root.child(merged));
  }
}

/** A pino-backed logger (JSON lines with `nodeId`) for the Env. */
export function createLogger(options: CreateLoggerOptions): Logger {
  const config: pino.LoggerOptions = {
    level: options.level,
    base: { nodeId: options.nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const root = options.destination === undefined ? pino(config) : pino(config, options.destination);
  return new PinoLogger(root, {}, root);
}

export type MemoryLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  readonly level: MemoryLogLevel;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

const LEVEL_RANK: Record<MemoryLogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

class LineRing {
  readonly lines: (LogLine | undefined)[];
  head = 0;
  count = 0;
  dropped = 0;

  constructor(readonly linesMax: number) {
    this.lines = new Array<LogLine | undefined>(linesMax).fill(undefined);
  }

  push(line: LogLine): void {
    if (this.count === this.linesMax) {
      this.lines[this.head] = line;
      this.head = (this.head + 1) % this.linesMax;
      this.dropped++;
    } else {
      this.lines[(this.head + this.count) % this.linesMax] = line;
      this.count++;
    }
  }

  snapshot(): LogLine[] {
    const out: LogLine[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.lines[(this.head + i) % this.linesMax]!);
    return out;
  }
}

export class MemoryLogger implements Logger {
  private readonly ring: LineRing;
  private readonly bindings: Readonly<Record<string, unknown>>;
  private readonly minRank: number;

  constructor(ring: LineRing, bindings: Readonly<Record<string, unknown>>, minRank: number) {
    this.ring = ring;
    this.bindings = bindings;
    this.minRank = minRank;
  }

  private write(level: MemoryLogLevel, obj: object, msg: string | undefined): void {
    if (LEVEL_RANK[level] < this.minRank) return;
    const line: Record<string, unknown> = { level, ...this.bindings, ...obj };
    if (msg !== undefined) line['msg'] = msg;
    this.ring.push(line as LogLine);
  }

  debug(obj: object, msg?: string): void {
    this.write('debug', obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.write('info', obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.write('warn', obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.write('error', obj, msg);
  }

  child(bindings: Record<string, unknown>): MemoryLogger {
    return new MemoryLogger(this.ring, { ...this.bindings, ...bindings }, this.minRank);
  }

  /** The retained lines, oldest first (shared by this logger and all its relatives). */
  lines(): LogLine[] {
    return this.ring.snapshot();
  }

  /** Lines dropped because the buffer was full. */
  get droppedCount(): number {
    return this.ring.dropped;
  }
}

/** A logger that keeps the last `linesMax` lines in memory (lines below `level` are not kept). */
export function memoryLogger(linesMax: number, level: MemoryLogLevel = 'debug'): MemoryLogger {
  assert(Number.isSafeInteger(linesMax) && linesMax > 0, `linesMax must be positive: ${linesMax}`);
  return new MemoryLogger(new LineRing(linesMax), {}, LEVEL_RANK[level]);
}
