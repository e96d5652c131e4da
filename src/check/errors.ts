// Typed errors of the checker. Malformed history input is untrusted data: it becomes a
// HistoryParseError naming the source and the 1-based line, never an assert or a TypeError.
import { BaristaError } from '../lib/errors.ts';

export class HistoryParseError extends BaristaError<'history_malformed'> {
  override readonly name = 'HistoryParseError';
  /** 1-based line of the offending input. */
  readonly line: number;
  readonly source: string;

  constructor(source: string, line: number, message: string) {
    super('history_malformed', `${source}:${line}: ${message}`, { fields: { source, line } });
    this.line = line;
    this.source = source;
  }
}
