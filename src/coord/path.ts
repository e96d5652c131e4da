// Znode path rules, as ZooKeeper's server applies them (PathUtils.validatePath and
// PrepRequestProcessor's checks): a path starts with '/', has no empty, '.' or '..' component, no
// trailing '/', no NUL and none of the characters ZooKeeper reserves (controls, U+007F–U+009F,
// U+D800–U+F8FF, U+FFF0–U+FFFF: checked per UTF-16 unit, as Java's chars are). A bad path answers
// BADARGUMENTS, never an exception.

/** True when `path` is a valid znode path (PathUtils.validatePath accepts it). */
export function isValidPath(path: string): boolean {
  if (path.length === 0 || path.charCodeAt(0) !== 0x2f) return false;
  if (path.length === 1) return true;
  if (path.charCodeAt(path.length - 1) === 0x2f) return false;
  let last = 0x2f;
  for (let i = 1; i < path.length; last = path.charCodeAt(i), i++) {
    const c = path.charCodeAt(i);
    const endsComponent = i + 1 === path.length || path.charCodeAt(i + 1) === 0x2f;
    if (c === 0) return false;
    if (c === 0x2f && last === 0x2f) return false;
    if (c === 0x2e && last === 0x2e) {
      if (path.charCodeAt(i - 2) === 0x2f && endsComponent) return false;
    } else if (c === 0x2e) {
      if (last === 0x2f && endsComponent) return false;
    } else if (
      (c > 0 && c <= 0x1f) ||
      (c >= 0x7f && c <= 0x9f) ||
      (c >= 0xd800 && c <= 0xf8ff) ||
      (c >= 0xfff0 && c <= 0xffff)
    ) {
      return false;
    }
  }
  return true;
}

/** The parent of a path with a '/' ("/a/b" → "/a", "/a" → "/"); undefined when it has none. */
export function parentPath(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  if (slash < 0 || path.length === 1) return undefined;
  return slash === 0 ? '/' : path.slice(0, slash);
}

/** The last component ("/a/b" → "b"). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The suffix a sequential create appends: the parent's cversion as %010d (negative: "-" + 9 digits). */
export function sequenceSuffix(cversion: number): string {
  if (cversion < 0) return `-${String(-cversion).padStart(9, '0')}`;
  return String(cversion).padStart(10, '0');
}

/** The paths ZooKeeper never lets a client delete (ZKDatabase.isSpecialPath). */
export const SPECIAL_PATHS: ReadonlySet<string> = new Set(['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config']);
