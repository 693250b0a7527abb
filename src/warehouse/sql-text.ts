/**
 * Small, pure helpers over SQL text that activate itself generated (never user SQL): find
 * the top level of a statement outside quotes and parentheses. Used by the Snowflake and
 * BigQuery dialects, whose MERGE needs named source columns where DuckDB's
 * `INSERT ... SELECT` is positional, and by the BigQuery adapter to merge statements into
 * one script.
 */

/** Calls `visit(index, depth)` for each character outside quoted strings and quoted identifiers. */
function scan(sql: string, visit: (index: number, depth: number) => boolean | void): void {
  let depth = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      // A quoted region: a backslash escapes the next character; a doubled quote is one quote.
      for (i++; i < sql.length; i++) {
        const d = sql[i]!;
        if (d === '\\') i++;
        else if (d === c) {
          if (sql[i + 1] === c) i++;
          else break;
        }
      }
      continue;
    }
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (visit(i, depth) === true) return;
  }
}

const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$]/.test(c);

/** Index of the keyword (a whole word, any case) at the top level of `sql`, or -1. */
export function findTopLevelKeyword(sql: string, keyword: string, from = 0): number {
  const upper = keyword.toUpperCase();
  let found = -1;
  scan(sql, (i, depth) => {
    if (i < from || depth !== 0) return;
    if (sql.slice(i, i + upper.length).toUpperCase() !== upper) return;
    if (isWordChar(sql[i - 1]) || isWordChar(sql[i + upper.length])) return;
    found = i;
    return true;
  });
  return found;
}

/** Splits `text` on commas at the top level. */
export function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  scan(text, (i, depth) => {
    if (depth === 0 && text[i] === ',') {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  });
  parts.push(text.slice(start).trim());
  return parts.filter((p, i, all) => p !== '' || all.length > 1);
}

const TRAILING_ALIAS = /\s+AS\s+("(?:[^"]|"")*"|`(?:[^`\\]|\\.)*`|[A-Za-z_][A-Za-z0-9_$]*)\s*$/i;

/**
 * `SELECT a, b FROM ...` -> `SELECT a AS <n1>, b AS <n2> FROM ...`: names the columns of a
 * SELECT by position, as `INSERT INTO t (n1, n2) SELECT ...` would. Existing aliases are
 * replaced. Throws when the select does not have exactly `names.length` columns.
 */
export function aliasSelectColumns(select: string, names: readonly string[], quote: (name: string) => string): string {
  const trimmed = select.trim();
  const head = /^SELECT\s+(DISTINCT\s+)?/i.exec(trimmed);
  if (!head) throw new Error(`internal: expected a SELECT, got: ${trimmed.slice(0, 80)}`);
  const from = findTopLevelKeyword(trimmed, 'FROM', head[0].length);
  const list = trimmed.slice(head[0].length, from === -1 ? undefined : from);
  const rest = from === -1 ? '' : ` ${trimmed.slice(from)}`;
  const expressions = splitTopLevel(list);
  if (expressions.length !== names.length) {
    throw new Error(`internal: the SELECT has ${expressions.length} columns where ${names.length} (${names.join(', ')}) were expected`);
  }
  const aliased = expressions.map((e, i) => `${e.replace(TRAILING_ALIAS, '')} AS ${quote(names[i]!)}`);
  return `${head[0]}${aliased.join(', ')}${rest}`;
}

/**
 * Rewrites every `@name` parameter reference outside quotes with `rename(name)`, for
 * merging several BigQuery statements with their own parameters into one script.
 */
export function renameNamedParams(sql: string, rename: (name: string) => string): string {
  let out = '';
  let last = 0;
  scan(sql, (i) => {
    if (sql[i] !== '@' || sql[i + 1] === '@' || sql[i - 1] === '@') return;
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1));
    if (!match) return;
    out += sql.slice(last, i) + '@' + rename(match[0]);
    last = i + 1 + match[0].length;
  });
  return out + sql.slice(last);
}
