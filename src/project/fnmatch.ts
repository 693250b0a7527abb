/**
 * Python's `fnmatch` (what dbt uses for `tag:`, `package:`, `file:` and fqn wildcards) and
 * pathlib-style globbing (what dbt's `path:` method does), over strings only.
 *
 * fnmatch: `*` any run of characters (including `/` and `.`), `?` one character, `[abc]`,
 * `[a-z]`, `[!abc]` one character from (or not from) a set; an unclosed `[` is literal;
 * case-sensitive, as on POSIX.
 */
const cache = new Map<string, RegExp | null>();

export function hasWildcard(pattern: string): boolean {
  return /[*?[\]]/.test(pattern);
}

export function fnmatch(name: string, pattern: string): boolean {
  let regex = cache.get(pattern);
  if (regex === undefined) {
    try {
      regex = new RegExp(`^(?:${translate(pattern)})$`, 's');
    } catch {
      // e.g. a reversed range "[z-a]": Python drops it; matching the text literally is close enough.
      regex = null;
    }
    cache.set(pattern, regex);
  }
  return regex === null ? name === pattern : regex.test(name);
}

function translate(pattern: string): string {
  let out = '';
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    i++;
    if (c === '*') {
      out += '.*';
      while (pattern[i] === '*') i++;
    } else if (c === '?') {
      out += '.';
    } else if (c === '[') {
      let j = i;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < n && pattern[j] !== ']') j++;
      if (j >= n) {
        out += '\\[';
      } else {
        let set = pattern.slice(i, j);
        i = j + 1;
        const negate = set.startsWith('!');
        if (negate) set = set.slice(1);
        // In a JS class `\`, `]` and a leading `^` are special; `[` is literal without the v flag.
        set = set.replace(/[\\\]]/g, (m) => `\\${m}`);
        if (!negate && set.startsWith('^')) set = `\\${set}`;
        out += negate ? `[^${set}]` : `[${set}]`;
      }
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\]/g, (m) => `\\${m}`);
    }
  }
  return out;
}

/**
 * pathlib's `Path.glob` semantics for a pattern relative to the project root, tested
 * against one relative path: segments split on `/`, each matched with fnmatch (so `*`
 * stays within a segment), `**` matches any number of whole segments (none included).
 * `./`, empty segments and a trailing `/` are ignored, as `Path` normalises them away.
 */
export function globMatch(path: string, pattern: string): boolean {
  return matchSegments(segments(path), 0, segments(pattern), 0);
}

/** `a/b/c` -> [`a`, `b`, `c`], without `.` and empty segments; `\` counts as `/` (Windows manifests). */
export function segments(path: string): string[] {
  return path.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
}

function matchSegments(path: readonly string[], pi: number, pattern: readonly string[], qi: number): boolean {
  if (qi === pattern.length) return pi === path.length;
  const part = pattern[qi]!;
  if (part === '**') {
    for (let k = pi; k <= path.length; k++) if (matchSegments(path, k, pattern, qi + 1)) return true;
    return false;
  }
  if (pi === path.length) return false;
  return fnmatch(path[pi]!, part) && matchSegments(path, pi + 1, pattern, qi + 1);
}
