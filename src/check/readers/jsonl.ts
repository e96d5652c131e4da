// Our JSONL: one Op per line, as the recorder writes it (history.ts field names):
//   {"type":"invoke","process":0,"f":"write","value":3,"index":0,"time":1200}
// Blank lines are skipped. `index` is reassigned from line order by the reader.
import { HistoryParseError } from '../errors.ts';
import type { Located } from './record.ts';

export function readJsonlRecords(text: string, source: string): Located[] {
  const out: Located[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new HistoryParseError(source, i + 1, `bad JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    out.push({ record, line: i + 1 });
  }
  return out;
}
