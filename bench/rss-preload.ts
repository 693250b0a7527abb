/**
 * Loaded with `node --import` into every process the benchmark measures. At exit it writes
 * to $BENCH_RSS_FILE the process's peak resident set size (VmHWM from /proc/self/status) and
 * the peak V8 heap it saw (sampled every 100 ms), both in kB: `<VmHWM> <heap>`. The heap is
 * activate's own JavaScript memory; the rest of RSS is code, DuckDB's buffer pool and
 * native allocations. Nothing else is changed in the measured process.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_RSS_FILE;
if (out) {
  let heapPeak = 0;
  const sample = () => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapTotal);
  };
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    try {
      sample();
      const status = readFileSync('/proc/self/status', 'utf8');
      const match = /VmHWM:\s+(\d+)\s+kB/.exec(status);
      if (match) writeFileSync(out, `${match[1]!} ${Math.round(heapPeak / 1024)}`);
    } catch {
      // Not Linux: the parent's polling is the fallback.
    }
  });
}
