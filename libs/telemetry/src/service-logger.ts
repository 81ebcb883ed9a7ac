/**
 * The logger a service's `main.ts` makes: JSON lines with the service name and trace ids, and
 * every secret of the pipeline file scrubbed wherever it appears (a field, a message, an error
 * text quoting a connection string).
 */
import { createJsonLogger, isSecretKey, type Logger, type LogLevel } from '@cdc/core';
import { withTraceIds } from './trace-logger.ts';

const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:([^@/?#\s]+)@/gi;

/**
 * The literal secret values in a config: values under secret-looking keys (passwords, tokens,
 * keys), passwords inside URLs, and every value under a key named `headers` of an `otlp` section
 * (collector API keys).
 */
export function secretValues(config: unknown): string[] {
  const found = new Set<string>();
  const walk = (v: unknown, secret: boolean, path: string[]): void => {
    if (typeof v === 'string') {
      if (secret) found.add(v);
      for (const m of v.matchAll(URL_PASSWORD)) if (m[1] !== undefined) found.add(decode(m[1]));
      return;
    }
    if (typeof v === 'number' && secret) {
      found.add(String(v));
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, secret, path);
      return;
    }
    for (const [k, x] of Object.entries(v)) {
      const otlpHeaders = k === 'headers' && path.at(-1) === 'otlp';
      walk(x, secret || otlpHeaders || isSecretKey(k), [...path, k]);
    }
  };
  walk(config, false, []);
  // The JSON logger scrubs values of 4 characters or more from free text (shorter ones would shred
  // every line); fields under secret keys are redacted whatever their length.
  return [...found].filter((s) => s.length > 0);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface ServiceLoggerOptions {
  /** The service's name, on every line as `service`. */
  service: string;
  /** The loaded pipeline (or any config): its secrets never reach a line. */
  config?: unknown;
  level?: LogLevel;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
  now?: () => number;
}

export function createServiceLogger(options: ServiceLoggerOptions): Logger {
  const base = createJsonLogger(
    {
      level: options.level ?? 'info',
      secrets: secretValues(options.config),
      ...(options.write ? { write: options.write } : {}),
      ...(options.now ? { now: options.now } : {}),
    },
    { service: options.service },
  );
  return withTraceIds(base);
}
