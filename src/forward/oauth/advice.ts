// Plain-language reasons for the upstream refusals that a human has to fix (Microsoft 365 and
// Google's SMTP replies). The reply itself stays in the reason, after the advice.

export interface AdviceContext {
  /** The grant line type, when relaybox got the token itself. */
  grant?: string;
  mailbox?: string;
}

const RULES: { match: RegExp; when?: (c: AdviceContext) => boolean; advice: (c: AdviceContext) => string }[] = [
  {
    // Microsoft answers 535 5.7.139 with two texts: "basic authentication is disabled" (passwords
    // are off, OAuth2 still works) and "SmtpClientAuthentication is disabled" (SMTP AUTH is off).
    match: /5\.7\.30\b|Basic authentication is not supported|basic authentication is disabled/i,
    advice: () =>
      'the server no longer accepts passwords (basic authentication): replace the "client plain" line with an OAuth2 line (oauth-ms-secret, oauth-ms-cert or oauth-refresh; see the README) or forward through Microsoft Graph',
  },
  {
    match: /SmtpClientAuthentication is disabled|5\.7\.139\b/i,
    advice: (c) =>
      `SMTP AUTH is turned off for ${c.mailbox ?? 'the mailbox'} or the tenant: run Set-CASMailbox -Identity ${c.mailbox ?? '<mailbox>'} -SmtpClientAuthenticationDisabled $false in Exchange Online PowerShell, or forward through Microsoft Graph`,
  },
  {
    match: /5\.7\.60\b|SendAsDenied|does not have permissions to send as this sender/i,
    advice: (c) =>
      `the mailbox ${c.mailbox ?? 'relaybox signs in as'} may not send as this message's sender: turn on --forward-from-mailbox to rewrite the sender to ${c.mailbox ?? 'the mailbox'}, or give the mailbox Send As rights for that address (Add-RecipientPermission)`,
  },
  {
    match: /5\.7\.3\b/,
    when: (c) => c.grant === 'oauth-ms-secret' || c.grant === 'oauth-ms-cert',
    advice: (c) =>
      `Microsoft 365 refused the app's token for ${c.mailbox}: give the app the Office 365 Exchange Online permission SMTP.SendAsApp (with admin consent), run New-ServicePrincipal for it and Add-MailboxPermission -Identity ${c.mailbox} -User <service principal id> -AccessRights FullAccess, and enable SMTP AUTH for the mailbox (changes take up to 30 minutes)`,
  },
  {
    match: /5\.7\.3\b/,
    when: (c) => c.grant === 'oauth-refresh',
    advice: (c) =>
      `Microsoft 365 refused the token for ${c.mailbox}: sign in as that mailbox (the Sign in button on the box's status page for a "page:" line, otherwise "relaybox oauth login" with scope SMTP.Send), and check that SMTP AUTH is on for it`,
  },
  {
    match: /5\.7\.8\b|Username and Password not accepted/i,
    when: (c) => c.grant === 'oauth-google-sa',
    advice: (c) =>
      `Google refused the token for ${c.mailbox}: in the Admin console (Security > API controls > Domain-wide delegation) give the service account's client ID the scope https://mail.google.com/, and check that ${c.mailbox} is a user of the domain`,
  },
  {
    match: /5\.7\.57\b|not authenticated to send/i,
    advice: () => 'the upstream server wants relaybox to sign in: add a client line to the --client-auth secrets file',
  },
];

/** What to do about an upstream's refusal, or undefined when no rule knows it. */
export function adviceFor(reason: string, ctx: AdviceContext): string | undefined {
  return RULES.find((r) => r.match.test(reason) && (!r.when || r.when(ctx)))?.advice(ctx);
}

/** The reason with advice in front of it, or the reason unchanged when there is none. */
export function withAdvice(reason: string, ctx: AdviceContext): string {
  const advice = adviceFor(reason, ctx);
  return advice ? `${advice} [${reason}]` : reason;
}
