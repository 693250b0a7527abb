import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import type { Colors } from 'picocolors/types.js';
import type { SyncReport } from '../run/run-project.js';
import type { PerKind, RunCounts } from '../state/state-store.js';
import { label } from './report.js';

/** Where the live display draws: stderr (stdout carries results). */
export interface TerminalStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

/**
 * Progress of the syncs being delivered, and the channel every stderr line goes through while
 * it is shown (so log lines never garble the live display).
 */
export interface Progress {
  /** A line for stderr (a log line). */
  line(text: string): void;
  /** A sync starts sending its plan. */
  start(syncId: string, planned: PerKind): void;
  /** Counts so far, after each batch the destination answered. */
  update(syncId: string, counts: RunCounts): void;
  /** A sync is done (whatever its status). */
  finish(report: SyncReport): void;
  /** Clears the live display and restores the cursor. */
  close(): void;
}

export interface ProgressFigures {
  readonly planned: number;
  /** Records the destination answered for (accepted, rejected or skipped). */
  readonly done: number;
  readonly rejected: number;
  /** Records per second since the sync started sending; undefined before the first second of data. */
  readonly rate: number | undefined;
  /** Seconds left at that rate; undefined while unknown. */
  readonly etaSeconds: number | undefined;
  readonly elapsedSeconds: number;
}

interface Running {
  readonly planned: number;
  readonly startedAt: number;
  done: number;
  rejected: number;
}

const sum = (c: PerKind) => c.added + c.changed + c.removed;

function figures(r: Running, now: number): ProgressFigures {
  const elapsedSeconds = Math.max(0, (now - r.startedAt) / 1000);
  const rate = elapsedSeconds > 0 && r.done > 0 ? r.done / elapsedSeconds : undefined;
  const left = Math.max(0, r.planned - r.done);
  const etaSeconds = left === 0 ? 0 : rate ? left / rate : undefined;
  return { planned: r.planned, done: r.done, rejected: r.rejected, rate, etaSeconds, elapsedSeconds };
}

const numberFormat = new Intl.NumberFormat('en-US');
export const formatCount = (n: number) => numberFormat.format(n);

/** 9s, 4m05s, 2h03m. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatRate(rate: number | undefined): string {
  if (rate === undefined) return '-/s';
  return rate >= 100 ? `${formatCount(Math.round(rate))}/s` : `${rate.toFixed(1)}/s`;
}

/** "400/1,520 (26%), 120/s, ETA 9s, 2 rejected" */
export function progressText(f: ProgressFigures): string {
  const percent = f.planned > 0 ? Math.floor((f.done / f.planned) * 100) : 100;
  const eta = f.etaSeconds === undefined ? 'ETA -' : `ETA ${formatDuration(f.etaSeconds)}`;
  return `${formatCount(f.done)}/${formatCount(f.planned)} (${percent}%), ${formatRate(f.rate)}, ${eta}, ${formatCount(f.rejected)} rejected`;
}

export interface LiveProgressOptions {
  readonly now?: () => number;
  readonly colors?: Colors;
  /** Redraws while syncs run, so rate and ETA stay current without new batches; 0 turns it off (tests). */
  readonly tickMs?: number;
  /** Hide the cursor while drawing (the real terminal only). */
  readonly hideCursor?: boolean;
  /** New counts redraw at most this often (default 100 ms); the ticks draw the rest. */
  readonly minIntervalMs?: number;
}

const BAR_WIDTH = 24;

/**
 * On a terminal: one live line per running sync (bar, records sent / planned, rate, ETA,
 * rejections), redrawn in place by log-update; log lines and each finished sync are printed
 * above it and stay in the scrollback.
 */
export class LiveProgress implements Progress {
  readonly #update: ReturnType<typeof createLogUpdate>;
  readonly #running = new Map<string, Running>();
  readonly #now: () => number;
  readonly #c: Colors;
  readonly #tickMs: number;
  readonly #minIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastRender = -Infinity;

  constructor(stream: TerminalStream, options: LiveProgressOptions = {}) {
    // A pseudo-terminal without a size (0 x 0, e.g. under `script` in CI) still gets a display.
    const sized = {
      write: (text: string) => stream.write(text),
      isTTY: stream.isTTY,
      get columns() {
        return stream.columns || 80;
      },
      get rows() {
        return stream.rows || 24;
      },
    };
    this.#update = createLogUpdate(sized as unknown as NodeJS.WriteStream, { showCursor: !(options.hideCursor ?? false) });
    this.#now = options.now ?? Date.now;
    this.#c = options.colors ?? pc.createColors(false);
    this.#tickMs = options.tickMs ?? 250;
    this.#minIntervalMs = options.minIntervalMs ?? 100;
  }

  line(text: string): void {
    if (this.#closed) return;
    this.#update.persist(text);
    this.render();
  }

  start(syncId: string, planned: PerKind): void {
    this.#running.set(syncId, { planned: sum(planned), startedAt: this.#now(), done: 0, rejected: 0 });
    if (this.#tickMs > 0 && !this.#timer) {
      this.#timer = setInterval(() => this.render(), this.#tickMs);
      this.#timer.unref();
    }
    this.render();
  }

  update(syncId: string, counts: RunCounts): void {
    const r = this.#running.get(syncId);
    if (!r) return;
    r.done = sum(counts.succeeded) + sum(counts.failed) + counts.skipped;
    r.rejected = sum(counts.failed);
    if (this.#now() - this.#lastRender >= this.#minIntervalMs) this.render();
  }

  finish(report: SyncReport): void {
    const r = this.#running.get(report.id);
    if (!r) return;
    this.#running.delete(report.id);
    const c = this.#c;
    const status = label(report);
    const paint = report.status === 'success' || report.status === 'nothing' ? c.green : report.status === 'partial' ? c.yellow : c.red;
    this.#update.persist(
      `${paint(status)} ${report.id}: ${formatCount(report.delivered)} delivered, ${formatCount(report.rejected)} rejected in ${formatDuration(report.seconds)}`,
    );
    if (this.#running.size === 0) this.#stopTimer();
    this.render();
  }

  /** Draws the live lines now (also the tests' hook: no timers needed). */
  render(): void {
    if (this.#closed) return;
    if (this.#running.size === 0) {
      this.#update.clear();
      return;
    }
    const now = this.#now();
    this.#lastRender = now;
    const width = Math.max(...[...this.#running.keys()].map((id) => id.length));
    const lines = [...this.#running].map(([id, r]) => this.#lineOf(id.padEnd(width), figures(r, now)));
    this.#update(lines.join('\n'));
  }

  #lineOf(id: string, f: ProgressFigures): string {
    const c = this.#c;
    const share = f.planned > 0 ? Math.min(1, f.done / f.planned) : 1;
    const filled = Math.round(share * BAR_WIDTH);
    const bar = c.cyan('█'.repeat(filled)) + c.dim('░'.repeat(BAR_WIDTH - filled));
    const percent = `${Math.floor(share * 100)}%`.padStart(4);
    const eta = f.etaSeconds === undefined ? 'ETA -' : `ETA ${formatDuration(f.etaSeconds)}`;
    const rejected = f.rejected > 0 ? c.yellow(`${formatCount(f.rejected)} rejected`) : c.dim('0 rejected');
    return `${c.bold(id)}  ${bar} ${percent}  ${formatCount(f.done)}/${formatCount(f.planned)}  ${formatRate(f.rate)}  ${eta}  ${rejected}`;
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#stopTimer();
    this.#update.clear();
    this.#update.done();
    this.#closed = true;
  }
}

export interface PlainProgressOptions {
  readonly now?: () => number;
  /** At most one line per sync this often (default 5 s). */
  readonly intervalMs?: number;
}

/**
 * Off a terminal (CI logs, files), or with --quiet, NO_COLOR or --log-format json: a plain
 * progress line per long sync at most every few seconds, written as a log line (so
 * `--log-format json` makes it a JSON object with the numbers as fields).
 */
export class PlainProgress implements Progress {
  readonly #running = new Map<string, Running & { lastLine: number; printed: boolean }>();
  readonly #now: () => number;
  readonly #intervalMs: number;

  constructor(
    private readonly write: (text: string) => void,
    private readonly log: (message: string, data: Record<string, unknown>) => void,
    options: PlainProgressOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#intervalMs = options.intervalMs ?? 5000;
  }

  line(text: string): void {
    this.write(text);
  }

  start(syncId: string, planned: PerKind): void {
    const now = this.#now();
    this.#running.set(syncId, { planned: sum(planned), startedAt: now, done: 0, rejected: 0, lastLine: now, printed: false });
  }

  update(syncId: string, counts: RunCounts): void {
    const r = this.#running.get(syncId);
    if (!r) return;
    r.done = sum(counts.succeeded) + sum(counts.failed) + counts.skipped;
    r.rejected = sum(counts.failed);
    const now = this.#now();
    if (now - r.lastLine < this.#intervalMs) return;
    r.lastLine = now;
    r.printed = true;
    const f = figures(r, now);
    this.log(`${syncId}: ${progressText(f)}`, {
      event: 'progress',
      sync: syncId,
      done: f.done,
      planned: f.planned,
      rejected: f.rejected,
      rate: f.rate === undefined ? null : Math.round(f.rate * 10) / 10,
      eta_seconds: f.etaSeconds === undefined ? null : Math.round(f.etaSeconds),
    });
  }

  finish(report: SyncReport): void {
    const r = this.#running.get(report.id);
    this.#running.delete(report.id);
    // Only syncs that printed progress get a closing line; the summary table covers the rest.
    if (!r?.printed) return;
    this.log(`${report.id}: ${label(report)}: ${formatCount(report.delivered)} delivered, ${formatCount(report.rejected)} rejected in ${formatDuration(report.seconds)}`, {
      event: 'sync_done',
      sync: report.id,
      status: report.status,
      delivered: report.delivered,
      rejected: report.rejected,
      seconds: report.seconds,
    });
  }

  close(): void {}
}
