const MASK = '****';
/** Values shorter than this are not treated as secrets: masking "1" everywhere helps nobody. */
const MIN_SECRET_LENGTH = 4;

/**
 * Knows every secret value the run has seen (env vars rendered into config, secret config
 * keys) and masks them, in plain, URL-encoded and base64 forms, wherever text leaves the
 * process: logs, error messages, state tables, JSON output.
 */
export class Redactor {
  readonly #forms = new Set<string>();

  add(secret: unknown): void {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) return;
    for (const form of [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]) {
      if (form.length >= MIN_SECRET_LENGTH) this.#forms.add(form);
    }
  }

  redact(text: string): string {
    let out = text;
    // Longest first, so a secret containing another secret is masked whole.
    for (const form of [...this.#forms].sort((a, b) => b.length - a.length)) {
      if (out.includes(form)) out = out.split(form).join(MASK);
    }
    return out;
  }

  get size(): number {
    return this.#forms.size;
  }
}
