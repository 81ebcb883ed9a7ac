/**
 * Secrets never reach a log line or a printed config. A value is secret when its key names a
 * credential (password, secret, token, key material, SASL/TLS private parts) or when it is a URL
 * carrying a password (`scheme://user:pass@host`).
 */
const SECRET_KEY =
  /(pass(word|phrase)?|secret|salt|token|credential|api[-_]?key|private[-_]?key|^key$|^pem$|authorization|cookie)/i;
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/?#\s]+)(@)/gi;

export const REDACTED = '***';

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Replaces the password in every `scheme://user:password@` inside a string. */
export function redactUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, `$1${REDACTED}$3`);
}

/** A deep copy of `value` with secret fields and URL passwords replaced by `***`. */
export function redactSecrets<T>(value: T, extraSecrets: readonly string[] = []): T {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (key !== undefined && isSecretKey(key) && v !== null && v !== undefined && typeof v !== 'object')
      return REDACTED;
    if (typeof v === 'string') {
      let out = redactUrlPasswords(v);
      for (const s of extraSecrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
      return out;
    }
    if (v === null || typeof v !== 'object') return v;
    if (v instanceof Date || Buffer.isBuffer(v)) return v;
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    if (Array.isArray(v))
      return v.map((x) => walk(x, key !== undefined && isSecretKey(key) ? key : undefined));
    if (v instanceof Error) return { name: v.name, message: walk(v.message, undefined) };
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] =
        isSecretKey(k) && x !== null && x !== undefined && typeof x === 'object'
          ? redactObject(x)
          : walk(x, k);
    }
    return out;
  };
  const redactObject = (o: object): unknown =>
    Array.isArray(o) ? o.map(() => REDACTED) : Object.fromEntries(Object.keys(o).map((k) => [k, REDACTED]));
  return walk(value, undefined) as T;
}
