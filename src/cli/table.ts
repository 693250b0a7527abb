import { stripVTControlCharacters } from 'node:util';

export type Align = 'left' | 'right';

/** Visible width of a cell: colour codes take no room. */
export function visibleWidth(text: string): number {
  return [...stripVTControlCharacters(text)].length;
}

function pad(text: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - visibleWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Columns separated by two spaces, each as wide as its widest cell; trailing spaces trimmed.
 * Cells may carry colour codes.
 */
export function formatTable(rows: readonly (readonly string[])[], align: readonly Align[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleWidth(cell))));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 && (align[i] ?? 'left') === 'left' ? cell : pad(cell, widths[i]!, align[i] ?? 'left')))
      .join('  ')
      .trimEnd(),
  );
}

/** Shortens text to `max` visible characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}
