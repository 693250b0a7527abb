import pc from 'picocolors';
import type { Colors } from 'picocolors/types.js';

/**
 * Colour follows the usual conventions: NO_COLOR (any non-empty value) turns it off,
 * FORCE_COLOR (other than 0) turns it on, TERM=dumb and anything that is not a terminal get none.
 */
export function colorsEnabled(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTTY === true && env.TERM !== 'dumb';
}

export function colorsFor(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): Colors {
  return pc.createColors(colorsEnabled(env, isTTY));
}

/**
 * Whether progress is drawn live (redrawn in place) rather than as plain lines every few
 * seconds: only on a terminal, and not with --quiet, NO_COLOR, TERM=dumb or --log-format json.
 */
export function liveProgressWanted(
  env: NodeJS.ProcessEnv,
  stderrIsTTY: boolean | undefined,
  flags: { quiet?: boolean; logFormat?: string },
): boolean {
  return stderrIsTTY === true && !flags.quiet && !env.NO_COLOR && env.TERM !== 'dumb' && flags.logFormat !== 'json';
}
