// What to change when a step of the test mail fails, in words for someone who edits relaybox.conf
// and relaybox.secrets on a card and has no shell. Provider texts (Microsoft's 5.7.139, 5.7.60, Google's
// 534 5.7.9) are the ones in test/fixtures/providers/*.json and /work/shared/reference/upstreams.md.
// Where a refusal already carries relaybox's advice ("advice [reply]", src/forward/oauth/advice.ts,
// token-errors.ts, graph.ts), that advice is kept.
import { adviceFor as providerAdvice } from '../forward/oauth/advice';
import type { TlsInfo } from '../forward/upstream';

export type StepName =
  | 'settings'
  | 'name resolved'
  | 'connected'
  | 'greeting'
  | 'TLS'
  | 'logged in'
  | 'token obtained'
  | 'MAIL FROM accepted'
  | 'RCPT TO accepted'
  | 'DATA accepted'
  | 'sendMail accepted';

export interface AdviceContext {
  /** The config file as the person knows it (relaybox.conf, or its path). */
  configFile: string;
  /** The --client-auth secrets file, and the line of the account used. */
  secretsFile?: string;
  secretsLine?: number;
  host?: string;
  port?: number;
  tlsMode: 'none' | 'starttls' | 'implicit';
  /** client-tls-verify-host: the certificate must name the server, not only chain to a trusted CA. */
  hostChecked?: boolean;
  mailbox?: string;
  /** The account's grant line type (oauth-ms-secret, ...), when it has one. */
  grant?: string;
  from?: string;
  to?: string;
}

export interface Failure {
  message: string;
  /** The upstream's reply, when it answered. */
  response?: string;
}

/** OpenSSL's "...:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:file:line:" as "TLS error: wrong version number". */
function readable(text: string): string {
  return text
    .replace(/[0-9A-F]{8,}:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):\S*/g, 'TLS error: $1')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * A message of the form "advice [what happened]": the advice, and the rest (on one line). A server's
 * own reply ("550 5.7.60 ... [MW2PR...]", or "DATA: 550 ...") is not advice, whatever it ends with.
 */
export function splitAdvice(message: string): { advice?: string; detail: string } {
  const m = /^(?:[A-Z][A-Z ]*: )?\d{3}[ -]/.test(message.trim()) ? null : /^(.+?) \[(.+)\]$/s.exec(message.trim());
  return m ? { advice: m[1], detail: readable(m[2]!) } : { detail: readable(message) };
}

const secretsLine = (c: AdviceContext) =>
  c.secretsFile
    ? `the client line in ${c.secretsFile}${c.secretsLine ? ` (line ${c.secretsLine})` : ''}`
    : 'the client line of the secrets file (relaybox.secrets)';
const server = (c: AdviceContext) => (c.host ? `${c.host}${c.port ? ` port ${c.port}` : ''}` : 'the server');
const portAdvice = '587 with client-tls, or 465 with client-tls-connection';

interface Rule {
  steps: StepName[];
  /** Tried only after the provider-specific advice (a catch-all for its step). */
  fallback?: boolean;
  match: RegExp;
  when?: (c: AdviceContext) => boolean;
  advice: (c: AdviceContext, text: string) => string;
}

const RULES: Rule[] = [
  {
    steps: ['name resolved'],
    match: /ENOTFOUND|ENODATA|not found/i,
    advice: (c) =>
      `The name ${c.host} does not exist. Check the spelling of forward-to in ${c.configFile} (for example smtp.office365.com or smtp.gmail.com). If it is right, the box cannot reach a DNS server: check the network cable and that the router hands out a DNS server.`,
  },
  {
    steps: ['name resolved'],
    match: /EAI_AGAIN|ETIMEOUT|ECONNREFUSED|SERVFAIL/i,
    advice: () =>
      "The box got no answer from its DNS server. Check the network cable, and that the router gives the box a DNS server (or set one in the box's network settings).",
  },
  {
    steps: ['connected'],
    match: /ECONNREFUSED|refused/i,
    advice: (c) =>
      `${server(c)} refuses connections. Check the port in forward-to in ${c.configFile}: providers take mail on ${portAdvice}; port 25 is only for relays that know your address. If the port is right, the server is down.`,
  },
  {
    steps: ['connected'],
    match: /timeout|timed out|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|unreachable/i,
    advice: (c) =>
      `No answer from ${server(c)}. A firewall or your internet provider blocks this port (many block port 25: use ${portAdvice}), or the box has no internet connection. Check the port in forward-to in ${c.configFile} and the box's network.`,
  },
  {
    steps: ['greeting'],
    match: /Greeting never received|closed unexpectedly/i,
    when: (c) => c.tlsMode !== 'implicit',
    advice: (c) =>
      `${server(c)} sent no greeting: it expects TLS from the first byte (implicit TLS, usually port 465). In ${c.configFile}, replace client-tls with client-tls-connection, or use port 587 with client-tls.`,
  },
  {
    steps: ['TLS', 'greeting'],
    match: /wrong version number|packet length too long|unknown protocol|http request|record layer failure|ERR_SSL/i,
    when: (c) => c.tlsMode === 'implicit',
    advice: (c) =>
      `${server(c)} starts in plain text and switches to TLS later with STARTTLS (usually port 587 or 25), but ${c.configFile} asks for TLS from the first byte (client-tls-connection, port 465). Replace client-tls-connection with client-tls and keep client-tls-required, or change the port to 465.`,
  },
  {
    steps: ['TLS'],
    match: /4\.7\.66|TLS 1\.0 and 1\.1 are not supported/i,
    advice: (c) => `The server wants TLS 1.2 or newer. Remove any tls-config line that limits relaybox to old TLS versions from ${c.configFile}.`,
  },
  {
    steps: ['TLS'],
    match: /self[- ]signed|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN/i,
    advice: (c) =>
      `The server's certificate is self-signed, so the box cannot tell it from an impostor. A provider's server never does this: check the name in forward-to. If it is your own server, put its certificate (or its CA's) in a file on the card and name that file in client-tls-verify in ${c.configFile} instead of <default>.`,
  },
  {
    steps: ['TLS'],
    match: /certificate has expired|CERT_HAS_EXPIRED/i,
    advice: () =>
      "The server's certificate has expired: its administrator has to renew it. Check also that the box's clock is right (the status page shows the time).",
  },
  {
    steps: ['TLS'],
    match: /not yet valid|CERT_NOT_YET_VALID/i,
    advice: () =>
      "The server's certificate is not valid yet: the box's clock is probably wrong (the status page shows the time). The box sets its clock from the internet: check that it can reach a time server.",
  },
  {
    steps: ['TLS'],
    match: /does not match certificate|altnames|ERR_TLS_CERT_ALTNAME_INVALID|certificate name/i,
    advice: (c) =>
      `The server's certificate is for another name than ${c.host ?? 'the one in forward-to'}. Write forward-to in ${c.configFile} with the name the provider documents (for example smtp.office365.com:587), not an address or an alias.`,
  },
  {
    steps: ['TLS'],
    match: /unable to (verify|get local issuer)|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/i,
    advice: (c) =>
      `The server's certificate is signed by an authority the box does not know. If the server uses your own CA, put the CA's certificate in a file on the card and name it in client-tls-verify in ${c.configFile}.`,
  },
  {
    steps: ['TLS'],
    match: /STARTTLS/i,
    advice: (c) =>
      `${server(c)} does not offer STARTTLS. If the port is 465, replace client-tls with client-tls-connection in ${c.configFile}; otherwise this server cannot encrypt, and a password must not be sent to it.`,
  },
  {
    steps: ['logged in'],
    match: /5\.7\.9\b|Application-specific password required/i,
    advice: (c) =>
      `Google wants an app password, not the account's password. Turn on 2-Step Verification for ${c.mailbox ?? 'the account'}, create an app password (Google account, Security, App passwords) and write it in ${secretsLine(c)}.`,
  },
  {
    steps: ['logged in'],
    match: /basic authentication is disabled|5\.7\.30\b|Basic authentication is not supported/i,
    advice: (c) =>
      `Microsoft no longer accepts a password for ${c.mailbox ?? 'this mailbox'} (basic authentication is off for it). Sign in with OAuth2 instead: replace ${secretsLine(c)} with an OAuth2 line (oauth-ms-secret or oauth-ms-cert for an app, oauth-refresh for a signed-in mailbox; the README's Microsoft 365 section shows each), or forward through Microsoft Graph.`,
  },
  {
    steps: ['logged in'],
    match: /Username and Password not accepted/i,
    when: (c) => !c.grant,
    advice: (c) =>
      `Google refused the user name or password in ${secretsLine(c)}. The user name is the whole address, and Gmail needs an app password (with 2-Step Verification on), not the account's password.`,
  },
  {
    steps: ['logged in'],
    match: /5\.7\.3 Authentication unsuccessful/i,
    when: (c) => !c.grant,
    advice: (c) =>
      `Microsoft refused the user name or password in ${secretsLine(c)}. Check both (the user name is the whole address). If they are right, SMTP AUTH may be off for the mailbox, or the account has multi-factor sign-in: use an OAuth2 line instead (README, Microsoft 365).`,
  },
  {
    steps: ['logged in'],
    match: /^535\b|authentication failed|Authentication unsuccessful|Invalid credentials|bad credentials/i,
    when: (c) => !c.grant,
    fallback: true,
    advice: (c) =>
      `The server refused the user name or password in ${secretsLine(c)}. Check both: the user name is often the whole mail address, and some providers want an app password instead of the account's password.`,
  },
  {
    steps: ['MAIL FROM accepted', 'RCPT TO accepted', 'DATA accepted', 'sendMail accepted'],
    match: /5\.7\.60\b|SendAsDenied|permissions to send as this sender/i,
    advice: (c) =>
      `The mailbox ${c.mailbox ?? 'relaybox signs in as'} may not send as ${c.from ?? 'this sender'}. The From must be the signed-in mailbox or one it may send as: send the test from ${c.mailbox ?? 'that mailbox'}, turn on forward-from-mailbox in ${c.configFile} (every message then goes out from ${c.mailbox ?? 'the mailbox'}), or give the mailbox Send As rights for ${c.from ?? 'the sender'}.`,
  },
  {
    steps: ['MAIL FROM accepted', 'RCPT TO accepted', 'DATA accepted'],
    match: /5\.7\.57\b|not authenticated|authentication required|5\.7\.0 Authentication Required/i,
    advice: (c) => `The server wants relaybox to sign in first: add client-auth to ${c.configFile} and a client line to the secrets file (relaybox.secrets).`,
  },
  {
    steps: ['RCPT TO accepted'],
    match: /relay(ing)? (access )?denied|relay not permitted|5\.7\.1\b.*relay|unable to relay/i,
    advice: (c) =>
      `The server does not pass on mail from this box to other domains. It wants relaybox to sign in (client-auth and a client line in relaybox.secrets), or to know your internet address (a connector at the provider). Check the settings in ${c.configFile}.`,
  },
  {
    steps: ['RCPT TO accepted'],
    match: /^55[03]\b.*(5\.1\.[0-9]|unknown|does not exist|no such user|not found)/i,
    advice: (c) => `The server says the recipient ${c.to ?? ''} does not exist: check the address you typed.`,
  },
  {
    steps: ['MAIL FROM accepted', 'RCPT TO accepted', 'DATA accepted', 'logged in'],
    match: /^4\d\d\b/,
    fallback: true,
    advice: () => 'The server refused for now (a temporary error): try again in a few minutes. Queued mail is retried by itself.',
  },
];

/** What to change, or undefined when the refusal is not one relaybox knows. */
export function failureAdvice(step: StepName, failure: Failure, ctx: AdviceContext): string | undefined {
  const { advice: embedded, detail } = splitAdvice(failure.message);
  const text = failure.response ?? detail;
  const fits = (fallback: boolean) =>
    RULES.find((r) => !!r.fallback === fallback && r.steps.includes(step) && (r.match.test(text) || r.match.test(detail)) && (!r.when || r.when(ctx)));
  return fits(false)?.advice(ctx, text) ?? embedded ?? providerAdvice(text, { grant: ctx.grant, mailbox: ctx.mailbox }) ?? fits(true)?.advice(ctx, text);
}

/** Advice about a TLS session that worked but is weaker than it should be. */
export function tlsWarning(info: TlsInfo | null, ctx: AdviceContext): string | undefined {
  if (!info && ctx.tlsMode === 'starttls') {
    return `The server did not offer STARTTLS, so the password and the mail crossed the internet readable. Add client-tls-required to ${ctx.configFile} so that relaybox never sends without TLS, and ask the provider which port encrypts (465 goes with client-tls-connection).`;
  }
  if (!info) {
    return `The connection is not encrypted: the password and the mail cross the internet readable. Add client-tls and client-tls-required to ${ctx.configFile} (port 587), or client-tls-connection (port 465).`;
  }
  if (!info.checked) {
    return `The server's certificate is not checked, so the password would also go to an impostor. Add client-tls-verify <default> and client-tls-verify-host to ${ctx.configFile}${info.verified ? '' : ` (it would fail now: ${info.verifyError}, see the advice for that)`}.`;
  }
  if (ctx.hostChecked === false) {
    return `The server's certificate is checked against the trusted authorities, but not that it was issued for ${ctx.host ?? 'the server'}: any site's certificate would pass. Add client-tls-verify-host to ${ctx.configFile}.`;
  }
  return undefined;
}
