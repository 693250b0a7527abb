import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatDuration, LiveProgress, PlainProgress, progressText } from '../../src/cli/progress.js';
import type { SyncReport } from '../../src/run/run-project.js';
import { emptyRunCounts, type RunCounts } from '../../src/state/state-store.js';
import { colorsEnabled, liveProgressWanted } from '../../src/cli/terminal.js';

/** A terminal for log-update: records every write; `screen()` replays them onto a grid. */
function fakeTerminal(columns = 120, rows = 30) {
  const writes: string[] = [];
  return {
    isTTY: true,
    columns,
    rows,
    writes,
    write(text: string) {
      writes.push(text);
      return true;
    },
    /** What a terminal would show: cursor movement and erasing applied (enough for log-update's codes). */
    screen(): string[] {
      const lines: string[] = [''];
      let row = 0;
      const text = writes.join('').replace(/\x1b\[\?(25|2026)[hl]/g, '');
      for (let i = 0; i < text.length; ) {
        const esc = /^\x1b\[(\d*)([A-Za-z])/.exec(text.slice(i));
        if (esc) {
          const n = Number(esc[1] || 1);
          if (esc[2] === 'A') row = Math.max(0, row - n);
          else if (esc[2] === 'B') row += n;
          else if (esc[2] === 'K') lines[row] = '';
          // 'G' (column 1) and colours need nothing here.
          i += esc[0].length;
          continue;
        }
        const ch = text[i]!;
        if (ch === '\n') {
          row++;
          lines[row] ??= '';
        } else if (ch !== '\r') {
          lines[row] = (lines[row] ?? '') + ch;
        }
        i++;
      }
      while (lines.length > 0 && lines.at(-1) === '') lines.pop();
      return lines.map((l) => stripVTControlCharacters(l));
    },
  };
}

function counts(planned: number, succeeded: number, failed = 0): RunCounts {
  const c = emptyRunCounts({ added: planned, changed: 0, removed: 0 });
  c.succeeded.added = succeeded;
  c.failed.added = failed;
  c.attempted.added = succeeded + failed;
  return c;
}

function report(id: string, status: SyncReport['status'], delivered: number, rejected: number, seconds: number): SyncReport {
  return {
    id,
    model: 'm',
    destination: 'd',
    mode: 'upsert',
    runId: 'r',
    status,
    counts: { added: delivered + rejected, changed: 0, removed: 0, modelRows: 0, syncedRecords: 0 },
    run: undefined,
    delivered,
    rejected,
    skipped: 0,
    seconds,
    message: undefined,
    violations: [],
    samples: [],
    rejectionSamples: [],
  };
}

describe('live progress on a terminal (log-update, driven through a fake TTY and clock)', () => {
  it('draws one line per running sync with sent/planned, rate, ETA and rejections, redrawn in place', () => {
    const term = fakeTerminal();
    let now = 0;
    const progress = new LiveProgress(term, { now: () => now, tickMs: 0 });
    progress.start('crm_contacts', { added: 1000, changed: 0, removed: 0 });
    expect(term.screen()).toEqual([expect.stringMatching(/^crm_contacts {2}░{24} {3}0% {2}0\/1,000 {2}-\/s {2}ETA - {2}0 rejected$/)]);

    now = 4000;
    progress.update('crm_contacts', counts(1000, 398, 2));
    expect(term.screen()).toEqual([expect.stringMatching(/^crm_contacts {2}█{10}░{14} {2}40% {2}400\/1,000 {2}100\/s {2}ETA 6s {2}2 rejected$/)]);

    // A second sync gets its own line; names are aligned.
    progress.start('win_back', { added: 0, changed: 50, removed: 10 });
    now = 5000;
    progress.update('crm_contacts', counts(1000, 500));
    const screen = term.screen();
    expect(screen).toHaveLength(2);
    expect(screen[0]).toMatch(/^crm_contacts {2}█{12}░{12} {2}50% {2}500\/1,000 {2}100\/s {2}ETA 5s/);
    expect(screen[1]).toMatch(/^win_back {6}░{24} {3}0% {2}0\/60 /);
  });

  it('keeps log lines and finished syncs above the live lines, and clears them at the end', () => {
    const term = fakeTerminal();
    let now = 0;
    const progress = new LiveProgress(term, { now: () => now, tickMs: 0 });
    progress.line('07:00:00  Planning crm_contacts');
    progress.start('crm_contacts', { added: 10, changed: 0, removed: 0 });
    progress.start('win_back', { added: 5, changed: 0, removed: 0 });
    progress.line('07:00:01  [WARN] something to know');
    expect(term.screen()).toEqual([
      '07:00:00  Planning crm_contacts',
      '07:00:01  [WARN] something to know',
      expect.stringMatching(/^crm_contacts .* 0\/10 /),
      expect.stringMatching(/^win_back .* 0\/5 /),
    ]);
    now = 2500;
    progress.update('crm_contacts', counts(10, 10));
    progress.finish(report('crm_contacts', 'success', 10, 0, 2.5));
    expect(term.screen()).toEqual([
      '07:00:00  Planning crm_contacts',
      '07:00:01  [WARN] something to know',
      'OK crm_contacts: 10 delivered, 0 rejected in 3s',
      expect.stringMatching(/^win_back .* 0\/5 /),
    ]);
    progress.finish(report('win_back', 'partial', 4, 1, 1));
    progress.close();
    expect(term.screen()).toEqual([
      '07:00:00  Planning crm_contacts',
      '07:00:01  [WARN] something to know',
      'OK crm_contacts: 10 delivered, 0 rejected in 3s',
      'WARN (rejections) win_back: 4 delivered, 1 rejected in 1s',
    ]);
    // Nothing is drawn after close.
    progress.line('late');
    expect(term.screen().at(-1)).toBe('WARN (rejections) win_back: 4 delivered, 1 rejected in 1s');
  });

  it('redraws new counts at most every 100 ms (the ticks catch up)', () => {
    const term = fakeTerminal();
    let now = 0;
    const progress = new LiveProgress(term, { now: () => now, tickMs: 0 });
    progress.start('s', { added: 100, changed: 0, removed: 0 });
    const frames = term.writes.length;
    now = 50;
    progress.update('s', counts(100, 10));
    expect(term.writes.length).toBe(frames);
    now = 150;
    progress.update('s', counts(100, 20));
    expect(term.writes.length).toBe(frames + 1);
    expect(term.screen()[0]).toMatch(/ 20\/100 /);
  });

  it('draws on a terminal that reports no size (a pseudo-terminal in CI)', () => {
    const term = { ...fakeTerminal(), columns: 0, rows: 0 };
    const writes: string[] = [];
    term.write = (t: string) => (writes.push(t), true);
    const progress = new LiveProgress(term, { tickMs: 0 });
    progress.start('s', { added: 3, changed: 0, removed: 0 });
    expect(writes.join('')).toContain('0/3');
  });
});

describe('plain progress (no terminal, --quiet, NO_COLOR, --log-format json)', () => {
  it('logs one line per sync at most every interval, with the numbers as data, and a closing line', () => {
    const lines: { message: string; data: Record<string, unknown> }[] = [];
    let now = 0;
    const progress = new PlainProgress(() => undefined, (message, data) => lines.push({ message, data }), { now: () => now, intervalMs: 5000 });
    progress.start('crm_contacts', { added: 1000, changed: 0, removed: 0 });
    for (let t = 1000; t <= 12_000; t += 1000) {
      now = t;
      progress.update('crm_contacts', counts(1000, t / 20));
    }
    expect(lines.map((l) => l.message)).toEqual([
      'crm_contacts: 250/1,000 (25%), 50.0/s, ETA 15s, 0 rejected',
      'crm_contacts: 500/1,000 (50%), 50.0/s, ETA 10s, 0 rejected',
    ]);
    expect(lines[0]!.data).toEqual({ event: 'progress', sync: 'crm_contacts', done: 250, planned: 1000, rejected: 0, rate: 50, eta_seconds: 15 });
    progress.finish(report('crm_contacts', 'success', 1000, 0, 20));
    expect(lines.at(-1)!.message).toBe('crm_contacts: OK: 1,000 delivered, 0 rejected in 20s');
  });

  it('prints nothing for a sync shorter than the interval', () => {
    const lines: string[] = [];
    let now = 0;
    const progress = new PlainProgress(() => undefined, (m) => lines.push(m), { now: () => now });
    progress.start('quick', { added: 10, changed: 0, removed: 0 });
    now = 900;
    progress.update('quick', counts(10, 10));
    progress.finish(report('quick', 'success', 10, 0, 0.9));
    expect(lines).toEqual([]);
  });
});

describe('when progress is live and output is coloured', () => {
  it('live only on a terminal, and not with --quiet, NO_COLOR, TERM=dumb or --log-format json', () => {
    expect(liveProgressWanted({}, true, {})).toBe(true);
    expect(liveProgressWanted({}, false, {})).toBe(false);
    expect(liveProgressWanted({}, undefined, {})).toBe(false);
    expect(liveProgressWanted({}, true, { quiet: true })).toBe(false);
    expect(liveProgressWanted({ NO_COLOR: '1' }, true, {})).toBe(false);
    expect(liveProgressWanted({ TERM: 'dumb' }, true, {})).toBe(false);
    expect(liveProgressWanted({}, true, { logFormat: 'json' })).toBe(false);
  });

  it('colour follows NO_COLOR, FORCE_COLOR and the terminal', () => {
    expect(colorsEnabled({}, true)).toBe(true);
    expect(colorsEnabled({}, false)).toBe(false);
    expect(colorsEnabled({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colorsEnabled({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(colorsEnabled({ FORCE_COLOR: '0' }, true)).toBe(false);
  });

  it('formats durations and progress text', () => {
    expect(formatDuration(9.4)).toBe('9s');
    expect(formatDuration(245)).toBe('4m05s');
    expect(formatDuration(7380)).toBe('2h03m');
    expect(progressText({ planned: 0, done: 0, rejected: 0, rate: undefined, etaSeconds: 0, elapsedSeconds: 0 })).toBe('0/0 (100%), -/s, ETA 0s, 0 rejected');
  });
});
