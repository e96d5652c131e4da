// Escaping for the HTML report. Every string in the report that came from a history file is
// untrusted: it passes through `text` (element content) or `attr` (quoted attribute values) before
// it is written, so a value like `</title><script>` stays text.
//
// Invariant: the output of `text`/`attr` contains no `<`, `>`, `&` (other than entity starts), `"`
// or `'`, and no characters that XML forbids (C0 controls other than tab/newline/CR, lone
// surrogates, U+FFFE/U+FFFF) — so the report also parses as XML.

const FORBIDDEN =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes element content and attribute values alike. */
export function text(value: string): string {
  return value.replace(FORBIDDEN, '\ufffd').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** Same as `text`; a separate name so call sites say which context they write into. */
export const attr = text;

/** Cuts a string to at most `charsMax` characters (an ellipsis marks the cut). */
export function truncate(value: string, charsMax: number): string {
  if (charsMax <= 0) return '';
  if (value.length <= charsMax) return value;
  return `${value.slice(0, Math.max(0, charsMax - 1))}…`;
}

/** A finite number for SVG coordinates, with at most 1 decimal. */
export function num(value: number): string {
  if (!Number.isFinite(value)) return '0';
  return (Math.round(value * 10) / 10).toString();
}
