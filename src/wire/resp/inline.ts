// Splits an inline command line into arguments by Redis 7.0.15's rules (sdssplitargs in sds.c),
// implemented from its description, byte for byte:
//
//   line     = *( blank / token )
//   blank    = SP / HT / LF / VT / FF / CR        ; C isspace(), skipped between tokens
//   token    = 1*( plain / dquoted / squoted )    ; ends at SP, LF, CR, HT or the line's end
//                                                 ; (VT and FF inside a token are kept)
//   plain    = any byte but SP LF CR HT " '
//   dquoted  = DQUOTE *( "\x" HEXDIG HEXDIG / "\" byte / byte ) DQUOTE
//              ; \n \r \t \b \a are the control bytes, "\" before any other byte is that byte;
//              ; \xHH with two hex digits is the byte HH ("\x" otherwise is just "x")
//   squoted  = "'" *( "\'" / byte ) "'"           ; only \' is an escape; "\" is kept otherwise
//
// A closing quote must be followed by a blank or the end of the line; otherwise, and for a quote
// that is never closed, the line is unbalanced (null): Redis answers "unbalanced quotes in
// request". Quotes may open in the middle of a token (a"b c" is one argument, `ab c`). The line
// holds no NUL (the line search stops at one), so unlike C strings nothing ends it early.

const SP = 0x20;
const HT = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const DQ = 0x22;
const SQ = 0x27;
const BS = 0x5c;

const isSpace = (b: number): boolean => b === SP || (b >= HT && b <= CR);
const isHex = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);
const hexValue = (b: number): number => (b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10);

const escapes: Record<number, number> = { 110: LF, 114: CR, 116: HT, 98: 0x08, 97: 0x07 };

/** The arguments of one inline line, or null when its quotes do not balance. */
export function splitInlineArgs(line: Uint8Array): Uint8Array[] | null {
  const args: Uint8Array[] = [];
  const n = line.length;
  const token = new Uint8Array(n); // a token is never longer than the line
  let p = 0;
  for (;;) {
    while (p < n && isSpace(line[p]!)) p++;
    if (p >= n) return args;
    let len = 0;
    let inDouble = false;
    let inSingle = false;
    for (;;) {
      const b = p < n ? line[p]! : -1;
      if (inDouble) {
        if (b === BS && p + 3 < n && line[p + 1] === 0x78 && isHex(line[p + 2]!) && isHex(line[p + 3]!)) {
          token[len++] = hexValue(line[p + 2]!) * 16 + hexValue(line[p + 3]!);
          p += 3;
        } else if (b === BS && p + 1 < n) {
          p++;
          const c = line[p]!;
          token[len++] = escapes[c] ?? c;
        } else if (b === DQ) {
          if (p + 1 < n && !isSpace(line[p + 1]!)) return null;
          p++;
          break;
        } else if (b < 0) {
          return null;
        } else token[len++] = b;
      } else if (inSingle) {
        if (b === BS && p + 1 < n && line[p + 1] === SQ) {
          p++;
          token[len++] = SQ;
        } else if (b === SQ) {
          if (p + 1 < n && !isSpace(line[p + 1]!)) return null;
          p++;
          break;
        } else if (b < 0) {
          return null;
        } else token[len++] = b;
      } else if (b < 0 || b === SP || b === LF || b === CR || b === HT) {
        break;
      } else if (b === DQ) inDouble = true;
      else if (b === SQ) inSingle = true;
      else token[len++] = b;
      p++;
    }
    args.push(token.slice(0, len));
  }
}
