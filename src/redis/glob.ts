// Redis' glob matcher (util.c stringmatchlen, case-sensitive as KEYS and SCAN MATCH use it),
// implemented from its behaviour: `*` any run, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (ends in
// either order), `\x` the byte x (also inside brackets), anything else itself. Its C quirks are
// kept, because a pattern must select the same keys as Redis:
//  - bytes are C `char`, signed on x86-64: ranges compare -128..127 (`[a-\xff]` is [\xff, a]);
//  - the pattern is read one byte past its end as a NUL (sds strings are NUL-terminated): an
//    unclosed `[` ends the pattern, `[^` alone matches any byte;
//  - a trailing `\` matches a literal `\`;
//  - after a `*` fails for every suffix, no earlier `*` tries a longer match (the skip that makes
//    it linear-ish; it does not change the answer).

function signed(b: number): number {
  return b >= 128 ? b - 256 : b;
}

/** Whether `str` matches the glob `pattern` exactly as Redis' stringmatchlen(..., nocase=0). */
export function globMatch(pattern: Uint8Array, str: Uint8Array): boolean {
  const state = { skipLonger: false };
  return matchAt(pattern, 0, str, 0, state);
}

function matchAt(pat: Uint8Array, p0: number, str: Uint8Array, s0: number, state: { skipLonger: boolean }): boolean {
  const at = (i: number): number => (i < pat.length ? pat[i]! : 0); // the NUL past the end
  let p = p0;
  let s = s0;
  let plen = pat.length - p0;
  let slen = str.length - s0;
  while (plen > 0 && slen > 0) {
    const c = at(p);
    if (c === 0x2a) {
      // '*'
      while (plen > 0 && at(p + 1) === 0x2a) {
        p++;
        plen--;
      }
      if (plen === 1) return true;
      while (slen > 0) {
        if (matchAt(pat, p + 1, str, s, state)) return true;
        if (state.skipLonger) return false;
        s++;
        slen--;
      }
      state.skipLonger = true;
      return false;
    } else if (c === 0x3f) {
      // '?'
      s++;
      slen--;
    } else if (c === 0x5b) {
      // '['
      p++;
      plen--;
      const not = at(p) === 0x5e;
      if (not) {
        p++;
        plen--;
      }
      let match = false;
      for (;;) {
        if (at(p) === 0x5c && plen >= 2) {
          p++;
          plen--;
          if (at(p) === str[s]) match = true;
        } else if (at(p) === 0x5d) {
          break;
        } else if (plen === 0) {
          p--;
          plen++;
          break;
        } else if (plen >= 3 && at(p + 1) === 0x2d) {
          let start = signed(at(p));
          let end = signed(at(p + 2));
          const ch = signed(str[s]!);
          if (start > end) [start, end] = [end, start];
          p += 2;
          plen -= 2;
          if (ch >= start && ch <= end) match = true;
        } else if (at(p) === str[s]) {
          match = true;
        }
        p++;
        plen--;
      }
      if (not) match = !match;
      if (!match) return false;
      s++;
      slen--;
    } else {
      if (c === 0x5c && plen >= 2) {
        // '\\': the next byte literally
        p++;
        plen--;
      }
      if (at(p) !== str[s]) return false;
      s++;
      slen--;
    }
    p++;
    plen--;
    if (slen === 0) {
      while (at(p) === 0x2a) {
        p++;
        plen--;
      }
      break;
    }
  }
  return plen === 0 && slen === 0;
}
