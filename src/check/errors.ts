// Typed errors of the checker. Malformed history input is untrusted data: it becomes a
// HistoryParseError naming the source and the 1-based line, never an assert or a TypeError.
import { ProtocolError } from '../lib/errors.ts';

export class HistoryParseError extends ProtocolError {
  override readonly name = 'HistoryParseError';
  readonly line: number;
  readonly source: string;

  constructor(source: string, line: number, message: string) {
    super('history_malformed', `${source}:${line}: ${message}`, { source, line });
    this.line = line;
    this.source = source;
  }
}
