import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDist, repoRoot } from './paths.js';

export interface ChildResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** From spawn to exit, as a user (or CI) waits for it. */
  readonly wallMs: number;
  /** Peak resident set size (VmHWM) of the process, in MB. */
  readonly peakRssMb: number | undefined;
  /** Peak V8 heap (heapTotal, sampled every 100 ms), in MB: the JavaScript part of the RSS. */
  readonly peakHeapMb: number | undefined;
}

let counter = 0;

/**
 * Runs `node <args>` with the RSS preload, in `cwd` with `env` (plus PATH and HOME), and
 * measures its wall time and peak RSS. The preload reads VmHWM at exit; the parent also polls
 * /proc/<pid>/status as a fallback.
 */
export async function runNode(
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly timeoutMs?: number },
): Promise<ChildResult> {
  const rssFile = join(options.cwd, `.bench-rss-${process.pid}-${++counter}`);
  const preload = pathToFileURL(join(benchDist, 'rss-preload.js')).href;
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', preload, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: options.cwd, ...options.env, BENCH_RSS_FILE: rssFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  let polledKb = 0;
  const poll = setInterval(() => {
    try {
      const match = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (match) polledKb = Math.max(polledKb, Number(match[1]));
    } catch {
      // Exited between polls.
    }
  }, 250);
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
  const [code, wallMs] = await new Promise<[number, number]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, signal) => resolve([c ?? (signal ? 128 : -1), performance.now() - started]));
  });
  clearInterval(poll);
  if (timer) clearTimeout(timer);
  // 'exit' can come before the pipes drain.
  await new Promise<void>((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.once('end', () => resolve())));
  let exitKb: number | undefined;
  let heapKb: number | undefined;
  try {
    const [rss, heap] = (await readFile(rssFile, 'utf8')).trim().split(' ').map(Number);
    exitKb = rss || undefined;
    heapKb = heap || undefined;
  } catch {
    exitKb = undefined;
  }
  await rm(rssFile, { force: true });
  const kb = Math.max(exitKb ?? 0, polledKb);
  return { code, stdout, stderr, wallMs, peakRssMb: kb > 0 ? kb / 1024 : undefined, peakHeapMb: heapKb !== undefined ? heapKb / 1024 : undefined };
}

/** `node bin/activate.js <args>` in a benchmark project directory. */
export function runActivate(
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly timeoutMs?: number },
): Promise<ChildResult> {
  return runNode([join(repoRoot, 'bin', 'activate.js'), ...args], options);
}
