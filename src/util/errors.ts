/**
 * An error a user can act on: it names the file, the field and the fix.
 * The CLI prints `message` and `hint` without a stack trace and exits with `exitCode`.
 */
export class RatchetError extends Error {
  /** File the problem is in, when there is one (project-relative or absolute). */
  readonly file: string | undefined;
  /** Field (dotted path) the problem is in, when there is one. */
  readonly field: string | undefined;
  /** What to do about it. */
  readonly hint: string | undefined;
  /** Process exit code the CLI uses (2 = bad input, 3 = integrity violation, 1 = other). */
  readonly exitCode: number;

  constructor(
    message: string,
    opts: { file?: string; field?: string; hint?: string; exitCode?: number } = {},
  ) {
    super(message);
    this.name = 'RatchetError';
    this.file = opts.file;
    this.field = opts.field;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 2;
  }

  /** One-paragraph rendering for the terminal: `file: field: message\n  hint: ...`. */
  render(): string {
    // A message that already starts with its field ("--runs must be ...") is not prefixed with it again.
    const field = this.field && !this.message.startsWith(this.field) ? this.field : undefined;
    const where = [this.file, field].filter(Boolean).join(': ');
    return `${where ? `${where}: ` : ''}${this.message}${this.hint ? `\n  fix: ${this.hint}` : ''}`;
  }
}
