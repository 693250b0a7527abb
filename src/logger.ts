import type { Redactor } from './secrets.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly format?: 'text' | 'json';
  readonly redactor?: Redactor;
  readonly write?: (line: string) => void;
}

/** Logs to stderr (stdout carries results), one line per event, secrets redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const redact = (text: string) => (options.redactor ? options.redactor.redact(text) : text);
  const emit = (level: LogLevel, message: string, data?: Record<string, unknown>) => {
    if (LEVELS[level] < threshold) return;
    const ts = new Date().toISOString();
    if (options.format === 'json') {
      write(redact(JSON.stringify({ ts, level, msg: message, ...data })));
    } else {
      const time = ts.slice(11, 19);
      const tag = level === 'info' ? '' : `[${level.toUpperCase()}] `;
      write(redact(`${time}  ${tag}${message}`));
    }
  };
  return {
    debug: (m, d) => emit('debug', m, d),
    info: (m, d) => emit('info', m, d),
    warn: (m, d) => emit('warn', m, d),
    error: (m, d) => emit('error', m, d),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
