// Redis' glob matching (util.c stringmatchlen, 7.0.15) for HSCAN / SSCAN / ZSCAN MATCH, from its
// description: `*` any run, `?` one byte, `[...]` a class (`^` negates, `a-z` ranges with the ends
// in either order, `\` escapes), `\x` a literal x; an unterminated class ends at the pattern's end.
// Bytes compare as C's signed char does on x86-64 (a range's ends and the byte as -128..127), so
// classes over bytes >= 0x80 match as in Redis. After a failed `*` the search stops early (Redis'
// skipLongerMatches): a pattern of many stars costs O(pattern * subject), not exponential time.

function signed(b: number): number {
  return b >= 0x80 ? b - 0x100 : b;
}

function lower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
}

interface MatchState {
  skipLongerMatches: boolean;
}

function matchFrom(p: Uint8Array, pi: number, s: Uint8Array, si: number, nocase: boolean, st: MatchState): boolean {
  let pLen = p.length - pi;
  let sLen = s.length - si;
  while (pLen > 0 && sLen > 0) {
    const c = p[pi]!;
    if (c === 0x2a /* * */) {
      while (pLen > 1 && p[pi + 1] === 0x2a) {
        pi++;
        pLen--;
      }
      if (pLen === 1) return true;
      while (sLen > 0) {
        if (matchFrom(p, pi + 1, s, si, nocase, st)) return true;
        if (st.skipLongerMatches) return false;
        si++;
        sLen--;
      }
      st.skipLongerMatches = true;
      return false;
    }
    if (c === 0x3f /* ? */) {
      si++;
      sLen--;
    } else if (c === 0x5b /* [ */) {
      pi++;
      pLen--;
      const not = pLen > 0 && p[pi] === 0x5e;
      if (not) {
        pi++;
        pLen--;
      }
      let match = false;
      const sc = s[si]!;
      for (;;) {
        if (pLen >= 2 && p[pi] === 0x5c) {
          pi++;
          pLen--;
          if (p[pi] === sc) match = true;
        } else if (pLen > 0 && p[pi] === 0x5d) {
          break;
        } else if (pLen === 0) {
          pi--;
          pLen++;
          break;
        } else if (pLen >= 3 && p[pi + 1] === 0x2d) {
          let start = signed(p[pi]!);
          let end = signed(p[pi + 2]!);
          let x = signed(sc);
          if (start > end) [start, end] = [end, start];
          if (nocase) {
            start = lower(start);
            end = lower(end);
            x = lower(x);
          }
          pi += 2;
          pLen -= 2;
          if (x >= start && x <= end) match = true;
        } else if (nocase ? lower(p[pi]!) === lower(sc) : p[pi] === sc) {
          match = true;
        }
        pi++;
        pLen--;
      }
      if (not) match = !match;
      if (!match) return false;
      si++;
      sLen--;
    } else {
      if (c === 0x5c && pLen >= 2) {
        pi++;
        pLen--;
      }
      const pc = p[pi]!;
      const sc = s[si]!;
      if (nocase ? lower(pc) !== lower(sc) : pc !== sc) return false;
      si++;
      sLen--;
    }
    pi++;
    pLen--;
    if (sLen === 0) {
      while (pLen > 0 && p[pi] === 0x2a) {
        pi++;
        pLen--;
      }
      break;
    }
  }
  return pLen === 0 && sLen === 0;
}

/** stringmatchlen(pattern, subject, nocase). */
export function globMatch(pattern: Uint8Array, subject: Uint8Array, nocase = false): boolean {
  return matchFrom(pattern, 0, subject, 0, nocase, { skipLongerMatches: false });
}
