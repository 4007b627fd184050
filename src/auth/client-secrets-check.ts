// Does a --client-auth secrets file give relaybox an account to sign in with? Checked at start-up
// (a file that cannot work stops the relay with the file, the line and what to write instead) and
// on each re-read (a version that lost the accounts in use is refused and the previous one kept).
// Without these checks a typo such as "client plian ..." or a raw "+" in a password leaves no usable
// client line, relaybox forwards without AUTH, and every message fails at the provider.
import { formatProblem, readSecretsFile, XTEXT_HINT, type ParsedSecrets, type Secrets } from './secrets';

export interface ClientSecretsContext {
  /** Can anything set an envelope's ClientAccountSelector (a --filter or --client-filter)? */
  readonly selectorsPossible: boolean;
  /**
   * Is a file with no client line at all an error? The card's relaybox.secrets: yes (the login was
   * forgotten). A --client-auth file elsewhere: no, E-MailRelay forwards without AUTH (a warning).
   */
  readonly requireClientLine?: boolean;
}

/** Errors on client lines, and on lines whose first field is neither client nor server (a misspelt "client"). */
function clientLineErrors(parsed: ParsedSecrets): string[] {
  return parsed.problems.filter((p) => p.level === 'error' && !p.fatal && p.side !== 'server').map(formatProblem);
}

/** A file with no client line at all, and no broken one: E-MailRelay forwards without authenticating. */
export function clientSecretsWarnings(file: string, parsed: ParsedSecrets): string[] {
  if (parsed.problems.some((p) => p.fatal) || clientLineErrors(parsed).length || parsed.secrets.client.size) return [];
  return [
    `${file}: there is no "client" line, so relaybox forwards without authenticating, as E-MailRelay does. ` +
      `To sign in, add one such as "client plain <user> <password>" (${XTEXT_HINT})`,
  ];
}

function noClientLine(file: string): string {
  return (
    `${file}: there is no usable "client" line, so relaybox would forward without authenticating: ` +
    `add one such as "client plain <user> <password>" (${XTEXT_HINT}), or remove --client-auth`
  );
}

/** The first client line with a fifth field (an account selector), by line number. */
function firstSelectorLine(secrets: Secrets): number | undefined {
  const lines = [...secrets.client.values()].filter((a) => a.selector !== '').map((a) => a.line);
  return lines.length ? Math.min(...lines) : undefined;
}

/**
 * Problems that make the parsed file unusable for --client-auth, each naming the file and line.
 * The fifth field is never quoted: it may be the second half of a password.
 */
export function clientSecretsProblems(file: string, parsed: ParsedSecrets, ctx: ClientSecretsContext): string[] {
  const fatal = parsed.problems.find((p) => p.fatal);
  if (fatal) return [`${formatProblem(fatal)} (the file named by --client-auth)`];
  const errors = clientLineErrors(parsed);
  if (errors.length) return errors;
  const { client } = parsed.secrets;
  if (client.size === 0) return ctx.requireClientLine ? [noClientLine(file)] : [];
  // Only a password line can have been split by a space; token lines and "client plain:b = = <selector>"
  // lines with a selector are deliberate (a spool filled elsewhere may carry selectors).
  const splitPassword = [...client.values()].find((a) => a.selector !== '' && a.secrets.plain);
  if (!client.has('') && !ctx.selectorsPossible && splitPassword) {
    const line = splitPassword.secrets.plain!.line;
    return [
      `${file}(${line}): the fifth field is an account selector, and nothing sets one (there is no --filter or --client-filter), ` +
        'so relaybox uses the default account, which needs a client line without a fifth field, and there is none. ' +
        'If the fifth field is part of the password, write the space as +20 (a "+" as +2B); ' +
        'otherwise add a client line without a fifth field',
    ];
  }
  return [];
}

/** Start-up: read and check the file named by --client-auth: what stops the relay, and what is only worth a warning. */
export function checkClientSecretsFile(file: string, ctx: ClientSecretsContext): { problems: string[]; warnings: string[] } {
  const parsed = readSecretsFile(file);
  const problems = clientSecretsProblems(file, parsed, ctx);
  return { problems, warnings: problems.length ? [] : clientSecretsWarnings(file, parsed) };
}

/**
 * For watchSecrets: a re-read version of the file is refused when a client line has an error, or
 * when the default account in use (a line without a fifth field) would be gone. The previous secrets
 * stay in use until the file is fixed.
 */
export function refuseClientReread(file: string): (next: ParsedSecrets, previous: Secrets) => string[] {
  return (next, previous) => {
    const errors = clientLineErrors(next);
    if (errors.length) return errors;
    // A file that never had a client line may stay without one; one whose accounts are in use may not lose them all.
    if (next.secrets.client.size === 0 && previous.client.size > 0) return [noClientLine(file)];
    if (previous.client.has('') && !next.secrets.client.has('')) {
      const line = firstSelectorLine(next.secrets);
      return [
        `${file}${line ? `(${line})` : ''}: the new version has no client line without a fifth field, so the default account would be gone` +
          `${line ? '. If the fifth field is part of the password, write the space as +20 (a "+" as +2B)' : ''}`,
      ];
    }
    return [];
  };
}
