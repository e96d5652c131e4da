// Jepsen EDN histories: either one op map per line (Porcupine's KV format is this with `:key`), or
// one vector/list of op maps spanning the file (Knossos' data files), with `;` comments anywhere.
// Keywords become strings without the colon (`:invoke` → "invoke"); vectors and lists become
// arrays (so `[k v]` tuples stay two-element arrays); maps become plain objects.
//
//   [{:process 0, :type :invoke, :f :write, :value 3}
//    {:process 0, :type :ok,     :f :write, :value 3}]
//
// The file is fed to edn-data's streaming parser one line at a time, so a syntax error names its
// line. The outer `[`/`(` is removed first, which makes every op map a top-level value.
import { parseEDNString } from 'edn-data';
import { EDNListParser } from 'edn-data/dist/parse.js';
import { HistoryParseError } from '../errors.ts';
import type { Located } from './record.ts';

const EDN_OPTIONS = {
  mapAs: 'object',
  keywordAs: 'string',
  listAs: 'array',
  setAs: 'array',
  charAs: 'string',
  symbolAs: 'string',
} as const;

/** Strips a `;` comment unless the line holds a string literal (where `;` may be content). */
function stripComment(line: string): string {
  if (line.includes('"')) return line;
  const i = line.indexOf(';');
  return i < 0 ? line : line.slice(0, i);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses a single EDN value (for log lines); throws HistoryParseError on bad syntax. */
export function parseEdnValue(text: string, source: string, line: number): unknown {
  checkBrackets(text, source, line);
  try {
    return parseEDNString(text, EDN_OPTIONS);
  } catch (error) {
    throw new HistoryParseError(source, line, `bad EDN value ${JSON.stringify(text)}: ${errorMessage(error)}`);
  }
}

const CLOSER_OF: Readonly<Record<string, string>> = { '(': ')', '[': ']', '{': '}' };
/** Open brackets tracked by the balance check; deeper nesting is malformed for a history. */
const NESTING_MAX = 256;

/**
 * edn-data silently ignores a stray or mismatched closing bracket, so brackets are checked here
 * first (outside strings, `\c` characters and `;` comments), naming the line of the mismatch.
 */
function checkBrackets(text: string, source: string, firstLine = 1): void {
  const open: Array<{ closer: string; line: number }> = [];
  let line = firstLine;
  let inString = false;
  let stringLine = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      stringLine = line;
    } else if (c === ';') {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '\\') {
      i++;
    } else if (c === '(' || c === '[' || c === '{') {
      if (open.length >= NESTING_MAX) throw new HistoryParseError(source, line, `nesting deeper than ${NESTING_MAX}`);
      open.push({ closer: CLOSER_OF[c] as string, line });
    } else if (c === ')' || c === ']' || c === '}') {
      const top = open.pop();
      if (top === undefined) throw new HistoryParseError(source, line, `unexpected ${c} with nothing open`);
      if (top.closer !== c)
        throw new HistoryParseError(source, line, `expected ${top.closer} (opened on line ${top.line}), got ${c}`);
    }
  }
  if (inString) throw new HistoryParseError(source, stringLine, 'string starting here is never closed');
  const unclosed = open.pop();
  if (unclosed !== undefined)
    throw new HistoryParseError(
      source,
      unclosed.line,
      `bracket opened here is never closed (expected ${unclosed.closer})`,
    );
}

export function readEdnRecords(text: string, source: string): Located[] {
  checkBrackets(text, source);
  const lines = text.split(/\r?\n/);
  const content = (i: number): string => stripComment(lines[i] as string).trim();
  let first = 0;
  while (first < lines.length && content(first) === '') first++;
  if (first === lines.length) return [];
  const head = content(first);
  if (head.startsWith('[') || head.startsWith('(')) {
    let last = lines.length - 1;
    while (last > first && content(last) === '') last--;
    const tail = content(last);
    const closer = head.startsWith('[') ? ']' : ')';
    if (!tail.endsWith(closer))
      throw new HistoryParseError(source, last + 1, `the history's opening ${head[0]} is never closed`);
    const lastLine = lines[last] as string;
    lines[last] = lastLine.slice(0, lastLine.lastIndexOf(closer)) + lastLine.slice(lastLine.lastIndexOf(closer) + 1);
    const firstLine = lines[first] as string;
    const open = firstLine.indexOf(head[0] as string);
    lines[first] = `${firstLine.slice(0, open)} ${firstLine.slice(open + 1)}`;
  }
  const parser = new EDNListParser(EDN_OPTIONS);
  const out: Located[] = [];
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const pendingBefore = parser.stack.length > 0;
    if (!pendingBefore && content(i) !== '') startLine = i + 1;
    let values: unknown[];
    try {
      values = parser.next(`${line}\n`);
    } catch (error) {
      throw new HistoryParseError(source, i + 1, `bad EDN: ${errorMessage(error)}`);
    }
    if (parser.result !== undefined) {
      // edn-data keeps a top-level scalar in `result` instead of returning it.
      throw new HistoryParseError(source, i + 1, `expected an op map, got ${String(parser.result)}`);
    }
    values.forEach((record, j) => {
      out.push({ record, line: j === 0 && startLine > 0 ? startLine : i + 1 });
    });
    if (parser.stack.length > 0 && values.length > 0) startLine = i + 1;
  }
  if (parser.stack.length > 0)
    throw new HistoryParseError(source, startLine, 'EDN value starting here is never closed');
  return out;
}
