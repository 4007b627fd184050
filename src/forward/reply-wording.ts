// An upstream's replies and refusals in E-MailRelay's words (gsmtpclientreply.cpp,
// gsmtpclientprotocol.cpp), as they go into Reason lines, the log and proxy-mode replies.

export interface RefusedRecipient {
  address: string;
  response: string;
}

/**
 * The Reason for a message whose recipients the upstream refused: "one or more recipients rejected"
 * when every recipient had to be accepted (forward-to-all, the default) or some were; "all recipients
 * rejected" when, with --forward-to-some, none was. Each refusal follows, so the Reason says who and why.
 */
export function recipientsRejectedReason(allOrNothing: boolean, anyAccepted: boolean, rejected: RefusedRecipient[]): string {
  const howMany = allOrNothing || anyAccepted ? 'one or more' : 'all';
  return `${howMany} recipients rejected: ${rejected.map((r) => `<${r.address}> ${r.response}`).join('; ')}`;
}

/**
 * A reply as E-MailRelay words it (gsmtpclientreply.cpp): a multi-line reply's code once, then each
 * line's text joined by spaces ("499-failed", "499 for testing" is "499 failed for testing").
 */
export function replyText(response: string): string {
  const lines = response.split(/\r?\n/).filter((l) => l.trim());
  const code = /^\d{3}(?=[- ]|$)/.exec(lines[0] ?? '')?.[0];
  const text = code && lines.length > 1 ? `${code} ${lines.map((l) => l.slice(4)).join(' ')}` : response;
  return text.replace(/\s+/g, ' ').trim();
}
