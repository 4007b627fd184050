// The relay's messages, reworded for a person who edits the card's files on a PC and has no
// command line: "relaybox.conf:12:" becomes "relaybox.conf, line 12:", "--poll" becomes the
// line "poll", an unknown option gets the nearest known name, and nothing says "run relaybox ...".
import { OPTIONS_BY_NAME } from '../options/table';

/** "file:12: msg" and "file(12): msg" (the secrets file's form) -> "file, line 12: msg". */
function plainPlace(text: string): string {
  return text.replace(/^(?:[^\s:(]*\/)?([\w.-]+):(\d+): /, '$1, line $2: ').replace(/^(?:[^\s:(]*\/)?([\w.-]+)\((\d+)\): /, '$1, line $2: ');
}

/** Option names as the card's relaybox.conf spells them (no dashes). */
function plainOptionNames(text: string): string {
  return text
    .replace(/turn on --([a-z0-9-]+)/g, 'add the line "$1" to relaybox.conf')
    .replace(/(^|[\s("])--([a-z][a-z0-9-]*)/g, '$1"$2"')
    .replace(/"("[a-z][a-z0-9-]*")"/g, '$1');
}

/** On the box, signing in again is done from its page, not with a command. */
function signInOnThePage(text: string): string {
  return text
    .replace(/(run )?"relaybox oauth login" again/g, "sign in again from the box's page")
    .replace(/with "relaybox oauth login"( \(scope [^)]*\))?/g, "from the box's page")
    .replace(/ \(made by "relaybox oauth login"\)/g, '');
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known option name nearest to a misspelt one, when one is near enough to be meant. */
export function nearestOption(name: string): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const [known, spec] of OPTIONS_BY_NAME) {
    if (spec.hidden) continue;
    const d = editDistance(name.toLowerCase(), known);
    if (!best || d < best.d) best = { name: known, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? best.name : undefined;
}

function unknownOption(text: string): string {
  return text.replace(/unknown option "([^"]+)" \(relaybox --help --verbose lists them all\)/, (_, name: string) => {
    const near = nearestOption(name);
    return near
      ? `"${name}" is not a setting: did you mean "${near}"? Correct the spelling`
      : `"${name}" is not a setting: check the spelling against the option table in the relaybox README, or remove the line`;
  });
}

/** One problem with relaybox.conf, relaybox.secrets or network.conf, in plain words. */
export function plainProblem(text: string): string {
  return plainOptionNames(unknownOption(plainPlace(text)))
    .replace(/ \(?relaybox --help[^)]*\)?/g, '')
    .replace(/`([^`]*)`/g, '"$1"')
    .replace(/: ENOENT: no such file or directory, open '[^']*'/g, ': there is no such file')
    .replace(/: EACCES: permission denied, open '[^']*'/g, ': the box may not read it')
    .replace(/, or remove "client-auth"$/, '');
}

/**
 * A delivery error (the reason the relay stored with the message) with advice for the card in front:
 * the relay's own advice for OAuth2 refusals is kept; a refused password gets advice here.
 */
export function deliveryAdvice(reason: string): string {
  const text = signInOnThePage(plainOptionNames(reason));
  // The relay's own advice comes first ("... [authentication failed ...]"): a bare refusal has none.
  if (/^(\d{3} )?authentication failed/i.test(reason) && /XOAUTH2|OAUTHBEARER/.test(reason)) {
    return `the provider refused the token of the OAuth2 line in relaybox.secrets: check the permissions its template in README.txt names [${text}]`;
  }
  if (/^(\d{3} )?authentication failed/i.test(reason)) {
    return (
      'the provider refused the user or password from relaybox.secrets: write the "client plain" line again on the card with the right ones ' +
      '(Gmail and Google Workspace: an app password, which needs 2-Step Verification; Microsoft 365: SMTP AUTH must be on for the mailbox, ' +
      `and from the end of 2026 passwords are off by default: use an OAuth2 template from README.txt) [${text}]`
    );
  }
  if (/certificate|self[- ]signed|unable to verify/i.test(reason)) {
    return `the provider's certificate was not accepted: check that "forward-to" in relaybox.conf names the server as the provider's help pages give it (like smtp.office365.com), not an IP address [${text}]`;
  }
  return text;
}
