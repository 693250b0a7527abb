/**
 * A unified diff (`--- a`, `+++ b`, `@@ -l,n +l,n @@` hunks with 3 lines of context) of two
 * texts, for `activate exposures --check`. Empty when the texts are equal.
 */
export function unifiedDiff(oldText: string, newText: string, oldName: string, newName: string, context = 3): string {
  if (oldText === newText) return '';
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const ops = diffLines(a, b);

  const out = [`--- ${oldName}`, `+++ ${newName}`];
  // Positions (in ops) of changes, grouped into hunks whose context would touch or overlap.
  const changes = ops.map((op, i) => (op.kind === ' ' ? -1 : i)).filter((i) => i >= 0);
  let start = 0;
  while (start < changes.length) {
    let end = start;
    while (end + 1 < changes.length && changes[end + 1]! - changes[end]! <= 2 * context + 1) end++;
    const from = Math.max(0, changes[start]! - context);
    const to = Math.min(ops.length - 1, changes[end]! + context);
    const slice = ops.slice(from, to + 1);
    const first = ops[from]!;
    const oldCount = slice.filter((op) => op.kind !== '+').length;
    const newCount = slice.filter((op) => op.kind !== '-').length;
    const oldStart = oldCount === 0 ? first.oldLine - 1 : first.oldLine;
    const newStart = newCount === 0 ? first.newLine - 1 : first.newLine;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const op of slice) out.push(`${op.kind}${op.text}`);
    start = end + 1;
  }
  if (oldText !== '' && newText !== '' && oldText.endsWith('\n') !== newText.endsWith('\n')) {
    out.push(`\\ No newline at end of the ${oldText.endsWith('\n') ? 'new' : 'old'} file`);
  }
  return out.join('\n') + '\n';
}

interface Op {
  readonly kind: ' ' | '-' | '+';
  readonly text: string;
  /** 1-based line numbers of this op in the old and new texts (the next line's, for + / - ops). */
  readonly oldLine: number;
  readonly newLine: number;
}

function range(start: number, count: number): string {
  return count === 1 ? `${start}` : `${start},${count}`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Longest-common-subsequence line diff; common head and tail are matched first, so typical edits are cheap. */
function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);

  const middle: Array<{ kind: Op['kind']; text: string }> = [];
  if (midA.length * midB.length > 4_000_000) {
    // Too large to align line by line: show the middle as replaced.
    for (const text of midA) middle.push({ kind: '-', text });
    for (const text of midB) middle.push({ kind: '+', text });
  } else {
    const n = midA.length;
    const m = midB.length;
    const lcs = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] =
          midA[i] === midB[j] ? lcs[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        middle.push({ kind: ' ', text: midA[i]! });
        i++;
        j++;
      } else if (j < m && (i === n || lcs[i * (m + 1) + j + 1]! >= lcs[(i + 1) * (m + 1) + j]!)) {
        middle.push({ kind: '+', text: midB[j]! });
        j++;
      } else {
        middle.push({ kind: '-', text: midA[i]! });
        i++;
      }
    }
  }

  const ops: Op[] = [];
  let oldLine = 1;
  let newLine = 1;
  const push = (kind: Op['kind'], text: string) => {
    ops.push({ kind, text, oldLine, newLine });
    if (kind !== '+') oldLine++;
    if (kind !== '-') newLine++;
  };
  for (let k = 0; k < head; k++) push(' ', a[k]!);
  // Removals before additions within a run of changes, as diff(1) prints them.
  let pending: Array<{ kind: Op['kind']; text: string }> = [];
  const flush = () => {
    for (const op of pending.filter((p) => p.kind === '-')) push('-', op.text);
    for (const op of pending.filter((p) => p.kind === '+')) push('+', op.text);
    pending = [];
  };
  for (const op of middle) {
    if (op.kind === ' ') {
      flush();
      push(' ', op.text);
    } else {
      pending.push(op);
    }
  }
  flush();
  for (let k = a.length - tail; k < a.length; k++) push(' ', a[k]!);
  return ops;
}
