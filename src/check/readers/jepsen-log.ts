// Old Jepsen log lines (Jepsen ≤ 0.1 printed every op through jepsen.util; Porcupine's etcd corpus):
//
//   INFO  jepsen.util - 3	:invoke	:cas	[1 4]
//   INFO  jepsen.util - 3	:fail	:cas	[1 4]
//   INFO  jepsen.util - 4	:info	:write	:timed-out
//   INFO  jepsen.util - :nemesis	:info	:start	nil
//
// `<process> :<type> :<f> <value>`, the value in EDN. Lines without `jepsen.util -` (other log
// output) are skipped; a jepsen.util line that does not have this shape is a HistoryParseError.
import { HistoryParseError } from '../errors.ts';
import { parseEdnValue } from './edn.ts';
import type { Located } from './record.ts';

const MARKER = 'jepsen.util -';
const OP_LINE = /jepsen\.util\s+-\s+(:?[\w.-]+)\s+:(\w+)\s+:([\w./?-]+)\s*(.*)$/;

export function isJepsenLog(text: string): boolean {
  return text.includes(MARKER);
}

export function readJepsenLogRecords(text: string, source: string): Located[] {
  const out: Located[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.includes(MARKER)) continue;
    const m = OP_LINE.exec(line);
    if (m === null)
      throw new HistoryParseError(source, i + 1, 'expected `jepsen.util - <process> :<type> :<f> <value>`');
    const [, process, type, f, rawValue] = m as unknown as [string, string, string, string, string];
    const valueText = rawValue.trim();
    const value = valueText === '' ? null : parseEdnValue(valueText, source, i + 1);
    out.push({ record: { process, type, f, value }, line: i + 1 });
  }
  return out;
}
