/**
 * An RFC 4180 reader for tests, written independently of destinations/file/encode.ts so that a
 * quoting bug there cannot hide itself. Returns every record as an array of fields; a quoted
 * field is marked so that `""` (empty text) and an empty unquoted field (NULL) stay apart.
 */
export interface CsvField {
  readonly text: string;
  readonly quoted: boolean;
}

export function parseCsv(input: string): CsvField[][] {
  const records: CsvField[][] = [];
  let record: CsvField[] = [];
  let i = 0;
  const n = input.length;
  if (n === 0) return records;
  for (;;) {
    let text = '';
    let quoted = false;
    if (input[i] === '"') {
      quoted = true;
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted field');
        const c = input[i]!;
        if (c === '"') {
          if (input[i + 1] === '"') {
            text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += c;
        i++;
      }
    } else {
      while (i < n && input[i] !== ',' && input[i] !== '\r' && input[i] !== '\n') {
        if (input[i] === '"') throw new Error(`bare quote in an unquoted field at ${i}`);
        text += input[i];
        i++;
      }
    }
    record.push({ text, quoted });
    if (i >= n) {
      records.push(record);
      return records;
    }
    const c = input[i]!;
    if (c === ',') {
      i++;
      continue;
    }
    if (c === '\r' && input[i + 1] === '\n') i += 2;
    else if (c === '\n') i += 1;
    else throw new Error(`unexpected ${JSON.stringify(c)} after a field at ${i}`);
    records.push(record);
    record = [];
    if (i >= n) return records;
  }
}

/** The records as objects keyed by the header, NULL for an empty unquoted field. */
export function csvObjects(input: string): Record<string, string | null>[] {
  const [header, ...rows] = parseCsv(input);
  if (!header) return [];
  return rows.map((row) => {
    if (row.length !== header.length) throw new Error(`row has ${row.length} fields, header ${header.length}`);
    return Object.fromEntries(header.map((h, i) => [h.text, row[i]!.text === '' && !row[i]!.quoted ? null : row[i]!.text]));
  });
}
